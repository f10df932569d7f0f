"""The worker's gap filler on the real broker: records Faust passed over are read back from the log,
in offset order, in front of the record that revealed the gap."""
from __future__ import annotations

import asyncio

from pipeline.worker import metrics
from pipeline.kafka.admin import producer
from pipeline.worker.gaps import GapFiller, GapReader
from tests.integration.harness import read_from_start


async def _produce(settings, topic: str, partition: int, count: int) -> None:
    p = producer(settings)
    await p.start()
    try:
        await asyncio.gather(*[await p.send(topic, value=f"record-{i}".encode(), partition=partition,
                                            headers=[("moderation-origin", f"src@{i}".encode())])
                               for i in range(count)])
    finally:
        await p.stop()


async def _fetch(settings, topic: str, partition: int, offsets: set[int], count: int) -> list:
    """The broker's own records at `offsets` (what Faust would have handed over), in offset order."""
    got = await read_from_start(settings, topic, [partition], expect=count)
    return [m for m in got[partition] if m.offset in offsets]


async def test_records_passed_over_are_read_back_in_offset_order(deployment):
    settings = deployment.settings
    topic = settings.topics.input
    await _produce(settings, topic, partition=1, count=30)
    # Delivered: 0-4, then 12 (5-11 passed over), then 13, then 25 (14-24 passed over).
    delivered = await _fetch(settings, topic, 1, {0, 1, 2, 3, 4, 12, 13, 25}, count=30)
    expected = {(topic, 1): 0}
    reader = GapReader(settings)
    filler = GapFiller(reader.read, expected)
    gaps_before = metrics.METRICS.value("moderation_gap_records_total")
    try:
        first = await filler.fill(delivered[:6])
        second = await filler.fill(delivered[6:])
    finally:
        await reader.stop()

    assert [offset for _, _, _, offset, _, _ in first] == list(range(13))
    assert [offset for _, _, _, offset, _, _ in second] == list(range(13, 26))
    for value, t, partition, offset, carrier, headers in first + second:
        assert (value, t, partition) == (f"record-{offset}".encode(), topic, 1)
        # a re-keyed record read back keeps where it was first written
        assert [(k, bytes(v)) for k, v in headers] == [("moderation-origin", f"src@{offset}".encode())]
        # a record read back travels with the delivered record that revealed its gap
        assert carrier.offset >= offset and carrier.partition == 1
    assert expected == {(topic, 1): 26}
    assert metrics.METRICS.value("moderation_gap_records_total") - gaps_before == 7 + 11


async def test_nothing_is_read_without_a_gap_or_a_known_start(deployment):
    settings = deployment.settings
    topic = settings.topics.input
    await _produce(settings, topic, partition=0, count=6)
    delivered = await _fetch(settings, topic, 0, {2, 3, 4, 5}, count=6)
    reads = []

    async def read(*args):
        reads.append(args)
        return []

    # A partition the seek did not report starts where its first record is.
    expected: dict = {}
    assert [r[3] for r in await GapFiller(read, expected).fill(delivered[:2])] == [2, 3]
    # A redelivered record (below the expected offset) does not move the position back.
    assert [r[3] for r in await GapFiller(read, expected).fill(delivered[:1] + delivered[2:])] == [2, 4, 5]
    assert reads == [] and expected == {(topic, 0): 6}
