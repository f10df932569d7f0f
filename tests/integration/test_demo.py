"""`moderation demo` leaves every topic it did not create as it was (issue 24, item 2).

On a broker of its own (so the test can hold the usual topic names), a user's deployment has
records in `chat.events` and the `moderation.*` output topics, a second deployment in topics of
its own names (set by MODERATION_TOPIC_* in the environment the demo runs in, as a user's
environment file would), and a topic `demo.orders`. The demo runs twice against the same broker:
each run gives its usual summary (outputs identical to `moderation check`), every user topic keeps
its end offsets and its records, and the second run deletes what the first created and only that.
On main the demo deleted and recreated `chat.events` and the output topics, emptying them.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.config import load_settings
from pipeline.kafka.admin import consumer, ensure_topics, producer
from pipeline.devtools.loadgen import generate
from tests.integration.harness import Deployment, produce
from tests.integration.conftest import running_broker_of_its_own

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_broker(tmp_path, broker):
    yield from running_broker_of_its_own(tmp_path, broker, "MODERATION_DEMO_BROKER_PORT", 19422)


async def topic_names(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)}
    finally:
        await admin.close()


async def contents(settings, topics: list[str]) -> dict[str, list[tuple]]:
    """Every record of each topic: (partition, offset, key, value, timestamp), and the end offsets."""
    counts = await partitions(settings.bootstrap, topics)
    out: dict[str, list[tuple]] = {}
    for topic in topics:
        assert counts[topic] > 0, topic
        tps = [TopicPartition(topic, p) for p in range(counts[topic])]
        c = consumer(settings, group_id=None)
        await c.start()
        try:
            ends = await c.end_offsets(tps)
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            records = {}
            while any([await c.position(tp) < ends[tp] for tp in tps]):
                for tp, messages in (await c.getmany(timeout_ms=500)).items():
                    records.update({(m.partition, m.offset): (m.key, m.value, m.timestamp) for m in messages})
        finally:
            await c.stop()
        out[topic] = [("end", tp.partition, ends[tp]) for tp in tps] + sorted(records.items())
    return out


async def raw_records(settings, topic: str, n: int) -> None:
    p = producer(settings)
    await p.start()
    try:
        for i in range(n):
            await p.send(topic, key=f"k{i}".encode(), value=f'{{"n": {i}}}'.encode())
        await p.flush()
    finally:
        await p.stop()


def run_demo(bootstrap: str, port: int, home: Path, user_env: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, **user_env, "MODERATION_BOOTSTRAP": bootstrap, "MODERATION_KAFKA_PORT": str(port),
           "MODERATION_KAFKA_HOME": str(home), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--pace", "0", "--timeout", "120"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_demo_leaves_every_topic_it_did_not_create_as_it_was(own_broker, tmp_path):
    bootstrap = own_broker.bootstrap
    # The user's deployment under the usual names.
    usual = load_settings(env={"MODERATION_BOOTSTRAP": bootstrap})
    asyncio.run(ensure_topics(usual))
    asyncio.run(produce(usual, list(generate(400, groups=20, seed=3))))
    for role in ("verdicts", "violations", "dlq"):
        asyncio.run(raw_records(usual, getattr(usual.topics, role), 25))
    # A second deployment under names of its own, named in the environment the demo runs in.
    other = Deployment(bootstrap=bootstrap, workdir=tmp_path)
    other.create_topics()
    other.produce(list(generate(150, groups=5, seed=4)))
    user_env = {k: v for k, v in other.env.items() if k.startswith("MODERATION_TOPIC_")}
    # A topic whose name begins like the demo's.
    admin_topic = "demo.orders"

    async def make_orders():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(admin_topic, 2, 1)])
        finally:
            await admin.close()
    asyncio.run(make_orders())
    asyncio.run(raw_records(usual, admin_topic, 10))

    # Every topic there but the broker's own (and an earlier demo's, should the broker be reused).
    users = [t for t in asyncio.run(topic_names(bootstrap)) if not t.startswith(("__", "demo-"))]
    before = asyncio.run(contents(usual, users))
    assert sum(1 for r in before["chat.events"] if r[0] != "end") >= 400

    demo_topics = []
    for run in (1, 2):
        done = run_demo(bootstrap, own_broker.port, own_broker.home, user_env)
        print(f"\n--- demo run {run}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
        now = asyncio.run(topic_names(bootstrap))
        assert set(users) <= set(now), f"deleted: {sorted(set(users) - set(now))}"
        after = asyncio.run(contents(usual, users))
        assert [t for t in users if after[t] != before[t]] == []
        assert done.returncode == 0
        assert "✓ identical" in done.stdout
        demo_topics.append(sorted(t for t in set(now) - set(users) if not t.startswith("__")))

    first, second = demo_topics
    prefix = first[0].split(".")[0] + "."   # demo- and the checkout's digest
    assert prefix.startswith("demo-") and all(t.startswith(prefix) for t in first + second)
    assert any(t.endswith("-group-state-changelog") for t in first)
    # The second run deleted the first run's changelog (its own) and made its own.
    assert [t for t in first if t.endswith("-changelog")] != [t for t in second if t.endswith("-changelog")]
    assert not set(t for t in first if t.endswith("-changelog")) & set(second)
