"""Responsiveness and follow-ups through the real worker on the real broker (issue 5).

- A conversation opens pending items (C1 questions and a task, a reply request to everyone, a P7
  announcement, a C5 problem); the worker is stopped in the middle of it (SIGTERM, or kill -9), a new
  worker starts, and the rest of the conversation and the clock ticks that pass the deadlines
  follow. Every deadline escalation, aggregate and report that the offline core computes for the
  whole conversation arrives, each id once in content (a crash may repeat a record, but only as an
  identical copy; a graceful stop repeats nothing).
- A simulated week (`pipeline.devtools.simulate`) through the worker gives per-member aggregates equal to
  the simulator's ground truth, exactly.
"""
from __future__ import annotations

import time
from collections import Counter
from datetime import date

import orjson
import pytest

from pipeline.core.offline import run
from pipeline.devtools.simulate import simulate
from tests.factory import at, configured, event, joined, message, tick
from tests.integration.test_reliability import ROLES, check_complete, wait_for_outputs

ALL_ROLES = (*ROLES, "responsiveness", "reports")
GROUP = "g-resp"


def offline(engine, events) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {role: {} for role in ALL_ROLES}
    for role, e in run(engine, [orjson.dumps(x) for x in events]):
        out[role][e["id"]] = e
    return out


def check_all(got, expected) -> dict[str, int]:
    """check_complete for verdicts/violations/escalations, and the same for the responsiveness
    aggregates and reports: every expected id, nothing else, each copy identical. Returns the
    number of duplicate records per role."""
    duplicates = check_complete(got, expected)
    for role in ("responsiveness", "reports"):
        ids = Counter(e["id"] for e in got[role])
        assert set(ids) == set(expected[role]), (
            f"{role}: missing {sorted(set(expected[role]) - set(ids))}, unexpected {sorted(set(ids) - set(expected[role]))}")
        for e in got[role]:
            assert e == expected[role][e["id"]], f"{role} {e['id']} differs from the offline core"
        duplicates[role] = sum(ids.values()) - len(ids)
    return duplicates


NAMES = {"u-admin": "行政部-周敏", "u-lead": "研发中心-陈刚", "u-2": "研发中心-李四", "u-3": "测试部-王五",
         "u-4": "产品部-赵六"}


def say(text: str, actor: str, ts: str, **extra) -> dict:
    return message(text, group=GROUP, actor=actor, ts=ts, actor_name=NAMES[actor], **extra)


def conversation() -> tuple[list[dict], list[dict]]:
    """(first part, rest) of a Monday conversation in one group, with hourly ticks for two weeks
    after it (so every deadline passes and the day and week windows and the weekly reports close)."""
    g = GROUP
    first = [
        configured(g, admins=("u-admin",), owners=("u-lead",), ts=at(minutes=-30)),
        *[joined(m, NAMES[m], approved_by="u-lead", group=g, ts=at(minutes=-20)) for m in ("u-2", "u-3", "u-4", "u-lead")],
        # C1: a question to u-2 (never answered)
        say("@研发中心-李四 本周的周报什么时候能交？", "u-lead", at(), mentions=["u-2"], message_id="q-1"),
        # C1 to everyone: a reply request
        say("明天上午十点全员例会，收到请回复", "u-admin", at(minutes=5), message_id="rr-1"),
        # P7: an announcement to be read
        event("announcement.posted", g, "u-admin", at(minutes=10), actor_name=NAMES["u-admin"],
              announcement={"id": "ann-1", "title": "考勤制度更新", "text": "请全员阅读新的考勤制度"}),
        # C5: a problem report
        say("测试环境登录报错，无法访问", "u-3", at(minutes=20), message_id="p-1"),
        # C1: a task for u-4, answered after the restart, before its deadline
        say("@产品部-赵六 请你今天下班前提交采购申请", "u-lead", at(minutes=30), mentions=["u-4"], message_id="q-2"),
        # the first C1 deadline (two working hours after q-1) passes before the stop
        tick(g, ts=at(hours=1)), tick(g, ts=at(hours=2)),
    ]
    rest = [
        say("采购申请已提交，请查收", "u-4", at(hours=2, minutes=20), reply_to="q-2"),
        event("announcement.read", g, "u-2", at(hours=2, minutes=40), actor_name=NAMES["u-2"],
              announcement={"id": "ann-1"}),
        event("announcement.read", g, "u-3", at(hours=2, minutes=45), actor_name=NAMES["u-3"],
              announcement={"id": "ann-1"}),
        # the owner responds to the problem before its response deadline, but nobody resolves it
        say("我看一下日志", "u-lead", at(hours=3), reply_to="p-1"),
        say("收到", "u-3", at(hours=3, minutes=10), reply_to="rr-1"),
    ]
    rest += [tick(g, ts=at(hours=h)) for h in range(4, 24 * 15)]
    return first, rest


def item_of(escalation: dict) -> tuple:
    """What a follow-up escalation is about: rule, level, the message or announcement, the member."""
    ev = escalation["evidence"]
    return (escalation["rule"], escalation["level"], ev.get("message_id") or ev.get("announcement_id"),
            escalation["member"]["id"])


def wait_for_ids(deployment, expected: dict[str, dict], timeout: float = 120.0) -> dict[str, list[dict]]:
    got = deployment.collect_ids({role: set(ids) for role, ids in expected.items()}, timeout=timeout, settle=0.5)
    missing = {role: set(expected[role]) - {e["id"] for e in got[role]} for role in expected}
    assert not any(missing.values()), f"the first worker did not write everything of the first part: {missing}"
    return got


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
def test_worker_stopped_mid_conversation_every_pending_item_fires_once(deployment, engine, kill):
    first, rest = conversation()
    before = offline(engine, first)
    expected = offline(engine, first + rest)
    assert all(set(before[r]) <= set(expected[r]) for r in ALL_ROLES)
    later = {role: {i: e for i, e in expected[role].items() if i not in before[role]} for role in ALL_ROLES}

    # The conversation is stopped in the middle: one C1 reminder has fired, every other deadline is
    # still pending in the group state (the changelog-backed table) when the worker stops.
    # (Follow-up escalations have no ladder; ladder ones depend on the classifier and are only compared.)
    follow = lambda outs: [item_of(e) for e in outs.values() if e["ladder"] is None]   # noqa: E731
    assert follow(before["escalations"]) == [("C1", "reminder", "q-1", "u-2")]
    pending = follow(later["escalations"])
    assert ("C1", "supervisor", "q-1", "u-2") in pending
    assert {("C1", "reminder", "rr-1", m) for m in ("u-2", "u-4", "u-lead")} <= set(pending)
    assert [p for p in pending if p[0] == "P7"] == [("P7", "reminder", "ann-1", "u-admin")]
    assert [p for p in pending if p[0] == "C5"] == [("C5", "supervisor", "p-1", "u-3")]
    # Items closed after the restart do not fire: u-4's task, the problem's response reminder.
    assert not [p for p in pending if p[2] == "q-2"] and ("C5", "reminder", "p-1", "u-3") not in pending
    assert later["responsiveness"] and len(later["reports"]) == 2

    first_worker = deployment.start_worker()
    deployment.produce(first)
    wait_for_ids(deployment, before)
    started = time.monotonic()
    deployment.stop_worker(first_worker, kill=kill)
    deployment.start_worker()
    deployment.produce(rest)
    got = deployment.collect_ids({role: set(ids) for role, ids in expected.items()}, timeout=150, settle=4.0)
    duplicates = check_all(got, expected)
    elapsed = time.monotonic() - started

    # Each pending item fired once and only once in content.
    escalations = Counter(e["id"] for e in got["escalations"])
    for esc_id in later["escalations"]:
        assert escalations[esc_id] >= 1
    if not kill:
        assert sum(duplicates.values()) == 0, f"a graceful stop repeated outputs: {duplicates}"
    # One escalation per item and level in content, too (not the same step again under another id).
    steps = Counter(item_of(e) for e in {x["id"]: x for x in got["escalations"]}.values() if e["ladder"] is None)
    assert all(n == 1 for n in steps.values()), steps
    assert sorted(steps) == sorted(follow(expected["escalations"]))
    print(f"\n{'kill -9' if kill else 'SIGTERM'} mid-conversation: {len(first)}+{len(rest)} events, "
          f"{len(expected['escalations'])} escalations, {len(expected['responsiveness'])} aggregates, "
          f"{len(expected['reports'])} reports; duplicates {duplicates}; stop→all outputs {elapsed:.1f}s")


KEYS = ("addressed", "replied", "acknowledged", "overdue", "unanswered", "reply_rate", "median_reply_seconds",
        "p90_reply_seconds")


def tracked(aggregates) -> list[dict]:
    rows = [{"window": e["window"]["kind"], "start": e["window"]["start"][:10],
             "member": e["member"]["id"] if e["member"] else None, **{k: e[k] for k in KEYS}} for e in aggregates]
    return sorted(rows, key=lambda r: (r["window"], r["start"], r["member"] or "~"))


def test_simulated_week_on_kafka_matches_the_ground_truth(deployment, engine):
    """Issue 5 "Done when": a week of simulated traffic through the real pipeline gives per-member
    aggregates equal to the simulator's ground truth (and every output equal to the offline core)."""
    lines, truth = simulate(7, date(2026, 2, 9), engine.policy)
    events = [orjson.loads(line) for line in lines]
    expected = offline(engine, events)
    assert tracked(expected["responsiveness"].values()) == truth, "the offline core itself disagrees with the truth"

    deployment.start_worker()
    started = time.monotonic()
    deployment.produce(events)
    got = deployment.collect_ids({role: set(ids) for role, ids in expected.items()}, timeout=150, settle=3.0)
    elapsed = time.monotonic() - started
    duplicates = check_all(got, expected)
    assert sum(duplicates.values()) == 0, duplicates
    assert tracked(got["responsiveness"]) == truth
    week = {r["member"]: r for r in truth if r["window"] == "week"}
    assert week[None]["addressed"] > 50 and week["u-06"]["unanswered"] > 0 and week["u-03"]["overdue"] > 0
    print(f"\nsimulated week: {len(events)} events, {len(got['responsiveness'])} aggregates, "
          f"{len(got['reports'])} reports, equal to the ground truth, in {elapsed:.1f}s")


def test_simulated_week_with_a_crash_mid_week_still_matches_the_ground_truth(deployment, engine):
    """The same week, the worker killed (kill -9) on Wednesday while it works through the first
    half, a new worker for the rest: the aggregates still equal the ground truth, every output
    equals the offline core, and anything written twice is an identical copy."""
    lines, truth = simulate(7, date(2026, 2, 9), engine.policy)
    events = [orjson.loads(line) for line in lines]
    split = next(i for i, e in enumerate(events) if e["ts"] >= "2026-02-11T12:00:00+08:00")
    first, rest = events[:split], events[split:]
    expected = offline(engine, events)
    first_verdicts = len(offline(engine, first)["verdicts"])
    assert first_verdicts > 40 and any(e["type"] == "message.posted" for e in rest)

    # Small batches, so the crash lands while the first worker is still working through the events.
    deployment.extra_env["MODERATION_BATCH_SIZE"] = "2"
    worker = deployment.start_worker()
    deployment.produce(first)
    wait_for_outputs(deployment, "verdicts", first_verdicts // 3, timeout=90)
    left = first_verdicts - deployment.output_count("verdicts")
    deployment.stop_worker(worker, kill=True)
    started = time.monotonic()
    deployment.extra_env.pop("MODERATION_BATCH_SIZE")
    deployment.start_worker()
    deployment.produce(rest)
    got = deployment.collect_ids({role: set(ids) for role, ids in expected.items()}, timeout=150, settle=3.0)
    duplicates = check_all(got, expected)
    unique = {e["id"]: e for e in got["responsiveness"]}.values()
    assert tracked(unique) == truth
    print(f"\nsimulated week, kill -9 on Wednesday ({left} of the first {first_verdicts} verdicts still unwritten just before "
          f"the kill): split {len(first)}+{len(rest)} events, "
          f"duplicates {duplicates}, restart→all outputs {time.monotonic() - started:.1f}s")
