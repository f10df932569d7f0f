"""D1 illegal content and D2 external forwarding, through the offline core."""
from __future__ import annotations

from tests.conftest import rules_fired
from tests.factory import configured, event, message
from tests.unit.rule_helpers import engine_for, escalations, violations


def forwarded(external: bool, approved_by: str | None, actor: str = "u-1") -> dict:
    return event("message.forwarded", actor=actor, message={"id": "m-1"},
                 destination={"id": "wx-outsider", "external": external}, approved_by=approved_by)


def test_d1_gambling_and_fraud_are_severe_and_go_to_the_supervisor(policy):
    for sub in ("gambling", "fraud", "other"):
        engine = engine_for(policy, {"违法内容": ("illegal", sub)})
        (v,) = violations(engine, configured(), message("违法内容"))
        assert (v["rule"], v["severity"], v["evidence"]["sub_label"]) == ("D1", "severe", sub)
        (esc,) = escalations(engine, configured(), message("违法内容"))
        assert esc["level"] == "supervisor" and esc["recipients"]["supervisors"] == ["u-supervisor"]


def test_d1_with_the_shipped_classifier(engine):
    assert "D1" in rules_fired(engine, configured(), message("今晚百家乐博彩平台充值送彩金，稳赚不赔，私聊我拉你进群"))


def test_d1_near_miss_work_talk_about_fraud_prevention(policy):
    assert rules_fired(engine_for(policy, {}), configured(), message("财务部提醒：谨防电信诈骗，转账前务必电话核实")) == []


def test_d2_external_forward_without_approval(work_engine):
    (v,) = violations(work_engine, configured(), forwarded(True, None))
    assert (v["rule"], v["severity"]) == ("D2", "severe")
    assert [e["level"] for e in escalations(work_engine, configured(), forwarded(True, None))] == ["supervisor"]


def test_d2_external_forward_approved_by_a_non_owner(work_engine):
    (v,) = violations(work_engine, configured(owners=("u-boss",)), forwarded(True, "u-2"))
    assert v["rule"] == "D2" and v["evidence"]["approved_by"] == "u-2"


def test_d2_near_misses_owner_approved_or_internal(work_engine):
    assert rules_fired(work_engine, configured(owners=("u-boss",)), forwarded(True, "u-boss")) == []
    assert rules_fired(work_engine, configured(), forwarded(False, None)) == []
