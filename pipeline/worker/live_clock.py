"""The live clock: `clock.tick` events for the groups whose next deadline has passed.

Deadlines are event time (ARCHITECTURE.md, "State and time"): a group's reminder, follow-up or
report fires when an event of the group reaches its due time. In a quiet group no event comes, so
a live worker writes one: every `live_tick_seconds` it sends a `clock.tick` dated now, keyed by
the group, to the input topic, for each group of its partitions whose next due time has passed
and that has had no event for a period.
The ticks go through the log like any input, so a replay of the log sees the same ticks and gives
the same outputs, and `moderation check` stays event time only.

Only groups with something due are ticked. Ticking every group costs, per group and tick, an input
record, a state decoded and saved, and a changelog record: at 20,000 groups that is 20,000 of each
per tick whether anything is due or not (docs/RESPONSIVENESS.md, "The live clock", has the
figures). The worker keeps each group's next due time (`Engine.next_due`) as it saves the group's
state; after each rebalance it reads the groups of its partitions once from the table.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone

from pipeline.core.events import encode, stable_id
from pipeline.worker.batches import Record, send_batches

log = logging.getLogger("pipeline.worker")

class DueIndex:
    """When each group of this worker next has something due, in event time, and when the worker
    last processed an event of it (its own clock, monotonic).

    `None` for a group means nothing is scheduled, or a tick for it has been sent and its state has
    not been processed since (the tick's processing puts the next due time back)."""

    def __init__(self, next_due: Callable[[dict], datetime | None], clock: Callable[[], float] = time.monotonic):
        self._next_due = next_due
        self._clock = clock
        self._due: dict[str, datetime | None] = {}
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def saw(self, states: Mapping[str, dict]) -> None:
        """The states the worker has just saved."""
        now = self._clock()
        for group_id, state in states.items():
            self._due[group_id] = self._next_due(state)
            self._seen[group_id] = now

    def forget(self) -> None:
        """After a rebalance: the partitions, and what is known of their groups, may have changed."""
        self._due.clear()
        self._seen.clear()

    def knows(self, group_id: str) -> bool:
        return group_id in self._due

    def read(self, group_id: str, state: dict | None) -> None:
        """A group read from the table (not processed since the rebalance)."""
        self._due[group_id] = self._next_due(state) if state is not None else None

    def due(self, now: datetime, quiet_for: float = 0.0) -> list[str]:
        """The groups whose next due time is at or before `now` and that have had no event for
        `quiet_for` seconds, earliest first. A group whose events are coming needs no tick: the next
        one fires what is due. Nor does it want one while a backlog of its past events is read (an
        export being imported): a tick dated now would move its clock past the events still to come."""
        quiet_since = self._clock() - quiet_for
        due = [(when, group_id) for group_id, when in self._due.items()
               if when is not None and when <= now and self._seen.get(group_id, quiet_since) <= quiet_since]
        return [group_id for _, group_id in sorted(due)]

    def ticked(self, group_ids: Iterable[str]) -> None:
        for group_id in group_ids:
            self._due[group_id] = None


async def read_groups(index: DueIndex, group_ids: Iterable[str], mine: Callable[[str], bool],
                      fresh: Callable[[str], dict | None], pause_every: int = 200) -> int:
    """Index the stored groups (`group_ids`) that belong to this worker (`mine`) and are not
    indexed yet, decoding each state once (`fresh`). Gives the event loop a turn every
    `pause_every` groups, so the worker goes on processing meanwhile. Returns how many were read."""
    read = 0
    for group_id in group_ids:
        # Checked and read without an await between: a batch saved meanwhile is never overwritten
        # with an older state.
        if index.knows(group_id) or not mine(group_id):
            continue
        index.read(group_id, fresh(group_id))
        read += 1
        if read % pause_every == 0:
            await asyncio.sleep(0)
    return read


def now_stamp() -> tuple[datetime, str]:
    """The worker's clock to the second, as a time and as the ISO-8601 stamp a tick carries."""
    now = datetime.now(timezone.utc).astimezone().replace(microsecond=0)
    return now, now.isoformat()


def tick_event(group_id: str, stamp: str) -> dict:
    return {"event_id": stable_id("tick", group_id, stamp), "type": "clock.tick", "ts": stamp,
            "group_id": group_id, "actor": {"id": "system", "name": "clock"}}


def tick_record(group_id: str, stamp: str) -> bytes:
    return encode(tick_event(group_id, stamp))


async def run_live_clock(app, settings, index: DueIndex, store, changelog: str,
                         home_partition: Callable[[str, int], int]) -> None:
    """The worker's live clock task: once its partitions are assigned and recovered, read their
    groups into `index`; then every `live_tick_seconds` send a tick to each group that is due."""
    interval = settings.live_tick_seconds
    log.info("live clock: every %gs, a clock.tick to each group with a deadline or report due "
             "(MODERATION_LIVE_TICK_SECONDS)", interval)
    indexed: int | None = None   # the consumer generation whose groups the index holds

    def partitions_here() -> set[int]:
        # A group's state, and so the group, belongs to the worker with its changelog partition.
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}

    while True:
        generation = app.consumer_generation_id
        if app.rebalancing or not generation:
            await asyncio.sleep(min(interval, 1.0))
            continue
        here = partitions_here()

        def mine(group_id: str) -> bool:
            return home_partition(group_id, settings.partitions) in here

        if generation != indexed:
            index.forget()
            started = time.monotonic()
            read = await read_groups(index, store.group_ids(sorted(here)), mine,
                                     lambda group_id: store.fresh(group_id, home_partition(group_id, settings.partitions)))
            if app.rebalancing or app.consumer_generation_id != generation:
                continue  # the partitions moved meanwhile: read them again
            indexed = generation
            log.info("live clock: %d group(s) of partition(s) %s read from the table in %.2fs",
                     read, ",".join(map(str, sorted(here))) or "none", time.monotonic() - started)
        now, stamp = now_stamp()
        due = [group_id for group_id in index.due(now, quiet_for=interval) if mine(group_id)]
        if due:
            partitions = app.consumer.topic_partitions(settings.topics.input) or settings.partitions
            records = [Record(settings.topics.input, home_partition(group_id, partitions), group_id.encode(),
                              tick_record(group_id, stamp)) for group_id in due]
            try:
                await asyncio.gather(*await send_batches(app.producer._ensure_producer(), records))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker away: the groups stay due, tried next time
                log.warning("live clock: %d tick(s) could not be sent (%s); trying again in %gs",
                            len(due), str(exc) or type(exc).__name__, interval)
            else:
                index.ticked(due)
                log.debug("live clock: %d tick(s) at %s", len(due), stamp)
        await asyncio.sleep(interval)
