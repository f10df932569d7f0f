"""`moderation check`: the same core over a JSONL file of input events, without Kafka."""
from __future__ import annotations

from typing import Iterable, Iterator

from pipeline.engine import Engine, Output
from pipeline.events import Rejected, decode, rejected_event


def run(engine: Engine, lines: Iterable[bytes], source: str = "file", batch_size: int = 512) -> Iterator[Output]:
    """Outputs for the lines of a JSONL file, in input order. Line numbers (from 1) stand in for
    Kafka offsets in DLQ records; each group's state lives only for this run."""
    states: dict[str, dict] = {}
    batch, offsets = [], []

    def flush():
        yield from engine.process(batch, states, offsets)
        batch.clear()
        offsets.clear()

    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            event = decode(raw, engine.policy.content.max_text_chars)
        except Rejected as exc:
            yield from flush()
            yield "dlq", rejected_event(exc.reason, raw, source, None, number)
            continue
        batch.append(event)
        offsets.append(number)
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()
