"""A burst far larger than any buffer: memory stays bounded and the consumer lag drains to zero.

CI runs 20,000 events; `MODERATION_BURST=200000` runs the full 200,000 of the reliability table.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.devtools.loadgen import generate
from tests.integration.harness import produce

BURST = int(os.environ.get("MODERATION_BURST", "20000"))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def lag(settings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    from pipeline.kafka.admin import consumer

    c = consumer(settings, group_id=None)
    await c.start()
    try:
        tps = [TopicPartition(settings.topics.input, p) for p in range(settings.partitions)]
        ends = await c.end_offsets(tps)
    finally:
        await c.stop()
    return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)


def test_a_burst_drains_with_bounded_memory(deployment):
    events = generate(BURST, groups=500, seed=31)
    posted = 0

    def counted():
        nonlocal posted
        for e in events:
            posted += e["type"] == "message.posted"
            yield e

    worker = deployment.start_worker()
    start = time.monotonic()
    asyncio.run(produce(deployment.settings, list(counted())))
    produced_in = time.monotonic() - start
    deadline = time.monotonic() + max(180, BURST / 300)
    while time.monotonic() < deadline:
        if deployment.output_count("verdicts") >= posted and asyncio.run(lag(deployment.settings)) == 0:
            break
        time.sleep(1.0)
    drained_in = time.monotonic() - start
    peak = peak_rss_mb(worker.pid)
    remaining = asyncio.run(lag(deployment.settings))
    print(f"\nburst of {BURST:,} events: produced in {produced_in:.1f}s, drained in {drained_in:.1f}s "
          f"({BURST / drained_in:,.0f} events/s), worker peak RSS {peak:.0f} MB, lag left {remaining}")
    assert deployment.output_count("verdicts") >= posted
    assert remaining == 0
    assert peak < 1024, f"worker peak RSS {peak:.0f} MB"
