"""The live clock's parts (issue 24, item 1): it is on by default where the worker is deployed, and it
knows which groups are due. The worker on the real broker: tests/integration/test_live_clock.py."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
import yaml

from pipeline.classify import load_classifier
from pipeline.config import ConfigError, Settings, load_policy, load_settings
from pipeline.core.engine import Engine
from pipeline.core.events import decode
from pipeline.worker.live_clock import DueIndex, read_groups, tick_event
from tests.factory import MONDAY, at, configured, joined, message

ROOT = Path(__file__).resolve().parents[2]


def test_a_deployed_worker_ticks_by_default():
    # The shipped config/pipeline.yaml, the code's default and docker-compose all turn it on.
    assert load_settings(env={}).live_tick_seconds == 60
    assert Settings().live_tick_seconds == 60
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert float(compose["services"]["worker"]["environment"]["MODERATION_LIVE_TICK_SECONDS"]) == 60


@pytest.mark.parametrize("value", ["0.2", "-1", "7200"])
def test_a_tick_period_that_would_spin_or_never_come_is_refused(value):
    with pytest.raises(ConfigError, match="live_tick_seconds"):
        load_settings(env={"MODERATION_LIVE_TICK_SECONDS": value})
    assert load_settings(env={"MODERATION_LIVE_TICK_SECONDS": "0"}).live_tick_seconds == 0


@pytest.fixture(scope="module")
def engine():
    policy = load_policy()
    return Engine(policy, load_classifier(policy))


def states_after(engine, events) -> dict[str, dict]:
    states: dict[str, dict] = {}
    engine.process([decode(orjson.dumps(e)) for e in events], states)
    return states


def test_next_due_is_the_earliest_of_the_groups_schedules(engine):
    states = states_after(engine, [
        configured("g-1", ts=at()), joined("u-2", "研发中心-李四", group="g-1", ts=at()),
        message("@研发中心-李四 本周的周报什么时候能交？", group="g-1", actor="u-admin", ts=at(), mentions=["u-2"]),
    ])
    # Two working hours after Monday 10:00 (the reply SLA), before anything else the group has.
    assert engine.next_due(states["g-1"]) == MONDAY + timedelta(hours=2)
    # A new group's state with no events has nothing scheduled.
    assert engine.next_due({"watermark": None, "roles": {"name": None, "kind": None, "admins": [], "owners": []},
                            "members": {}}) is None


def test_the_index_names_the_due_groups_once_until_their_tick_is_processed(engine):
    index = DueIndex(engine.next_due)
    states = states_after(engine, [
        configured("g-due", ts=at()), joined("u-2", "研发中心-李四", group="g-due", ts=at()),
        message("@研发中心-李四 本周的周报什么时候能交？", group="g-due", actor="u-admin", ts=at(), mentions=["u-2"]),
        configured("g-later", ts=at()),
    ])
    index.saw(states)
    assert index.due(MONDAY + timedelta(hours=1)) == []
    assert index.due(MONDAY + timedelta(hours=2)) == ["g-due"]
    index.ticked(["g-due"])
    assert index.due(MONDAY + timedelta(hours=3)) == []  # its tick is on its way
    # The tick is processed: the reminder went out, and the next deadline is the owner escalation.
    tick = {"event_id": "tick-1", "type": "clock.tick", "ts": at(hours=3), "group_id": "g-due",
            "actor": {"id": "system", "name": "clock"}}
    engine.process([decode(orjson.dumps(tick))], states)
    index.saw({"g-due": states["g-due"]})
    assert engine.next_due(states["g-due"]) > MONDAY + timedelta(hours=3)
    assert index.due(MONDAY + timedelta(hours=3)) == []
    index.forget()
    assert len(index) == 0


def test_reading_the_table_skips_other_workers_groups_and_groups_already_known(engine):
    states = states_after(engine, [configured(g, ts=at()) for g in ("g-1", "g-2", "g-3")])
    index = DueIndex(engine.next_due)
    index.saw({"g-3": states["g-3"]})
    decoded = []

    def fresh(group_id):
        decoded.append(group_id)
        return states[group_id]

    read = asyncio.run(read_groups(index, ["g-1", "g-2", "g-3"], mine=lambda g: g != "g-2", fresh=fresh,
                                   pause_every=1))
    assert read == 1 and decoded == ["g-1"]
    assert index.knows("g-1") and not index.knows("g-2")


def test_a_tick_is_a_valid_input_event_with_a_stable_id():
    event = decode(orjson.dumps(tick_event("g-1", "2026-03-02T10:00:00+08:00")))
    assert event.type == "clock.tick" and event.group_id == "g-1"
    assert tick_event("g-1", "2026-03-02T10:00:00+08:00")["event_id"] == \
        tick_event("g-1", "2026-03-02T10:00:00+08:00")["event_id"] != tick_event("g-2", "2026-03-02T10:00:00+08:00")["event_id"]


def test_a_group_whose_events_are_coming_gets_no_tick_until_it_has_been_quiet_for_a_period(engine):
    clock = [100.0]
    index = DueIndex(engine.next_due, clock=lambda: clock[0])
    states = states_after(engine, [
        configured("g-1", ts=at()), joined("u-2", "研发中心-李四", group="g-1", ts=at()),
        message("@研发中心-李四 本周的周报什么时候能交？", group="g-1", actor="u-admin", ts=at(), mentions=["u-2"]),
    ])
    index.saw(states)              # an import of last week's export, say: the group's events keep coming
    later = MONDAY + timedelta(days=7)
    clock[0] += 59
    assert index.due(later, quiet_for=60) == []
    clock[0] += 1
    assert index.due(later, quiet_for=60) == ["g-1"]
    # A group read from the table after a rebalance has had no event here: it is due at once.
    index.forget()
    index.read("g-1", states["g-1"])
    assert index.due(later, quiet_for=60) == ["g-1"]
