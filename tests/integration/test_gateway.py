"""The gateway as an operator runs it (`moderation gateway`, its own process) against the real broker,
with real HTTP requests on loopback signed the way each platform signs them: a delivery sent three
times arrives once; every kind of bad request gets its 4xx and nothing reaches Kafka, and no secret
reaches the log; with the broker stopped the answer is 503 within the deadline, and the retry is
taken once it is back; a kill -9 loses nothing that was answered 2xx."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import orjson
import pytest

from pipeline.connectors import Options, convert_record
from tests.integration.harness import ROOT, Deployment, read_from_start
from tests.unit.test_gateway import (DINGTALK_SECRET, FEISHU_KEY, FEISHU_TOKEN, SLACK_SECRET, dingtalk_headers,
                                     dingtalk_message, feishu_encrypt, feishu_headers, slack_headers, slack_message)
from tests.unit.test_gateway_feishu import event as feishu_event

SECRETS = {"MODERATION_SLACK_SIGNING_SECRET": SLACK_SECRET, "MODERATION_FEISHU_ENCRYPT_KEY": FEISHU_KEY,
           "MODERATION_FEISHU_VERIFICATION_TOKEN": FEISHU_TOKEN, "MODERATION_DINGTALK_APP_SECRET": DINGTALK_SECRET}
DEADLINE = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class Gateway:
    def __init__(self, deployment: Deployment, log_name: str = "gateway.log", **env):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = deployment.workdir / log_name
        self.env = {**deployment.env, **SECRETS, "MODERATION_GATEWAY_ACK_DEADLINE_SECONDS": str(DEADLINE), **env}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "gateway", "--port", str(self.port),
                                          "--tz", "Asia/Shanghai"], cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, status: int = 200, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the gateway exited ({self.proc.returncode}):\n{self.log()}")
            if _health(self.url) == status:
                return
            time.sleep(0.2)
        raise AssertionError(f"/healthz did not answer {status} within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(20)


@pytest.fixture
def gateway(deployment):
    running = Gateway(deployment)
    running.wait()
    yield running
    running.stop()


async def post(url: str, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as client:
        async with client.post(url + path, data=body, headers=headers) as response:
            raw = await response.read()
            return response.status, orjson.loads(raw) if raw.startswith(b"{") else {"raw": raw}


def records(deployment: Deployment, expect: int, timeout: float = 15.0) -> list[dict]:
    got = asyncio.run(read_from_start(deployment.settings, deployment.settings.topics.input,
                                      range(deployment.partitions), expect, timeout))
    return [orjson.loads(m.value) for messages in got.values() for m in messages]


def feishu_delivery(record: dict) -> tuple[bytes, dict]:
    body = feishu_encrypt(orjson.dumps(record))
    return body, feishu_headers(body)


# --------------------------------------------------------------------------- exactly once


def test_a_delivery_sent_three_times_arrives_once_from_every_platform(deployment, gateway):
    slack_body = orjson.dumps(slack_message(ts="1772414100.000200"))
    concurrent_body = orjson.dumps(slack_message(ts="1772414160.000300", text="三个一起到"))
    feishu_record = feishu_event()
    ding_body = orjson.dumps(dingtalk_message(msg_id="msgTriple"))

    async def send_all():
        answers = []
        for attempt in range(3):       # Slack's retries: the same event, re-signed, marked with the retry number
            retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"} if attempt else {}
            answers.append(await post(gateway.url, "/slack/events", slack_body, slack_headers(slack_body, **retry)))
        answers += await asyncio.gather(*(post(gateway.url, "/slack/events", concurrent_body,
                                               slack_headers(concurrent_body)) for _ in range(3)))
        for _ in range(3):
            answers.append(await post(gateway.url, "/feishu/events", *feishu_delivery(feishu_record)))
            answers.append(await post(gateway.url, "/dingtalk/events", ding_body, dingtalk_headers()))
        return answers

    answers = asyncio.run(send_all())
    assert [status for status, _ in answers] == [200] * 12, answers
    assert sum(not answer["duplicate"] for _, answer in answers) == 4      # one new event per delivery
    got = records(deployment, expect=4)
    time.sleep(2)
    got = records(deployment, expect=5, timeout=3)                          # nothing more arrives
    expected = [*convert_record("slack", orjson.loads(slack_body), Options(tz="Asia/Shanghai")),
                *convert_record("slack", orjson.loads(concurrent_body), Options(tz="Asia/Shanghai")),
                *convert_record("feishu", feishu_record, Options(tz="Asia/Shanghai")),
                *convert_record("dingtalk", orjson.loads(ding_body), Options(tz="Asia/Shanghai"))]
    assert sorted(got, key=lambda e: e["event_id"]) == sorted(expected, key=lambda e: e["event_id"])
    with urllib.request.urlopen(gateway.url + "/metrics") as response:
        metrics = response.read().decode()
    assert 'moderation_gateway_platform_retries_total{platform="slack"} 2.0' in metrics
    assert 'moderation_gateway_requests_total{outcome="duplicate",platform="feishu"} 2.0' in metrics


def test_events_land_on_the_partition_any_other_producer_gives_their_group_many_requests_at_once(deployment,
                                                                                                  gateway):
    """The gateway batches events per partition itself: it must pick each group's partition as the
    producer's own send() does (the worker's tables are per partition), and answer every request of a
    burst that shares its batches."""
    from pipeline.kafka.admin import producer

    channels = [f"C0G{n:03d}" for n in range(40)]
    bodies = [orjson.dumps(slack_message(channel=channels[i % 40], ts=f"1772417000.{i:06d}", text=f"第{i}条"))
              for i in range(400)]

    async def burst():
        async with aiohttp.ClientSession() as client:
            async def one(body: bytes) -> int:
                async with client.post(gateway.url + "/slack/events", data=body, headers=slack_headers(body)) as r:
                    return r.status
            return await asyncio.gather(*(one(body) for body in bodies))

    async def the_same_groups_by_send():
        p = producer(deployment.settings)
        await p.start()
        try:
            acks = [await p.send(deployment.settings.topics.input, key=channel.encode(), value=b"{}")
                    for channel in channels]
            return {channel: (await ack).partition for channel, ack in zip(channels, acks)}
        finally:
            await p.stop()

    assert asyncio.run(burst()) == [200] * len(bodies)
    by_send = asyncio.run(the_same_groups_by_send())
    got = asyncio.run(read_from_start(deployment.settings, deployment.settings.topics.input,
                                      range(deployment.partitions), len(bodies) + len(channels), 15))
    by_gateway = {}
    for partition, messages in got.items():
        for m in messages:
            if m.value != b"{}":
                by_gateway.setdefault(orjson.loads(m.value)["group_id"], set()).add(partition)
    assert sum(len(messages) for messages in got.values()) == len(bodies) + len(channels)
    assert by_gateway == {channel: {partition} for channel, partition in by_send.items()}
    assert len(set(by_send.values())) == deployment.partitions    # the groups cover every partition


async def _topic_limit(deployment: Deployment, max_message_bytes: int) -> None:
    """The input topic's record batch limit on the broker (the way an operator's smaller limit, or a
    batch the broker refuses for any reason, makes a handed-over batch fail for good)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.settings.bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, deployment.settings.topics.input,
                                                  configs={"max.message.bytes": str(max_message_bytes)})])
    finally:
        await admin.close()
    await asyncio.sleep(1.0)


def test_partitions_added_to_the_input_topic_are_used_within_a_few_seconds(deployment, gateway):
    """An operator adds partitions to the input topic while the gateway runs: its health probe keeps
    the producer's view of the topic fresh, so within a few probes new events go where
    `producer.send` from a fresh client puts them (before, it asked for every topic of the cluster
    instead and the producer saw the new partitions only at its own 5-minute refresh)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

    from pipeline.kafka.admin import producer

    topic = deployment.settings.topics.input
    channels = [f"C0P{n:03d}" for n in range(40)]

    async def grow():
        admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
        await admin.start()
        try:
            await admin.create_partitions({topic: NewPartitions(total_count=8)})
        finally:
            await admin.close()

    async def where_send_puts_them():
        p = producer(deployment.settings)
        await p.start()
        try:
            acks = [await p.send(topic, key=channel.encode(), value=b"{}") for channel in channels]
            return {channel: (await ack).partition for channel, ack in zip(channels, acks)}
        finally:
            await p.stop()

    async def send_round(n: int) -> list[int]:
        async with aiohttp.ClientSession() as client:
            async def one(i: int, channel: str) -> int:
                body = orjson.dumps(slack_message(channel=channel, ts=f"17724180{n:02d}.{i:06d}"))
                async with client.post(gateway.url + "/slack/events", data=body, headers=slack_headers(body)) as r:
                    return r.status
            return await asyncio.gather(*(one(i, channel) for i, channel in enumerate(channels)))

    asyncio.run(grow())
    expected = asyncio.run(where_send_puts_them())
    assert max(expected.values()) >= 4                       # some groups now belong to a new partition
    time.sleep(3 * 2.0)                                      # a few of the gateway's probes (every 2 s)
    assert asyncio.run(send_round(1)) == [200] * len(channels)
    got = asyncio.run(read_from_start(deployment.settings, topic, range(8), 2 * len(channels), 15))
    by_gateway = {orjson.loads(m.value)["group_id"]: partition
                  for partition, messages in got.items() for m in messages if m.value != b"{}"}
    assert by_gateway == expected


def test_after_a_batch_kafka_refused_the_gateway_takes_that_partitions_events_again(deployment, gateway):
    """A batch the broker refuses for good is answered 503 and its event forgotten. The idempotent
    producer had already numbered its records, so the partition's next batch is out of sequence for
    the broker: the gateway must not stay refusing that group (every later event of it 503) until
    someone restarts it; the refused event's retry is taken once the broker takes it."""
    big = orjson.dumps(slack_message(ts="1772418000.000100", text="长" * 3000))          # ~9 KB
    small = [orjson.dumps(slack_message(ts=f"1772418001.{i:06d}", text=f"短{i}")) for i in range(3)]

    async def until_taken(body: bytes, seconds: float = 10.0) -> tuple[int, dict, int]:
        """Posted as the platform retries: until a 2xx, at most `seconds`."""
        deadline, attempts = time.monotonic() + seconds, 0
        while True:
            attempts += 1
            status, answer = await post(gateway.url, "/slack/events", body, slack_headers(body))
            if status == 200 or time.monotonic() > deadline:
                return status, answer, attempts
            await asyncio.sleep(0.5)

    async def scenario():
        before = await post(gateway.url, "/slack/events", small[0], slack_headers(small[0]))
        assert before[0] == 200, before                             # the partition has had a batch
        await _topic_limit(deployment, 4096)
        refused = await post(gateway.url, "/slack/events", big, slack_headers(big))
        taken = [await until_taken(body) for body in small[1:]]   # the same group, so the same partition
        await _topic_limit(deployment, 1048588)
        return refused, taken, await until_taken(big)

    refused, taken, retried = asyncio.run(scenario())
    assert refused[0] == 503 and refused[1]["error"] == "broker_error", refused
    assert [status for status, _, _ in taken] == [200, 200], taken
    assert retried[0] == 200 and not retried[1]["duplicate"], retried
    got = records(deployment, expect=4)
    time.sleep(1)
    got = records(deployment, expect=5, timeout=3)
    assert sorted(e["event_id"] for e in got) == sorted(
        ["slack-C0FIN01-1772418000.000100", *(f"slack-C0FIN01-1772418001.{i:06d}" for i in range(3))])


# --------------------------------------------------------------------------- hostile requests


def _bad_requests():
    good_slack = orjson.dumps(slack_message(ts="1772414999.000100"))
    ding = orjson.dumps(dingtalk_message(msg_id="msgBad"))
    feishu_body, feishu_signed = feishu_delivery(feishu_event())
    wrong_key = feishu_encrypt(orjson.dumps(feishu_event()), key="not the key")
    slack_sig = slack_headers(good_slack)
    flipped = slack_sig["X-Slack-Signature"][:-1] + ("1" if slack_sig["X-Slack-Signature"][-1] != "1" else "2")
    return [
        ("/slack/events", good_slack, {**slack_sig, "Host": "evil.example"}, 421, "host_not_allowed"),
        ("/slack/events", good_slack, {**slack_sig, "Content-Type": "text/plain"}, 415, "content_type"),
        ("/slack/events", good_slack, {**slack_sig, "Content-Encoding": "gzip"}, 415, "content_encoding"),
        ("/slack/events", b"{" + b" " * 2_000_000 + b"}", slack_sig, 413, "too_large"),
        ("/slack/events", good_slack, {"Content-Type": "application/json"}, 401, "missing_signature"),
        ("/slack/events", good_slack, {**slack_sig, "X-Slack-Signature": flipped}, 401, "bad_signature"),
        ("/slack/events", good_slack, {**slack_sig, "X-Slack-Request-Timestamp": "1e9"}, 401, "bad_timestamp"),
        ("/slack/events", good_slack, slack_headers(good_slack, timestamp=int(time.time()) - 600), 401,
         "stale_timestamp"),
        ("/slack/events", b"\xff\xfe", slack_headers(b"\xff\xfe"), 400, "not_utf8"),
        ("/slack/events", b'{"type": ', slack_headers(b'{"type": '), 400, "malformed_json"),
        ("/slack/events", b'{"type": "shortcut"}', slack_headers(b'{"type": "shortcut"}'), 422, "unknown_type"),
        ("/slack/events", (b := orjson.dumps({"type": "event_callback", "event": {"type": "message"}})),
         slack_headers(b), 422, "invalid_event"),
        ("/feishu/events", feishu_body, {**feishu_signed, "X-Lark-Signature": "0" * 64}, 401, "bad_signature"),
        ("/feishu/events", wrong_key, feishu_headers(wrong_key), 401, "bad_encryption"),
        ("/feishu/events", (b := feishu_encrypt(orjson.dumps(feishu_event(token="guessed")))), feishu_headers(b),
         401, "bad_token"),
        ("/feishu/events", (b := feishu_encrypt(orjson.dumps(feishu_event("drive.file.read_v1")))),
         feishu_headers(b), 422, "unknown_type"),
        ("/dingtalk/events", ding, dingtalk_headers(secret="SEC-guess"), 401, "bad_signature"),
        ("/dingtalk/events", ding, dingtalk_headers(timestamp_ms=int(time.time() * 1000) - 7_200_000), 401,
         "stale_timestamp"),
        ("/dingtalk/events", (b := orjson.dumps({**dingtalk_message(msg_id="msgBad2"), "msgtype": "hologram"})),
         dingtalk_headers(), 422, "invalid_event"),
    ]


def test_every_bad_request_gets_its_4xx_nothing_reaches_kafka_and_no_secret_reaches_the_log(deployment, gateway):
    cases = _bad_requests()

    async def send_all():
        return [await post(gateway.url, path, body, headers) for path, body, headers, _, _ in cases]

    answers = asyncio.run(send_all())
    for (path, _, _, status, reason), (got, answer) in zip(cases, answers):
        assert (got, answer.get("error")) == (status, reason), (path, reason, answer)
    # Malformed HTTP, below the routes: answered 400 by the server itself.
    with socket.create_connection(("127.0.0.1", gateway.port)) as raw:
        raw.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: y\r\n" * 300 + b"\r\n")
        assert raw.recv(100).split(b" ")[1] == b"400"
    time.sleep(2)
    assert deployment.output_count("input") == 0
    with urllib.request.urlopen(gateway.url + "/metrics") as response:
        metrics = response.read().decode()
    for path, _, _, _, reason in cases:
        assert f'reason="{reason}"' in metrics
    log = gateway.log()
    secrets = [*SECRETS.values(), *(h.get("X-Slack-Signature", "") for _, _, h, _, _ in cases)]
    assert not [s for s in secrets if s and s in log]
    assert "Traceback" not in log and "malformed HTTP request answered 400" in log
    assert "bad_signature" in log                  # refusals are logged, by reason


# --------------------------------------------------------------------------- the broker goes away


def test_with_the_broker_stopped_the_answer_is_503_in_time_and_the_retry_is_taken_after(own_broker, tmp_path):
    deployment = Deployment(bootstrap=own_broker.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    running = Gateway(deployment)
    try:
        running.wait()
        first = orjson.dumps(slack_message(ts="1772415000.000100", text="经纪人在"))
        during = orjson.dumps(slack_message(ts="1772415060.000200", text="经纪人不在"))
        assert asyncio.run(post(running.url, "/slack/events", first, slack_headers(first)))[0] == 200
        own_broker.down()
        started = time.monotonic()
        status, answer = asyncio.run(post(running.url, "/slack/events", during, slack_headers(during)))
        elapsed = time.monotonic() - started
        assert status == 503 and answer["error"] in ("ack_timeout", "broker_error"), answer
        assert elapsed < 3.0, f"answered after {elapsed:.2f}s: past Slack's 3 s"
        print(f"\nbroker stopped: 503 ({answer['error']}) after {elapsed:.2f}s")
        running.wait(status=503, timeout=30)                       # /healthz says the broker is away
        own_broker.up(quiet=True)
        deadline = time.monotonic() + 120
        while True:                                                # Slack retries until it gets a 2xx
            status, answer = asyncio.run(post(running.url, "/slack/events", during, slack_headers(during)))
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert status == 200, answer
        print(f"broker back: the retry was answered 200 {time.monotonic() - started:.0f}s after the stop")
        running.wait(status=200, timeout=30)
        got = records(deployment, expect=2, timeout=30)
        time.sleep(1)
        got = records(deployment, expect=3, timeout=3)
        assert sorted(e["event_id"] for e in got) == ["slack-C0FIN01-1772415000.000100",
                                                      "slack-C0FIN01-1772415060.000200"]
    finally:
        running.stop()


def test_while_the_broker_is_away_the_events_the_gateway_holds_are_bounded_in_bytes(own_broker, tmp_path):
    """The gateway holds events in batches of its own until the producer takes them: with the broker
    away they stay there, and MAX_PENDING (a count) alone would let 1,000 events of up to a megabyte
    each pile up. Beyond the byte bound (64 MiB by default) new events are refused 503 over_capacity."""
    deployment = Deployment(bootstrap=own_broker.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    running = Gateway(deployment)
    bodies = [orjson.dumps(slack_message(ts=f"1772419000.{i:06d}", text=f"{i}" + "大" * 150_000))   # ~450 KB
              for i in range(200)]

    async def flood() -> list[tuple[int, str]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=len(bodies))) as client:
            async def one(body: bytes) -> tuple[int, str]:
                async with client.post(running.url + "/slack/events", data=body, headers=slack_headers(body)) as r:
                    return r.status, orjson.loads(await r.read()).get("error")
            return await asyncio.gather(*(one(body) for body in bodies))

    try:
        running.wait()
        first = orjson.dumps(slack_message(ts="1772418999.000100"))
        assert asyncio.run(post(running.url, "/slack/events", first, slack_headers(first)))[0] == 200
        own_broker.down()
        answers = asyncio.run(flood())
        assert all(status == 503 for status, _ in answers), answers
        held = sum(error != "over_capacity" for _, error in answers)
        assert held * 450_000 <= 70 << 20, f"{held} events of 450 KB held while the broker is away"
        with urllib.request.urlopen(running.url + "/metrics") as response:
            assert 'reason="over_capacity"' in response.read().decode()
        # Stopped with those events held and the broker still away: it ends, in bounded time, cleanly.
        started = time.monotonic()
        running.stop()
        print(f"\nSIGTERM with {held} events held, the broker away: exited {running.proc.returncode} after "
              f"{time.monotonic() - started:.1f}s")
        assert running.proc.returncode == 0 and "Traceback" not in running.log(), running.log()[-3000:]
    finally:
        running.stop()


def test_a_request_over_capacity_sends_none_of_its_events(own_broker, tmp_path):
    """A Feishu delivery adding two members is two events: with the broker away and room for one more,
    the request is refused whole, rather than its first event queued for Kafka behind a 503."""
    deployment = Deployment(bootstrap=own_broker.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    running = Gateway(deployment, MODERATION_GATEWAY_MAX_PENDING="2")
    added = {"schema": "2.0", "header": {"event_id": "5e3702a84e847582be8db7fb73283c06", "token": FEISHU_TOKEN,
                                         "event_type": "im.chat.member.user.added_v1",
                                         "create_time": "1772415100000", "tenant_key": "t1", "app_id": "cli_1"},
             "event": {"chat_id": "oc_fin01", "operator_id": {"user_id": "zhangsan", "open_id": "ou_1b3"},
                       "users": [{"name": "小王同学", "user_id": {"user_id": "xiaowang", "open_id": "ou_2d4"}},
                                 {"name": "财务部-赵六", "user_id": {"user_id": "zhaoliu", "open_id": "ou_3e5"}}]}}

    def pending() -> int:
        try:
            with urllib.request.urlopen(running.url + "/healthz", timeout=5) as response:
                return orjson.loads(response.read())["pending_events"]
        except urllib.error.HTTPError as exc:     # 503 while the broker is away; the body says the same
            return orjson.loads(exc.read())["pending_events"]

    try:
        running.wait()
        first = orjson.dumps(slack_message(ts="1772419500.000100"))
        assert asyncio.run(post(running.url, "/slack/events", first, slack_headers(first)))[0] == 200
        own_broker.down()
        held = orjson.dumps(slack_message(ts="1772419560.000200", text="经纪人不在"))
        assert asyncio.run(post(running.url, "/slack/events", held, slack_headers(held)))[0] == 503
        assert pending() == 1
        status, answer = asyncio.run(post(running.url, "/feishu/events", *feishu_delivery(added)))
        assert (status, answer["error"]) == (503, "over_capacity")
        assert pending() == 1                                   # neither member event was queued
        own_broker.up(quiet=True)
        running.wait(status=200, timeout=60)
        time.sleep(3)                                           # the held event, if any, goes now
        got = records(deployment, expect=3, timeout=10)
        assert not [e for e in got if e["type"] == "member.joined"], got
    finally:
        running.stop()


# --------------------------------------------------------------------------- kill -9


def test_a_kill_9_loses_nothing_that_was_answered_2xx(deployment):
    running = Gateway(deployment, "gateway-killed.log")
    running.wait()
    bodies = [orjson.dumps(slack_message(ts=f"1772416000.{i:06d}", text=f"第{i}条")) for i in range(600)]
    answered: list[str] = []

    async def flood():
        async with aiohttp.ClientSession() as client:
            semaphore = asyncio.Semaphore(20)

            async def one(i: int) -> None:
                async with semaphore:
                    try:
                        async with client.post(running.url + "/slack/events", data=bodies[i],
                                               headers=slack_headers(bodies[i])) as response:
                            if response.status == 200:
                                answered.append(f"slack-C0FIN01-1772416000.{i:06d}")
                    except aiohttp.ClientError:
                        pass
                    if len(answered) == 200:
                        running.stop(kill=True)

            await asyncio.gather(*(one(i) for i in range(len(bodies))))

    asyncio.run(flood())
    assert running.proc.returncode == -signal.SIGKILL
    assert 200 <= len(answered) < len(bodies)
    in_kafka = [e["event_id"] for e in records(deployment, expect=len(bodies), timeout=10)]
    missing = set(answered) - set(in_kafka)
    assert not missing, f"{len(missing)} events answered 2xx are not in Kafka"
    assert len(in_kafka) == len(set(in_kafka))
    print(f"\nkill -9 after {len(answered)} answers: all of them in Kafka ({len(in_kafka)} records, "
          f"{len(in_kafka) - len(answered)} sent but not answered before the kill)")
