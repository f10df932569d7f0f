"""The worker's batch hand-over (`pipeline.kafka.transport.Feed`): sizes, waiting and room."""
from __future__ import annotations

import asyncio
import time

from pipeline.kafka.transport import Feed


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
