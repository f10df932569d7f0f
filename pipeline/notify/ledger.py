"""What the notifier has sent, is sending and holds: one entry per delivery, kept durably, so a
restarted or replaced notifier sends nothing twice (except an attempt in flight when it died).

`Ledger` is the in-memory view; a store keeps it:
- `KafkaStore`: a compacted topic keyed by delivery key, one partition per partition of the
  notifier's input topics (an entry lives in the partition of the record it came from, so when a
  partition moves to another notifier its entries move with it, as a Faust table's changelog would);
- `FileStore`: a JSON-lines file in a directory (`moderation notify --replay … --state DIR`),
  compacted when loaded.
Every write returns once the entry is durable (acknowledged by the broker, or written to the file).
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from pipeline.notify.plan import OUTSTANDING, RETRACTED, Entry, expired

if TYPE_CHECKING:
    from pipeline.kafka.admin import Replication

log = logging.getLogger("pipeline.notify")


class Ledger:
    def __init__(self):
        self.entries: dict[str, Entry] = {}
        self.by_notification: dict[str, list[str]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def put(self, entry: Entry) -> None:
        if entry.key not in self.entries:
            self.by_notification.setdefault(entry.notification_id, []).append(entry.key)
        self.entries[entry.key] = entry

    def drop(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            keys = self.by_notification.get(entry.notification_id, [])
            if key in keys:
                keys.remove(key)
            if not keys:
                self.by_notification.pop(entry.notification_id, None)

    def of(self, notification_id: str) -> list[Entry]:
        return [self.entries[k] for k in self.by_notification.get(notification_id, ()) if k in self.entries]

    def retracted(self, notification_id: str) -> bool:
        return any(e.status == RETRACTED for e in self.of(notification_id))

    def outstanding(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.status in OUTSTANDING]

    def expire(self, now: float, days: int) -> list[Entry]:
        gone = [e for e in self.entries.values() if expired(e, now, days)]
        for e in gone:
            self.drop(e.key)
        return gone

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        doomed = set(partitions)
        for key in [k for k, e in self.entries.items() if e.partition in doomed]:
            self.drop(key)


def encode(entry: Entry) -> bytes:
    return orjson.dumps(entry.to_dict())


def decode(value: bytes) -> Entry | None:
    try:
        data = orjson.loads(value)
        return Entry.from_dict(data) if isinstance(data, dict) and isinstance(data.get("key"), str) else None
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


class FileStore:
    """A ledger in `DIR/ledger.jsonl`: one line per write, the last line of a key wins."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.path = self.dir / "ledger.jsonl"
        self._file = None

    async def load(self, partitions: Iterable[int] = (0,)) -> list[Entry]:
        self.dir.mkdir(parents=True, exist_ok=True)
        latest: dict[str, Entry | None] = {}
        lines = 0
        if self.path.exists():
            with self.path.open("rb") as f:
                for line in f:
                    lines += 1
                    line = line.strip()
                    if not line:
                        continue
                    if line.startswith(b'{"tombstone"'):
                        latest[orjson.loads(line)["tombstone"]] = None
                        continue
                    entry = decode(line)
                    if entry is None:
                        log.warning("notify: skipping an unreadable line %d of %s", lines, self.path)
                        continue
                    latest[entry.key] = entry
        entries = [e for e in latest.values() if e is not None]
        if lines > 2 * max(1, len(entries)):   # compact: rewrite with the latest line per key
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                for e in entries:
                    f.write(encode(e) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        self._file = self.path.open("ab")
        return entries

    async def write(self, entry: Entry) -> None:
        self._file.write(encode(entry) + b"\n")
        self._file.flush()

    async def forget(self, key: str, partition: int) -> None:
        self._file.write(orjson.dumps({"tombstone": key}) + b"\n")
        self._file.flush()

    async def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


class KafkaStore:
    """A ledger in a compacted topic; `producer` is the notifier's (acks=all)."""

    def __init__(self, settings, topic: str, producer):
        self.settings, self.topic, self.producer = settings, topic, producer

    async def ensure_topic(self, partitions: int, replication: Replication) -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        from pipeline.kafka.admin import client_options

        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap, **client_options(self.settings))
        await admin.start()
        try:
            if self.topic not in set(await admin.list_topics()):
                try:
                    await admin.create_topics([NewTopic(self.topic, partitions, replication.factor, topic_configs={
                        "cleanup.policy": "compact", "min.compaction.lag.ms": "60000",
                        "segment.ms": str(6 * 3600 * 1000), **replication.topic_configs()})])
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    async def load(self, partitions: Iterable[int]) -> list[Entry]:
        """Every entry of these partitions, read from the start to the end offsets of now."""
        from aiokafka import TopicPartition

        from pipeline.kafka.admin import consumer

        tps = [TopicPartition(self.topic, p) for p in partitions]
        if not tps:
            return []
        c = consumer(self.settings, group_id=None, enable_auto_commit=False)
        await c.start()
        latest: dict[str, Entry | None] = {}
        try:
            c.assign(tps)
            ends = await c.end_offsets(tps)
            await c.seek_to_beginning(*tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            while remaining:
                batch = await c.getmany(*remaining, timeout_ms=1000)
                for tp, messages in batch.items():
                    for m in messages:
                        key = m.key.decode("utf-8", "replace") if m.key else None
                        if m.value is None:
                            latest[key] = None
                        elif (entry := decode(m.value)) is not None:
                            latest[entry.key] = entry
                for tp in list(remaining):
                    if await c.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await c.stop()
        return [e for e in latest.values() if e is not None]

    async def write(self, entry: Entry) -> None:
        await self.producer.send_and_wait(self.topic, key=entry.key.encode("utf-8"), value=encode(entry),
                                          partition=entry.partition)

    async def forget(self, key: str, partition: int) -> None:
        await self.producer.send_and_wait(self.topic, key=key.encode("utf-8"), value=None, partition=partition)

    async def close(self) -> None:
        return None


class MemoryStore:
    """No durability: a dry run, or a replay without --state."""

    async def load(self, partitions=(0,)) -> list[Entry]:
        return []

    async def write(self, entry: Entry) -> None:
        await asyncio.sleep(0)

    async def forget(self, key: str, partition: int) -> None:
        return None

    async def close(self) -> None:
        return None
