"""The gateway's routes as pure functions: each platform's request, signed the way the platform's
documentation says it signs it (the signers below are written from that documentation, not from
the gateway's code), hostile headers and bodies, the recent-id memory, the settings.

The signers are shared with the integration tests (tests/integration/test_gateway.py)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time

import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from multidict import CIMultiDict

from pipeline.config import load_settings
from pipeline.connectors import Options
from pipeline.core.events import decode
from pipeline.gateway.dingtalk import DingTalk
from pipeline.gateway.platform import Accept, Answer, Ignore, RecentIds, Refused, Request
from pipeline.gateway.slack import Slack

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DINGTALK_SECRET = "SEC-app-secret-Ab12Cd34"
FEISHU_KEY = "kudryavtsev-encrypt-key"
FEISHU_TOKEN = "v-token-Zx9"


# --------------------------------------------------------------------------- signers, from the docs


def slack_headers(body: bytes, secret: str = SLACK_SECRET, timestamp: int | None = None, **extra) -> dict:
    """Slack: "v0=" + hex HMAC-SHA256, keyed by the signing secret, of "v0:" + timestamp + ":" + body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest,
            **extra}


def dingtalk_headers(secret: str = DINGTALK_SECRET, timestamp_ms: int | None = None) -> dict:
    """DingTalk: Base64 of HMAC-SHA256, keyed by the AppSecret, of timestamp + "\\n" + AppSecret."""
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    return {"Content-Type": "application/json; charset=utf-8", "timestamp": stamp,
            "sign": base64.b64encode(digest).decode()}


def feishu_encrypt(plaintext: bytes, key: str = FEISHU_KEY) -> bytes:
    """Feishu: {"encrypt": base64(iv + AES-256-CBC(PKCS#7(plaintext)))}, key = SHA-256(Encrypt Key)."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    sealed = iv + encryptor.update(padded) + encryptor.finalize()
    return orjson.dumps({"encrypt": base64.b64encode(sealed).decode()})


def feishu_headers(body: bytes, key: str = FEISHU_KEY, timestamp: int | None = None, nonce: str = "n0nce-42") -> dict:
    """Feishu: hex SHA-256 of timestamp + nonce + Encrypt Key + the raw body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hashlib.sha256((stamp + nonce + key).encode() + body).hexdigest()
    return {"Content-Type": "application/json; charset=utf-8", "X-Lark-Request-Timestamp": stamp,
            "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": digest}


def slack_message(channel: str = "C0FIN01", ts: str = "1772414100.000200", text: str = "请周五前提交报销单据",
                  user: str = "U0WANGMIN") -> dict:
    return {"token": "legacy", "team_id": "T0A1B2C3D", "type": "event_callback", "event_id": "Ev0PV52K21",
            "event_time": 1772414100,
            "event": {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
                      "channel_type": "channel", "user_profile": {"display_name": "财务部-王敏"}}}


def dingtalk_message(msg_id: str = "msgX1", text: str = " 你好，请查收报表") -> dict:
    return {"conversationId": "cidFin01==", "atUsers": [{"dingtalkId": "$:LWCP_v1:$robot"}],
            "chatbotCorpId": "dinge8a565", "chatbotUserId": "$:LWCP_v1:$robot", "msgId": msg_id,
            "senderNick": "杨一", "isAdmin": False, "senderStaffId": "user123", "createAt": 1772414100000,
            "conversationType": "2", "senderId": "$:LWCP_v1:$sender", "conversationTitle": "财务部工作群",
            "isInAtList": True, "text": {"content": text}, "msgtype": "text"}


def request(headers: dict, body: bytes, now: float | None = None) -> Request:
    return Request(CIMultiDict(headers), body, time.time() if now is None else now)


def refused(handle, req) -> Refused:
    with pytest.raises(Refused) as caught:
        handle(req)
    return caught.value


# --------------------------------------------------------------------------- Slack


SLACK = Slack(SLACK_SECRET, Options())


def test_a_signed_slack_message_becomes_its_input_event():
    body = orjson.dumps(slack_message())
    outcome = SLACK.handle(request(slack_headers(body), body))
    assert isinstance(outcome, Accept)
    (event,) = outcome.events
    assert event["event_id"] == "slack-C0FIN01-1772414100.000200" and event["group_id"] == "C0FIN01"
    assert decode(orjson.dumps(event)).actor.name == "财务部-王敏"


def test_slack_handshake_rate_limit_notice_and_edits():
    body = orjson.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                         "type": "url_verification"})
    assert SLACK.handle(request(slack_headers(body), body)) == Answer(
        {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    body = orjson.dumps({"token": "x", "team_id": "T1", "minute_rate_limited": 1518467820, "api_app_id": "A1",
                         "type": "app_rate_limited"})
    assert isinstance(SLACK.handle(request(slack_headers(body), body)), Ignore)
    edit = slack_message()
    edit["event"]["subtype"] = "message_changed"
    body = orjson.dumps(edit)
    assert isinstance(SLACK.handle(request(slack_headers(body), body)), Ignore)


@pytest.mark.parametrize("change, status, reason", [
    (lambda h, b: h.pop("X-Slack-Signature"), 401, "missing_signature"),
    (lambda h, b: h.pop("X-Slack-Request-Timestamp"), 401, "missing_signature"),
    (lambda h, b: h.update({"X-Slack-Request-Timestamp": "abc"}), 401, "bad_timestamp"),
    (lambda h, b: h.update({"X-Slack-Request-Timestamp": "１７７２４１４１００"}), 401, "bad_timestamp"),   # full-width digits
    (lambda h, b: h.update({"X-Slack-Request-Timestamp": " " + h["X-Slack-Request-Timestamp"]}), 401, "bad_timestamp"),
    (lambda h, b: h.update({"X-Slack-Request-Timestamp": "1_772_414_100"}), 401, "bad_timestamp"),
    (lambda h, b: h.update({"X-Slack-Request-Timestamp": "-1"}), 401, "bad_timestamp"),
    (lambda h, b: h.update({"X-Slack-Request-Timestamp": "9" * 5000}), 401, "bad_timestamp"),
    (lambda h, b: h.update({"X-Slack-Signature": "v0=é" + "0" * 63}), 401, "bad_signature"),
    (lambda h, b: h.update({"X-Slack-Signature": "v1=" + h["X-Slack-Signature"][3:]}), 401, "bad_signature"),
    (lambda h, b: h.update({"X-Slack-Signature": h["X-Slack-Signature"].upper()}), 401, "bad_signature"),
    (lambda h, b: h.update(slack_headers(b, secret="another secret")), 401, "bad_signature"),
    (lambda h, b: h.update(slack_headers(b, timestamp=int(time.time()) - 301)), 401, "stale_timestamp"),
    (lambda h, b: h.update(slack_headers(b, timestamp=int(time.time()) + 301)), 401, "stale_timestamp"),
    (lambda h, b: h.update(slack_headers(b + b" ")), 401, "bad_signature"),      # signed for other bytes
])
def test_slack_refuses_every_bad_signature_without_an_exception(change, status, reason):
    body = orjson.dumps(slack_message())
    headers = slack_headers(body)
    change(headers, body)
    got = refused(SLACK.handle, request(headers, body))
    assert (got.status, got.reason) == (status, reason)


def test_a_flipped_signature_never_matches():
    body = orjson.dumps(slack_message())
    headers = slack_headers(body)
    good = headers["X-Slack-Signature"]
    last = "1" if good[-1] != "1" else "2"
    headers["X-Slack-Signature"] = good[:-1] + last
    assert refused(SLACK.handle, request(headers, body)).reason == "bad_signature"


@pytest.mark.parametrize("body, status, reason", [
    (b"\xff\xfe{not utf-8}", 400, "not_utf8"),
    (b'{"type": "event_callback", ', 400, "malformed_json"),
    (b"[1, 2, 3]", 400, "malformed_json"),
    (b'{"type": "block_actions"}', 422, "unknown_type"),
    (b'{"type": "url_verification"}', 422, "invalid_event"),
    (orjson.dumps({**slack_message(), "event": {"type": "message", "channel": "C1", "ts": "1772414100.0"}}), 422,
     "invalid_event"),
    (orjson.dumps({**slack_message(), "event": {**slack_message()["event"], "ts": "NaN"}}), 422, "invalid_event"),
])
def test_slack_refuses_bodies_that_are_not_a_valid_event_even_when_signed(body, status, reason):
    got = refused(SLACK.handle, request(slack_headers(body), body))
    assert (got.status, got.reason) == (status, reason)


def test_the_slack_window_is_read_from_the_request_time_not_the_clock():
    body = orjson.dumps(slack_message())
    then = 1_700_000_000
    headers = slack_headers(body, timestamp=then)
    assert isinstance(SLACK.handle(request(headers, body, now=then + 299)), Accept)
    assert refused(SLACK.handle, request(headers, body, now=then + 301)).reason == "stale_timestamp"


# --------------------------------------------------------------------------- DingTalk


DINGTALK = DingTalk(DINGTALK_SECRET, Options())


def test_a_signed_dingtalk_callback_becomes_its_input_event():
    body = orjson.dumps(dingtalk_message())
    (event,) = DINGTALK.handle(request(dingtalk_headers(), body)).events
    assert event["event_id"] == "dingtalk-msgX1" and event["group_name"] == "财务部工作群"
    assert event["message"]["text"] == "你好，请查收报表" and "mentions" not in event["message"]


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing_signature"),
    ({"timestamp": str(int(time.time() * 1000))}, "missing_signature"),
    (dingtalk_headers(secret="SEC-wrong"), "bad_signature"),
    (dingtalk_headers(timestamp_ms=int(time.time() * 1000) - 3_601_000), "stale_timestamp"),
    (dingtalk_headers(timestamp_ms=int(time.time())), "stale_timestamp"),         # seconds, not milliseconds
    ({**dingtalk_headers(), "sign": "not base64!"}, "bad_signature"),
    ({**dingtalk_headers(), "sign": "QUFB" * 11}, "bad_signature"),
    ({**dingtalk_headers(), "timestamp": "1e12"}, "bad_timestamp"),
])
def test_dingtalk_refuses_bad_or_stale_signatures(headers, reason):
    body = orjson.dumps(dingtalk_message())
    got = refused(DINGTALK.handle, request(headers, body))
    assert (got.status, got.reason) == (401, reason)


def test_a_dingtalk_signature_covers_the_timestamp_only_so_the_window_bounds_a_replay():
    """DingTalk's documented signature does not cover the body (docs/CONNECTORS.md says so): the same
    headers with another body pass within the hour, and not after it."""
    headers = dingtalk_headers(timestamp_ms=1_700_000_000_000)
    other = orjson.dumps(dingtalk_message(msg_id="msgOther"))
    assert isinstance(DINGTALK.handle(request(headers, other, now=1_700_000_000 + 3599)), Accept)
    assert refused(DINGTALK.handle, request(headers, other, now=1_700_000_000 + 3601)).reason == "stale_timestamp"


# --------------------------------------------------------------------------- the recent ids


def test_recent_ids_remember_acknowledged_ids_forget_failed_ones_and_stay_bounded():
    recent = RecentIds(size=100)
    ok, failed = object(), object()
    recent.sending("a", ok)
    recent.sending("b", failed)
    assert recent.waiting("a") is ok and not recent.acknowledged("a")
    recent.settled("a", ok, True)
    recent.settled("b", failed, False)
    assert recent.acknowledged("a") and recent.waiting("a") is None
    assert not recent.acknowledged("b") and recent.waiting("b") is None
    recent.sending("c", failed)
    recent.settled("c", object(), False)   # an older send of the same id failing does not forget the newer one
    assert recent.waiting("c") is failed
    for i in range(1000):
        recent.settled(f"id-{i}", None, True)
    assert len(recent) == 100 and recent.acknowledged("id-999") and not recent.acknowledged("a")


# --------------------------------------------------------------------------- settings


def test_secrets_are_read_from_their_variables_and_never_printed():
    env = {"MODERATION_SLACK_SIGNING_SECRET": SLACK_SECRET, "MODERATION_FEISHU_ENCRYPT_KEY": FEISHU_KEY,
           "MODERATION_FEISHU_VERIFICATION_TOKEN": FEISHU_TOKEN, "MODERATION_DINGTALK_APP_SECRET": "  ",
           "MODERATION_GATEWAY_PORT": "9100", "MODERATION_GATEWAY_ALLOWED_HOSTS": "events.corp.example, 127.0.0.1"}
    settings = load_settings(env=env)
    gateway = settings.gateway
    assert gateway.slack_signing_secret.get_secret_value() == SLACK_SECRET and gateway.port == 9100
    assert gateway.dingtalk_app_secret is None                       # blank: the route is off
    assert gateway.allowed_hosts == ("events.corp.example", "127.0.0.1")
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    assert SLACK_SECRET not in shown and FEISHU_KEY not in shown and FEISHU_TOKEN not in shown


def test_a_request_that_stops_waiting_for_a_batch_leaves_nothing_on_it():
    """Each retry of an event Kafka has not acknowledged waits on the same batch; while the broker is
    away every one of them times out. A wait that ended must not stay attached to the batch, or the
    retries of one event grow the gateway's memory for as long as the outage lasts."""
    from pipeline.gateway.server import _Batch, _settled_by

    async def retries(n: int) -> tuple[list[bool], int, bool]:
        loop = asyncio.get_running_loop()
        batch = _Batch(builder=None)
        answers = [await _settled_by([batch], loop.time() + 0.001, loop) for _ in range(n)]
        left = len(batch._waiters)
        waiting = asyncio.ensure_future(_settled_by([batch], loop.time() + 5, loop))
        await asyncio.sleep(0)
        batch.settle(None)           # a wait still going is told when the batch settles
        return answers, left, await waiting

    answers, left, settled = asyncio.run(retries(200))
    assert answers == [False] * 200 and settled is True
    assert left == 0, f"{left} ended waits still attached to the batch"
