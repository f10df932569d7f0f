"""`moderation produce FILE|-`: hand-written input events (JSON lines, EVENTS.md) to the input topic.

Each event is checked exactly as `ingest` checks what it converts (`contract_check`, the worker's own
decoder) and produced keyed by its group; a line that fails the check is reported with its reason
and skipped, and the rest go on. The exit status is that of `ingest` (pipeline.connectors.publish).
"""
from __future__ import annotations

from pipeline.connectors import Broken, contract_check, read_records
from pipeline.connectors.publish import EXIT_USAGE, open_source, publish, streams
from pipeline.core.events import Rejected


def checked_event(record) -> list[dict]:
    """The record as the one event it is, or `Broken` with the contract's reason."""
    try:
        contract_check(record)
    except Rejected as exc:
        raise Broken(exc.reason) from None
    return [record]


def run(source: str, *, dry_run: bool, wait: float | None = 60.0, stdin=None, stdout=None, stderr=None) -> int:
    stdin, stdout, stderr = streams(stdin, stdout, stderr)
    stream = open_source("produce", source, stdin, stderr)
    if stream is None:
        return EXIT_USAGE
    try:
        return publish("produce", read_records(stream), checked_event, source=source, dry_run=dry_run, wait=wait,
                       stdout=stdout, stderr=stderr)
    finally:
        if stream is not stdin:
            stream.close()
