"""Running the real worker against the real local broker, in isolation per test.

Each `Deployment` has its own app id and topic names, so tests never see each other's records,
and runs `moderation worker` as a separate process, as an operator would.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline.config import TOPIC_NAMES, Settings, load_settings
from pipeline.kafka.admin import consumer, delete_topics, ensure_topics, partitions_of, producer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployment:
    bootstrap: str
    workdir: Path
    partitions: int = 4
    extra_env: dict = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:8]}")
    workers: list = field(default_factory=list)

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TOPIC_")}
        env.update({
            "MODERATION_BOOTSTRAP": self.bootstrap,
            "MODERATION_APP_ID": self.name,
            "MODERATION_PARTITIONS": str(self.partitions),
            "MODERATION_WEB_PORT": "0",
            "MODERATION_DATA_DIR": str(self.workdir / "data"),
            "PYTHONUNBUFFERED": "1",
            # Event time only, so the outputs equal the offline core's (a test of the live clock
            # turns it on in extra_env).
            "MODERATION_LIVE_TICK_SECONDS": "0",
            **{f"MODERATION_TOPIC_{role.upper()}": f"{self.name}.{topic}" for role, topic in TOPIC_NAMES.items()},
            **self.extra_env,
        })
        return env

    @property
    def settings(self) -> Settings:
        return load_settings(env=self.env)

    def create_topics(self) -> None:
        asyncio.run(ensure_topics(self.settings))

    def delete_topics(self) -> None:
        """Every topic of this deployment, Faust's changelog and assignor topics included: left behind,
        they pile up in the broker's data directory and slow its start-up."""
        asyncio.run(delete_topics(self.settings, [], prefix=self.name))

    # ------------------------------------------------------------------ workers
    def start_worker(self, wait: bool = True, timeout: float = 90.0, loglevel: str | None = "info",
                     env: dict | None = None) -> subprocess.Popen:
        """A `moderation worker` process. `loglevel` None: the worker's default log; `env` adds to
        the deployment's variables (e.g. a data folder of its own, as two workers with RocksDB
        stores on one machine need)."""
        log = open(self.workdir / f"worker-{len(self.workers)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker",
                                 *(["--loglevel", loglevel] if loglevel else [])],
                                cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        proc.log_path = log.name
        self.workers.append(proc)
        if wait:
            self.wait_ready(proc, timeout)
        return proc

    def wait_ready(self, proc, timeout: float = 90.0, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = Path(proc.log_path).read_bytes()[after:]
            if b"Worker]: Ready" in text:
                return
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}:\n{text.decode(errors='replace')[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s:\n{Path(proc.log_path).read_text(errors='replace')[-3000:]}")

    def stop_worker(self, proc, kill: bool = False, timeout: float = 30.0) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.workers:
            self.stop_worker(proc)

    def worker_log(self, index: int = 0) -> str:
        return Path(self.workers[index].log_path).read_text(errors="replace")

    # ------------------------------------------------------------------ records
    def produce(self, records: list, key_of=None) -> None:
        """Produce events (dicts) or raw bytes to the input topic, keyed by group."""
        asyncio.run(produce(self.settings, records))

    def collect(self, expect: int, roles=("verdicts", "violations", "escalations", "dlq"),
                timeout: float = 60.0, settle: float = 1.0) -> dict[str, list[dict]]:
        return asyncio.run(collect(self.settings, roles, expect, timeout, settle))

    def collect_ids(self, expected: dict[str, set], timeout: float = 120.0, settle: float = 2.0) -> dict[str, list[dict]]:
        """Read the output topics until every expected id of every role has arrived (then `settle`
        seconds more, to catch duplicates), or the timeout."""
        return asyncio.run(collect_ids(self.settings, expected, timeout, settle))

    def output_count(self, role: str) -> int:
        return asyncio.run(end_offset_total(self.settings, getattr(self.settings.topics, role)))


async def produce(settings: Settings, records: list) -> None:
    p = producer(settings)
    await p.start()
    try:
        for record in records:
            if isinstance(record, dict):
                key, value = record.get("group_id", "").encode(), orjson.dumps(record)
            else:
                key, value = b"bad", record
            await p.send(settings.topics.input, key=key, value=value)
        await p.flush()
    finally:
        await p.stop()


async def read_from_start(settings: Settings, topic: str, partitions, expect: int, timeout: float = 30.0) -> dict:
    """The records of `partitions` from the log start, per partition in offset order, once `expect`
    have arrived (or `timeout` passed)."""
    from aiokafka import TopicPartition

    c = consumer(settings, group_id=None)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        got: dict[int, list] = {p: [] for p in partitions}
        deadline = asyncio.get_running_loop().time() + timeout
        while sum(map(len, got.values())) < expect and asyncio.get_running_loop().time() < deadline:
            for tp, messages in (await c.getmany(timeout_ms=500)).items():
                got[tp.partition] += messages
        return got
    finally:
        await c.stop()


async def end_offset_total(settings: Settings, topic: str) -> int:
    c = consumer(settings, group_id=None)
    await c.start()
    try:
        ends = await c.end_offsets(await partitions_of(c, topic))
        return sum(ends.values())
    finally:
        await c.stop()


async def collect_ids(settings: Settings, expected: dict[str, set], timeout: float, settle: float):
    names = {getattr(settings.topics, role): role for role in expected}
    c = consumer(settings, *names, group_id=None, isolation_level="read_committed")
    await c.start()
    out: dict[str, list[dict]] = {role: [] for role in expected}
    missing = {role: set(ids) for role, ids in expected.items()}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        done_at = None
        while loop.time() < deadline:
            batch = await c.getmany(timeout_ms=300, max_records=10000)
            for tp, messages in batch.items():
                role = names[tp.topic]
                for m in messages:
                    event = orjson.loads(m.value)
                    out[role].append(event)
                    missing[role].discard(event.get("id"))
            if done_at is None and not any(missing.values()):
                done_at = loop.time()
            if done_at is not None and loop.time() - done_at >= settle:
                break
    finally:
        await c.stop()
    return out


async def collect(settings: Settings, roles, expect: int, timeout: float, settle: float) -> dict[str, list[dict]]:
    """Read the output topics from the beginning until `expect` records arrived (and nothing more
    for `settle` seconds), or the timeout."""
    names = {getattr(settings.topics, role): role for role in roles}
    c = consumer(settings, *names, group_id=None, isolation_level="read_committed")
    await c.start()
    out: dict[str, list[dict]] = {role: [] for role in roles}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since = None
        while loop.time() < deadline:
            batch = await c.getmany(timeout_ms=300)
            for tp, messages in batch.items():
                out[names[tp.topic]].extend(orjson.loads(m.value) for m in messages)
            total = sum(len(v) for v in out.values())
            if batch:
                quiet_since = loop.time()
            elif total >= expect and quiet_since is not None and loop.time() - quiet_since >= settle:
                break
            elif total >= expect and quiet_since is None:
                quiet_since = loop.time()
    finally:
        await c.stop()
    return out
