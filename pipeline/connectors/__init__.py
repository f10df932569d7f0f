"""Connectors: records exported or posted by chat platforms → our input events (EVENTS.md).

Each format is a pure function `convert(record, options) -> [event]` that raises `Broken` (an
error to report) or `Skipped` (well-formed, but nothing to moderate), whatever the record holds.
`convert_record` applies one and checks every event against the input contract (`contract_check`,
the worker's own decoder), so what reaches `chat.events` is exactly what the worker accepts. The
mapping is in docs/CONNECTORS.md.
"""
from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from pipeline.connectors import dingtalk, feishu, slack, wecom
from pipeline.connectors.base import Broken, Options, Skipped
from pipeline.core.events import Rejected, decode, encode

FORMATS = {"wecom": wecom.convert, "dingtalk": dingtalk.convert, "slack": slack.convert, "feishu": feishu.convert}
MAX_LINE_BYTES = 16 * 1024 * 1024        # one record (a line): platform records are far smaller
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024    # a JSON array or a pretty-printed object, read whole
_KEPT_PROBLEMS = 1000                    # problems an outcome keeps (all are counted and reported)
_KEPT_REASONS = 100                      # distinct reasons the summary counts; the rest as one
_REASON_CHARS = 300
_OTHER_REASONS = "\x00other"            # the summary's bucket once _KEPT_REASONS are counted


@dataclass
class Problem:
    where: str          # "line 12" or "record 3"
    reason: str
    skipped: bool       # True: nothing to moderate (reported, not an error)


def clean_reason(reason: str) -> str:
    """A reason fit for a terminal: control and format characters escaped, length bounded."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                    for c in reason[:_REASON_CHARS])
    return shown[:_REASON_CHARS] + "…" if len(shown) > _REASON_CHARS or len(reason) > _REASON_CHARS else shown


@dataclass
class Outcome:
    """Counts of one import, and its first problems; memory stays bounded however long the input."""
    events: list[dict] = field(default_factory=list)   # kept by convert_all; a stream does not keep them
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    events_count: int = 0
    error_count: int = 0
    skipped_count: int = 0
    reasons: Counter = field(default_factory=Counter)  # (skipped, reason) → count
    last_problem: Problem | None = None

    def note(self, where: str, reason: str, skipped: bool) -> Problem:
        problem = self.last_problem = Problem(where, clean_reason(reason), skipped)
        if skipped:
            self.skipped_count += 1
        else:
            self.error_count += 1
        if len(self.problems) < _KEPT_PROBLEMS:
            self.problems.append(problem)
        key = (skipped, problem.reason)
        if key in self.reasons or len(self.reasons) < _KEPT_REASONS:
            self.reasons[key] += 1
        else:
            self.reasons[(skipped, _OTHER_REASONS)] += 1
        return problem

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.skipped]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.skipped]

    def summary(self, noun: str = "record") -> str:
        lines = [f"{count(self.records, noun)}: {count(self.events_count, 'event')}, "
                 f"{self.skipped_count} skipped, {count(self.error_count, 'error')}"]
        for label, skipped in (("skipped", True), ("errors", False)):
            ranked = [(reason, n) for (s, reason), n in self.reasons.most_common()
                      if s == skipped and reason != _OTHER_REASONS]
            lines += [f"  {label}: {n} × {reason}" for reason, n in ranked[:10]]
            rest = sum(n for _, n in ranked[10:]) + self.reasons.get((skipped, _OTHER_REASONS), 0)
            if rest:
                lines.append(f"  {label}: {rest} more, for other reasons (each listed above)")
        return "\n".join(lines)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def contract_check(event: dict) -> bytes:
    """The event's bytes as they are produced, after the worker's own decoder has accepted them;
    `Rejected` with the reason otherwise."""
    try:
        raw = encode(event)
    except orjson.JSONEncodeError as exc:
        raise Rejected(f"cannot be written as JSON ({exc})") from None
    decode(raw)
    return raw


def convert_record(fmt: str, record, options: Options) -> list[dict]:
    """One source record → validated input events; raises `Broken` or `Skipped`."""
    events = FORMATS[fmt](record, options)
    for event in events:
        try:
            contract_check(event)
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
    yield from _json_lines(io.BytesIO(data), 0)


def read_records(stream) -> Iterator[tuple[str, object]]:
    """(where, record) pairs from a binary stream, yielded as they arrive when it holds JSON lines
    (so a webhook relay can pipe into `ingest -`); a JSON array or a pretty-printed object is read
    whole first (up to MAX_DOCUMENT_BYTES). No line is held beyond MAX_LINE_BYTES."""
    number = 0
    for line in _bounded_lines(stream):
        number += 1
        if isinstance(line, Broken) or line.strip():
            break
    else:
        return
    if isinstance(line, Broken):
        yield f"line {number}", line
        yield from _json_lines(stream, number)
        return
    if line.startswith((b"\xff\xfe", b"\xfe\xff")):
        yield f"line {number}", Broken("the file is UTF-16 text; convert it to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)")
        return
    line = line.removeprefix(b"\xef\xbb\xbf")     # the byte-order mark some Windows editors write
    head = line.lstrip()
    if head.startswith(b"["):
        document = line + stream.read(MAX_DOCUMENT_BYTES + 1 - len(line))
        if len(document) > MAX_DOCUMENT_BYTES:
            yield f"line {number}", Broken(f"a JSON array over {MAX_DOCUMENT_BYTES / 2**20:g} MiB: write one "
                                           "record per line (JSON lines) instead")
            return
        yield from split_records(document)
        return
    record = _parse_line(line)
    if isinstance(record, Broken) and head.startswith(b"{"):
        # The first line of a pretty-printed object: the rest of the stream belongs to it (unless it
        # is too long to be one; then it is JSON lines whose first line is broken).
        document = line + stream.read(MAX_DOCUMENT_BYTES + 1 - len(line))
        if len(document) <= MAX_DOCUMENT_BYTES:
            yield from split_records(document)
            return
        yield f"line {number}", record
        yield from _json_lines(_Prefixed(document[len(line):], stream), number)
        return
    yield f"line {number}", record
    yield from _json_lines(stream, number)


def _json_lines(stream, number: int) -> Iterator[tuple[str, object]]:
    for line in _bounded_lines(stream):
        number += 1
        if isinstance(line, Broken):
            yield f"line {number}", line
        elif line.strip():
            yield f"line {number}", _parse_line(line)


def _bounded_lines(stream) -> Iterator[bytes | Broken]:
    """The stream's lines; a line over MAX_LINE_BYTES is read past in pieces and yields `Broken`."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while (piece := stream.readline(MAX_LINE_BYTES)) and not piece.endswith(b"\n"):
            size += len(piece)
        size += len(piece)
        yield Broken(f"a line of {size} bytes, over the {MAX_LINE_BYTES / 2**20:g} MiB limit of one record")


class _Prefixed:
    """`readline` over bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = io.BytesIO(head), stream

    def readline(self, limit: int = -1) -> bytes:
        line = self.head.readline(limit)
        if line.endswith(b"\n") or 0 < limit <= len(line):
            return line
        return line + self.stream.readline(limit - len(line) if limit > 0 else -1)


def _parse_line(line: bytes):
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Broken(f"not valid JSON: {exc}")


def convert_into(outcome: Outcome, convert: Callable[[object], list[dict]], where: str, record) -> list[dict]:
    """Convert one record, noting it in `outcome`; returns its events (none if skipped or broken).
    A converter bug on some record shape no test has thought of is reported like a broken record,
    so the import goes on; the converters' tests hold them to never needing this."""
    outcome.records += 1
    try:
        if isinstance(record, Broken):
            raise record
        events = convert(record)
    except Skipped as exc:
        outcome.note(where, exc.reason, skipped=True)
        return []
    except Broken as exc:
        outcome.note(where, exc.reason, skipped=False)
        return []
    except Exception as exc:  # noqa: BLE001 - see the docstring
        outcome.note(where, f"could not convert this record ({type(exc).__name__}); please report its "
                            "shape as a bug", skipped=False)
        return []
    outcome.events_count += len(events)
    return events


def converter(fmt: str, options: Options) -> Callable[[object], list[dict]]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(sorted(FORMATS))}")
    return lambda record: convert_record(fmt, record, options)


def convert_all(fmt: str, records: Iterable[tuple[str, object]], options: Options) -> Outcome:
    convert = converter(fmt, options)
    outcome = Outcome()
    for where, record in records:
        outcome.events.extend(convert_into(outcome, convert, where, record))
    return outcome


__all__ = ["FORMATS", "MAX_DOCUMENT_BYTES", "MAX_LINE_BYTES", "Broken", "Options", "Outcome", "Problem",
           "Skipped", "clean_reason", "contract_check", "count", "convert_all", "convert_into", "convert_record",
           "converter", "read_records", "split_records"]
