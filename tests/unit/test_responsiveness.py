"""C1 reply tracking and the responsiveness windows, through the offline core."""
from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.core.events import encode
from tests.conftest import outputs
from tests.factory import CST, MONDAY, at, configured, joined, message, tick

FRIDAY_1755 = datetime(2026, 3, 6, 17, 55, tzinfo=CST)
NEXT_WEEK = at(days=8)


def group(*more):
    return [configured(), joined("u-2", "研发中心-李四"), joined("u-3", "研发中心-王五"), *more]


def c1(engine, *events) -> list[tuple[str, str]]:
    return [(e["member"]["id"] if e["member"] else None, e["level"])
            for e in outputs(engine, *events, role="escalations") if e["rule"] == "C1"]


def windows(engine, *events, kind="day", scope="member") -> list[dict]:
    return [e for e in outputs(engine, *events, role="responsiveness")
            if e["window"]["kind"] == kind and e["scope"] == scope]


def ask(to="u-2", by="u-3", text="@李四 报表今天能发我吗？", **kw):
    return message(text, actor=by, mentions=[to], **kw)


def test_reply_within_the_sla_closes_the_item_quietly(work_engine):
    events = group(ask(message_id="q1"), message("报表已发到邮箱", actor="u-2", reply_to="q1", ts=at(minutes=30)),
                   tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == []
    (day,) = windows(work_engine, *events)
    assert (day["member"]["id"], day["addressed"], day["replied"], day["overdue"]) == ("u-2", 1, 1, 0)
    assert day["median_reply_seconds"] == day["p90_reply_seconds"] == 1800.0 and day["reply_rate"] == 1.0


def test_no_reply_reminds_then_goes_to_owners_and_supervisors_once_each(work_engine):
    events = group(ask(), tick(ts=at(hours=1, minutes=59)), tick(ts=at(hours=2)), tick(ts=at(hours=3)),
                   tick(ts=at(hours=6)), tick(ts=at(hours=7)), tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == [("u-2", "reminder"), ("u-2", "supervisor")]
    reminder, owner = [e for e in outputs(work_engine, *events, role="escalations")]
    assert reminder["recipients"] == {"member": "u-2", "admins": ["u-admin"]} and reminder["ts"] == at(hours=2)
    assert owner["recipients"] == {"owners": ["u-admin"], "admins": ["u-admin"], "supervisors": ["u-supervisor"]} and owner["ts"] == at(hours=6)
    (day,) = windows(work_engine, *events)
    assert (day["replied"], day["overdue"], day["unanswered"], day["reply_rate"]) == (0, 1, 1, 0.0)


def test_friday_evening_question_is_not_overdue_on_monday_morning(work_engine):
    friday = FRIDAY_1755.isoformat()
    events = group(ask(ts=friday), tick(ts=datetime(2026, 3, 9, 9, 0, tzinfo=CST).isoformat()))
    assert c1(work_engine, *events) == []
    later = events + [tick(ts=datetime(2026, 3, 9, 10, 55, tzinfo=CST).isoformat())]
    assert c1(work_engine, *later) == [("u-2", "reminder")]


def test_late_reply_without_a_tick_is_still_overdue_and_counts_its_work_seconds(work_engine):
    events = group(ask(message_id="q1"), message("已经发了", actor="u-2", reply_to="q1", ts=at(hours=3)),
                   tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == [("u-2", "reminder")]
    (day,) = windows(work_engine, *events)
    assert (day["replied"], day["overdue"], day["median_reply_seconds"]) == (1, 1, 10800.0)


def test_acknowledgement_with_reason_and_time_closes(work_engine):
    events = group(ask(message_id="q1"), message("在开会，下午三点前回复你", actor="u-2", reply_to="q1", ts=at(minutes=5)),
                   tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == []
    (day,) = windows(work_engine, *events)
    assert (day["replied"], day["acknowledged"]) == (1, 1)


def test_plain_answer_and_tomorrow_morning_promise_close(work_engine):
    events = group(ask(), message("明早给你", actor="u-2", ts=at(minutes=5)), tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == []


def test_acknowledgement_without_a_time_is_noted_but_stays_open(work_engine):
    events = group(ask(message_id="q1"), message("收到", actor="u-2", reply_to="q1", ts=at(minutes=5)),
                   tick(ts=at(hours=2)))
    (reminder,) = [e for e in outputs(work_engine, *events, role="escalations")]
    assert reminder["evidence"]["acknowledgements"] == [at(minutes=5)]
    assert "without an expected time" in reminder["why"]


def test_a_message_to_someone_else_or_a_question_back_does_not_answer(work_engine):
    events = group(joined("u-4", "研发中心-赵六"), ask(message_id="q1"),
                   message("@赵六 你那边进度怎样？", actor="u-2", mentions=["u-4"], ts=at(minutes=5)),
                   message("哪个报表？", actor="u-2", ts=at(minutes=6)),
                   message("我看看", actor="u-2", reply_to="other", ts=at(minutes=7)),
                   tick(ts=at(hours=2)))
    assert ("u-2", "reminder") in c1(work_engine, *events)


def test_reply_request_to_the_group_opens_one_item_per_member(work_engine):
    events = group(message("下周一例会改到下午，收到请回复", actor="u-admin", message_id="r1"),
                   message("收到", actor="u-2", reply_to="r1", ts=at(minutes=3)), tick(ts=at(hours=2)),
                   tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == [("u-3", "reminder"), ("u-3", "supervisor")]
    by_member = {w["member"]["id"]: (w["addressed"], w["replied"]) for w in windows(work_engine, *events)}
    assert by_member == {"u-2": (1, 1), "u-3": (1, 0)}


def test_question_to_the_group_is_answered_by_anyone_but_the_asker(work_engine):
    events = group(message("明天的评审会议室订好了吗？", actor="u-3", message_id="g1"),
                   message("还没订", actor="u-3", ts=at(minutes=1)),
                   message("订好了，在三楼", actor="u-2", ts=at(minutes=10)), tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == []
    (group_window,) = windows(work_engine, *events, scope="group")
    assert (group_window["addressed"], group_window["replied"], group_window["median_reply_seconds"]) == (1, 1, 600.0)
    assert windows(work_engine, *events) == []   # nobody in particular was asked


def test_thanks_and_chat_do_not_open_items(work_engine):
    events = group(message("@李四 谢谢！", actor="u-3", mentions=["u-2"]), message("今天的会开完了", actor="u-3"),
                   tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == [] and outputs(work_engine, *events, role="responsiveness") == []


def test_member_who_leaves_settles_as_unanswered(work_engine):
    from tests.factory import event
    events = group(ask(), event("member.left", actor="u-admin", ts=at(minutes=5), member={"id": "u-2"},
                                removed_by="u-admin"), tick(ts=NEXT_WEEK))
    assert c1(work_engine, *events) == []
    (day,) = windows(work_engine, *events)
    assert (day["addressed"], day["unanswered"]) == (1, 1)


def test_windows_wait_for_open_items_and_keep_the_day_of_the_question(work_engine):
    friday = FRIDAY_1755.isoformat()
    events = group(ask(ts=friday, message_id="q1"), tick(ts=datetime(2026, 3, 7, 12, 0, tzinfo=CST).isoformat()),
                   message("附件是报表，请查收", actor="u-2", reply_to="q1",
                           ts=datetime(2026, 3, 9, 9, 30, tzinfo=CST).isoformat()),
                   tick(ts=datetime(2026, 3, 9, 9, 31, tzinfo=CST).isoformat()))
    out = outputs(work_engine, *events, role="responsiveness")
    days = [(e["window"]["kind"], e["window"]["start"][:10], e["scope"], e["median_reply_seconds"]) for e in out]
    assert days == [("day", "2026-03-06", "member", 2100.0), ("day", "2026-03-06", "group", 2100.0),
                    ("week", "2026-03-02", "member", 2100.0), ("week", "2026-03-02", "group", 2100.0)]
    assert all(e["ts"] == datetime(2026, 3, 9, 9, 30, tzinfo=CST).isoformat() for e in out)


def test_percentiles_over_several_replies(work_engine):
    events = group()
    for i, minutes in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 60]):
        events.append(ask(message_id=f"q{i}", ts=at(minutes=i)))
        events.append(message("发了", actor="u-2", reply_to=f"q{i}", ts=at(minutes=i + minutes)))
    events.append(tick(ts=NEXT_WEEK))
    (day,) = windows(work_engine, *events)
    assert (day["addressed"], day["median_reply_seconds"], day["p90_reply_seconds"]) == (10, 330.0, 540.0)


def test_switched_off_c1_tracks_nothing(policy):
    from pipeline.config import RuleSettings
    from pipeline.core.engine import Engine
    from tests.conftest import FixedClassifier

    off = policy.model_copy(update={"rules": {**policy.rules, "C1": RuleSettings(enabled=False)}})
    events = group(ask(), tick(ts=NEXT_WEEK))
    assert c1(Engine(off, FixedClassifier()), *events) == []


def test_same_input_same_bytes(work_engine):
    events = group(ask(message_id="q1"), ask(to="u-3", by="u-2", text="@王五 方案呢？"),
                   message("在忙，明天上午给你", actor="u-3", ts=at(minutes=3)), tick(ts=NEXT_WEEK))
    first = b"\n".join(encode(e) for e in outputs(work_engine, *events))
    assert first == b"\n".join(encode(e) for e in outputs(work_engine, *events))
