"""`moderation ingest --from FORMAT FILE|-`: convert platform records and produce them to the input topic.

Records are converted and sent as they are read, so a relay that writes webhook bodies as JSON
lines can pipe into `ingest -` and each one reaches Kafka at once. Problems are reported on
stderr as they are met, and counted in a summary at the end.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from pipeline.config import load_settings
from pipeline.connectors import FORMATS, Options, Outcome, convert_into, read_records
from pipeline.events import encode, topic_key

EXIT_OK, EXIT_BROKEN_RECORDS, EXIT_FAILED = 0, 1, 2
_END = object()


def load_names(path: str | None) -> dict[str, str]:
    """A roster mapping member ids to display names: a JSON object `{"id": "部门-姓名"}`."""
    if not path:
        return {}
    data = orjson.loads(Path(path).read_bytes())
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: expected a JSON object of member id → display name")
    return data


class KafkaSink:
    """Sends each event to the input topic keyed by group; `close()` waits until the broker has them all."""

    def __init__(self, settings):
        from pipeline.kafka.admin import producer

        self.settings = settings
        self.producer = producer(settings)
        self.pending: list[asyncio.Future] = []
        self.target = settings.topics.input

    async def start(self) -> None:
        await self.producer.start()

    async def send(self, event: dict) -> None:
        self.pending.append(await self.producer.send(self.settings.topics.input, key=topic_key(event),
                                                     value=encode(event)))
        if len(self.pending) >= 1000:
            await self.flush()

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            await asyncio.gather(*pending)

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            await self.producer.stop()


class StdoutSink:
    def __init__(self, stdout):
        self.stdout, self.target = stdout, "stdout"

    async def start(self) -> None:
        pass

    async def send(self, event: dict) -> None:
        self.stdout.write(encode(event) + b"\n")

    async def flush(self) -> None:
        self.stdout.flush()

    async def close(self) -> None:
        self.stdout.flush()


async def pump(fmt: str, stream, options: Options, sink, source: str, stderr) -> Outcome:
    """Read, convert and send record by record. Reading blocks, so it runs in a thread, and the
    event loop stays free for the producer's network traffic."""
    outcome = Outcome()
    records = read_records(stream)
    loop = asyncio.get_running_loop()
    while True:
        item = await loop.run_in_executor(None, next, records, _END)
        if item is _END:
            break
        where, record = item
        before = len(outcome.problems)
        for event in convert_into(outcome, fmt, where, record, options):
            await sink.send(event)
        for problem in outcome.problems[before:]:
            print(f"{source}: {problem.where}: {'skipped' if problem.skipped else 'error'}: {problem.reason}",
                  file=stderr, flush=True)
        await sink.flush()
    return outcome


def run(fmt: str, source: str, *, tz: str, names_path: str | None, dry_run: bool,
        stdin=None, stdout=None, stderr=None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer, stderr or sys.stderr
    if fmt not in FORMATS:
        print(f"ingest: unknown format {fmt!r}; known: {', '.join(sorted(FORMATS))}", file=stderr)
        return EXIT_FAILED
    try:
        options = Options(tz=tz, names=load_names(names_path))
        options.zone  # noqa: B018 - an unknown zone fails here, before any record is read
        stream = stdin if source == "-" else open(source, "rb")  # noqa: SIM115 - closed below
    except (OSError, ValueError, orjson.JSONDecodeError) as exc:
        print(f"ingest: {exc}", file=stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError and friends
        print(f"ingest: {exc.__class__.__name__}: {exc}", file=stderr)
        return EXIT_FAILED

    async def main() -> Outcome:
        sink = StdoutSink(stdout) if dry_run else KafkaSink(load_settings())
        await sink.start()
        try:
            return await pump(fmt, stream, options, sink, source, stderr)
        finally:
            await sink.close()

    target = "stdout" if dry_run else None
    try:
        outcome = asyncio.run(main())
    except Exception as exc:  # noqa: BLE001 - a broker problem is reported, not a traceback
        settings = load_settings()
        print(f"ingest: could not produce to {settings.topics.input} at {settings.bootstrap}: "
              f"{exc.__class__.__name__}: {exc}", file=stderr)
        return EXIT_FAILED
    finally:
        if stream is not stdin:
            stream.close()
    target = target or load_settings().topics.input
    print(f"{outcome.summary()}\n{outcome.events_count} events written to {target}", file=stderr)
    return EXIT_BROKEN_RECORDS if outcome.errors else EXIT_OK
