"""P2–P6, C3 (content classes), P6 flooding, P8 length, P10 off-hours, through the offline core.

The content mapping is tested with chosen verdicts (the classifier is tested on its own); a few
clear examples also go through the shipped classifier."""
from __future__ import annotations

from datetime import datetime

from tests.conftest import rules_fired
from tests.factory import CST, at, configured, message
from tests.unit.rule_helpers import engine_for, escalations, violations

EVENING = datetime(2026, 3, 2, 20, 30, tzinfo=CST)         # Monday after work
SATURDAY = datetime(2026, 3, 7, 11, 0, tzinfo=CST)
NATIONAL_DAY = datetime(2026, 10, 1, 10, 0, tzinfo=CST)    # a Thursday, statutory holiday
ADJUSTED_SATURDAY = datetime(2026, 2, 14, 10, 0, tzinfo=CST)  # 调休: a working Saturday


def fired(policy, chosen: dict, *events) -> list[str]:
    return rules_fired(engine_for(policy, chosen), configured(), *events)


# --------------------------------------------------------------------------- content classes

def test_p2_ad(policy):
    assert fired(policy, {"限时特价，加我微信": "ad"}, message("限时特价，加我微信")) == ["P2"]


def test_p2_near_miss_authorised_sender_and_work(policy):
    chosen = {"限时特价，加我微信": "ad"}
    assert fired(policy, chosen, message("限时特价，加我微信", actor="u-marketing-bot")) == []
    assert fired(policy, chosen, message("请查收本周销售报表")) == []


def test_p2_allow_listed_group(policy):
    from pipeline.config import ContentSettings
    from pipeline.core.engine import Engine
    from tests.unit.rule_helpers import ChosenClassifier

    content = ContentSettings(**{**policy.content.model_dump(), "ad_allowlist_groups": ("g-1",)})
    engine = Engine(policy.model_copy(update={"content": content}), ChosenClassifier({"特价": "ad"}))
    assert rules_fired(engine, configured(), message("特价")) == []
    assert rules_fired(engine, configured("g-2"), message("特价", group="g-2")) == ["P2"]


def test_p3_rumour(policy):
    assert fired(policy, {"听说公司要倒闭了，快转发": "rumour"}, message("听说公司要倒闭了，快转发")) == ["P3"]
    assert fired(policy, {}, message("公司公告：本周五例会改到三点")) == []


def test_p4_abuse_vulgar_violent_terror(policy):
    for sub in ("vulgar", "violent", "terror", None):
        assert fired(policy, {"坏话": ("abuse", sub)}, message("坏话")) == ["P4"], sub


def test_c3_personal_attack_is_not_p4(policy):
    assert fired(policy, {"你就是个废物": ("abuse", "attack")}, message("你就是个废物")) == ["C3"]
    assert fired(policy, {}, message("这个方案还可以再改进一下")) == []


def test_p5_confidential_and_large_leak_is_severe(policy):
    small = violations(engine_for(policy, {"工资条": ("confidential", None, 1)}), configured(), message("工资条"))
    large = violations(engine_for(policy, {"全员名单": ("confidential", None, 5)}), configured(), message("全员名单"))
    assert [(v["rule"], v["severity"]) for v in small] == [("P5", "warning")]
    assert [(v["rule"], v["severity"]) for v in large] == [("P5", "severe")]
    assert [e["level"] for e in escalations(engine_for(policy, {"全员名单": ("confidential", None, 5)}),
                                            configured(), message("全员名单"))] == ["supervisor"]


def test_p5_output_is_redacted(policy):
    text = "张三手机 13812345678 身份证 11010519491231002X"
    (v,) = violations(engine_for(policy, {text: ("confidential", None, 2)}), configured(), message(text))
    assert "13812345678" not in str(v) and "11010519491231002X" not in str(v)


def test_p6_chitchat(policy):
    assert fired(policy, {"周末去哪儿玩哈哈": "chitchat"}, message("周末去哪儿玩哈哈")) == ["P6"]
    assert fired(policy, {}, message("周末加班安排见附件")) == []


def test_p2_with_the_shipped_classifier(engine):
    assert "P2" in rules_fired(engine, configured(), message("限时特价促销，免费领取，加我微信了解代理招商"))
    assert rules_fired(engine, configured(), message("请各位在周五前提交本月的项目进度报告，谢谢。")) == []


# --------------------------------------------------------------------------- P6 flooding

def test_p6_flooding_near_duplicates(work_engine):
    events = [message("请大家尽快回复我!!!", ts=at(seconds=i * 5)) for i in range(3)]
    found = violations(work_engine, configured(), *events, rule="P6")
    assert len(found) == 1 and "near-duplicate" in found[0]["evidence"]["flooding"]


def test_p6_flooding_burst(work_engine):
    texts = ["报表已发", "会议改到三点", "合同在审批", "请查收附件", "预算表更新了", "客户已回复", "测试通过",
             "版本已上线", "周报已提交"]
    events = [message(text, ts=at(seconds=i * 5)) for i, text in enumerate(texts)]
    found = violations(work_engine, configured(), *events, rule="P6")
    assert len(found) == 1 and "9 messages" in found[0]["evidence"]["flooding"]


def test_p6_flooding_near_miss_spread_out_or_different_members(work_engine):
    spread = [message("请大家尽快回复我!!!", ts=at(minutes=i * 2)) for i in range(3)]
    others = [message("请大家尽快回复我!!!", actor=f"u-{i + 10}", ts=at(seconds=i)) for i in range(3)]
    assert "P6" not in rules_fired(work_engine, configured(), *spread)
    assert "P6" not in rules_fired(work_engine, configured(), *others)


def test_p6_chitchat_that_completes_a_flood_is_one_finding(policy):
    engine = engine_for(policy, {"哈哈哈哈": "chitchat"})
    events = [message("哈哈哈哈", ts=at(seconds=i)) for i in range(3)]
    found = violations(engine, configured(), *events, rule="P6")
    assert len(found) == 3 and "flooding" in found[2]["evidence"]
    # Seconds apart: one episode, the member had no chance to read the reminder yet.
    assert [e["level"] for e in escalations(engine, configured(), *events)] == ["reminder"]


# --------------------------------------------------------------------------- P8

def test_p8_over_long(work_engine):
    (v,) = violations(work_engine, configured(), message("项目进展说明。" * 80), rule="P8")
    assert v["severity"] == "info" and v["evidence"]["limit"] == 500


def test_p8_near_miss_at_the_limit(work_engine):
    assert rules_fired(work_engine, configured(), message("字" * 500)) == []


# --------------------------------------------------------------------------- P10

def test_p10_off_hours_posts(work_engine):
    for when in (EVENING, SATURDAY, NATIONAL_DAY):
        assert rules_fired(work_engine, configured(), message("明天的会议材料我放群文件了", ts=when.isoformat())) == \
            ["P10"], when


def test_p10_near_misses_work_time_adjusted_working_day_and_urgent(work_engine):
    assert rules_fired(work_engine, configured(), message("材料已上传", ts=ADJUSTED_SATURDAY.isoformat())) == []
    assert rules_fired(work_engine, configured(), message("材料已上传")) == []
    assert rules_fired(work_engine, configured(), message("服务器宕机，紧急处理", ts=EVENING.isoformat())) == []
    assert rules_fired(work_engine, configured(), message("请看一下", urgent=True, ts=EVENING.isoformat())) == []


def test_p10_once_per_member_per_off_hours_stretch(work_engine):
    events = [message("第一件事", ts=EVENING.isoformat()), message("第二件事", ts=at(EVENING, hours=1)),
              message("第三件事", actor="u-2", ts=at(EVENING, hours=2)),
              message("次日晚上", ts=at(EVENING, days=1))]
    assert [v["member"]["id"] for v in violations(work_engine, configured(), *events, rule="P10")] == \
        ["u-1", "u-2", "u-1"]
    assert escalations(work_engine, configured(), *events) == []
