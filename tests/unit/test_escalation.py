"""The ladder (E1–E3, M5): reminder → removal recommended → supervisor, with stable ids."""
from __future__ import annotations

import orjson

from pipeline.core.offline import run
from tests.factory import at, configured, message
from tests.unit.rule_helpers import engine_for, escalations, levels

AD = "限时特价，加我微信"
CHAT = "周末去哪儿玩"


def ads(*days: float, actor: str = "u-1", text: str = AD) -> list[dict]:
    return [message(text, actor=actor, ts=at(days=d)) for d in days]


def test_e1_first_violation_is_a_reminder_to_member_and_admins(policy):
    (esc,) = escalations(engine_for(policy, {AD: "ad"}), configured(), *ads(0))
    assert (esc["level"], esc["ladder"], esc["rule"]) == ("reminder", "E1", "P2")
    assert esc["recipients"] == {"member": "u-1", "admins": ["u-admin"]}
    assert esc["violations"] and esc["evidence"]["excerpt"]


def test_e2_same_kind_after_the_reminder_within_the_window(policy):
    engine = engine_for(policy, {AD: "ad"})
    assert levels(engine, configured(), *ads(0, 3)) == [("P2", "reminder"), ("P2", "removal_recommended")]
    (_, removal) = escalations(engine, configured(), *ads(0, 3))
    assert removal["recipients"] == {"admins": ["u-admin"], "owners": ["u-admin"]}
    assert removal["reminded_at"].startswith("2026-03-02")


def test_e2_near_misses_other_kind_other_member_outside_window_or_too_soon(policy):
    engine = engine_for(policy, {AD: "ad", CHAT: "chitchat"})
    assert levels(engine, configured(), *ads(0), *ads(3, text=CHAT)) == [("P2", "reminder"), ("P6", "reminder")]
    assert levels(engine, configured(), *ads(0), *ads(3, actor="u-2")) == [("P2", "reminder"), ("P2", "reminder")]
    assert levels(engine, configured(), *ads(0, 31)) == [("P2", "reminder"), ("P2", "reminder")]
    assert levels(engine, configured(), *ads(0, 0.001)) == [("P2", "reminder")]


def test_e3_repeated_removal_recommendations_go_to_the_supervisor(policy):
    engine = engine_for(policy, {AD: "ad"})
    assert [lvl for _, lvl in levels(engine, configured(), *ads(0, 1, 2))] == \
        ["reminder", "removal_recommended", "removal_recommended", "supervisor"]


def test_e3_removals_of_different_kinds_count_together(policy):
    engine = engine_for(policy, {AD: "ad", CHAT: "chitchat"})
    events = [*ads(0, 1), *ads(2, 3, text=CHAT)]
    assert [lvl for _, lvl in levels(engine, configured(), *events)] == \
        ["reminder", "removal_recommended", "reminder", "removal_recommended", "supervisor"]


def test_e3_severe_goes_to_the_supervisor_at_once(policy):
    engine = engine_for(policy, {"赌": ("illegal", "gambling")})
    assert levels(engine, configured(), message("赌")) == [("D1", "supervisor")]


def test_e3_near_miss_info_advisories_never_climb(work_engine):
    long_text = "说明" * 400
    assert escalations(work_engine, configured(), *ads(0, 1, 2, text=long_text)) == []


def test_m5_whole_ladder_for_one_member(policy):
    engine = engine_for(policy, {AD: "ad"})
    esc = escalations(engine, configured(), *ads(0, 1, 2))
    assert [e["level"] for e in esc] == ["reminder", "removal_recommended", "removal_recommended", "supervisor"]
    assert {e["member"]["id"] for e in esc} == {"u-1"}


def test_escalation_ids_are_stable_and_replay_gives_identical_outputs(policy):
    engine = engine_for(policy, {AD: "ad"})
    lines = [orjson.dumps(e) for e in (configured(), *ads(0, 1, 2))]
    first = [orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for _, e in run(engine, lines)]
    again = [orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for _, e in run(engine, lines, batch_size=1)]
    assert first == again
    ids = [e["id"] for _, e in run(engine, lines) if e["kind"] == "escalation"]
    assert len(ids) == len(set(ids)) == 4


def test_redelivered_violation_does_not_escalate_twice(policy):
    from pipeline.core.events import decode

    engine = engine_for(policy, {AD: "ad"})
    events = [decode(orjson.dumps(e)) for e in (configured(), *ads(0))]
    states: dict = {}
    first = engine.process(events, states, [("p", 1), ("p", 2)])
    assert [r for r, _ in first].count("escalations") == 1
    assert engine.process(events[1:], states, [("p", 2)]) == []
