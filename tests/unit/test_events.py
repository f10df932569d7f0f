from __future__ import annotations

import hashlib

import orjson
import pytest

from pipeline.core.events import EVENT_TYPES, MessagePosted, Rejected, decode, encode, rejected_event
from tests.factory import configured, event, joined, message, tick

LIMIT = 20000


def test_the_example_of_the_contract_decodes():
    raw = ('{"event_id":"e-1001","type":"message.posted","ts":"2026-03-02T09:15:00+08:00","group_id":"g-fin",'
           '"actor":{"id":"u-7","name":"财务部-张三"},"message":{"id":"m-88","text":"@李四 报表今天下班前发我一下",'
           '"mentions":["u-9"]}}')
    e = decode(raw.encode())
    assert isinstance(e, MessagePosted)
    assert e.message.mentions == ["u-9"] and e.message.reply_to is None and e.message.urgent is False
    assert e.ts.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize("builder", [
    lambda: configured(), lambda: joined("u-2", "研发中心-李四"), lambda: message("你好"), lambda: tick(),
    lambda: event("member.left", member={"id": "u-2"}, removed_by=None),
    lambda: event("member.departed", member={"id": "u-2"}, reason="离职"),
    lambda: event("member.renamed", member={"id": "u-2", "name": "研发中心-李四"}),
    lambda: event("message.forwarded", message={"id": "m-1"}, destination={"id": "x", "external": True},
                  approved_by=None),
    lambda: event("announcement.posted", announcement={"id": "a-1", "title": "通知", "text": "周五开会"}),
    lambda: event("announcement.read", announcement={"id": "a-1"}),
    lambda: event("file.shared", file={"id": "f-1", "name": "a.pdf", "size": 3, "folder": None, "sha256": "0" * 64}),
])
def test_every_type_of_the_contract_decodes(builder):
    e = builder()
    assert decode(orjson.dumps(e)).type == e["type"]


def test_all_contract_types_are_known():
    assert set(EVENT_TYPES) == {
        "group.configured", "member.joined", "member.renamed", "member.left", "member.departed", "message.posted",
        "message.forwarded", "announcement.posted", "announcement.read", "file.shared", "clock.tick", "review.decided"}


def test_unknown_fields_are_ignored_for_compatible_extension():
    e = message("hi")
    e["new_optional_field"] = {"x": 1}
    e["message"]["new_too"] = True
    assert decode(orjson.dumps(e)).message.text == "hi"


def _reason(raw) -> str:
    with pytest.raises(Rejected) as info:
        decode(raw if isinstance(raw, bytes) else orjson.dumps(raw))
    return info.value.reason


def test_reasons_name_what_is_wrong():
    assert _reason(b"") == "empty record"
    assert _reason(b"{nope").startswith("not valid UTF-8 JSON")
    assert _reason(b"\xff\xfe") .startswith("not valid UTF-8 JSON")
    assert _reason(b"[1,2]") == "expected a JSON object, got list"
    assert _reason({**message("x"), "type": "message.deleted"}) == "unknown event type 'message.deleted'"
    missing = message("x")
    del missing["actor"]
    assert _reason(missing) == "missing field 'actor'"
    assert _reason({k: v for k, v in message("x").items() if k != "type"}) == "missing field 'type'"
    no_offset = message("x", ts="2026-03-02T09:15:00")
    assert "no UTC offset" in _reason(no_offset)
    assert "cannot parse" in _reason(message("x", ts="yesterday"))
    wrong_type = message("x")
    wrong_type["message"]["text"] = 42
    assert _reason(wrong_type).startswith("field 'message.text'")
    assert _reason({**message("x"), "group_id": "g\x00evil"}) == "field 'group_id': must not contain control characters"
    assert "outside 2000–2100" in _reason(message("x", ts="1970-01-01T00:00:00+00:00"))


def test_rejected_record_keeps_the_original_bytes_and_position():
    raw = b'{"group_id": "g-9", "type": 5}'
    r = rejected_event("why", raw, "chat.events", 3, 17)
    assert r["kind"] == "rejected" and r["group_id"] == "g-9" and r["reason"] == "why"
    assert r["source"] == {"topic": "chat.events", "partition": 3, "offset": 17}
    import base64
    assert base64.b64decode(r["original_b64"]) == raw  # nothing personal in it: the redacted copy is the same
    assert r["original_sha256"] == hashlib.sha256(raw).hexdigest() and r["original_size"] == len(raw)
    assert r["id"] == rejected_event("why", raw, "chat.events", 3, 17)["id"]
    assert r["id"] != rejected_event("why", raw, "chat.events", 3, 18)["id"]


def test_encoding_is_deterministic():
    a = {"b": 1, "a": [1, {"y": 2, "x": 1}]}
    assert encode(a) == encode(dict(reversed(list(a.items())))) == b'{"a":[1,{"x":1,"y":2}],"b":1}'


def test_a_message_over_the_text_limit_is_accepted_to_be_judged_in_part():
    assert decode(orjson.dumps(message("长" * 50_000))).message.text == "长" * 50_000


def test_an_event_beyond_the_live_clock_and_its_skew_is_rejected_with_a_reason():
    from datetime import datetime, timezone
    not_after = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert decode(orjson.dumps(message("x", ts="2026-03-02T19:59:00+08:00")), not_after=not_after)
    with pytest.raises(Rejected) as info:
        decode(orjson.dumps(message("x", ts="2093-03-02T09:00:00+08:00")), not_after=not_after)
    assert "beyond the latest time accepted" in info.value.reason and "max_future_skew_seconds" in info.value.reason


@pytest.mark.parametrize("field", ["event_id", "group_id"])
def test_ids_with_control_characters_are_rejected(field):
    for bad in ("g\x00x", "g\x1fx", "g\nx", "\x7f"):
        with pytest.raises(Rejected):
            decode(orjson.dumps({**message("x"), field: bad}))


def test_dlq_record_is_bounded_whatever_came_in_and_keeps_a_digest():
    raw = b'{"group_id":"g","text":"' + b"x" * 1_040_000 + b'"}'
    for original in ("full", "redacted", "digest"):
        r = rejected_event("too big", raw, "chat.events", 0, 5, original=original)
        assert len(encode(r)) < 200_000, original
        assert r["original_size"] == len(raw) and r["original_sha256"] == hashlib.sha256(raw).hexdigest()
        assert ("original_b64" in r) == (original != "digest")
        if original != "digest":
            assert r["original_truncated"] is True
    assert rejected_event("x" * 5000, b"{}", "t", 0, 1)["reason"].endswith("…")


def test_dlq_redacted_mode_masks_personal_data_in_every_string():
    import base64
    raw = orjson.dumps({**message("电话13812345678 身份证110101199003074578"), "note": {"card": "6222021234567890123"}})
    kept = base64.b64decode(rejected_event("why", raw, "t", 0, 1)["original_b64"])
    assert b"13812345678" not in kept and b"110101199003074578" not in kept
    assert base64.b64decode(rejected_event("why", raw, "t", 0, 1, original="full")["original_b64"]) == raw
    text = b"not json 13812345678 " * 3
    assert b"13812345678" not in base64.b64decode(rejected_event("why", text, "t", 0, 1)["original_b64"])
