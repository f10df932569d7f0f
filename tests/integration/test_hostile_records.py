"""Records that once stopped the worker, poisoned a group or were lost in silence, on the real
broker. Each test checks that the worker is still running afterwards, that every valid event has
its outputs and that every rejected record is in the DLQ with its reason."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import time

import orjson

from pipeline.kafka.admin import producer
from pipeline.devtools.loadgen import generate
from tests.factory import at, configured, joined, message, tick
from tests.integration.test_reliability import expected_outputs, wait_for_outputs

ILLEGAL_OFFER = "靠谱平台加微信下注，足球篮球都能买，稳赚不赔，新人送88元彩金"


async def produce_to(settings, records: list[tuple[int | None, bytes | None, bytes]], topic: str | None = None) -> None:
    """(partition or None, key, value) records, as a producer that does not key by group would."""
    p = producer(settings, max_request_size=2_000_000)
    await p.start()
    try:
        for partition, key, value in records:
            await p.send(topic or settings.topics.input, value=value, key=key, partition=partition)
        await p.flush()
    finally:
        await p.stop()


def test_records_near_the_broker_limit_do_not_stop_the_worker(deployment):
    """A record of about 1 MB went to the DLQ base64-encoded, larger than the broker accepts, and
    the worker stopped on it after every restart."""
    group = "g-big"
    junk = b"\xff" * 1_040_000                                  # not JSON, just under the broker's limit
    long_text = message("工作安排见下文。" + "字" * 330_000, group=group)  # valid, about 1 MB of UTF-8
    after = message("报表今天下班前发我一下", group=group)
    records = [orjson.dumps(configured(group=group)), junk, orjson.dumps(long_text), orjson.dumps(after)]
    assert 900_000 < len(records[2]) < 1_000_000
    worker = deployment.start_worker()
    asyncio.run(produce_to(deployment.settings, [(None, group.encode(), r) for r in records]))
    got = deployment.collect(expect=3, roles=("verdicts", "dlq"), timeout=90)
    assert worker.poll() is None, deployment.worker_log()[-3000:]
    verdicts = {v["event_id"]: v for v in got["verdicts"]}
    assert verdicts[after["event_id"]]["label"] == "work"
    assert verdicts[long_text["event_id"]]["truncated"] is True
    (rejected,) = got["dlq"]
    assert rejected["original_size"] == len(junk) and rejected["original_sha256"] == hashlib.sha256(junk).hexdigest()
    assert rejected["original_truncated"] is True and len(base64.b64decode(rejected["original_b64"])) <= 64 * 1024


def test_an_all_hands_group_of_ten_thousand_survives_a_restart(deployment):
    """Saving the state of a group of about 1,300 members with a reply item each failed forever
    (MessageSizeTooLargeError). Here 10,000 members are asked to reply, the worker is killed and
    restarted (the state comes back from the changelog pages), then some reply and the rest get
    their reminders."""
    group, members = "g-all", 10_000
    first = [configured(group=group, ts=at(minutes=-60))]
    first += [joined(f"u-{i:05d}", "研发中心-同事", group=group, ts=at(minutes=-30)) for i in range(members)]
    ask = message("@所有人 下午三点全员大会，收到请回复", group=group, actor="u-admin", ts=at())
    replies = [message("收到", group=group, actor=f"u-{i:05d}", ts=at(minutes=5)) for i in range(0, members, 10)]
    worker = deployment.start_worker()
    deployment.produce(first + [ask])
    wait_for_outputs(deployment, "verdicts", 1, timeout=120)
    deployment.stop_worker(worker, kill=True)
    worker = deployment.start_worker()
    deployment.produce(replies + [tick(group=group, ts=at(days=1))])
    expect = len(replies) + 1 + (members - len(replies))  # verdicts, and one reminder per silent member
    got = deployment.collect(expect=expect, roles=("verdicts", "escalations", "dlq"), timeout=240, settle=3)
    assert worker.poll() is None, deployment.worker_log(1)[-3000:]
    reminders = {e["member"]["id"] for e in got["escalations"] if e["rule"] == "C1" and e["level"] == "reminder"}
    answered = {r["actor"]["id"] for r in replies}
    assert len(reminders) == members - len(answered) and not reminders & answered
    assert got["dlq"] == []
    assert "MessageSizeTooLarge" not in deployment.worker_log(0) + deployment.worker_log(1)


def test_a_group_spread_over_partitions_loses_nothing_through_a_kill_9(deployment, engine):
    """A producer that does not key by group: 40 messages once gave 12 verdicts and no trace of the
    rest. Records on a partition other than their group's are re-keyed to it and judged there;
    a kill -9 in the middle loses no message and repeats none with other content. (Across
    partitions Kafka keeps no order, so a group's events may be judged in another order than they
    were produced: the verdicts, which depend on the message alone, are compared with the
    offline core's byte for byte.)"""
    events = list(generate(2400, groups=30, seed=31))
    expected = {"verdicts": expected_outputs(engine, events)["verdicts"]}
    rng = random.Random(5)
    records = [(rng.randrange(deployment.partitions), None, orjson.dumps(e)) for e in events]
    asyncio.run(produce_to(deployment.settings, records))
    worker = deployment.start_worker()
    wait_for_outputs(deployment, "verdicts", len(expected["verdicts"]) // 4)
    deployment.stop_worker(worker, kill=True)
    deployment.start_worker()
    got = deployment.collect_ids({r: set(v) for r, v in expected.items()}, timeout=180)
    assert {v["id"] for v in got["verdicts"]} == set(expected["verdicts"])
    assert all(v == expected["verdicts"][v["id"]] for v in got["verdicts"])
    duplicates = len(got["verdicts"]) - len(expected["verdicts"])
    rekeyed = deployment.output_count("repartition")
    assert rekeyed > len(events) // 2  # most records were on another partition than their group's
    print(f"\nunkeyed producer, kill -9: {len(events)} events, {rekeyed} re-keyed, duplicates {duplicates}")


def test_one_far_future_timestamp_does_not_poison_a_group(deployment):
    """An event dated in the 2090s once moved its group's clock: thousands of reports, reminders for
    people who had replied in minutes. The live worker rejects it, with the reason."""
    group = "g-time"
    now = time.time()
    ts = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + seconds))  # noqa: E731
    ask = message("@李四 报表今天下班前发我一下", group=group, actor="u-1", mentions=["u-2"], ts=ts(0))
    future = message("时间错乱的一条", group=group, actor="u-3", ts="2093-03-02T09:00:00+08:00")
    reply = message("好的，马上发", group=group, actor="u-2", reply_to=ask["message"]["id"], ts=ts(60))
    deployment.start_worker()
    deployment.produce([configured(group=group, ts=ts(-60)), ask, future, reply])
    got = deployment.collect(expect=3, roles=("verdicts", "escalations", "reports", "dlq"), timeout=60, settle=3)
    assert len(got["verdicts"]) == 2 and got["escalations"] == [] and got["reports"] == []
    (rejected,) = got["dlq"]
    assert "beyond the latest time accepted" in rejected["reason"] and rejected["group_id"] == group


def test_padding_does_not_hide_an_offer(deployment):
    """A gambling offer padded with 20,000 zero-width spaces went to the DLQ as over-long: no
    verdict, no D1. Fillers are not text; a text still over the limit is judged on its first part."""
    group = "g-pad"
    padded = message("\u200b" * 20_000 + ILLEGAL_OFFER + "\u200b" * 20_000, group=group)
    interleaved = message("\u200b".join(ILLEGAL_OFFER) + "\u2060" * 30_000, group=group)
    deployment.start_worker()
    deployment.produce([configured(group=group), padded, interleaved])
    got = deployment.collect(expect=4, roles=("verdicts", "violations", "dlq"), timeout=60)
    assert got["dlq"] == []
    labels = {v["event_id"]: v["label"] for v in got["verdicts"]}
    assert labels == {padded["event_id"]: "illegal", interleaved["event_id"]: "illegal"}
    assert sorted(v["rule"] for v in got["violations"] if v["rule"] == "D1") == ["D1", "D1"]
