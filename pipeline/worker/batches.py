"""Send records as aiokafka record batches: one future per (topic, partition) batch.

`AIOKafkaProducer.send` costs a metadata lookup, a future and an accumulator append per record,
more than the worker's whole per-record Kafka budget. Building the batches here keeps each
partition's records in order and hands the producer one batch per partition per call.
Not for transactional producers: `send_batch` does not add the partition to the transaction.
"""
from __future__ import annotations

import asyncio
from typing import Iterable, NamedTuple

Headers = list[tuple[str, bytes]]


class Record(NamedTuple):
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None           # None: a tombstone (a deleted table key)
    headers: Headers | None = None
    # In exactly-once mode, the input partition whose transaction the record joins when it is not
    # the record's own partition (a record forwarded to its group's partition).
    transaction_partition: int | None = None


async def send_batches(producer, records: Iterable[Record]) -> list[asyncio.Future]:
    """Queue `records` on the aiokafka `producer` in per-partition batches, in the given order
    within each partition. Returns the batches' delivery futures."""
    builders: dict[tuple[str, int], object] = {}
    futures: list[asyncio.Future] = []
    for topic, partition, key, value, headers, _ in records:
        builder = builders.get((topic, partition))
        if builder is None:
            builder = builders[(topic, partition)] = producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
            futures.append(await _send(producer, builder, topic, partition))
            builder = builders[(topic, partition)] = producer.create_batch()
            builder.append(key=key, value=value, timestamp=None, headers=headers or [])  # an empty batch takes any record
    for (topic, partition), builder in builders.items():
        futures.append(await _send(producer, builder, topic, partition))
    return futures


async def _send(producer, builder, topic: str, partition: int) -> asyncio.Future:
    # A closed batch is complete: the sender takes it at once instead of waiting out the linger.
    builder.close()
    return await producer.send_batch(builder, topic, partition=partition)
