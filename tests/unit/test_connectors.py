"""Connectors: WeCom archive, DingTalk robot callback and Slack Events API records → input events."""
from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from pipeline.connectors import Options, convert_all, convert_record, read_records, split_records
from pipeline.connectors.base import Broken, Skipped
from pipeline.connectors.ingest import EXIT_BROKEN_RECORDS, EXIT_FAILED, EXIT_OK, run
from pipeline.events import decode, encode

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
    assert status == EXIT_BROKEN_RECORDS
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
               stdout=io.BytesIO(), stderr=err) == EXIT_FAILED
    assert "ingest:" in err.getvalue()
    assert run("wecom", "-", tz="Mars/Olympus", names_path=None, dry_run=True, stdin=io.BytesIO(b""),
               stdout=io.BytesIO(), stderr=io.StringIO()) == EXIT_FAILED


def test_read_records_streams_json_lines_and_reads_arrays_and_pretty_objects_whole():
    lines = io.BytesIO(b'\n{"a": 1}\nnot json\n\n{"b": 2}\n')
    assert [(w, r if not isinstance(r, Broken) else "broken") for w, r in read_records(lines)] == [
        ("line 2", {"a": 1}), ("line 3", "broken"), ("line 5", {"b": 2})]
    assert list(read_records(io.BytesIO(b'[{"a": 1},\n {"b": 2}]'))) == [("record 1", {"a": 1}), ("record 2", {"b": 2})]
    assert list(read_records(io.BytesIO(b'{\n  "a": 1\n}\n'))) == [("record 1", {"a": 1})]
    assert list(read_records(io.BytesIO(b""))) == []


def test_ingest_sends_each_line_before_reading_the_next():
    """A relay piping webhook bodies must not wait for end of input: every record is out before
    the next one is read."""
    lines = (DATA / "slack_events.jsonl").read_bytes().splitlines(keepends=True)
    out = io.BytesIO()

    class Relay(io.RawIOBase):
        def __init__(self):
            self.sent_before_read = []
            self.lines = iter(lines)

        def readable(self):
            return True

        def __iter__(self):
            for line in self.lines:
                self.sent_before_read.append(out.getvalue().count(b"\n"))
                yield line

    relay = Relay()
    assert run("slack", "-", tz="UTC", names_path=None, dry_run=True, stdin=relay, stdout=out,
               stderr=io.StringIO()) == EXIT_BROKEN_RECORDS
    assert relay.sent_before_read[:4] == [0, 1, 2, 3]     # the third line is a join: three events by then
