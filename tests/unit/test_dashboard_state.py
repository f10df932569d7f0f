"""The dashboard's state (pure) and its web shell without Kafka, on real loopback servers."""
from __future__ import annotations

import asyncio
import copy
import socket
import time
import tracemalloc

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_settings
from pipeline.dashboard.records import BAD_REASONS, BadRecord
from pipeline.dashboard.server import start
from pipeline.dashboard.state import Bounds, DashboardState, View
from pipeline.core.offline import run
from pipeline.devtools.sample import conversation
from tests.unit.dashboard_helpers import log_in, users_file


def violation(i, rule="P6", group="g-fin", severity="warning", ts="2026-03-02T09:40:00+08:00", member="u-xw"):
    return {"kind": "violation", "id": f"vio-{i}", "group_id": group, "ts": ts, "rule": rule,
            "member": {"id": member, "name": f"name-{member}"}, "severity": severity,
            "evidence": {"event_ids": [f"e-{i}"], "excerpt": "秘密 138****5678"}, "excerpt": "138****5678 redacted",
            "action": "请撤回", "schema": 1}


def escalation(i, level="reminder", rule="P6", group="g-fin", ts="2026-03-02T09:40:00+08:00", member="u-xw",
               severity="warning"):
    return {"kind": "escalation", "id": f"esc-{i}", "group_id": group, "ts": ts, "rule": rule, "level": level,
            "member": {"id": member, "name": f"name-{member}"}, "severity": severity,
            "recipients": {"admins": ["u-wm"], "member": member}, "violations": [f"vio-{i}"],
            "evidence": {"excerpt": "短 excerpt"}, "why": f"{level} because", "schema": 1}


def responsiveness(member, start, rate, p90, overdue=0, group="g-fin", kind="day"):
    return {"kind": "responsiveness", "id": f"rsp-{group}-{member}-{kind}-{start}", "group_id": group,
            "ts": "2026-03-03T09:00:00+08:00", "scope": "member" if member else "group",
            "member": {"id": member, "name": f"name-{member}"} if member else None,
            "window": {"kind": kind, "start": start, "end": start}, "addressed": 4, "replied": round(4 * rate),
            "acknowledged": 0, "overdue": overdue, "unanswered": 0, "reply_rate": rate,
            "median_reply_seconds": p90 / 2, "p90_reply_seconds": p90, "clock": "work_time", "schema": 1}


REPORT = {
    "kind": "group_report", "id": "rep-1", "group_id": "g-apollo", "ts": "2026-03-09T00:00:00+08:00", "rule": "D3",
    "period": {"kind": "week", "start": "2026-03-02T00:00:00+08:00", "end": "2026-03-09T00:00:00+08:00"},
    "group": {"name": "阿波罗项目组", "kind": "project", "admins": ["u-cl"], "owners": ["u-cl", "u-hy"]},
    "violations": {"total": 5, "by_rule": {"D1": 3, "P5": 1, "P6": 1}},
    "responsiveness": {"addressed": 2, "replied": 1, "overdue": 1, "median_reply_seconds": 480.0,
                       "p90_reply_seconds": 480.0, "by_member": []},
    "activity": {"messages": 12, "active_members": 5, "owners": {"u-cl": 1, "u-hy": 2}},
    "problems": {"opened": 1, "resolved": 0, "escalated": 0,
                 "open": [{"message_id": "m-22", "reporter": {"id": "u-cl", "name": "研发中心-陈磊"},
                           "opened": "2026-03-02T10:50:00+08:00", "owner_responded": False, "resolved": False,
                           "overdue": True}]},
    "urgent_posts": {"opened": 1, "followed_up": 0, "overdue": 0,
                     "open": [{"message_id": "m-34", "rule": "P10", "poster": {"id": "u-lt", "name": "研发中心-刘涛"},
                               "posted": "2026-03-02T22:00:00+08:00", "due": "2026-03-03T12:00:00+08:00"}]},
    "announcements": [{"announcement_id": "a-1", "title": "安全提醒", "posted": "2026-03-02T10:00:00+08:00",
                       "due": "2026-03-03T10:00:00+08:00", "audience": 4, "acknowledged": 3, "read_rate": 0.75,
                       "missing": [{"id": "u-sq", "name": "市场部-孙强"}], "open": True}],
    "inactive_members": [], "schema": 1,
}


def feed_ids(snap) -> list[str]:
    return [i["id"] for i in snap["feed"]["items"]]


def test_violations_feed_counts_and_charts():
    state = DashboardState()
    assert state.apply(violation(1)) == "applied"
    assert state.apply(violation(2, rule="P5", ts="2026-03-02T09:59:59+08:00")) == "applied"
    assert state.apply(violation(3, rule="P5", ts="2026-03-02T10:00:00+08:00", severity="severe")) == "applied"
    snap = state.snapshot()
    assert feed_ids(snap) == ["vio-3", "vio-2", "vio-1"]          # newest first
    chart, = snap["charts"]
    assert chart["group_id"] == "g-fin" and chart["totals"] == {"P6": 1, "P5": 2} and chart["span"] == "hour"
    assert chart["buckets"] == [["2026-03-02T09:00:00+08:00", {"P6": 1, "P5": 1}],
                                ["2026-03-02T10:00:00+08:00", {"P5": 1}]]
    assert snap["totals"]["severities"] == {"warning": 2, "severe": 1}
    assert snap["feed"]["items"][0]["excerpt"] == "138****5678 redacted"


def test_repeats_are_ignored_and_junk_is_counted_not_applied():
    state = DashboardState()
    assert state.receive(orjson.dumps(violation(1))) == "applied"
    version = state.version
    assert state.receive(orjson.dumps(copy.deepcopy(violation(1)))) == "repeat"
    assert state.version == version
    assert [state.receive(v) for v in (b'{"no": "kind"}', b"[1, 2]", b"null", b"", b"{")] == [
        "bad_field", "not_object", "not_object", "not_json", "not_json"]
    assert state.bad == {"bad_field": 1, "not_object": 2, "not_json": 2} and state.records == 7
    assert len(state.feed) == 1
    with pytest.raises(BadRecord):
        state.apply([1, 2])


def test_feed_is_bounded_and_says_what_it_let_go():
    state = DashboardState(Bounds(feed=5))
    for i in range(12):
        state.apply(violation(i, ts=f"2026-03-02T09:{i:02d}:00+08:00"))
    snap = state.snapshot()
    assert feed_ids(snap) == [f"vio-{i}" for i in (11, 10, 9, 8, 7)]
    assert snap["feed"]["dropped"] == 7 and snap["feed"]["kept"] == 5
    assert snap["charts"][0]["totals"]["P6"] == 12   # counts are not limited by the feed


def test_latest_ladder_step_per_member_and_rule_is_an_open_followup_newest_first():
    state = DashboardState()
    state.apply(escalation(1, "reminder", ts="2026-03-02T09:40:00+08:00"))
    state.apply(escalation(2, "removal_recommended", ts="2026-03-02T10:40:00+08:00"))
    state.apply(escalation(3, "supervisor", rule="D1", member="u-sq", ts="2026-03-02T11:20:00+08:00"))
    follow = state.snapshot()["followups"]["items"]
    assert [(f["what"], f["who"]) for f in follow] == [("supervisor · D1", "name-u-sq"),
                                                       ("removal recommended · P6", "name-u-xw")]
    assert follow[1]["recipients"] == "admins: u-wm; member: u-xw"


def test_a_retracted_escalation_is_no_longer_open():
    state = DashboardState()
    state.apply(escalation(1, "supervisor"))
    state.apply({"kind": "retraction", "id": "ret-1", "group_id": "g-fin", "ts": "2026-03-02T12:00:00+08:00",
                 "retracts": ["esc-1"], "violation_id": "vio-1", "reason": "dismissed"})
    assert state.snapshot()["followups"]["items"] == []


def test_a_decision_or_retraction_naming_another_group_does_not_touch_this_groups_items():
    """Review and retraction records come from the output topics, which anything with access to the
    broker can write: one that names another group than the item's is not shown on the item (an admin
    of the item's group would see the other group's id and note) and does not close it."""
    state = DashboardState()
    state.apply({**violation("c1"), "review": "required",
                 "evidence": {"label": "ad", "score": 0.7, "reasons": ["r"], "message_id": "m-1"}})
    state.apply(escalation(1, "supervisor"))
    outcome = state.apply({"kind": "review", "id": "rv-1", "group_id": "g-secret", "ts": "2026-03-02T12:00:00+08:00",
                           "violation_id": "vio-c1", "decision": "dismissed", "reviewer": {"id": "u-s", "name": "S"},
                           "note": "secret-note", "outcome": "ok"})
    state.apply({"kind": "retraction", "id": "ret-1", "group_id": "g-secret", "ts": "2026-03-02T12:00:00+08:00",
                 "retracts": ["esc-1"], "violation_id": "vio-x", "reason": "secret-reason"})
    admin = state.view(View(scope=frozenset({"g-fin"})))
    shown = orjson.dumps(admin)
    assert b"g-secret" not in shown and b"secret-note" not in shown and b"secret-reason" not in shown
    assert outcome == "applied" or state.bad["bad_field"] == 1
    assert [i["id"] for i in admin["reviews"]["items"]] == ["vio-c1"]
    assert [f["what"] for f in admin["followups"]["items"]] == ["supervisor · P6"]


def test_responsiveness_keeps_the_latest_window_per_member():
    state = DashboardState()
    state.apply(responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900))
    state.apply(responsiveness("u-ls", "2026-03-03T00:00:00+08:00", 1.0, 60))
    state.apply(responsiveness("u-ls", "2026-03-01T00:00:00+08:00", 0.0, 9000))   # late, older: ignored
    state.apply(responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900, kind="week"))
    state.apply(responsiveness(None, "2026-03-02T00:00:00+08:00", 0.75, 600))
    rows = state.snapshot()["responsiveness"]["rows"]                 # per day, lowest reply rate first
    assert [(r["scope"], r["member"]["id"], r["reply_rate"]) for r in rows] == [
        ("group", None, 0.75), ("member", "u-ls", 1.0)]
    week = state.view(View(window="week"))["responsiveness"]["rows"]
    assert [(r["member"]["id"], r["reply_rate"]) for r in week] == [("u-ls", 0.5)]
    slowest = state.view(View(sort="p90_reply_seconds", descending=True))["responsiveness"]["rows"]
    assert [r["p90_reply_seconds"] for r in slowest] == [600, 60]


def test_reply_rate_is_derived_when_missing():
    state = DashboardState()
    event = responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900)
    event["reply_rate"] = None
    state.apply(event)
    assert state.snapshot()["responsiveness"]["rows"][0]["reply_rate"] == 0.5


def test_latest_report_and_its_open_items():
    state = DashboardState()
    state.apply(REPORT)
    older = {**REPORT, "id": "rep-0", "ts": "2026-03-02T00:00:00+08:00", "violations": {"total": 0, "by_rule": {}}}
    state.apply(older)
    snap = state.snapshot()
    assert snap["report"]["violations"]["total"] == 5 and snap["report"]["group_name"] == "阿波罗项目组"
    assert snap["report_groups"] == [{"id": "g-apollo", "name": "阿波罗项目组"}]
    assert {"id": "g-apollo", "name": "阿波罗项目组"}.items() <= snap["groups"][0].items()
    follow = [f for f in snap["followups"]["items"] if f["source"] == "report"]
    assert [(f["what"], f["who"], f["overdue"]) for f in follow] == [          # newest first
        ("urgent post (P10/P11)", "研发中心-刘涛", False), ("problem (C5)", "研发中心-陈磊", True),
        ("announcement (P7)", "市场部-孙强", False)]
    assert "id" not in snap["report"]
    # A newer report replaces the group's open items: what it no longer lists is closed.
    state.apply({**REPORT, "id": "rep-2", "ts": "2026-03-16T00:00:00+08:00", "problems": None,
                 "urgent_posts": None, "announcements": []})
    assert state.snapshot()["followups"]["items"] == []


def test_dlq_records_are_counted_by_reason_without_their_bytes():
    state = DashboardState()
    state.apply({"kind": "rejected", "id": "rej-1", "group_id": None, "ts": None,
                 "reason": "not valid UTF-8 JSON: x", "original_b64": "c2VjcmV0IDEzODEyMzQ1Njc4"})
    snap = state.snapshot()
    assert snap["totals"]["dlq_reasons"] == {"not_json": 1}
    assert "c2VjcmV0" not in orjson.dumps(snap).decode()


def test_the_sample_conversation_never_shows_input_text(engine):
    """Everything the page gets comes from outputs; the raw PII of the sample must not be there."""
    state = DashboardState()
    for _, event in run(engine, [orjson.dumps(e) for e in conversation()]):
        assert state.receive(orjson.dumps(event)) == "applied"
    text = orjson.dumps(state.snapshot()).decode()
    for secret in ("13812345678", "110101199003074578", "6222021234567890128", "Apollo@2026!"):
        assert secret not in text
    charts = {c["group_id"]: c for c in state.snapshot()["charts"]}
    assert {"g-fin", "g-apollo", "g-cross"} <= set(charts)
    assert charts["g-apollo"]["totals"]["D1"] == 3


def test_a_simulated_week_has_no_bad_records(engine):
    """Every kind and shape the pipeline writes (a week across groups, and the sample) reads cleanly."""
    from pipeline.devtools.simulate import simulate

    state = DashboardState()
    lines = simulate(7)[0] + [orjson.dumps(e) for e in conversation()]
    kinds = set()
    for _, event in run(engine, lines):
        kinds.add(event["kind"])
        state.receive(orjson.dumps(event))
    assert state.bad == {} and state.records > 300
    assert {"verdict", "violation", "escalation", "responsiveness", "group_report"} <= kinds


def test_feed_is_in_event_time_order_whatever_the_arrival_order_or_offset():
    state = DashboardState()
    state.apply(violation(1, ts="2026-03-02T11:00:00+08:00", group="g-apollo"))
    state.apply(violation(2, ts="2026-03-02T09:00:00+08:00"))
    state.apply(violation(3, ts="2026-03-02T10:00:00+08:00"))
    state.apply({**violation(4), "ts": None})
    state.apply(violation(5, ts="2026-03-02T02:30:00+00:00"))        # 10:30 in Beijing
    assert feed_ids(state.snapshot()) == ["vio-1", "vio-5", "vio-3", "vio-2", "vio-4"]


# --------------------------------------------------------------------------- bounds


def _groups_of_records(n: int, start: int = 0):
    """A busy deployment: per group a verdict, a violation, a responsiveness window and a report."""
    for i in range(start, start + n):
        group = f"g-{i:06d}"
        ts = f"2026-03-{2 + i % 5:02d}T{9 + i % 8:02d}:{i % 60:02d}:00+08:00"
        yield {"kind": "verdict", "id": f"ver-{i}", "group_id": group, "ts": ts, "label": "work"}
        yield violation(f"g{i}", group=group, ts=ts, member=f"u-{i}", rule=("P6", "C3", "M1")[i % 3])
        yield responsiveness(f"u-{i}", "2026-03-02T00:00:00+08:00", 0.5, 900, group=group)
        yield {**REPORT, "id": f"rep-{i}", "group_id": group, "group": {"name": f"第{i}组"}}


def test_the_response_stays_bounded_with_30000_groups():
    state = DashboardState()
    for event in _groups_of_records(30_000):
        state.apply(event)
    body = orjson.dumps(state.snapshot())
    print(f"\n/api/state at 30,000 groups: {len(body):,} bytes; groups kept {len(state.groups):,} "
          f"(dropped {state.groups.dropped:,}); feed {len(state.feed):,}; follow-ups {len(state.followups):,}")
    assert len(body) < 512 * 1024
    snap = state.snapshot()
    assert snap["totals"]["kinds"]["violation"] == 30_000                 # totals count everything
    assert len(snap["groups"]) == 50 and len(snap["feed"]["items"]) == 100
    assert snap["feed"]["total"] == 1_000 and 18_000 <= snap["followups"]["total"] <= 20_000
    assert snap["followups"]["dropped"] > 0 and snap["totals"]["groups_dropped"] > 0


def test_state_memory_does_not_grow_with_the_number_of_groups():
    # Small bounds, so every store is full after a few thousand groups; then memory must stay flat.
    state = DashboardState(Bounds(groups=200, feed=100, severe=100, followups=2_000, responsiveness=1_000,
                                  reports=100, seen=10_000, members=1_000, decidable=1_000, reviews=100,
                                  review_scores=100))
    tracemalloc.start()
    try:
        for event in _groups_of_records(3_000):
            state.apply(event)
        full = tracemalloc.get_traced_memory()[0]
        for event in _groups_of_records(9_000, start=3_000):
            state.apply(event)
        later = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    print(f"\nstate memory with small bounds: {full / 2**20:.1f} MiB at 3,000 groups, "
          f"{later / 2**20:.1f} MiB at 12,000")
    assert later < full * 1.1


def test_severe_cases_survive_a_busy_hour_and_the_card_agrees_with_the_filter():
    state = DashboardState()
    for i in range(9):
        state.apply(violation(f"s{i}", severity="severe", rule="D1", ts=f"2026-03-02T09:0{i}:00+08:00"))
    for i in range(5_000):
        state.apply(violation(i, ts=f"2026-03-02T{10 + i // 600:02d}:{i // 10 % 60:02d}:00+08:00"))
    snap = state.view(View(severity="severe", escalations=False))
    assert snap["totals"]["severities"]["severe"] == 9
    assert snap["feed"]["total"] == 9 and snap["feed"]["by_kind"] == {"violation": 9}
    assert feed_ids(snap) == [f"vio-s{i}" for i in reversed(range(9))]   # newest first
    assert snap["feed"]["source"] == "severe" and snap["feed"]["dropped"] == 0
    # Only the recent feed lets go of old items, and says so.
    assert state.snapshot()["feed"]["dropped"] == 4_009


def test_even_the_severe_store_counts_what_it_drops():
    state = DashboardState(Bounds(severe=10))
    for i in range(15):
        state.apply(violation(i, severity="severe", ts=f"2026-03-02T09:{i:02d}:00+08:00"))
    feed = state.view(View(severity="severe"))["feed"]
    assert feed["total"] == 10 and feed["dropped"] == 5 and feed["items"][0]["id"] == "vio-14"


def test_open_followups_are_not_pushed_out_by_volume():
    state = DashboardState()
    state.apply(REPORT)
    state.apply(escalation("sup", "supervisor", rule="D1", member="u-sq", ts="2026-03-02T08:00:00+08:00"))
    for i in range(3_000):                     # a busy week of warnings and reminders in other groups
        state.apply(violation(i, group=f"g-{i % 300}", member=f"u-{i}"))
        state.apply(escalation(i, group=f"g-{i % 300}", member=f"u-{i}"))
    open_items = state.view(View(group="g-apollo", limit=500))["followups"]["items"]
    assert len(open_items) == 3
    supervisor = state.view(View(group="g-fin", limit=500))["followups"]["items"]
    assert ("supervisor · D1", "name-u-sq") in [(f["what"], f["who"]) for f in supervisor]


def test_past_the_cap_reminders_go_before_supervisor_steps():
    state = DashboardState(Bounds(followups=10))
    state.apply(escalation("sup", "supervisor", member="u-boss", ts="2026-03-01T08:00:00+08:00"))
    for i in range(20):
        state.apply(escalation(i, member=f"u-{i}", ts=f"2026-03-02T09:{i:02d}:00+08:00"))
    follow = state.snapshot()["followups"]
    assert follow["total"] <= 10 and follow["dropped"] >= 11
    assert "supervisor · P6" in [f["what"] for f in follow["items"]]


def test_paging_through_the_feed():
    state = DashboardState()
    for i in range(250):
        state.apply(violation(i, ts=f"2026-03-02T{9 + i // 60:02d}:{i % 60:02d}:00+08:00"))
    first = state.view(View(limit=100))["feed"]
    third = state.view(View(offset=200, limit=100))["feed"]
    assert first["total"] == 250 and [i["id"] for i in first["items"]][:2] == ["vio-249", "vio-248"]
    assert [i["id"] for i in third["items"]] == [f"vio-{i}" for i in reversed(range(50))]


def test_view_parameters_are_checked():
    view = View.parse({"group": "g-fin", "severity": "severe", "escalations": "0", "dir": "desc", "limit": "20"})
    assert view == View(group="g-fin", severity="severe", escalations=False, descending=True, limit=20)
    assert View.parse(view.query()) == view
    for bad in ({"severity": "x"}, {"limit": "0"}, {"limit": "201"}, {"offset": "-1"}, {"group": "g" * 300},
                {"sort": "__class__"}, {"limit": "１０"}):
        with pytest.raises(ValueError, match="parameter"):
            View.parse(bad)


# --------------------------------------------------------------------------- hostile records

GOOD = violation("good", ts="2026-03-02T12:00:00+08:00")
BAD_RECORDS = {
    "a bad ts": {**violation("b1"), "ts": "yesterday"},
    "a naive ts": {**violation("b2"), "ts": "2026-03-02T09:00:00"},
    "a day that does not exist": {**violation("b3"), "ts": "2026-02-30T09:00:00+08:00"},
    "a number for ts": {**violation("b4"), "ts": 1772415600},
    "a list for group": {**violation("b5"), "group_id": ["g-fin"]},
    "a number for the member": {**violation("b6"), "member": 7},
    "an object for the excerpt": {**violation("b7"), "excerpt": {"text": "x"}},
    "a huge excerpt": {**violation("b8"), "excerpt": "长" * 100_000},
    "a bool for a count": {**responsiveness("u-1", "2026-03-02T00:00:00+08:00", 0.5, 9), "addressed": True},
    "a negative count": {**responsiveness("u-2", "2026-03-02T00:00:00+08:00", 0.5, 9), "overdue": -1},
    "a rate above one": {**responsiveness("u-3", "2026-03-02T00:00:00+08:00", 0.5, 9), "reply_rate": 7.5},
    "a string report list": {**REPORT, "id": "rep-b", "problems": {"open": "m-1"}},
    "a report with 20,000 open items": {**REPORT, "id": "rep-c", "problems": {"open": [{}] * 20_000}},
    "recipients that are numbers": {**escalation("b9"), "recipients": {"admins": [1, 2]}},
    "a retraction of a number": {"kind": "retraction", "id": "r-1", "retracts": [5]},
    "a kind that is a list": {"kind": ["violation"], "id": "k-1"},
}


def test_every_kind_of_bad_record_is_counted_and_the_next_good_one_still_applies():
    state = DashboardState()
    state.apply(violation("first", ts="2026-03-02T09:00:00+08:00"))   # a good one first: the old crash needed it
    for name, event in BAD_RECORDS.items():
        outcome = state.receive(orjson.dumps(event))
        assert outcome in ("bad_field", "too_large"), name
    for raw in (b"\xff\xfe not json", b'"a string"', b"12", b'{"kind": "violation", "id": "x", "ts": "2026-03-0'):
        assert state.receive(raw) in ("not_json", "not_object")
    assert state.receive(b"{" * 2_000_000) == "too_large"
    assert state.receive(orjson.dumps(GOOD)) == "applied"
    assert sum(state.bad.values()) == len(BAD_RECORDS) + 5 and set(state.bad) <= set(BAD_REASONS)
    assert feed_ids(state.snapshot()) == ["vio-good", "vio-first"]


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
                    | st.text(max_size=40),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                     max_size=4),
                    max_leaves=12)
TEMPLATES = [violation(0), escalation(0), responsiveness("u-1", "2026-03-02T00:00:00+08:00", 0.5, 9), REPORT,
             {"kind": "verdict", "id": "v", "group_id": "g", "ts": "2026-03-02T09:00:00+08:00", "label": "work"},
             {"kind": "rejected", "id": "r", "reason": "x"}, {"kind": "retraction", "id": "t", "retracts": []},
             {**violation(1), "review": "required",
              "evidence": {"label": "ad", "score": 0.7, "reasons": ["model: ad 0.70"], "message_id": "m-1"}},
             {"kind": "verdict", "id": "v2", "group_id": "g-fin", "ts": "2026-03-02T09:00:00+08:00", "label": "ad",
              "band": "review", "message_id": "m-1", "scores": {"ad": 0.7, "work": 0.3}},
             {"kind": "review", "id": "rv", "group_id": "g-fin", "ts": "2026-03-02T10:00:00+08:00", "violation_id": "vio-1",
              "decision": "dismissed", "old_label": "ad", "new_label": "work", "reviewer": {"id": "sup", "name": "S"},
              "note": "n", "outcome": "retracted"}]


@st.composite
def hostile_records(draw):
    """A real-looking record of any kind with any of its fields (or a nested one) replaced by any JSON."""
    event = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(1, 3))):
        target = event
        for _depth in range(draw(st.integers(0, 2))):
            nested = [k for k, v in target.items() if isinstance(v, dict)]
            if not nested:
                break
            target = target[draw(st.sampled_from(sorted(nested)))]
        key = draw(st.sampled_from(sorted(target) + ["extra"]))
        target[key] = draw(JSON)
    event["id"] = draw(st.text(max_size=10))
    return event


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_records(), min_size=1, max_size=8))
def test_no_record_makes_the_state_raise(records):
    state = DashboardState(Bounds(feed=3, severe=3, followups=3, groups=10, responsiveness=3, reports=3))
    for event in records:
        assert state.receive(orjson.dumps(event)) in ("applied", "repeat", "counted", *BAD_REASONS)
    for view in (View(), View(severity="severe"), View(group="g-fin", member="u"), View(sort="member", window="week"),
                 View(scope=frozenset({"g-fin"}), review_label="ad", review_age=1)):
        orjson.dumps(state.view(view, now=time.time()))
    assert state.receive(orjson.dumps(GOOD)) in ("applied", "repeat")


# --------------------------------------------------------------------------- the web shell on loopback


async def _serve(state: DashboardState | None = None, **env):
    env.setdefault("users_file", users_file())
    settings = load_settings(env={f"MODERATION_DASHBOARD_{k.upper()}": str(v) for k, v in env.items()})
    runner, url = await start("127.0.0.1", 0, settings, state=state or DashboardState(), consume=False)
    return runner, url, int(url.rsplit(":", 1)[1].strip("/"))


def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))   # unsafe: cookies of 127.0.0.1


async def test_web_shell_serves_page_state_and_stream():
    state = DashboardState()
    state.apply(violation(1, rule="C3"))
    runner, url, _ = await _serve(state)
    try:
        async with _client() as client:
            assert (await client.get(url + "api/state")).status == 401
            await log_in(client, url, "sup")
            page = await client.get(url)
            assert page.status == 200 and "Moderation dashboard" in await page.text()
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
            assert (await client.get(url + "static/app.js")).status == 200
            data = await (await client.get(url + "api/state")).json()
            assert data["feed"]["items"][0]["rule"] == "C3" and data["status"]["connected"] is True
            assert (await client.get(url + "api/state?severity=nonsense")).status == 400
            async with client.get(url + "api/stream?rule=C3") as stream:
                assert stream.headers["Content-Type"].startswith("text/event-stream")
                first = await stream.content.readuntil(b"\n\n")
                assert first.startswith(b"event: state\nid: 1\ndata: ") and b'"C3"' in first
            health = await client.get(url + "healthz")
            assert health.status == 200
    finally:
        await runner.cleanup()


async def test_healthz_says_up_or_down_only_and_the_counts_need_a_login():
    state = DashboardState()
    state.receive(orjson.dumps(violation(1)))
    state.receive(b"not json")
    runner, url, _ = await _serve(state)
    try:
        async with _client() as client:
            body = await (await client.get(url + "healthz")).json()
            assert (await client.get(url + "api/health")).status == 401
            await log_in(client, url, "sup")
            details = await (await client.get(url + "api/health")).json()
            assert body == await (await client.get(url + "healthz")).json()   # the same with a login
        async with _client() as client:
            await log_in(client, url, "adm-fin")
            scoped = await (await client.get(url + "api/health")).json()
    finally:
        await runner.cleanup()
    assert body == {"status": "up"}
    assert {k: details[k] for k in ("status", "kafka_answered_seconds_ago", "records", "bad_records",
                                    "bad_records_by_reason", "streams", "streams_dropped")} == {
        "status": "up", "kafka_answered_seconds_ago": None, "records": 2, "bad_records": 1,
        "bad_records_by_reason": {"not_json": 1}, "streams": 0, "streams_dropped": 0}
    assert scoped == {"status": "up"}             # a group admin learns nothing about the deployment


async def test_healthz_is_503_while_kafka_cannot_be_reached():
    with socket.socket() as s:                         # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings = load_settings(env={"MODERATION_BOOTSTRAP": f"127.0.0.1:{dead}"})
    runner, url = await start("127.0.0.1", 0, settings)
    try:
        async with aiohttp.ClientSession() as client:
            for _ in range(3):
                response = await client.get(url + "healthz")
                assert response.status == 503 and (await response.json())["status"] == "down"
                await asyncio.sleep(0.5)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("[::1]:{port}", 200), ("LOCALHOST:{port}", 200),
    ("evil.example:{port}", 421), ("127.0.0.1.evil.example:{port}", 421), ("127.0.0.1:{other}", 421),
    ("localhost:{port}@evil.example", 421), ("", 421), ("[::1]x", 421), ("dash.corp.example", 200),
    ("dash.corp.example:{port}", 200), ("dash.corp.example:9999", 421), ("10.0.0.5:8443", 200),
])
async def test_only_allowed_host_names_get_an_answer(host, status):
    runner, url, port = await _serve(allowed_hosts="127.0.0.1 localhost [::1] dash.corp.example 10.0.0.5:8443")
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            for path in ("", "api/state", "healthz", "static/app.js", "api/stream"):
                response = await client.get(url + path, headers={"Host": host.format(port=port, other=port + 1)})
                assert response.status == status, (host, path)
                if status == 421:
                    assert "MODERATION_DASHBOARD_ALLOWED_HOSTS" in await response.text()
                response.close()
    finally:
        await runner.cleanup()


async def test_the_default_allow_list_is_loopback_on_the_dashboards_port():
    runner, url, port = await _serve()
    try:
        async with aiohttp.ClientSession() as client:
            assert (await client.get(url + "healthz", headers={"Host": f"localhost:{port}"})).status == 200
            assert (await client.get(url + "healthz", headers={"Host": f"attacker.example:{port}"})).status == 421
    finally:
        await runner.cleanup()


async def test_stream_connections_are_limited_and_a_slot_is_freed_when_a_client_leaves():
    runner, url, _ = await _serve(max_streams=2)
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            first = await client.get(url + "api/stream")
            second = await client.get(url + "api/stream")
            assert first.status == second.status == 200
            third = await client.get(url + "api/stream")
            assert third.status == 503 and third.headers["Retry-After"]
            assert "MODERATION_DASHBOARD_MAX_STREAMS" in await third.text()
            first.close()
            for _ in range(40):
                again = await client.get(url + "api/stream")
                if again.status == 200:
                    break
                await asyncio.sleep(0.25)
            assert again.status == 200
            again.close()
            second.close()
    finally:
        await runner.cleanup()


async def test_one_user_cannot_take_every_live_slot():
    """Any account (a group admin, an auditor) could open MODERATION_DASHBOARD_MAX_STREAMS streams
    and leave every supervisor without live updates; one user gets at most a quarter of them."""
    runner, url, _ = await _serve(max_streams=8)
    try:
        async with _client() as admin, _client() as supervisor:
            await log_in(admin, url, "adm-fin")
            await log_in(supervisor, url, "sup")
            mine = [await admin.get(url + "api/stream") for _ in range(2)]
            assert [r.status for r in mine] == [200, 200]
            refused = await admin.get(url + "api/stream")
            assert refused.status == 503 and "the most one user may have" in await refused.text()
            theirs = await supervisor.get(url + "api/stream")
            assert theirs.status == 200
            for response in (*mine, theirs):
                response.close()
    finally:
        await runner.cleanup()


async def test_a_half_sent_request_is_closed_after_the_idle_timeout():
    runner, url, port = await _serve(idle_seconds=1)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HT")             # half a request line, then nothing
        await writer.drain()
        started = time.monotonic()
        data = await asyncio.wait_for(reader.read(), timeout=8)   # read() returns at end of stream
        assert data == b"" and time.monotonic() - started < 8
        writer.close()
        # an idle connection after a whole request is closed too
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=8)
        assert data.startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        await runner.cleanup()


async def test_a_stream_client_that_does_not_read_is_dropped():
    state = DashboardState()
    runner, url, port = await _serve(state, stream_stall_seconds=1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            cookie = "; ".join(f"{c.key}={c.value}" for c in client.cookie_jar)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            sock.send(f"GET /api/stream?limit=200 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n".encode())
            dropped = 0
            for i in range(120):                     # the state keeps changing; the client never reads
                for j in range(20):
                    state.apply({**violation(f"{i}-{j}"), "excerpt": f"{i}-{j} " + "x" * 480})
                await asyncio.sleep(0.1)
                health = await (await client.get(url + "api/health")).json()
                dropped = health["streams_dropped"]
                if dropped:
                    break
            assert dropped == 1 and health["streams"] == 0
    finally:
        sock.close()
        await runner.cleanup()


def test_the_page_puts_values_in_as_text_only():
    from pipeline.dashboard.server import STATIC

    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script


def test_notifier_deliveries_are_counted_by_status():
    import orjson

    from pipeline.dashboard.state import DashboardState

    state = DashboardState()
    for i, status in enumerate(["sent", "sent", "failed", "held", "weird"]):
        state.receive(orjson.dumps({"kind": "delivery", "id": f"dlv-{i}", "group_id": "g-fin",
                                    "ts": "2026-03-02T09:31:00+08:00", "status": status, "channel": "bot"}))
    assert state.snapshot()["totals"]["deliveries"] == {"sent": 2, "failed": 1, "held": 1, "other": 1}


def test_control_characters_in_shown_text_do_not_swell_the_answer():
    """A control character is six bytes of JSON (\\u0001): records of them made a supervisor's
    default view 4.47 MiB, more than one live update may be (4 MiB). Shown text keeps none of
    them (each run becomes one U+FFFD); tab and new line stay."""
    state = DashboardState()
    state.apply({**violation(1), "excerpt": "a\x01\x02b\x7f\x9fc" + "\x01" * 7000, "action": "x\ty\nz",
                 "member": {"id": "u-\x01", "name": "\x00" * 500}})
    item = state.snapshot()["feed"]["items"][0]
    assert item["excerpt"] == "a\ufffdb\ufffdc\ufffd" and item["detail"] == "x\ty\nz"
    assert item["member"] == {"id": "u-\ufffd", "name": "\ufffd"}
