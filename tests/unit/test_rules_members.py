"""M1–M4 through the offline core: each must fire on its sequence and stay quiet on the near miss."""
from __future__ import annotations

from pipeline.core.rules.members import check_name
from tests.conftest import outputs, rules_fired
from tests.factory import at, configured, event, joined, message, tick
from tests.unit.rule_helpers import escalations, violations


def departed(member: str, ts: str | None = None) -> dict:
    return event("member.departed", actor="hr-roster", ts=ts, member={"id": member}, reason="离职")


def left(member: str, ts: str | None = None) -> dict:
    return event("member.left", actor="u-admin", ts=ts, member={"id": member}, removed_by="u-admin")


def renamed(member: str, name: str, ts: str | None = None) -> dict:
    return event("member.renamed", actor=member, ts=ts, member={"id": member, "name": name})


# --------------------------------------------------------------------------- M1

def test_m1_join_without_approver(work_engine):
    found = violations(work_engine, configured(), joined("u-2", "财务部-张三", approved_by=None), rule="M1")
    assert len(found) == 1 and found[0]["member"]["id"] == "u-2"
    assert found[0]["evidence"]["why"] == "joined without an approver"


def test_m1_join_approved_by_someone_who_is_not_an_owner(work_engine):
    found = violations(work_engine, configured(owners=("u-boss",)), joined("u-2", "财务部-张三", approved_by="u-9"),
                       rule="M1")
    assert found and found[0]["evidence"]["approved_by"] == "u-9"


def test_m1_near_miss_owner_approved(work_engine):
    assert "M1" not in rules_fired(work_engine, configured(owners=("u-boss",)),
                                   joined("u-2", "财务部-张三", approved_by="u-boss"))


def test_m1_near_miss_extra_approver_from_config(policy):
    from pipeline.config import Groups
    from pipeline.core.engine import Engine
    from tests.conftest import FixedClassifier

    custom = policy.model_copy(update={"groups": Groups(supervisors=("u-sup",), extra_approvers={"g-1": ("u-hr",)})})
    engine = Engine(custom, FixedClassifier())
    assert "M1" not in rules_fired(engine, configured(owners=("u-boss",)), joined("u-2", "财务部-张三", approved_by="u-hr"))
    assert "M1" in rules_fired(engine, configured(owners=("u-boss",)), joined("u-2", "财务部-张三", approved_by="u-x"))


def test_m1_is_a_warning_that_reminds_the_member_and_tells_the_admin(work_engine):
    (esc,) = escalations(work_engine, configured(), joined("u-2", "财务部-张三", approved_by=None))
    assert esc["level"] == "reminder" and esc["recipients"] == {"member": "u-2", "admins": ["u-admin"]}


# --------------------------------------------------------------------------- M2

def test_m2_join_with_a_bare_name_gets_the_department_of_the_group():
    from pipeline.config import load_policy

    directory = load_policy().directory
    assert check_name("张三", directory, "财务部工作群") == (False, "财务部-张三")
    assert check_name("张三", directory, "项目群") == (False, None)


def test_m2_fires_on_join_with_suggested_fix(work_engine):
    (found,) = violations(work_engine, configured(), joined("u-2", "财务-张三"), rule="M2")
    assert found["suggested_name"] == "财务部-张三" and "财务部-张三" in found["action"]
    assert found["severity"] == "info"


def test_m2_fires_on_rename_and_suggests_the_right_order(work_engine):
    found = violations(work_engine, configured(), joined("u-2", "研发中心-李四"), renamed("u-2", "李四-研发中心"),
                       rule="M2")
    assert [v["suggested_name"] for v in found] == ["研发中心-李四"]
    assert found[0]["evidence"]["on"] == "member.renamed"


def test_m2_typo_in_department_is_guessed(work_engine):
    (found,) = violations(work_engine, configured(), joined("u-2", "财物部 王五"), rule="M2")
    assert found["suggested_name"] == "财务部-王五"


def test_m2_nickname_without_a_guess_has_no_suggestion(work_engine):
    (found,) = violations(work_engine, configured(), joined("u-2", "快乐小猫🐱"), rule="M2")
    assert found["suggested_name"] is None


def test_m2_near_misses_valid_names(work_engine):
    for name in ("财务部-张三", "研发中心 李四", "人力资源部_欧阳娜娜", "市场部-Alice Wang", "法务部张三"):
        assert "M2" not in rules_fired(work_engine, configured(), joined("u-2", name)), name


def test_m2_is_advisory_and_does_not_climb_the_ladder(work_engine):
    assert escalations(work_engine, configured(), joined("u-2", "张三")) == []


# --------------------------------------------------------------------------- M3

def test_m3_inactive_member_notice_once_per_silent_stretch(work_engine):
    events = [configured(), joined("u-2", "财务部-张三", ts=at()), message("周报已发", actor="u-3", ts=at()),
              tick(ts=at(days=29)), tick(ts=at(days=30, minutes=1)), tick(ts=at(days=45))]
    found = violations(work_engine, *events, rule="M3")
    assert [v["member"]["id"] for v in found] == ["u-2", "u-3"]
    assert all(v["notice"] == "inactive_member" and v["recipients"] == {"admins": ["u-admin"]} for v in found)
    assert escalations(work_engine, *events) == []


def test_m3_a_new_message_starts_a_new_stretch(work_engine):
    events = [configured(), joined("u-2", "财务部-张三", ts=at()), tick(ts=at(days=31)),
              message("收到", actor="u-2", ts=at(days=32)), tick(ts=at(days=61)), tick(ts=at(days=63))]
    assert [v["evidence"]["last_active"][:10] for v in violations(work_engine, *events, rule="M3")] == \
        ["2026-03-02", "2026-04-03"]


def test_m3_near_miss_member_who_speaks_in_time(work_engine):
    events = [configured(), joined("u-2", "财务部-张三", ts=at()), message("收到", actor="u-2", ts=at(days=20)),
              tick(ts=at(days=40))]
    assert violations(work_engine, *events, rule="M3") == []


def test_m3_new_member_joining_later_is_tracked(work_engine):
    events = [configured(), joined("u-2", "财务部-张三", ts=at()), tick(ts=at(days=31)),
              joined("u-3", "财务部-李四", ts=at(days=32)), tick(ts=at(days=63))]
    assert [v["member"]["id"] for v in violations(work_engine, *events, rule="M3")] == ["u-2", "u-3"]


# --------------------------------------------------------------------------- M4

def test_m4_departed_member_still_in_group_after_grace_escalates_to_admin(work_engine):
    events = [configured(), joined("u-2", "财务部-张三"), departed("u-2", ts=at(hours=1)),
              tick(ts=at(hours=24)), tick(ts=at(hours=25, minutes=1)), tick(ts=at(hours=50))]
    found = violations(work_engine, *events, rule="M4")
    assert len(found) == 1 and found[0]["member"]["id"] == "u-2"
    m4 = [e for e in escalations(work_engine, *events) if e["rule"] == "M4"]
    assert len(m4) == 1 and m4[0]["level"] == "removal_recommended"
    assert m4[0]["recipients"]["admins"] == ["u-admin"] and m4[0]["violations"] == [found[0]["id"]]


def test_m4_near_miss_member_removed_within_grace(work_engine):
    events = [configured(), joined("u-2", "财务部-张三"), departed("u-2", ts=at(hours=1)),
              left("u-2", ts=at(hours=5)), tick(ts=at(hours=48))]
    assert "M4" not in rules_fired(work_engine, *events)


def test_m4_near_miss_departed_person_not_in_this_group(work_engine):
    assert "M4" not in rules_fired(work_engine, configured(), departed("u-7"), tick(ts=at(days=3)))


def test_m4_escalation_ids_are_stable_across_replays(work_engine):
    events = [configured(), joined("u-2", "财务部-张三"), departed("u-2"), tick(ts=at(days=2))]
    assert [e["id"] for e in outputs(work_engine, *events)] == [e["id"] for e in outputs(work_engine, *events)]


def test_m3_activity_in_another_utc_offset_counts(work_engine):
    # 02:00 UTC is 10:00 in Beijing: later than 09:30+08:00 although the string sorts earlier.
    events = [configured(), joined("u-2", "财务部-张三", ts="2026-03-02T09:30:00+08:00"),
              message("收到", actor="u-2", ts="2026-03-02T02:00:00+00:00"),
              tick(ts="2026-04-01T09:45:00+08:00")]
    assert violations(work_engine, *events, rule="M3") == []
