"""C5 problems, P7 announcements, P10/P11 urgent follow-ups, D4 rectifications and the D3 report,
through the offline core."""
from __future__ import annotations

from datetime import datetime

from tests.conftest import outputs
from tests.factory import CST, at, configured, event, joined, message, tick

NEXT_WEEK = at(days=8)


def group(*more):
    return [configured(admins=("u-admin",), owners=("u-lead",)), joined("u-2", "研发中心-李四"),
            joined("u-3", "研发中心-王五"), joined("u-lead", "研发中心-组长"), *more]


def levels(engine, *events, rule):
    return [(e["level"], e["ts"]) for e in outputs(engine, *events, role="escalations") if e["rule"] == rule]


def reports(engine, *events):
    return outputs(engine, *events, role="reports")


# --------------------------------------------------------------------------- C5


def test_c5_problem_closed_by_owner_response_and_resolution(work_engine):
    events = group(message("测试环境登录报错，无法访问", actor="u-2", message_id="p1"),
                   message("我看一下日志", actor="u-lead", reply_to="p1", ts=at(minutes=20)),
                   message("已修复，请再试", actor="u-lead", reply_to="p1", ts=at(hours=1)), tick(ts=NEXT_WEEK))
    assert levels(work_engine, *events, rule="C5") == []
    (report,) = reports(work_engine, *events)
    assert report["problems"] == {"opened": 1, "resolved": 1, "escalated": 0, "open": []}


def test_c5_no_owner_response_reminds_then_unresolved_goes_to_the_supervisor(work_engine):
    events = group(message("打印机故障，一直卡住", actor="u-2", message_id="p1"),
                   message("已经好了", actor="u-3", reply_to="p1", ts=at(minutes=5)),   # not an owner
                   tick(ts=at(hours=4)), tick(ts=at(days=3, hours=3)), tick(ts=at(days=4)))
    assert levels(work_engine, *events, rule="C5") == [("reminder", at(hours=4)), ("supervisor", at(days=3, hours=3))]
    reminder, supervisor = [e for e in outputs(work_engine, *events, role="escalations") if e["rule"] == "C5"]
    assert reminder["recipients"] == {"owners": ["u-lead"], "admins": ["u-admin"]}
    assert supervisor["recipients"]["supervisors"] == ["u-supervisor"]


def test_c5_reporter_resolution_alone_is_not_enough_without_an_owner(work_engine):
    events = group(message("VPN 连接失败", actor="u-2", message_id="p1"),
                   message("已解决", actor="u-2", ts=at(minutes=30)), tick(ts=NEXT_WEEK))
    (report,) = reports(work_engine, *events)
    assert [p["message_id"] for p in report["problems"]["open"]] == ["p1"]


def test_c5_an_offer_to_help_with_problems_is_not_a_problem_report(work_engine):
    offers = ["好的，我这边跟进一下招聘计划的进度，有问题及时同步。", "有问题随时找我", "如果有问题请告诉我", "没有问题", "还有问题吗？"]
    events = group(*(message(text, actor="u-2", message_id=f"m{i}", ts=at(minutes=i)) for i, text in enumerate(offers)),
                   message("登录页面有问题，一直转圈", actor="u-3", message_id="p1", ts=at(minutes=10)),
                   tick(ts=NEXT_WEEK))
    (report,) = reports(work_engine, *events)
    assert [p["message_id"] for p in report["problems"]["open"]] == ["p1"]


# --------------------------------------------------------------------------- P7


def announcement(ann_id="a1", ts=None, **extra):
    return event("announcement.posted", actor="u-admin", ts=ts,
                 announcement={"id": ann_id, "title": "考勤制度更新", "text": "请全员阅读", **extra})


def read(member, ann_id="a1", ts=None):
    return event("announcement.read", actor=member, ts=ts, announcement={"id": ann_id})


def test_p7_one_reminder_to_the_admin_lists_who_has_not_read(work_engine):
    events = group(announcement(), read("u-2", ts=at(minutes=10)),
                   message("收到", actor="u-lead", reply_to="a1", ts=at(minutes=20)),
                   tick(ts=at(days=1)), tick(ts=at(days=2)))
    (reminder,) = [e for e in outputs(work_engine, *events, role="escalations") if e["rule"] == "P7"]
    assert [m["id"] for m in reminder["members"]] == ["u-3"]
    assert reminder["recipients"] == {"admins": ["u-admin"]} and reminder["ts"] == at(days=1)


def test_p7_uses_the_announcement_deadline_and_stays_quiet_when_all_read(work_engine):
    deadline = at(hours=1)
    everyone = group(announcement(ack_deadline=deadline), read("u-2", ts=at(minutes=1)),
                     read("u-3", ts=at(minutes=2)), read("u-lead", ts=at(minutes=3)), tick(ts=NEXT_WEEK))
    assert levels(work_engine, *everyone, rule="P7") == []
    (report,) = reports(work_engine, *everyone)
    assert report["announcements"][0]["read_rate"] == 1.0
    late = group(announcement(ack_deadline=deadline), read("u-2", ts=at(hours=2)), tick(ts=at(hours=3)))
    assert levels(work_engine, *late, rule="P7") == [("reminder", at(hours=2))]


# --------------------------------------------------------------------------- P10 / P11


SATURDAY_NIGHT = datetime(2026, 3, 7, 22, 0, tzinfo=CST).isoformat()


def test_p10_urgent_off_hours_post_without_follow_up_is_reminded_on_monday(work_engine):
    events = group(message("紧急：线上支付中断，正在排查", actor="u-2", ts=SATURDAY_NIGHT),
                   tick(ts=datetime(2026, 3, 9, 10, 59, tzinfo=CST).isoformat()),
                   tick(ts=datetime(2026, 3, 9, 11, 0, tzinfo=CST).isoformat()))
    assert levels(work_engine, *events, rule="P10") == [("reminder", datetime(2026, 3, 9, 11, 0, tzinfo=CST).isoformat())]


def test_p10_detailed_follow_up_by_the_poster_closes(work_engine):
    events = group(message("紧急：线上支付中断", actor="u-2", ts=SATURDAY_NIGHT, message_id="u1"),
                   message("支付中断处理进展：已回滚版本", actor="u-2", reply_to="u1",
                           ts=datetime(2026, 3, 9, 9, 30, tzinfo=CST).isoformat()),
                   tick(ts=NEXT_WEEK))
    assert levels(work_engine, *events, rule="P10") == []


def test_p11_urgent_flag_in_work_hours_and_someone_elses_reply_does_not_count(work_engine):
    events = group(message("服务器告警", actor="u-2", urgent=True, message_id="u1"),
                   message("这个告警我也看到了，等你进一步说明情况再决定要不要升级处理", actor="u-3", reply_to="u1",
                           ts=at(minutes=5)),
                   tick(ts=at(hours=2)))
    assert levels(work_engine, *events, rule="P11") == [("reminder", at(hours=2))]


# --------------------------------------------------------------------------- D4


def test_d4_rectification_escalates_to_the_supervisor_at_its_deadline(work_engine):
    events = group(message("@李四 群文件命名不规范，请在2个工作日内完成整改", actor="u-supervisor", mentions=["u-2"],
                           message_id="r1"),
                   tick(ts=at(days=2)), tick(ts=at(days=3)))
    (esc,) = [e for e in outputs(work_engine, *events, role="escalations") if e["rule"] == "D4"]
    assert esc["level"] == "supervisor" and esc["due"] == at(days=2) and esc["ts"] == at(days=2)
    assert [m["id"] for m in esc["responsible"]] == ["u-2"]


def test_d4_done_by_the_responsible_person_closes(work_engine):
    events = group(message("@李四 请于3月5日前整改文件夹分类", actor="u-admin", mentions=["u-2"], message_id="r1"),
                   message("已完成整改，请检查", actor="u-2", reply_to="r1", ts=at(days=1)), tick(ts=NEXT_WEEK))
    assert levels(work_engine, *events, rule="D4") == []
    (report,) = reports(work_engine, *events)
    assert report["rectifications"]["opened"] == 1 and report["rectifications"]["closed"] == 1


def test_d4_deadline_from_text():
    from pipeline.config import load_policy
    from pipeline.core.followups.rectification import deadline_from_text

    policy = load_policy()
    posted = datetime(2026, 3, 2, 10, 0, tzinfo=CST)
    assert deadline_from_text("2026-03-10前整改", posted, policy) == datetime(2026, 3, 10, 18, 0, tzinfo=CST)
    assert deadline_from_text("3月5日前整改", posted, policy) == datetime(2026, 3, 5, 18, 0, tzinfo=CST)
    assert deadline_from_text("三天内整改", posted, policy) == datetime(2026, 3, 5, 10, 0, tzinfo=CST)
    assert deadline_from_text("十个工作日内整改", posted, policy) == datetime(2026, 3, 16, 10, 0, tzinfo=CST)
    assert deadline_from_text("请整改", posted, policy) == datetime(2026, 3, 9, 10, 0, tzinfo=CST)


def test_d4_members_cannot_issue_rectifications(work_engine):
    events = group(message("@王五 你要整改一下", actor="u-2", mentions=["u-3"]), tick(ts=NEXT_WEEK))
    assert reports(work_engine, *events)[0]["rectifications"]["opened"] == 0


# --------------------------------------------------------------------------- D3


def test_d3_weekly_report(work_engine):
    from tests.conftest import FixedClassifier
    from pipeline.core.engine import Engine
    from pipeline.config import load_policy

    engine = Engine(load_policy(), FixedClassifier({"周末一起打球啊": "chitchat"}))
    events = group(joined("u-old", "研发中心-老张", ts=at(days=-60)),
                   message("@李四 周报写了吗？", actor="u-lead", mentions=["u-2"], message_id="q1"),
                   message("写好了，已上传", actor="u-2", reply_to="q1", ts=at(minutes=15)),
                   message("周末一起打球啊", actor="u-3", ts=at(hours=1)),
                   announcement(ts=at(hours=2)), read("u-2", ts=at(hours=3)),
                   message("报销系统打不开", actor="u-3", message_id="p1", ts=at(hours=4)),
                   tick(ts=NEXT_WEEK))
    (report,) = reports(engine, *events)
    assert report["period"] == {"kind": "week", "start": "2026-03-02T00:00:00+08:00",
                                "end": "2026-03-09T00:00:00+08:00"}
    assert report["violations"]["by_rule"]["P6"] == 1
    assert report["responsiveness"]["addressed"] == 1 and report["responsiveness"]["median_reply_seconds"] == 900.0
    (notice,) = report["announcements"]
    assert [m["id"] for m in notice["missing"]] == ["u-3", "u-lead", "u-old"] and notice["read_rate"] == 0.25
    assert [p["message_id"] for p in report["problems"]["open"]] == ["p1"]
    assert [m["id"] for m in report["inactive_members"]] == ["u-old"]
    assert report["activity"]["owners"] == {"u-lead": 1}
    assert report["recipients"]["supervisors"] == ["u-supervisor"]


def test_d3_quiet_weeks_crossed_by_ticks_still_get_a_report_each(work_engine):
    events = group(tick(ts=at(days=8)), tick(ts=at(days=15)))
    assert [r["period"]["start"][:10] for r in reports(work_engine, *events)] == ["2026-03-02", "2026-03-09"]


def test_d3_a_clock_that_leaps_years_gives_one_report_not_one_per_week(work_engine):
    # One event far ahead (or a replay whose first event is years old) once gave thousands of
    # reports: the weeks in between saw nothing of the group.
    events = group(tick(ts=at(days=3 * 365)), tick(ts=at(days=3 * 365 + 8)))
    starts = [r["period"]["start"][:10] for r in reports(work_engine, *events)]
    assert len(starts) == 2 and starts[0] == "2026-03-02"


def test_d4_a_done_message_from_an_issuer_opens_nothing(work_engine):
    # 整改完成 contains 整改: with nothing open it must not open a rectification of its own.
    events = group(message("@李四 整改完成了，辛苦", actor="u-admin", mentions=["u-2"]), tick(ts=NEXT_WEEK))
    assert reports(work_engine, *events)[0]["rectifications"]["opened"] == 0


def test_compiled_patterns_go_with_their_policy():
    import gc

    from pipeline.config import load_policy
    from pipeline.core.followups import common

    policy = load_policy()
    key = id(policy.responsiveness.patterns)
    assert common.matches(policy, "problem", "系统报错了") and not common.matches(policy, "problem", "周五聚餐")
    assert key in common._COMPILED_BY_POLICY
    del policy
    gc.collect()
    assert key not in common._COMPILED_BY_POLICY


def test_switching_off_the_p10_advisory_keeps_urgent_follow_ups(policy):
    """rules.P10 is the off-hours advisory; the urgent follow-ups (P10/P11 in outputs, per
    POLICY.md) are switched by rules.P11. Switching the advisory off once stopped them too."""
    from pipeline.config import RuleSettings
    from pipeline.core.engine import Engine
    from tests.conftest import FixedClassifier

    no_advisory = policy.model_copy(update={"rules": {**policy.rules, "P10": RuleSettings(enabled=False)}})
    engine = Engine(no_advisory, FixedClassifier())
    events = group(message("紧急：线上支付中断，正在排查", actor="u-2", ts=SATURDAY_NIGHT),
                   message("周末愉快", actor="u-3", ts=SATURDAY_NIGHT),
                   tick(ts=datetime(2026, 3, 9, 11, 0, tzinfo=CST).isoformat()))
    assert levels(engine, *events, rule="P10") == [("reminder", datetime(2026, 3, 9, 11, 0, tzinfo=CST).isoformat())]
    assert [v for v in outputs(engine, *events, role="violations") if v["rule"] == "P10"] == []
    no_follow_ups = policy.model_copy(update={"rules": {**policy.rules, "P11": RuleSettings(enabled=False)}})
    engine = Engine(no_follow_ups, FixedClassifier())
    assert levels(engine, *events, rule="P10") == []
    assert [v["rule"] for v in outputs(engine, *events, role="violations") if v["rule"] == "P10"] == ["P10"]


def test_an_insult_is_no_problem_report(engine):
    """你是不是脑子有问题 reads like 有问题 (a problem report, C5), and escalated to the supervisor as
    an unanswered problem. Abuse opens no follow-up."""
    events = group(message("你是不是脑子有问题，这点事都做不好", actor="u-2"), tick(ts=NEXT_WEEK))
    assert levels(engine, *events, rule="C5") == []
    assert reports(engine, *events)[0]["problems"]["opened"] == 0
