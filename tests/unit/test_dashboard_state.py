"""The dashboard's state (pure) and its web shell without Kafka."""
from __future__ import annotations

import copy

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipeline.dashboard.server import create_app
from pipeline.dashboard.state import DashboardState
from pipeline.offline import run
from pipeline.sample import conversation


def violation(i, rule="P6", group="g-fin", severity="warning", ts="2026-03-02T09:40:00+08:00", member="u-xw"):
    return {"kind": "violation", "id": f"vio-{i}", "group_id": group, "ts": ts, "rule": rule,
            "member": {"id": member, "name": f"name-{member}"}, "severity": severity,
            "evidence": {"event_ids": [f"e-{i}"], "excerpt": "秘密 138****5678"}, "excerpt": "138****5678 redacted",
            "action": "请撤回", "schema": 1}


def escalation(i, level="reminder", rule="P6", group="g-fin", ts="2026-03-02T09:40:00+08:00", member="u-xw"):
    return {"kind": "escalation", "id": f"esc-{i}", "group_id": group, "ts": ts, "rule": rule, "level": level,
            "member": {"id": member, "name": f"name-{member}"}, "severity": "warning",
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


def test_violations_feed_counts_and_charts():
    state = DashboardState()
    assert state.apply(violation(1))
    assert state.apply(violation(2, rule="P5", ts="2026-03-02T09:59:59+08:00"))
    assert state.apply(violation(3, rule="P5", ts="2026-03-02T10:00:00+08:00", severity="severe"))
    snap = state.snapshot()
    assert [i["id"] for i in snap["feed"]] == ["vio-3", "vio-2", "vio-1"]          # newest first
    assert snap["charts"]["g-fin"]["totals"] == {"P6": 1, "P5": 2}
    assert snap["charts"]["g-fin"]["buckets"] == {"2026-03-02T09:00:00+08:00": {"P6": 1, "P5": 1},
                                                  "2026-03-02T10:00:00+08:00": {"P5": 1}}
    assert snap["totals"]["severities"] == {"warning": 2, "severe": 1}
    assert snap["feed"][0]["excerpt"] == "138****5678 redacted"


def test_repeats_are_ignored_and_junk_is_not_applied():
    state = DashboardState()
    assert state.apply(violation(1))
    version = state.version
    assert not state.apply(copy.deepcopy(violation(1)))
    assert not state.apply({"no": "kind"}) and not state.apply([1, 2]) and not state.apply(None)
    assert state.version == version and len(state.feed) == 1


def test_feed_is_bounded():
    state = DashboardState(feed_limit=5)
    for i in range(12):
        state.apply(violation(i))
    assert [i["id"] for i in state.snapshot()["feed"]] == [f"vio-{i}" for i in (11, 10, 9, 8, 7)]
    assert state.snapshot()["charts"]["g-fin"]["totals"]["P6"] == 12   # counts are not bounded


def test_latest_ladder_step_per_member_and_rule_is_an_open_followup():
    state = DashboardState()
    state.apply(escalation(1, "reminder", ts="2026-03-02T09:40:00+08:00"))
    state.apply(escalation(2, "removal_recommended", ts="2026-03-02T10:40:00+08:00"))
    state.apply(escalation(3, "supervisor", rule="D1", member="u-sq", ts="2026-03-02T11:20:00+08:00"))
    follow = state.snapshot()["followups"]
    assert [(f["what"], f["who"]) for f in follow] == [("supervisor · D1", "name-u-sq"),
                                                       ("removal recommended · P6", "name-u-xw")]
    assert follow[1]["recipients"] == "admins: u-wm; member: u-xw"


def test_responsiveness_keeps_the_latest_window_per_member():
    state = DashboardState()
    state.apply(responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900))
    state.apply(responsiveness("u-ls", "2026-03-03T00:00:00+08:00", 1.0, 60))
    state.apply(responsiveness("u-ls", "2026-03-01T00:00:00+08:00", 0.0, 9000))   # late, older: ignored
    state.apply(responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900, kind="week"))
    state.apply(responsiveness(None, "2026-03-02T00:00:00+08:00", 0.75, 600))
    rows = state.snapshot()["responsiveness"]
    assert [(r["scope"], r["member"]["id"], r["window"]["kind"], r["reply_rate"]) for r in rows] == [
        ("group", None, "day", 0.75), ("member", "u-ls", "day", 1.0), ("member", "u-ls", "week", 0.5)]


def test_reply_rate_is_derived_when_missing():
    state = DashboardState()
    event = responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900)
    event["reply_rate"] = None
    state.apply(event)
    assert state.snapshot()["responsiveness"][0]["reply_rate"] == 0.5


def test_latest_report_and_its_open_items():
    state = DashboardState()
    state.apply(REPORT)
    older = {**REPORT, "id": "rep-0", "ts": "2026-03-02T00:00:00+08:00", "violations": {"total": 0, "by_rule": {}}}
    state.apply(older)
    snap = state.snapshot()
    assert snap["reports"]["g-apollo"]["violations"]["total"] == 5
    assert {"id": "g-apollo", "name": "阿波罗项目组"} in snap["groups"]
    follow = [f for f in snap["followups"] if f["source"] == "report"]
    assert [(f["what"], f["who"], f["overdue"]) for f in follow] == [
        ("problem (C5)", "研发中心-陈磊", True), ("urgent post (P10/P11)", "研发中心-刘涛", False),
        ("announcement (P7)", "市场部-孙强", False)]
    assert "id" not in snap["reports"]["g-apollo"]


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
        state.apply(event)
    text = orjson.dumps(state.snapshot()).decode()
    for secret in ("13812345678", "110101199003074578", "6222021234567890128", "Apollo@2026!"):
        assert secret not in text
    snap = state.snapshot()
    assert {"g-fin", "g-apollo", "g-cross"} <= set(snap["charts"])
    assert snap["charts"]["g-apollo"]["totals"]["D1"] == 3


async def test_web_shell_serves_page_state_and_stream():
    state = DashboardState()
    state.apply(violation(1, rule="C3"))
    async with TestClient(TestServer(create_app(state=state, consume=False))) as client:
        page = await client.get("/")
        assert page.status == 200 and "Moderation dashboard" in await page.text()
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert (await client.get("/static/app.js")).status == 200
        data = await (await client.get("/api/state")).json()
        assert data["feed"][0]["rule"] == "C3" and data["status"]["connected"] is True
        stream = await client.get("/api/stream")
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await stream.content.readuntil(b"\n\n")
        assert first.startswith(b"event: state\ndata: ") and b'"C3"' in first
        stream.close()
        assert (await client.get("/healthz")).status == 200


def test_feed_is_in_event_time_order_whatever_the_arrival_order():
    state = DashboardState()
    state.apply(violation(1, ts="2026-03-02T11:00:00+08:00", group="g-apollo"))
    state.apply(violation(2, ts="2026-03-02T09:00:00+08:00"))
    state.apply(violation(3, ts="2026-03-02T10:00:00+08:00"))
    state.apply({**violation(4), "ts": None})
    assert [i["id"] for i in state.snapshot()["feed"]] == ["vio-1", "vio-3", "vio-2", "vio-4"]
