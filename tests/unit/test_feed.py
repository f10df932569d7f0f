"""The worker's batch hand-over (`pipeline.worker.transport.Feed`): sizes, waiting and room."""
from __future__ import annotations

import asyncio
import time

from pipeline.worker.transport import Feed


def feed(capacity: int = 10) -> Feed:
    return Feed(app=None, topic=None, capacity=capacity)


async def test_a_full_batch_is_taken_at_once_in_arrival_order():
    f = feed()
    for i in range(7):
        f.put(i)
    assert len(f) == 7
    started = time.monotonic()
    assert await f.take(5, within=5.0) == [0, 1, 2, 3, 4]
    assert len(f) == 2
    assert await f.take(2, within=5.0) == [5, 6]
    assert time.monotonic() - started < 1.0


async def test_a_short_batch_waits_within_for_more_then_goes():
    f = feed()
    f.put("a")
    started = time.monotonic()
    assert await f.take(5, within=0.2) == ["a"]
    assert 0.15 <= time.monotonic() - started < 2.0


async def test_records_arriving_while_waiting_join_the_batch():
    f = feed()
    f.put(1)

    async def more():
        await asyncio.sleep(0.05)
        for i in (2, 3):
            f.put(i)

    task = asyncio.create_task(more())
    assert await f.take(3, within=5.0) == [1, 2, 3]
    await task


async def test_take_waits_for_the_first_record():
    f = feed()
    task = asyncio.create_task(f.take(2, within=0.01))
    await asyncio.sleep(0.05)
    assert not task.done()
    f.put("x")
    assert await asyncio.wait_for(task, 1.0) == ["x"]


async def test_a_full_feed_has_no_room_until_a_batch_is_taken():
    f = feed(capacity=3)
    for i in range(3):
        f.put(i)
    assert f.full()
    waiting = asyncio.create_task(f.room())
    await asyncio.sleep(0.02)
    assert not waiting.done()
    await f.take(2, within=0.01)
    await asyncio.wait_for(waiting, 1.0)
    assert not f.full()


async def test_the_seek_tells_the_worker_where_each_fed_partition_starts():
    """After a rebalance the worker's gap check starts from where the consumer was put: the committed
    offset, or the log start for a partition without one (not from the first record that arrives,
    which a dropped fetch can leave past unprocessed records)."""
    from types import SimpleNamespace

    from aiokafka import TopicPartition

    from pipeline.worker.transport import Consumer

    fresh, resumed = TopicPartition("chat.events", 0), TopicPartition("chat.events", 1)
    changelog = TopicPartition("app-group-state-changelog", 0)
    rewound = []

    class Thread:
        async def seek_to_committed(self):
            return {fresh: None, resumed: 42, changelog: None}

        async def seek_to_beginning(self, *partitions):
            rewound.extend(partitions)

        async def earliest_offsets(self, *partitions):
            return {tp: 7 for tp in partitions}   # a log whose first records were deleted by retention

    consumer = Consumer.__new__(Consumer)
    consumer._thread = Thread()
    consumer.app = SimpleNamespace(feeds={"chat.events": object()}, next_offsets={},
                                   conf=SimpleNamespace(consumer_auto_offset_reset="earliest"))
    await consumer.seek_to_committed()
    assert rewound == [fresh]
    assert consumer.app.next_offsets == {("chat.events", 0): 7, ("chat.events", 1): 42}
