"""The gateway's HTTP guards, over real loopback connections to the running server (no Kafka: the
broker address is a closed port, so nothing can be produced and every valid request gets 503)."""
from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import orjson
import pytest

from pipeline.config import load_settings
from pipeline.connectors import Options
from pipeline.gateway.server import start
from tests.unit.test_gateway import SLACK_SECRET, slack_headers, slack_message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(**gateway):
    env = {"MODERATION_BOOTSTRAP": f"127.0.0.1:{_closed_port()}", "MODERATION_SLACK_SIGNING_SECRET": SLACK_SECRET,
           **{f"MODERATION_GATEWAY_{k.upper()}": str(v) for k, v in gateway.items()}}
    runner, site = await start(load_settings(env=env), Options(), port=0)
    return runner, f"http://127.0.0.1:{site.port}"


@pytest.fixture
async def gateway():
    runner, url = await _serve(max_body_bytes=8192, body_seconds=0.5)
    yield url
    await runner.cleanup()


def _signed(body: bytes | None = None) -> tuple[bytes, dict]:
    body = body if body is not None else orjson.dumps(slack_message())
    return body, slack_headers(body)


async def _post(url, body, headers, path="/slack/events"):
    async with aiohttp.ClientSession() as client:
        async with client.post(url + path, data=body, headers=headers) as response:
            raw = await response.read()
            return response.status, orjson.loads(raw) if raw.startswith(b"{") else raw, response.headers


async def test_a_valid_request_gets_503_while_kafka_is_not_connected(gateway):
    status, answer, headers = await _post(gateway, *_signed())
    assert (status, answer["error"], headers["Retry-After"]) == (503, "not_connected", "1")


@pytest.mark.parametrize("change, status, reason", [
    (lambda h: h.update({"Content-Type": "text/plain"}), 415, "content_type"),
    (lambda h: h.update({"Content-Type": "application/json; charset=latin-1"}), 415, "content_type"),
    (lambda h: h.update({"Content-Type": "application/x-www-form-urlencoded"}), 415, "content_type"),
    (lambda h: h.update({"Content-Encoding": "gzip"}), 415, "content_encoding"),
    (lambda h: h.update({"Host": "attacker.example"}), 421, "host_not_allowed"),
    (lambda h: h.update({"Host": "127.0.0.1.attacker.example"}), 421, "host_not_allowed"),
])
async def test_http_level_refusals(gateway, change, status, reason):
    body, headers = _signed()
    change(headers)
    got, answer, _ = await _post(gateway, body, headers)
    assert (got, answer["error"]) == (status, reason)


async def test_slack_refusals_tell_slack_not_to_retry(gateway):
    body, headers = _signed()
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    status, answer, response_headers = await _post(gateway, body, headers)
    assert (status, answer["error"], response_headers["X-Slack-No-Retry"]) == (401, "bad_signature", "1")


async def test_a_body_over_the_limit_is_refused_announced_or_streamed(gateway):
    big = orjson.dumps(slack_message(text="长" * 5000))
    status, answer, _ = await _post(gateway, big, slack_headers(big))
    assert (status, answer["error"]) == (413, "too_large")

    async def chunks():
        for _ in range(20):
            yield b" " * 1000
    async with aiohttp.ClientSession() as client:        # chunked: no Content-Length to refuse up front
        async with client.post(gateway + "/slack/events", data=chunks(),
                               headers={"Content-Type": "application/json"}) as response:
            assert response.status == 413


async def test_a_body_that_does_not_arrive_in_time_is_refused(gateway):
    host, port = gateway.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"type\"")
    await writer.drain()
    started = time.monotonic()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 2
    writer.close()


async def test_headers_are_bounded_and_malformed_requests_counted_not_logged_each(gateway, caplog):
    body, headers = _signed()
    for _ in range(3):
        many = {**headers, **{f"X-Pad-{i}": "x" for i in range(200)}}
        status, _, _ = await _post(gateway, body, many)
        assert status == 400
        long = {**headers, "X-Pad": "x" * 10_000}
        status, _, _ = await _post(gateway, body, long)
        assert status in (400, 431)
    async with aiohttp.ClientSession() as client:
        async with client.get(gateway + "/metrics") as response:
            assert "moderation_gateway_malformed_http_total 6.0" in await response.text()
    noted = [r for r in caplog.records if "malformed HTTP" in r.getMessage()]
    assert len(noted) == 1   # (that no traceback reaches the log is checked on the real process's log: integration)


async def test_a_route_without_its_secret_is_off_and_the_others_serve(gateway):
    status, answer, _ = await _post(gateway, b"{}", {"Content-Type": "application/json"}, path="/feishu/events")
    assert (status, answer["error"]) == (404, "route_off")
    assert "MODERATION_FEISHU_VERIFICATION_TOKEN" in answer["detail"]
    async with aiohttp.ClientSession() as client:
        async with client.get(gateway + "/slack/events") as response:
            assert response.status == 405
        async with client.get(gateway + "/healthz") as response:
            health = await response.json()
            assert response.status == 503 and health["status"] == "down"
            assert health["routes"] == {"slack": "on", "feishu": "off", "dingtalk": "off"}
        async with client.get(gateway + "/metrics") as response:
            text = await response.text()
    assert 'moderation_gateway_rejected_total{platform="feishu",reason="route_off"} 1.0' in text


async def test_connections_over_the_limit_are_answered_503_and_closed():
    runner, url = await _serve(max_connections=4, idle_seconds=30)
    host, port = url.removeprefix("http://").split(":")
    try:
        held = [await asyncio.open_connection(host, int(port)) for _ in range(4)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(host, int(port))
        answer = await asyncio.wait_for(reader.read(), 5)       # the server closes it after the answer
        assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
        writer.close()
        _, first = held.pop()
        first.close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as client:
            async with client.get(url + "/healthz") as response:
                assert response.status == 503 and (await response.json())["status"] == "down"
    finally:
        for _, writer in held:
            writer.close()
        await runner.cleanup()


async def test_an_idle_connection_is_closed():
    runner, url = await _serve(idle_seconds=0.5)
    host, port = url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /slack/events HTTP/1.1\r\n")          # a request line, then nothing
        await writer.drain()
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert time.monotonic() - started < 3
        writer.close()
    finally:
        await runner.cleanup()
