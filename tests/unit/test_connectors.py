"""Connectors: WeCom archive, DingTalk robot callback and Slack Events API records → input events."""
from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.connectors import FORMATS, Options, Outcome, convert_all, convert_record, read_records, split_records
from pipeline.connectors.base import Broken, Skipped
from pipeline.connectors.ingest import run
from pipeline.connectors.produce import run as produce
from pipeline.connectors.publish import EXIT_BAD_RECORDS, EXIT_OK, EXIT_USAGE
from pipeline.core.events import decode, encode
from tests import factory

DATA = Path(__file__).resolve().parents[1] / "data" / "connectors"


def outcome_of(fmt: str, name: str, **options):
    return convert_all(fmt, split_records((DATA / name).read_bytes()), Options(**options))


# ---------------------------------------------------------------------- WeCom


def test_wecom_text_message_becomes_message_posted():
    outcome = outcome_of("wecom", "wecom_archive.jsonl",
                         names={"wangmin": "财务部-王敏", "lisi": "财务部-李四"})
    first = outcome.events[0]
    assert first == {
        "event_id": "wecom-CAQQluDa4QUY0On2rYSAgAMgzPrShAE=", "type": "message.posted",
        "ts": "2026-03-02T09:15:00+08:00", "group_id": "wrjc7bDwYAABCJvhdPMYUkI9vvk2iAyw",
        "actor": {"id": "wangmin", "name": "财务部-王敏"},
        "message": {"id": "wecom-CAQQluDa4QUY0On2rYSAgAMgzPrShAE=",
                    "text": "@李四 二月份的应收账款对账表今天下班前发我一下，谢谢", "mentions": ["lisi"]},
        "source": "wecom",
    }


def test_wecom_link_and_mixed_messages_keep_their_text():
    events = outcome_of("wecom", "wecom_archive.jsonl").events
    assert events[1]["message"]["text"] == "今天特价促销 全场五折，限时抢购 http://t.cn/abc123"
    assert events[1]["ts"] == "2026-03-02T09:31:00.123000+08:00"
    assert events[2]["message"]["text"] == "对账表见附件"
    assert events[0]["actor"]["name"] == "wangmin"          # no roster: the user id stands in


def test_wecom_skips_and_errors_are_reported_per_line():
    outcome = outcome_of("wecom", "wecom_archive.jsonl")
    assert outcome.records == 11 and len(outcome.events) == 3
    assert [(p.where, p.skipped) for p in outcome.problems] == [
        ("line 4", True), ("line 5", True), ("line 6", True), ("line 7", True),
        ("line 8", False), ("line 9", False), ("line 10", False), ("line 11", False)]
    reasons = [p.reason for p in outcome.errors]
    assert reasons[0] == "field 'msgtime' should be epoch milliseconds, got 'soon'"
    assert reasons[1] == "unknown msgtype 'hologram'"
    assert reasons[2] == "missing field 'text.content'"
    assert reasons[3].startswith("not valid JSON")
    assert "11 records: 3 events, 4 skipped, 4 errors" in outcome.summary()


def test_wecom_file_message_is_skipped_with_the_reason():
    record = {"msgid": "f1", "action": "send", "from": "u", "roomid": "wr1", "msgtime": 1772414100000,
              "msgtype": "file", "file": {"md5sum": "18e93fc2ea884df23b3b2d3b8667b2f9", "filename": "a.xlsx",
                                          "fileext": "xlsx", "filesize": 18, "sdkfileid": "x"}}
    with pytest.raises(Skipped, match="sha256"):
        convert_record("wecom", record, Options())


def test_long_source_ids_are_hashed_to_fit_the_contract():
    record = {"msgid": "x" * 300, "action": "send", "from": "u", "roomid": "wr1", "msgtime": 1772414100000,
              "msgtype": "text", "text": {"content": "好"}}
    event = convert_record("wecom", record, Options())[0]
    assert len(event["event_id"]) <= 128 and event["event_id"].startswith("wecom-h")
    assert event == convert_record("wecom", record, Options())[0]        # stable


def test_timestamps_outside_the_contract_are_broken_not_shifted():
    record = {"msgid": "m", "action": "send", "from": "u", "roomid": "wr1", "msgtime": 1772414100,   # seconds
              "msgtype": "text", "text": {"content": "好"}}
    with pytest.raises(Broken, match="wrong unit"):
        convert_record("wecom", record, Options())


def test_time_zone_is_configurable():
    record = {"msgid": "m", "action": "send", "from": "u", "roomid": "wr1", "msgtime": 1772414100000,
              "msgtype": "text", "text": {"content": "好"}}
    assert convert_record("wecom", record, Options(tz="UTC"))[0]["ts"] == "2026-03-02T01:15:00+00:00"


# ---------------------------------------------------------------------- DingTalk


def test_dingtalk_robot_callback_becomes_message_posted_with_mentions_but_not_the_robot():
    outcome = outcome_of("dingtalk", "dingtalk_robot.json")
    first, second = outcome.events
    assert first["event_id"] == "dingtalk-msgUUo7w8cc1Vb0+2Bf4Q8Qcw=="
    assert first["group_id"] == "cidqO7KpG2rBmvXdTNsOP4kHQ=="
    assert first["ts"] == "2026-03-02T10:50:00+08:00"
    assert first["actor"] == {"id": "manager0193", "name": "研发中心-陈磊"}
    assert first["message"]["text"] == "@刘涛 登录接口的性能问题今天能定位吗？"
    assert first["message"]["mentions"] == ["manager4512"]
    assert second["actor"]["id"] == "$:LWCP_v1:$liutao0001"     # no staff id: the DingTalk id
    assert second["message"]["text"] == "在排查，下午四点前给结论。"
    assert [(p.where, p.skipped) for p in outcome.problems] == [("record 3", True), ("record 4", False)]


def test_dingtalk_roster_name_wins_over_the_nick():
    record = orjson.loads((DATA / "dingtalk_robot.json").read_bytes())[0]
    event = convert_record("dingtalk", record, Options(names={"manager0193": "研发中心 陈磊"}))[0]
    assert event["actor"]["name"] == "研发中心 陈磊"


# ---------------------------------------------------------------------- Slack


def test_slack_message_events():
    outcome = outcome_of("slack", "slack_events.jsonl", tz="UTC", names={"U0WANGMIN": "财务部-王敏"})
    ask, reply, joined = outcome.events
    assert ask["event_id"] == ask["message"]["id"] == "slack-C0FIN01-1772414100.000200"
    assert ask["ts"] == "2026-03-02T01:15:00.000200+00:00"
    assert ask["actor"] == {"id": "U0WANGMIN", "name": "财务部-王敏"}
    assert ask["message"]["text"] == "@U0LISI 二月份的对账表今天下班前发我一下 <急>"
    assert ask["message"]["mentions"] == ["U0LISI"]
    assert reply["message"]["reply_to"] == ask["message"]["id"]
    assert reply["actor"]["name"] == "财务部-李四"              # from user_profile
    assert reply["message"]["text"] == "好的，下午三点前发您，见 对账说明 https://wiki.example.invalid/recon"
    assert joined["type"] == "member.joined" and joined["approved_by"] == "U0ZHANGSAN"
    assert joined["member"]["id"] == "U0XIAOWANG"
    assert [(p.where, p.skipped) for p in outcome.problems] == [
        ("line 4", True), ("line 5", True), ("line 6", True), ("line 7", False), ("line 8", True)]
    assert outcome.errors[0].reason == "missing field 'event.user'"


def test_slack_leave_and_unknown_envelope():
    leave = {"type": "event_callback", "event": {"type": "message", "subtype": "channel_leave", "channel": "C1",
                                                 "user": "U1", "ts": "1772414100.000100"}}
    event = convert_record("slack", leave, Options())[0]
    assert event["type"] == "member.left" and event["member"] == {"id": "U1"}
    with pytest.raises(Broken, match="not 'event_callback'"):
        convert_record("slack", {"type": "block_actions"}, Options())


# ---------------------------------------------------------------------- every event fits the contract


@pytest.mark.parametrize("fmt, name", [("wecom", "wecom_archive.jsonl"), ("dingtalk", "dingtalk_robot.json"),
                                       ("slack", "slack_events.jsonl")])
def test_every_converted_event_passes_the_workers_decoder(fmt, name):
    for event in outcome_of(fmt, name).events:
        decoded = decode(encode(event))
        assert decoded.event_id == event["event_id"]


def test_split_records_reads_one_pretty_printed_object():
    body = b'{\n  "type": "url_verification",\n  "challenge": "x"\n}\n'
    assert list(split_records(body)) == [("record 1", {"type": "url_verification", "challenge": "x"})]
    assert list(split_records(b"  \n")) == []


# ---------------------------------------------------------------------- the command


def test_ingest_dry_run_prints_events_and_reports_problems():
    out, err = io.BytesIO(), io.StringIO()
    status = run("slack", "-", tz="Asia/Shanghai", names_path=None, dry_run=True,
                 stdin=io.BytesIO((DATA / "slack_events.jsonl").read_bytes()), stdout=out, stderr=err)
    assert status == EXIT_BAD_RECORDS
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and orjson.loads(lines[0])["type"] == "message.posted"
    report = err.getvalue()
    assert "-: line 7: error: missing field 'event.user'" in report
    assert "-: line 4: skipped: edit of an earlier message" in report
    assert "8 records: 3 events, 4 skipped, 1 error\n" in report


def test_ingest_exit_zero_when_only_skips(tmp_path):
    path = tmp_path / "ok.json"
    path.write_bytes(orjson.dumps(orjson.loads((DATA / "dingtalk_robot.json").read_bytes())[:3]))
    err = io.StringIO()
    assert run("dingtalk", str(path), tz="Asia/Shanghai", names_path=None, dry_run=True,
               stdout=io.BytesIO(), stderr=err) == EXIT_OK
    assert "3 records: 2 events, 1 skipped, 0 errors" in err.getvalue()


def test_ingest_bad_time_zone_or_missing_file_fails_cleanly(tmp_path):
    err = io.StringIO()
    assert run("wecom", str(tmp_path / "missing.jsonl"), tz="Asia/Shanghai", names_path=None, dry_run=True,
               stdout=io.BytesIO(), stderr=err) == EXIT_USAGE
    assert "ingest:" in err.getvalue()
    assert run("wecom", "-", tz="Mars/Olympus", names_path=None, dry_run=True, stdin=io.BytesIO(b""),
               stdout=io.BytesIO(), stderr=io.StringIO()) == EXIT_USAGE


def test_read_records_streams_json_lines_and_reads_arrays_and_pretty_objects_whole():
    lines = io.BytesIO(b'\n{"a": 1}\nnot json\n\n{"b": 2}\n')
    assert [(w, r if not isinstance(r, Broken) else "broken") for w, r in read_records(lines)] == [
        ("line 2", {"a": 1}), ("line 3", "broken"), ("line 5", {"b": 2})]
    assert list(read_records(io.BytesIO(b'[{"a": 1},\n {"b": 2}]'))) == [("record 1", {"a": 1}), ("record 2", {"b": 2})]
    assert list(read_records(io.BytesIO(b'{\n  "a": 1\n}\n'))) == [("record 1", {"a": 1})]
    assert list(read_records(io.BytesIO(b""))) == []


def test_ingest_sends_each_line_before_the_next_one_arrives():
    """A relay piping webhook bodies must not wait for more input: it hands over the next body only
    once the previous one is out, and the import still finishes."""
    import threading
    import time

    lines = (DATA / "slack_events.jsonl").read_bytes().splitlines(keepends=True)
    out = io.BytesIO()
    expected_out = [0, 1, 2, 3, 3, 3, 3, 3]     # events out before line k is handed over (line 3 is a join)

    class Relay:
        def __init__(self):
            self.waited_in_vain = []
            self.next = 0
            self.lock = threading.Lock()

        def readline(self, limit: int = -1) -> bytes:
            with self.lock:
                k = self.next
                self.next += 1
            if k >= len(lines):
                return b""
            deadline = time.monotonic() + 5
            while out.getvalue().count(b"\n") < expected_out[k]:
                if time.monotonic() > deadline:
                    self.waited_in_vain.append(k)
                    break
                time.sleep(0.005)
            return lines[k]

    relay = Relay()
    assert run("slack", "-", tz="UTC", names_path=None, dry_run=True, stdin=relay, stdout=out,
               stderr=io.StringIO()) == EXIT_BAD_RECORDS
    assert relay.waited_in_vain == []
    assert out.getvalue().count(b"\n") == 3


# ---------------------------------------------------------------------- hostile records

WECOM_OK = {"msgid": "m-1", "action": "send", "from": "u-1", "roomid": "wr1", "msgtime": 1772414100000,
            "msgtype": "text", "text": {"content": "好"}}
DINGTALK_OK = {"msgId": "d-1", "conversationId": "cid1", "conversationType": "2", "senderStaffId": "s-1",
               "createAt": 1772414100000, "msgtype": "text", "text": {"content": "好"}}
SLACK_OK = {"type": "event_callback", "event": {"type": "message", "channel": "C1", "user": "U1",
                                                "ts": "1772414100.000100", "text": "好"}}
FEISHU_OK = {"schema": "2.0", "header": {"event_id": "e-1", "event_type": "im.message.receive_v1",
                                        "create_time": "1772414100000"},
             "event": {"sender": {"sender_id": {"open_id": "ou_1"}, "sender_type": "user"},
                       "message": {"message_id": "om_1", "chat_id": "oc_1", "chat_type": "group",
                                   "create_time": "1772414100000", "message_type": "text", "content": '{"text":"好"}'}}}
BASES = {"wecom": WECOM_OK, "dingtalk": DINGTALK_OK, "slack": SLACK_OK, "feishu": FEISHU_OK}


def deep(n: int):
    value: list = []
    for _ in range(n):
        value = [value]
    return value


def with_field(fmt: str, path: str, value):
    """The format's valid record with the field at the dotted `path` set to `value`."""
    record = orjson.loads(orjson.dumps(BASES[fmt]))
    *parents, last = path.split(".")
    target = record
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return record


FIVE_MB = "长" * (5 * 1024 * 1024 // 3)
DEEP_JSON_TEXT = "[" * 10_000 + "]" * 10_000
HOSTILE = [
    # DingTalk
    ("dingtalk", with_field("dingtalk", "atUsers", 5), "atUsers"),
    ("dingtalk", with_field("dingtalk", "atUsers", [5, {"staffId": 7}]), "atUsers"),
    ("dingtalk", with_field("dingtalk", "atUsers", {"staffId": "s-2"}), "atUsers"),
    ("dingtalk", with_field("dingtalk", "createAt", "NaN"), "createAt"),
    ("dingtalk", with_field("dingtalk", "createAt", 1.7724141e12), "createAt"),
    ("dingtalk", with_field("dingtalk", "createAt", 18446744073709551615), "createAt"),
    ("dingtalk", with_field("dingtalk", "createAt", 10**400), "createAt"),
    ("dingtalk", with_field("dingtalk", "createAt", True), "createAt"),
    ("dingtalk", with_field("dingtalk", "msgId", 12345), "msgId"),
    ("dingtalk", with_field("dingtalk", "conversationId", ["cid1"]), "conversationId"),
    ("dingtalk", with_field("dingtalk", "conversationId", "c" * 200), "group_id"),
    ("dingtalk", with_field("dingtalk", "conversationType", deep(10_000)), "conversationType"),
    ("dingtalk", with_field("dingtalk", "conversationType", {"a": 1}), "conversationType"),
    ("dingtalk", with_field("dingtalk", "senderStaffId", 7), "senderStaffId"),
    ("dingtalk", with_field("dingtalk", "senderNick", {"x": 1}), "senderNick"),
    ("dingtalk", with_field("dingtalk", "text", "hello"), "text"),
    ("dingtalk", with_field("dingtalk", "text.content", 5), "text.content"),
    ("dingtalk", with_field("dingtalk", "text.content", FIVE_MB), "bytes"),
    ("dingtalk", with_field("dingtalk", "msgtype", 5), "msgtype"),
    ("dingtalk", {**with_field("dingtalk", "msgtype", "richText"), "content": {"richText": 5}}, "richText"),
    ("dingtalk", {**with_field("dingtalk", "msgtype", "richText"), "content": {"richText": [5, {"text": 7}]}},
     "richText"),
    ("dingtalk", with_field("dingtalk", "conversationTitle", 5), "conversationTitle"),
    ("dingtalk", [DINGTALK_OK], "JSON object"),
    ("dingtalk", None, "JSON object"),
    # Slack
    ("slack", with_field("slack", "event.ts", "NaN"), "event.ts"),
    ("slack", with_field("slack", "event.ts", "Infinity"), "event.ts"),
    ("slack", with_field("slack", "event.ts", "-Infinity"), "event.ts"),
    ("slack", with_field("slack", "event.ts", "1e999999999"), "event.ts"),
    ("slack", with_field("slack", "event.ts", "9" * 5000), "event.ts"),
    ("slack", with_field("slack", "event.ts", 1772414100.0001), "event.ts"),
    ("slack", with_field("slack", "event.subtype", ["channel_join"]), "subtype"),
    ("slack", with_field("slack", "event.subtype", {"a": 1}), "subtype"),
    ("slack", with_field("slack", "event.type", ["message"]), "event.type"),
    ("slack", with_field("slack", "event.channel_type", ["im"]), "channel_type"),
    ("slack", with_field("slack", "event.channel", 5), "event.channel"),
    ("slack", with_field("slack", "event.user", {"id": "U1"}), "event.user"),
    ("slack", with_field("slack", "event.text", 5), "event.text"),
    ("slack", with_field("slack", "event.thread_ts", {"ts": 1}), "thread_ts"),
    ("slack", with_field("slack", "event.user_profile", 5), "user_profile"),
    ("slack", with_field("slack", "event.user_profile", {"display_name": ["x"]}), "display_name"),
    ("slack", {**SLACK_OK, "event": {**SLACK_OK["event"], "subtype": "channel_join", "inviter": 5}}, "inviter"),
    ("slack", with_field("slack", "event", 5), "event"),
    ("slack", {"type": ["event_callback"]}, "type"),
    ("slack", "event_callback", "JSON object"),
    # WeCom
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": [{"type": "text", "content": DEEP_JSON_TEXT}]}},
     None),
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": deep(10_000)}}, "mixed.item"),
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": [{"type": "text", "content": '{"content": 5}'}]}},
     "mixed.item"),
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": [{"type": "text", "content": '"\\ud800"'}]}}, None),
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": [{"type": "text", "content": 5}]}}, "mixed.item"),
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": [{"type": ["text"]}]}}, "mixed.item"),
    ("wecom", {**WECOM_OK, "msgtype": "mixed", "mixed": {"item": 5}}, "mixed.item"),
    ("wecom", {**WECOM_OK, "msgtype": "link", "link": {"title": 5, "link_url": "http://a"}}, "link.title"),
    ("wecom", with_field("wecom", "action", ["send"]), "action"),
    ("wecom", with_field("wecom", "msgtime", "NaN"), "msgtime"),
    ("wecom", with_field("wecom", "msgtime", -1), "msgtime"),
    ("wecom", with_field("wecom", "roomid", 5), "roomid"),
    ("wecom", with_field("wecom", "roomid", ["wr1"]), "roomid"),
    ("wecom", with_field("wecom", "from", 5), "from"),
    ("wecom", with_field("wecom", "msgid", 5.5), "msgid"),
    ("wecom", with_field("wecom", "text.content", FIVE_MB), "bytes"),
    ("wecom", with_field("wecom", "msgtype", None), "msgtype"),
    ("wecom", 5, "JSON object"),
]


@pytest.mark.parametrize("fmt, record, field_named", HOSTILE,
                         ids=[f"{i}-{fmt}-{name}" for i, (fmt, _, name) in enumerate(HOSTILE)])
def test_a_hostile_record_is_reported_not_raised(fmt, record, field_named):
    try:
        events = convert_record(fmt, record, Options())
    except (Broken, Skipped) as exc:
        assert len(exc.reason) <= 300
        if field_named:
            assert field_named in exc.reason
        return
    for event in events:           # converted: then it must be a valid event
        decode(encode(event))


def test_one_bad_record_never_aborts_an_import_even_in_a_dry_run():
    good = (DATA / "slack_events.jsonl").read_bytes().splitlines()[:3]
    bad = [orjson.dumps(with_field("slack", "event.ts", "NaN")),
           orjson.dumps(with_field("slack", "event.subtype", [1])),
           b'{"type": "event_callback", "event": ' + b"[" * 5000 + b"]" * 5000 + b"}"]
    body = b"\n".join([good[0], bad[0], good[1], bad[1], bad[2], good[2]]) + b"\n"
    out, err = io.BytesIO(), io.StringIO()
    status = run("slack", "-", tz="UTC", names_path=None, dry_run=True, stdin=io.BytesIO(body), stdout=out,
                 stderr=err)
    assert len(out.getvalue().splitlines()) == 3, err.getvalue()
    report = err.getvalue()
    assert "-: line 2: error: " in report and "event.ts" in report
    assert "-: line 4: error: " in report and "subtype" in report
    assert "-: line 5: error: not valid JSON" in report
    assert "6 records: 3 events, 0 skipped, 3 errors" in report
    assert "could not produce" not in report
    assert status == 3


# ---------------------------------------------------------------------- any JSON at all

# The field names the converters read, so that arbitrary objects often hit them.
FIELD_NAMES = sorted({
    "msgid", "action", "from", "roomid", "msgtime", "msgtype", "text", "content", "markdown", "link", "title",
    "description", "link_url", "mixed", "item", "type", "msgId", "conversationId", "conversationType",
    "conversationTitle", "senderStaffId", "senderId", "senderNick", "createAt", "richText", "atUsers", "staffId",
    "dingtalkId", "chatbotUserId", "event", "subtype", "channel", "channel_type", "user", "ts", "thread_ts",
    "inviter", "user_profile", "display_name", "real_name", "name", "id", "created", "creator", "event_time",
    "schema", "header", "event_type", "event_id", "create_time", "sender", "sender_id", "sender_type", "user_id",
    "open_id", "message", "message_id", "chat_id", "chat_type", "message_type", "mentions", "key", "mentioned_type",
    "parent_id", "users", "operator_id", "after_change", "before_change", "tag", "user_name", "href"})
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["", " ", "NaN", "Infinity", "-1", "1772414100.000100", "1772414100000", "text",
                              "mixed", "richText", "message", "event_callback", "channel_join", "channel_rename",
                              "channel_name", "send", "2", "1", "\ud800", "\x1b[2J", "@李四", "<@U1>",
                              '{"content": 5}', '{"content": ["x"]}', '"\\ud800"', "[" * 3000 + "]" * 3000,
                              "post", "p2p", "2.0", "im.message.receive_v1", "im.chat.member.user.added_v1",
                              "im.chat.updated_v1", '{"text": 5}', '{"content": [[{"tag": "at"}, 7]]}', "@_user_1"])
           | st.text(alphabet=st.characters(codec=None), max_size=5))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), inner, max_size=6),
                    max_leaves=25)
# JSON written into a string, as WeCom's mixed items carry their content ({"content": ...} included).
JSON_TEXT = (JSON | st.fixed_dictionaries({"content": JSON})).map(json.dumps)
VALUES = st.one_of(SCALARS, JSON, JSON_TEXT)


def _objects(value):
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from _objects(child)


@st.composite
def mutated(draw, fmt: str):
    """A valid record of the format (its test data included) with one change, sometimes two: a field
    the converters read, at any depth, replaced by arbitrary JSON or removed; or such a field added."""
    record = orjson.loads(orjson.dumps(draw(st.sampled_from(REAL_RECORDS[fmt]))))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
        objects = list(_objects(record))
        fields = [(o, k) for o in objects for k in o if k in FIELD_NAMES] or [(o, k) for o in objects for k in o]
        action = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add"]))
        if action == "add" or not fields:
            draw(st.sampled_from(objects))[draw(st.sampled_from(FIELD_NAMES))] = draw(JSON)
            continue
        target, key = draw(st.sampled_from(fields))
        if action == "replace":
            target[key] = draw(VALUES)
        else:
            del target[key]
    return record


def _converting(fmt: str) -> list[dict]:
    """The records of the format's test data that convert, and its minimal valid record: the seeds
    that reach every branch of the converter once mutated."""
    name = {"wecom": "wecom_archive.jsonl", "dingtalk": "dingtalk_robot.json", "slack": "slack_events.jsonl",
            "feishu": "feishu_events.jsonl"}[fmt]
    records = [r for _, r in split_records((DATA / name).read_bytes()) if isinstance(r, dict)]
    return [BASES[fmt], *[r for r in records if _converts(fmt, r)]]


def _converts(fmt: str, record: dict) -> bool:
    try:
        return bool(convert_record(fmt, record, Options()))
    except (Broken, Skipped):
        return False


REAL_RECORDS = {fmt: _converting(fmt) for fmt in FORMATS}
REAL_RECORDS["slack"].append({"type": "event_callback", "event_time": 1772414100, "event": {
    "type": "channel_rename", "channel": {"id": "C1", "name": "finance", "created": 1772414000}}})
REAL_RECORDS["wecom"].append({**WECOM_OK, "msgtype": "markdown", "markdown": {"content": "**好**"}})
NAMES = Options(names={"lisi": "财务部-李四", "U1": "研发-张三", "s-1": "x" * 300})


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_converts_or_is_reported_never_raises(fmt, data):
    record = data.draw(st.sampled_from([0, 1, 1, 1]).flatmap(lambda m: mutated(fmt) if m else JSON))
    try:
        events = convert_record(fmt, record, data.draw(st.sampled_from([Options(), NAMES])))
    except (Broken, Skipped) as exc:
        assert isinstance(exc.reason, str) and 0 < len(exc.reason) <= 400
        return
    assert events
    for event in events:
        assert decode(encode(event)).event_id == event["event_id"]


# ---------------------------------------------------------------------- the import, bounded


def test_a_line_over_the_limit_is_reported_and_read_past_without_holding_it(monkeypatch):
    import pipeline.connectors as connectors

    monkeypatch.setattr(connectors, "MAX_LINE_BYTES", 1000)
    good = orjson.dumps(WECOM_OK)
    body = good + b"\n" + b'{"msgid": "' + b"x" * 5000 + b'"}\n' + good.replace(b"m-1", b"m-2") + b"\n"
    got = list(read_records(io.BytesIO(body)))
    assert [w for w, _ in got] == ["line 1", "line 2", "line 3"]
    assert isinstance(got[1][1], Broken) and "5014 bytes" in got[1][1].reason
    assert got[2][1]["msgid"] == "m-2"


def test_a_json_array_over_the_limit_is_reported_not_read_whole(monkeypatch):
    import pipeline.connectors as connectors

    monkeypatch.setattr(connectors, "MAX_DOCUMENT_BYTES", 1000)
    body = orjson.dumps([WECOM_OK] * 50)
    (where, record), = list(read_records(io.BytesIO(body)))
    assert isinstance(record, Broken) and "JSON lines" in record.reason


def test_a_broken_first_line_starting_with_a_brace_longer_than_a_document_is_read_as_json_lines(monkeypatch):
    import pipeline.connectors as connectors

    monkeypatch.setattr(connectors, "MAX_DOCUMENT_BYTES", 500)
    lines = [b'{"msgid": broken'] + [orjson.dumps({**WECOM_OK, "msgid": f"m-{i}"}) for i in range(10)]
    got = list(read_records(io.BytesIO(b"\n".join(lines) + b"\n")))
    assert len(got) == 11 and isinstance(got[0][1], Broken)
    assert [r["msgid"] for _, r in got[1:]] == [f"m-{i}" for i in range(10)]
    assert got[-1][0] == "line 11"


def test_reasons_shown_to_a_terminal_are_escaped_and_bounded():
    outcome = Outcome()
    problem = outcome.note("line 1", "unknown msgtype '\x1b[2J\u202egnp.exe'" + "x" * 1000, skipped=False)
    assert "\x1b" not in problem.reason and "\u202e" not in problem.reason
    assert "\\x1b[2J" in problem.reason and "\\u202e" in problem.reason
    assert len(problem.reason) <= 301


def test_an_outcome_stays_bounded_however_many_distinct_problems():
    outcome = Outcome()
    for i in range(20_000):
        outcome.note(f"line {i}", f"field 'msgtime' should be epoch milliseconds, got '{i}'", skipped=False)
    assert outcome.error_count == 20_000
    assert len(outcome.problems) <= 1000 and len(outcome.reasons) <= 101
    summary = outcome.summary()
    assert len(summary.splitlines()) <= 12
    assert "20000 records" not in summary and "20000 errors" in summary
    assert summary.splitlines()[-1] == "  errors: 19990 more, for other reasons (each listed above)"


def test_a_dry_run_never_connects_to_the_broker(monkeypatch):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    monkeypatch.setenv("MODERATION_BOOTSTRAP", f"127.0.0.1:{listener.getsockname()[1]}")
    try:
        body = (DATA / "slack_events.jsonl").read_bytes()
        status = run("slack", "-", tz="UTC", names_path=None, dry_run=True, stdin=io.BytesIO(body),
                     stdout=io.BytesIO(), stderr=io.StringIO())
        assert status == EXIT_BAD_RECORDS
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


def test_ingest_exit_status_is_distinct_for_each_outcome(tmp_path):
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(orjson.dumps(WECOM_OK) + b"\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps(WECOM_OK) + b"\n" + orjson.dumps(with_field("wecom", "msgtime", "NaN")) + b"\n")
    common = {"tz": "UTC", "names_path": None, "dry_run": True, "stdout": io.BytesIO(), "stderr": io.StringIO()}
    assert run("wecom", str(ok), **common) == EXIT_OK == 0
    assert run("wecom", str(bad), **common) == EXIT_BAD_RECORDS == 3
    assert run("wecom", str(tmp_path / "missing"), **common) == EXIT_USAGE == 2
    names = tmp_path / "names.json"
    names.write_text('["not", "a", "map"]')
    assert run("wecom", str(ok), **{**common, "names_path": str(names)}) == EXIT_USAGE


# ---------------------------------------------------------------------- produce

def test_produce_checks_each_event_like_ingest_and_skips_the_bad_ones():
    good = [factory.configured("g-fin", admins=("u-admin",)), factory.message("报表发我", group="g-fin")]
    lines = [
        orjson.dumps(good[0]),
        b'{"event_id": "x-1", "type": "message.exploded", "ts": "2026-03-02T09:15:00+08:00"}',
        orjson.dumps({**good[1], "ts": "yesterday"}),
        b"not json at all",
        orjson.dumps({k: v for k, v in good[1].items() if k != "group_id"}),
        orjson.dumps({**good[1], "message": {"id": 5, "text": "hi"}}),
        b"[" * 3000 + b"]" * 3000,
        orjson.dumps(good[1]),
    ]
    out, err = io.BytesIO(), io.StringIO()
    status = produce("-", dry_run=True, stdin=io.BytesIO(b"\n".join(lines) + b"\n"), stdout=out, stderr=err)
    assert status == EXIT_BAD_RECORDS
    assert [orjson.loads(line) for line in out.getvalue().splitlines()] == good
    report = err.getvalue()
    assert "-: line 2: error: unknown event type 'message.exploded'" in report
    assert "-: line 3: error: field 'ts': cannot parse 'yesterday' as ISO-8601" in report
    assert "-: line 4: error: not valid JSON" in report
    assert "-: line 5: error: missing field 'group_id'" in report
    assert "-: line 6: error: field 'message.id'" in report
    assert "-: line 7: error: not valid JSON" in report
    assert "8 records: 2 events, 0 skipped, 6 errors" in report


def test_produce_rejects_what_the_worker_rejects():
    """The same decoder decides: every line produce accepts, the worker's decode accepts too."""
    event = factory.message("好", group="g" * 129)
    err = io.StringIO()
    assert produce("-", dry_run=True, stdin=io.BytesIO(orjson.dumps(event)), stdout=io.BytesIO(),
                   stderr=err) == EXIT_BAD_RECORDS
    assert "group_id" in err.getvalue()
    ok = io.BytesIO()
    assert produce("-", dry_run=True, stdin=io.BytesIO(orjson.dumps(factory.tick())), stdout=ok,
                   stderr=io.StringIO()) == EXIT_OK
    decode(ok.getvalue().strip())


def test_produce_missing_file_is_a_usage_error(tmp_path):
    err = io.StringIO()
    assert produce(str(tmp_path / "nope.jsonl"), dry_run=True, stdout=io.BytesIO(), stderr=err) == EXIT_USAGE
    assert "produce: cannot read" in err.getvalue()


# ---------------------------------------------------------------------- group names from the platforms


def test_dingtalk_group_title_rides_on_the_event_as_group_name():
    first = outcome_of("dingtalk", "dingtalk_robot.json").events[0]
    assert first["group_name"] == "阿波罗项目组"
    assert "group_name" not in convert_record("dingtalk", DINGTALK_OK, Options())[0]
    long = convert_record("dingtalk", with_field("dingtalk", "conversationTitle", "  群" * 400), Options())[0]
    assert len(long["group_name"]) == 256 and not long["group_name"].startswith(" ")
    decode(encode(long))


def test_slack_channel_rename_and_creation_carry_the_name_on_a_tick():
    renamed = {"type": "event_callback", "event_time": 1772414100, "event_id": "Ev1",
               "event": {"type": "channel_rename", "channel": {"id": "C0FIN01", "name": "finance-team",
                                                               "created": 1360782804}}}
    created = {"type": "event_callback", "event_time": 1772414000,
               "event": {"type": "channel_created", "channel": {"id": "C0NEW", "name": "launch", "created": 1772414000,
                                                                "creator": "U0ZHANGSAN"}}}
    name_message = {"type": "event_callback", "event": {"type": "message", "subtype": "channel_name",
                                                        "channel": "C0FIN01",
                                                        "user": "U0LISI", "ts": "1772414200.000100",
                                                        "old_name": "random", "name": "watercooler"}}
    tick, = convert_record("slack", renamed, Options(tz="UTC"))
    assert tick["type"] == "clock.tick" and tick["group_id"] == "C0FIN01" and tick["group_name"] == "finance-team"
    assert tick["ts"] == "2026-03-02T01:15:00+00:00" and tick["actor"] == {"id": "slack", "name": "Slack"}
    tick, = convert_record("slack", created, Options(names={"U0ZHANGSAN": "研发-张三"}))
    assert tick["group_name"] == "launch" and tick["actor"] == {"id": "U0ZHANGSAN", "name": "研发-张三"}
    tick, = convert_record("slack", name_message, Options())
    assert tick["type"] == "clock.tick" and tick["group_name"] == "watercooler" and tick["actor"]["id"] == "U0LISI"
    assert tick["event_id"] == "slack-C0FIN01-1772414200.000100"
    with pytest.raises(Broken, match="event.channel.name"):
        convert_record("slack", {**renamed, "event": {"type": "channel_rename", "channel": {"id": "C1", "name": 5}}},
                       Options())


def test_a_byte_order_mark_is_read_past_and_utf16_is_named():
    body = orjson.dumps(WECOM_OK) + b"\n"
    assert list(read_records(io.BytesIO(b"\xef\xbb\xbf" + body))) == [("line 1", WECOM_OK)]
    (where, record), = list(read_records(io.BytesIO(body.decode().encode("utf-16") * 3)))
    assert isinstance(record, Broken) and "UTF-16" in record.reason and "iconv" in record.reason


def test_input_failing_part_way_is_not_called_a_broker_failure():
    class FailingDisk:
        def __init__(self):
            self.lines = iter([orjson.dumps(WECOM_OK) + b"\n"])

        def readline(self, limit: int = -1) -> bytes:
            line = next(self.lines, None)
            if line is None:
                raise OSError(5, "Input/output error")
            return line

    out, err = io.BytesIO(), io.StringIO()
    assert run("wecom", "-", tz="UTC", names_path=None, dry_run=True, stdin=FailingDisk(), stdout=out,
               stderr=err) == EXIT_USAGE
    assert "could not read - to the end (OSError: [Errno 5] Input/output error)" in err.getvalue()
    assert "; 1 event sent before that" in err.getvalue() and len(out.getvalue().splitlines()) == 1
