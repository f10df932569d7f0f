from __future__ import annotations

import orjson
import pytest

from pipeline.events import EVENT_TYPES, MessagePosted, Rejected, decode, encode, rejected_event
from tests.factory import configured, event, joined, message, tick

LIMIT = 20000


def test_the_example_of_the_contract_decodes():
    raw = ('{"event_id":"e-1001","type":"message.posted","ts":"2026-03-02T09:15:00+08:00","group_id":"g-fin",'
           '"actor":{"id":"u-7","name":"财务部-张三"},"message":{"id":"m-88","text":"@李四 报表今天下班前发我一下",'
           '"mentions":["u-9"]}}')
    e = decode(raw.encode(), LIMIT)
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
    assert decode(orjson.dumps(e), LIMIT).type == e["type"]


def test_all_contract_types_are_known():
    assert set(EVENT_TYPES) == {
        "group.configured", "member.joined", "member.renamed", "member.left", "member.departed", "message.posted",
        "message.forwarded", "announcement.posted", "announcement.read", "file.shared", "clock.tick"}


def test_unknown_fields_are_ignored_for_compatible_extension():
    e = message("hi")
    e["new_optional_field"] = {"x": 1}
    e["message"]["new_too"] = True
    assert decode(orjson.dumps(e), LIMIT).message.text == "hi"


def _reason(raw) -> str:
    with pytest.raises(Rejected) as info:
        decode(raw if isinstance(raw, bytes) else orjson.dumps(raw), LIMIT)
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
    assert "exceeds the configured limit" in _reason(message("长" * (LIMIT + 1)))
    assert "outside 2000–2100" in _reason(message("x", ts="1970-01-01T00:00:00+00:00"))


def test_rejected_record_keeps_the_original_bytes_and_position():
    raw = b'{"group_id": "g-9", "type": 5}'
    r = rejected_event("why", raw, "chat.events", 3, 17)
    assert r["kind"] == "rejected" and r["group_id"] == "g-9" and r["reason"] == "why"
    assert r["source"] == {"topic": "chat.events", "partition": 3, "offset": 17}
    import base64
    assert base64.b64decode(r["original_b64"]) == raw
    assert r["id"] == rejected_event("why", raw, "chat.events", 3, 17)["id"]
    assert r["id"] != rejected_event("why", raw, "chat.events", 3, 18)["id"]


def test_encoding_is_deterministic():
    a = {"b": 1, "a": [1, {"y": 2, "x": 1}]}
    assert encode(a) == encode(dict(reversed(list(a.items())))) == b'{"a":[1,{"x":1,"y":2}],"b":1}'
