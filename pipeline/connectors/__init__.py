"""Connectors: records exported or posted by chat platforms → our input events (EVENTS.md).

Each format is a pure function `convert(record, options) -> [event]` that raises `Broken` (an
error to report) or `Skipped` (well-formed, but nothing to moderate). `convert_lines` applies one
to a file's records and checks every event against the input contract, so what reaches
`chat.events` is exactly what the worker accepts. The mapping is in docs/CONNECTORS.md.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from pipeline.connectors import dingtalk, slack, wecom
from pipeline.connectors.base import Broken, Options, Skipped
from pipeline.events import Rejected, decode, encode

FORMATS = {"wecom": wecom.convert, "dingtalk": dingtalk.convert, "slack": slack.convert}


@dataclass
class Problem:
    where: str          # "line 12" or "record 3"
    reason: str
    skipped: bool       # True: nothing to moderate (reported, not an error)


@dataclass
class Outcome:
    events: list[dict] = field(default_factory=list)   # kept by convert_all; a stream does not keep them
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    events_count: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.skipped]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.skipped]

    def summary(self) -> str:
        lines = [f"{_count(self.records, 'record')}: {_count(self.events_count, 'event')}, "
                 f"{len(self.skipped)} skipped, {_count(len(self.errors), 'error')}"]
        for label, problems in (("skipped", self.skipped), ("errors", self.errors)):
            for reason, count in Counter(p.reason for p in problems).most_common():
                lines.append(f"  {label}: {count} × {reason}")
        return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def convert_record(fmt: str, record, options: Options) -> list[dict]:
    """One source record → validated input events; raises `Broken` or `Skipped`."""
    events = FORMATS[fmt](record, options)
    for event in events:
        try:
            decode(encode(event))
        except Rejected as exc:
            raise Broken(f"converted event breaks the input contract: {exc.reason}") from None
    return events


def split_records(data: bytes) -> Iterator[tuple[str, object]]:
    """(where, record) pairs from a JSON array, a single (possibly pretty-printed) JSON object,
    or JSON lines. A line that is not JSON yields its parse error as the record, to be reported."""
    stripped = data.strip()
    if not stripped:
        return
    if stripped[:1] in (b"[", b"{"):
        try:
            whole = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            for i, record in enumerate(whole, 1):
                yield f"record {i}", record
            return
        if isinstance(whole, dict):
            yield "record 1", whole
            return
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            yield f"line {number}", _parse_line(line)


def read_records(stream) -> Iterator[tuple[str, object]]:
    """(where, record) pairs from a binary stream, yielded as they arrive when it holds JSON lines
    (so a webhook relay can pipe into `ingest -`); a JSON array or a pretty-printed object is read
    whole first."""
    number, first = 0, b""
    for line in stream:
        number += 1
        if line.strip():
            first = line
            break
    if not first:
        return
    head = first.lstrip()
    if head.startswith(b"["):
        yield from split_records(first + stream.read())
        return
    record = _parse_line(first)
    if isinstance(record, Broken) and head.startswith(b"{"):
        # The first line of a pretty-printed object: the rest of the stream belongs to it.
        yield from split_records(first + stream.read())
        return
    yield f"line {number}", record
    for line in stream:
        number += 1
        if line.strip():
            yield f"line {number}", _parse_line(line)


def _parse_line(line: bytes):
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Broken(f"not valid JSON: {exc}")


def convert_into(outcome: Outcome, fmt: str, where: str, record, options: Options) -> list[dict]:
    """Convert one record, noting it in `outcome`; returns its events (none if skipped or broken)."""
    outcome.records += 1
    try:
        if isinstance(record, Broken):
            raise record
        events = convert_record(fmt, record, options)
    except Skipped as exc:
        outcome.problems.append(Problem(where, exc.reason, skipped=True))
        return []
    except Broken as exc:
        outcome.problems.append(Problem(where, exc.reason, skipped=False))
        return []
    outcome.events_count += len(events)
    return events


def convert_all(fmt: str, records: Iterable[tuple[str, object]], options: Options) -> Outcome:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    outcome = Outcome()
    for where, record in records:
        outcome.events.extend(convert_into(outcome, fmt, where, record, options))
    return outcome


__all__ = ["FORMATS", "Broken", "Options", "Outcome", "Problem", "Skipped", "convert_all", "convert_into",
           "convert_record", "read_records", "split_records"]
