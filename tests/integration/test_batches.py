"""The worker's batch sender on the real broker: every record arrives, in order per partition,
also when a partition's records need more than one batch."""
from __future__ import annotations

import asyncio

from pipeline.kafka.admin import producer
from pipeline.worker.batches import Record, send_batches
from tests.integration.harness import read_from_start


async def test_records_arrive_in_order_per_partition_across_batches(deployment):
    settings = deployment.settings
    topic = settings.topics.verdicts
    # Small batches, so that each partition's records take several.
    p = producer(settings, max_batch_size=2048)
    await p.start()
    try:
        records = [Record(topic, i % 3, f"k{i % 3}".encode(), f"value-{i:05d}-".encode() + b"x" * 100,
                          [("n", str(i).encode())] if i % 7 == 0 else None)
                   for i in range(600)]
        # one record larger than a whole batch goes in a batch of its own
        records.insert(300, Record(topic, 0, b"k0", b"big-" + b"y" * 4096))
        futures = await send_batches(p, records)
        await asyncio.gather(*futures)
        assert len(futures) > 3, "expected the records to need several batches per partition"
    finally:
        await p.stop()
    got = await read_from_start(settings, topic, range(settings.partitions), expect=len(records))
    for partition in range(3):
        assert [(m.key, m.value, list(m.headers)) for m in got[partition]] == [
            (r.key, r.value, r.headers or []) for r in records if r.partition == partition]
    assert sum(map(len, got.values())) == len(records)
