"""`moderation ingest --from FORMAT FILE|-`: convert platform records and produce them to the input topic."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from pipeline.config import load_settings
from pipeline.connectors import Options, Outcome, convert_all, split_records
from pipeline.events import encode, topic_key

EXIT_OK, EXIT_BROKEN_RECORDS, EXIT_FAILED = 0, 1, 2


def load_names(path: str | None) -> dict[str, str]:
    """A roster mapping member ids to display names: a JSON object `{"id": "部门-姓名"}`."""
    if not path:
        return {}
    data = orjson.loads(Path(path).read_bytes())
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: expected a JSON object of member id → display name")
    return data


async def produce_events(events: list[dict], settings) -> None:
    from pipeline.kafka.admin import producer

    p = producer(settings)
    await p.start()
    try:
        pending = [await p.send(settings.topics.input, key=topic_key(e), value=encode(e)) for e in events]
        await asyncio.gather(*pending)
    finally:
        await p.stop()


def run(fmt: str, source: str, *, tz: str, names_path: str | None, dry_run: bool,
        stdin=None, stdout=None, stderr=None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer, stderr or sys.stderr
    try:
        data = stdin.read() if source == "-" else Path(source).read_bytes()
        options = Options(tz=tz, names=load_names(names_path))
        options.zone  # noqa: B018 - an unknown zone fails here, before any record is read
    except (OSError, ValueError, orjson.JSONDecodeError) as exc:
        print(f"ingest: {exc}", file=stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError and friends
        print(f"ingest: {exc.__class__.__name__}: {exc}", file=stderr)
        return EXIT_FAILED

    outcome: Outcome = convert_all(fmt, split_records(data), options)
    for problem in outcome.problems:
        label = "skipped" if problem.skipped else "error"
        print(f"{source}: {problem.where}: {label}: {problem.reason}", file=stderr)

    if dry_run:
        for event in outcome.events:
            stdout.write(encode(event) + b"\n")
        stdout.flush()
    elif outcome.events:
        settings = load_settings()
        try:
            asyncio.run(produce_events(outcome.events, settings))
        except Exception as exc:  # noqa: BLE001 - a broker problem is reported, not a traceback
            print(f"ingest: could not produce to {settings.topics.input} at {settings.bootstrap}: {exc}", file=stderr)
            return EXIT_FAILED
    target = "stdout" if dry_run else load_settings().topics.input
    print(f"{outcome.summary()}\n{len(outcome.events)} events written to {target}", file=stderr)
    return EXIT_BROKEN_RECORDS if outcome.errors else EXIT_OK
