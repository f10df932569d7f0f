"""Deadlines fire in a quiet group: a live worker ticks by itself (issue 24, item 1).

A worker on the real broker gets a few events and then nothing more. A C1 question's reply
deadline and a departed member's grace period (M4) pass a few seconds later, in wall time: the
worker's live clock writes a `clock.tick` for each of those groups into the input topic, and the
reminder and the escalation come out within one tick of their deadlines. A group with nothing due
gets no tick. Replaying the input topic through the offline core (what `moderation check` does)
gives the same escalations, ticks included.

C1 counts work time, and every day of the week is a working day somewhere: the test sets the
policy's work hours to the whole day in a UTC offset where it is now a weekday. From Saturday
12:00 to Sunday 00:00 UTC it is a weekend day everywhere; then only the M4 deadline is checked.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
import yaml
from aiokafka import TopicPartition

from pipeline.config import CONFIG_DIR, load_policy
from pipeline.kafka.admin import consumer
from pipeline.core.offline import run
from tests.factory import configured, event, joined, message

TICK_SECONDS = 3
DUE_IN = timedelta(seconds=20)
# Slack over one tick for producing, processing and reading back on a shared machine.
SLACK = timedelta(seconds=6)


def weekday_offset(now: datetime) -> int | None:
    """A whole-hour UTC offset in which it is a weekday (Monday to Friday) from now until an hour
    from now (so the day and week windows do not close during the test), or None."""
    for hours in range(14, -13, -1):
        zone = timezone(timedelta(hours=hours))
        start, end = now.astimezone(zone), (now + timedelta(hours=1)).astimezone(zone)
        if start.weekday() < 5 and start.date() == end.date():
            return hours
    return None


def policy_file(tmp_path: Path, offset: int | None) -> Path:
    policy = yaml.safe_load((CONFIG_DIR / "policy.yaml").read_text(encoding="utf-8"))
    # Etc/GMT-8 is UTC+8: the sign is reversed in these zone names.
    zone = f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"
    policy["work_hours"] = {"start": "00:00", "end": "23:59:59", "use_holiday_calendar": False, "timezone": zone}
    policy["responsiveness"]["reply_sla_seconds"] = int(DUE_IN.total_seconds())
    policy["responsiveness"]["owner_escalation_after_seconds"] = 86400
    policy["members"]["departed_grace_hours"] = 1
    policy["rules"]["D3"] = {"enabled": False}   # no weekly report falls due during the test
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    load_policy(path)  # valid
    return path


def quiet_conversation(now: datetime, with_c1: bool) -> tuple[list[dict], dict[str, datetime]]:
    """Events dated now, and when each group's deadline falls due."""
    stamp = lambda delta=timedelta(0): (now + delta).isoformat()  # noqa: E731
    events = [
        # M4: u-9 left the company an hour ago less DUE_IN; the grace period is an hour.
        configured("g-m4", ts=stamp(-timedelta(hours=3))),
        joined("u-9", "研发中心-赵九", group="g-m4", ts=stamp(-timedelta(hours=3))),
        event("member.departed", "g-m4", "hr-roster", stamp(DUE_IN - timedelta(hours=1)), member={"id": "u-9"}),
        # Nothing due here for 30 days (M3).
        configured("g-quiet", ts=stamp()),
        message("大家好，本周例会照常。", group="g-quiet", actor="u-admin", ts=stamp()),
    ]
    due = {"g-m4": now + DUE_IN}
    if with_c1:
        events += [
            configured("g-c1", ts=stamp()),
            joined("u-2", "研发中心-李四", group="g-c1", ts=stamp()),
            message("@研发中心-李四 本周的周报什么时候能交？", group="g-c1", actor="u-admin", ts=stamp(),
                    mentions=["u-2"], message_id="q-1"),
        ]
        due["g-c1"] = now + DUE_IN
    return events, due


async def input_records(settings) -> list[tuple[int, int, dict]]:
    """Every record of the input topic: (partition, offset, event)."""
    c = consumer(settings, group_id=None)
    await c.start()
    try:
        topic = settings.topics.input
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        c.assign(tps)
        ends = await c.end_offsets(tps)
        await c.seek_to_beginning(*tps)
        out = []
        while any([await c.position(tp) < ends[tp] for tp in tps]):
            for tp, messages in (await c.getmany(timeout_ms=500)).items():
                out += [(tp.partition, m.offset, orjson.loads(m.value)) for m in messages]
        return sorted(out, key=lambda r: (r[0], r[1]))
    finally:
        await c.stop()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_quiet_group_gets_its_reminder_within_a_tick_of_the_deadline(deployment, tmp_path, guarantee):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    offset = weekday_offset(now)
    policy = policy_file(tmp_path, offset)
    deployment.extra_env.update({"MODERATION_POLICY": str(policy), "MODERATION_LIVE_TICK_SECONDS": str(TICK_SECONDS),
                                 "MODERATION_PROCESSING_GUARANTEE": guarantee})
    deployment.start_worker()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    events, due = quiet_conversation(now, with_c1=offset is not None)
    deployment.produce(events)

    # Nothing more is produced: only the worker's own ticks can make the deadlines fire.
    wanted = {"g-m4": "M4", "g-c1": "C1"}
    got = deployment.collect(expect=len(due), roles=("escalations",), timeout=DUE_IN.total_seconds() + 60, settle=2.0)
    fired = {e["group_id"]: e for e in got["escalations"] if wanted.get(e["group_id"]) == e["rule"]}
    assert set(fired) == set(due), f"deadlines that did not fire: {sorted(set(due) - set(fired))}"
    log = deployment.worker_log()
    assert "live clock: every 3s" in log

    for group_id, when in due.items():
        at = datetime.fromisoformat(fired[group_id]["ts"])
        late = at - when
        print(f"\n{wanted[group_id]} in {group_id}: due {when.isoformat()}, fired at {at.isoformat()} ({late.total_seconds():.0f}s after)")
        assert timedelta(0) <= late <= timedelta(seconds=TICK_SECONDS) + SLACK

    # The ticks are in the input log, only for the groups that had something due.
    settings = deployment.settings
    records = asyncio.run(input_records(settings))
    ticks = [e for _, _, e in records if e["type"] == "clock.tick"]
    assert {t["group_id"] for t in ticks} == set(due)
    assert all(t["actor"]["id"] == "system" for t in ticks)

    # A replay of the log through the offline core gives the same escalations.
    replayed = [out for role, out in run(deployment_engine(policy), [orjson.dumps(e) for _, _, e in records])
                if role == "escalations"]
    assert sorted(e["id"] for e in replayed) == sorted(e["id"] for e in got["escalations"])
    deployment.stop_all()


def deployment_engine(policy_path: Path):
    from pipeline.classify import load_classifier
    from pipeline.core.engine import Engine

    policy = load_policy(policy_path)
    return Engine(policy, load_classifier(policy))
