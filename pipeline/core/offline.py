"""`moderation check`: the same core over a JSONL file of input events, without Kafka."""
# mypyc: interpreted (a driver over the lines of a file; compiled, its native import of the engine
# cannot be re-run in one interpreter, which the import-order test does)
from __future__ import annotations

from typing import Iterable, Iterator

import orjson

from pipeline.core.engine import Engine, Output, Position
from pipeline.core.events import InputEvent, Rejected, decode, rejected_event


def run(engine: Engine, lines: Iterable[bytes], source: str = "file", batch_size: int = 512,
        dlq_original: str = "redacted") -> Iterator[Output]:
    """Outputs for the lines of a JSONL file, in input order. Line numbers (from 1) stand in for
    Kafka offsets in DLQ records; each group's state lives only for this run. As in the worker, an
    event the core fails on goes to the DLQ and leaves its group's state as it was. Event time
    only: no event is judged against the clock of the machine running the check."""
    states: dict[str, dict] = {}
    batch: list[InputEvent] = []
    positions: list[Position] = []
    raws: list[bytes] = []

    def flush():
        # what the worker's table holds before the batch: the groups' states as stored
        stored = {group_id: orjson.dumps(states[group_id]) for group_id in {e.group_id for e in batch} if group_id in states}
        outputs, set_aside = engine.process_setting_aside(
            batch, states, positions, lambda group_id: orjson.loads(stored[group_id]) if group_id in stored else None)
        for i, reason in set_aside:
            yield "dlq", rejected_event(reason, raws[i], source, None, positions[i][1], original=dlq_original)
        yield from outputs
        batch.clear()
        positions.clear()
        raws.clear()

    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            event = decode(raw)
        except Rejected as exc:
            yield from flush()
            yield "dlq", rejected_event(exc.reason, raw, source, None, number, original=dlq_original)
            continue
        batch.append(event)
        positions.append((source, number))
        raws.append(raw)
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()
