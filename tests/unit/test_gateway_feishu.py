"""Feishu / Lark: the body encryption against the documentation's own example, the route's checks
(Encrypt Key, signature, Verification Token, handshake), and the connector's mapping of schema 2.0
events (also used by `moderation ingest --from feishu`)."""
from __future__ import annotations

import time

import orjson
import pytest

from pipeline.connectors import Broken, Options, Skipped, convert_all, convert_record, split_records
from pipeline.gateway.feishu import Feishu, decrypt
from pipeline.gateway.platform import Accept, Answer, Ignore
from tests.unit.test_connectors import DATA
from tests.unit.test_gateway import FEISHU_KEY, FEISHU_TOKEN, feishu_encrypt, feishu_headers, refused, request

ROUTE = Feishu(FEISHU_TOKEN, FEISHU_KEY, Options(tz="Asia/Shanghai"))
TOKEN_ONLY = Feishu(FEISHU_TOKEN, None, Options(tz="Asia/Shanghai"))


def event(event_type: str = "im.message.receive_v1", token: str = FEISHU_TOKEN, **event_fields) -> dict:
    body = {"sender": {"sender_id": {"union_id": "on_1", "user_id": "wangmin", "open_id": "ou_1"},
                       "sender_type": "user", "tenant_key": "t1"},
            "message": {"message_id": "om_5ce6d572455d361153b7cb51da133945", "root_id": "", "parent_id": "",
                        "create_time": "1772414100000", "chat_id": "oc_5ce6d572455d361153b7cb5xxfsdfsdfdsf",
                        "chat_type": "group", "message_type": "text", "content": '{"text":"@_user_1 请查收报表"}',
                        "mentions": [{"key": "@_user_1", "id": {"union_id": "on_2", "user_id": "lisi",
                                                                 "open_id": "ou_2"},
                                      "name": "财务部-李四", "tenant_key": "t1"}]}}
    body.update(event_fields)
    return {"schema": "2.0", "header": {"event_id": "f7984f25108f8137722bb63cee927e66", "token": token,
                                        "create_time": "1772414100000", "event_type": event_type,
                                        "tenant_key": "t1", "app_id": "cli_9e28cb7ba56a100e"}, "event": body}


def encrypted(record: dict, key: str = FEISHU_KEY) -> bytes:
    return feishu_encrypt(orjson.dumps(record), key)


def test_decryption_matches_the_documentation_example():
    # Feishu's documentation: Encrypt Key "test key", ciphertext below, plaintext "hello world".
    assert decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == b"hello world"
    with pytest.raises(ValueError):
        decrypt("another key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")


def test_an_encrypted_signed_message_becomes_its_input_event():
    body = encrypted(event())
    (got,) = ROUTE.handle(request(feishu_headers(body), body)).events
    assert got["event_id"] == "feishu-om_5ce6d572455d361153b7cb51da133945"
    assert got["actor"]["id"] == "wangmin" and got["message"]["mentions"] == ["lisi"]
    assert got["message"]["text"] == "@财务部-李四 请查收报表" and got["ts"] == "2026-03-02T09:15:00+08:00"


def test_the_encrypted_handshake_is_answered_without_a_signature_but_with_the_token():
    challenge = {"challenge": "ajls384kdjx98XX", "token": FEISHU_TOKEN, "type": "url_verification"}
    body = encrypted(challenge)
    assert ROUTE.handle(request({}, body)) == Answer({"challenge": "ajls384kdjx98XX"})
    body = encrypted({**challenge, "token": "guessed"})
    assert refused(ROUTE.handle, request({}, body)).reason == "bad_token"
    assert TOKEN_ONLY.handle(request({}, orjson.dumps(challenge))) == Answer({"challenge": "ajls384kdjx98XX"})


@pytest.mark.parametrize("make, reason", [
    (lambda: (encrypted(event()), {}), "missing_signature"),
    (lambda: (b := encrypted(event()), feishu_headers(b, key="another key")), "bad_signature"),
    (lambda: (b := encrypted(event()), feishu_headers(b, timestamp=int(time.time()) - 3601)), "stale_timestamp"),
    (lambda: (b := encrypted(event()), {**feishu_headers(b), "X-Lark-Request-Nonce": "n\x00nce"}), "bad_signature"),
    (lambda: (b := encrypted(event()), {**feishu_headers(b), "X-Lark-Request-Timestamp": "soon"}), "bad_timestamp"),
    (lambda: (b := encrypted(event(), key="another key"), feishu_headers(b)), "bad_encryption"),
    (lambda: (b := orjson.dumps({"encrypt": "!!not base64!!"}), feishu_headers(b)), "bad_encryption"),
    (lambda: (b := orjson.dumps({"encrypt": "QUFBQUFBQUFBQUFBQUFBQQ=="}), feishu_headers(b)), "bad_encryption"),
    (lambda: (b := orjson.dumps(event()), feishu_headers(b)), "bad_encryption"),          # plaintext with a key set
    (lambda: (b := encrypted(event(token="guessed")), feishu_headers(b)), "bad_token"),
    (lambda: (b := encrypted({**event(), "header": None}), feishu_headers(b)), "bad_token"),
])
def test_feishu_refuses_what_is_not_from_feishu(make, reason):
    body, headers = make()
    got = refused(ROUTE.handle, request(headers, body))
    assert (got.status, got.reason) == (401, reason)


def test_without_an_encrypt_key_the_token_is_the_check():
    body = orjson.dumps(event())
    assert isinstance(TOKEN_ONLY.handle(request({}, body)), Accept)
    assert refused(TOKEN_ONLY.handle, request({}, orjson.dumps(event(token="guessed")))).reason == "bad_token"
    assert refused(TOKEN_ONLY.handle, request({}, encrypted(event()))).reason == "bad_encryption"


@pytest.mark.parametrize("record, status, reason", [
    ({"uuid": "41b5f371157e3d5341b38b20396e77a3", "token": FEISHU_TOKEN, "ts": "1502199207.7171419",
      "type": "event_callback", "event": {"type": "message"}}, 422, "unknown_type"),     # version 1.0
    ({**event(), "schema": "1.0"}, 422, "unknown_type"),
    (event("contact.user.created_v3"), 422, "unknown_type"),
    (event(message={"message_id": "om_1"}), 422, "invalid_event"),
])
def test_feishu_refuses_events_it_does_not_know(record, status, reason):
    body = encrypted(record)
    got = refused(ROUTE.handle, request(feishu_headers(body), body))
    assert (got.status, got.reason) == (status, reason)


def test_read_receipts_and_recalls_are_acknowledged_and_skipped():
    for kind in ("im.message.message_read_v1", "im.message.recalled_v1"):
        body = encrypted(event(kind))
        assert isinstance(ROUTE.handle(request(feishu_headers(body), body)), Ignore)


# --------------------------------------------------------------------------- the connector's mapping


def test_the_sample_deliveries_convert_as_docs_connectors_says():
    outcome = convert_all("feishu", split_records((DATA / "feishu_events.jsonl").read_bytes()),
                          Options(tz="Asia/Shanghai", names={"wangmin": "财务部-王敏"}))
    by_type = [(e["type"], e["event_id"]) for e in outcome.events]
    assert by_type == [
        ("message.posted", "feishu-om_dc13264520392913993dd051dba21dcf"), ("message.posted", "feishu-om_2"),
        ("member.joined", "feishu-5e3702a84e847582be8db7fb73283c06-xiaowang"),
        ("member.joined", "feishu-5e3702a84e847582be8db7fb73283c06-zhaoliu"),
        ("member.left", "feishu-5e3702a84e847582be8db7fb73283c07-xiaowang"),
        ("clock.tick", "feishu-5e3702a84e847582be8db7fb73283c08")]
    first, post, joined, _, left, renamed = outcome.events
    assert first["actor"] == {"id": "wangmin", "name": "财务部-王敏"}
    assert post["message"]["reply_to"] == first["event_id"] and post["message"]["mentions"] == ["wangmin"]
    assert post["message"]["text"] == ("对账说明\n好的，见 对账说明 https://wiki.example.invalid/recon\n"
                                       "@财务部-王敏 下午三点前发您")
    assert joined["member"] == {"id": "xiaowang", "name": "小王同学"} and joined["approved_by"] == "zhangsan"
    assert joined["group_name"] == "财务部工作群"
    assert left["removed_by"] is None and left["actor"]["id"] == "xiaowang"      # left by themself
    assert renamed["group_name"] == "财务部工作群（2026）"
    reasons = sorted(p.reason for p in outcome.problems)
    assert reasons == ["an event with no 'schema' (version 1.0): set the app's event subscription to version 2.0",
                       "image message carries no text to moderate", "message sent by 'app', not a member",
                       "one-to-one chat: only group chats are moderated", "read receipt",
                       "unknown event type 'contact.user.created_v3'"]


def test_open_id_stands_in_when_the_app_may_not_read_user_ids():
    record = event()
    record["event"]["sender"]["sender_id"] = {"open_id": "ou_7d8a6e6df7621556ce0d21922b676706ccs"}
    record["event"]["message"]["mentions"][0]["id"] = {"open_id": "ou_2"}
    (got,) = convert_record("feishu", record, Options())
    assert got["actor"]["id"] == "ou_7d8a6e6df7621556ce0d21922b676706ccs" and got["message"]["mentions"] == ["ou_2"]


def test_placeholders_are_replaced_longest_first_and_everyone_is_named():
    record = event()
    mentions = [{"key": f"@_user_{i}", "id": {"user_id": f"u{i}"}, "name": f"名{i}"} for i in range(1, 12)]
    record["event"]["message"]["mentions"] = mentions
    record["event"]["message"]["content"] = orjson.dumps({"text": "@_user_1 @_user_10 @_user_11 @_all 开会"}).decode()
    (got,) = convert_record("feishu", record, Options())
    assert got["message"]["text"] == "@名1 @名10 @名11 @所有人 开会"


def test_a_content_that_is_not_json_is_reported_not_raised():
    record = event()
    record["event"]["message"]["content"] = "{not json"
    with pytest.raises(Broken, match="not a JSON string"):
        convert_record("feishu", record, Options())
    record["event"]["message"]["message_type"] = "sticker"
    with pytest.raises(Skipped):
        convert_record("feishu", record, Options())
