"""Records Faust passed over, read back so the worker processes every offset.

Faust can skip records: when its flow is suspended (a rebalance) while a record waits to be
delivered, the delivery is cancelled but the read offset still moves on, and the skipped offsets
are then treated as done (seen after a kill -9 and restart). The worker keeps the next offset it
expects per partition, from where the consumer's seek put it (`transport.Consumer.seek_to_committed`),
and reads any skipped records itself. Reading a record twice is harmless: the core skips what a
group state has already applied.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable, Iterable, MutableMapping

from pipeline.worker import metrics

log = logging.getLogger("pipeline.worker")

Position = tuple[str, int]                       # topic, partition
Filled = tuple[bytes, str, int, int, object, list]  # value, topic, partition, offset, carrier record, headers
ReadRange = Callable[[str, int, int, int], Awaitable[list[tuple[int, bytes, list]]]]


class GapReader:
    """Reads a range of input records straight from the broker, with a consumer of its own (made on
    first use: most workers never need it)."""

    def __init__(self, settings):
        self.settings = settings
        self.consumer = None

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[tuple[int, bytes, list]]:
        """(offset, value, headers) of the records at offsets start..end-1 that the log still holds."""
        from aiokafka import TopicPartition

        from pipeline.kafka.admin import consumer

        if self.consumer is None:
            self.consumer = consumer(self.settings, group_id=None, enable_auto_commit=False,
                                     isolation_level="read_committed")
            await self.consumer.start()
        tp = TopicPartition(topic, partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        records: list[tuple[int, bytes, list]] = []
        while True:
            batch = await self.consumer.getmany(tp, timeout_ms=1000, max_records=min(5000, end - start))
            messages = batch.get(tp, [])
            if not messages:
                break
            for m in messages:
                if m.offset >= end:
                    return records
                records.append((m.offset, m.value, list(m.headers or ())))
            if messages[-1].offset >= end - 1:
                break
        return records

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


class GapFiller:
    """Puts the records missing before each record of a batch in front of it.

    `expected` maps (topic, partition) to the next offset the worker expects; a partition not in it
    is taken as it comes. The worker shares the dict with the consumer's seek, which sets the start
    of each partition, and drops the partitions it loses in a rebalance."""

    def __init__(self, read: ReadRange, expected: MutableMapping[Position, int]):
        self.read = read
        self.expected = expected

    async def fill(self, batch: Iterable) -> list[Filled]:
        """(value, topic, partition, offset, carrier, headers) for every record of `batch` and those
        missing before it, in offset order per partition. A filled record's carrier is the batch
        record it was found in front of (it stands for the partition when the outputs are sent)."""
        expected = self.expected
        records: list[Filled] = []
        for msg in batch:
            tp = (msg.topic, msg.partition)
            start = expected.get(tp)
            if start is not None and msg.offset > start:
                missing = await self.read(msg.topic, msg.partition, start, msg.offset)
                if missing:
                    log.warning("filled a gap of %d record(s) in %s/%d at offsets %d-%d that Faust did not deliver",
                                len(missing), msg.topic, msg.partition, start, msg.offset - 1)
                    metrics.observe_gap(len(missing))
                records.extend((value, msg.topic, msg.partition, offset, msg, headers)
                               for offset, value, headers in missing)
            records.append((msg.value, msg.topic, msg.partition, msg.offset, msg, list(msg.headers or ())))
            expected[tp] = max(msg.offset + 1, start or 0)
        return records
