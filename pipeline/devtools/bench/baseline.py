"""The baselines the pipeline is measured against, each a plain aiokafka consume→produce loop.

- raw: one output record per input record, nothing else (the ceiling of Kafka from Python here);
- classify: the same with decoding and the full classification in batches (no Faust, no rules).

Run as a child process so its memory is its own: `python -m pipeline.devtools.bench.baseline KIND ...`;
it exits after `count` inputs and prints its peak resident memory as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

import orjson

from pipeline.config import load_settings
from pipeline.kafka.admin import consumer, producer


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def run(kind: str, source: str, sink: str, count: int, group: str) -> None:
    settings = load_settings()
    classify = decode = None
    if kind == "classify":
        from pipeline.classify import load_classifier
        from pipeline.config import load_policy
        from pipeline.core.events import MessagePosted, Rejected, decode as decode_event

        policy = load_policy()
        classifier = load_classifier(policy)
        classify, decode = classifier.classify, decode_event
    c = consumer(settings, source, group_id=group, max_poll_records=1024, fetch_max_bytes=16 * 1024 * 1024,
                 max_partition_fetch_bytes=4 * 1024 * 1024)
    p = producer(settings, linger_ms=2, max_batch_size=256 * 1024)
    await c.start()
    await p.start()
    done = 0
    # Ready once the group has given this consumer its partitions, as the Faust worker is: the
    # benchmark starts its throughput clock here.
    while not c.assignment():
        await asyncio.sleep(0.01)
    print(orjson.dumps({"ready": True, "at": time.time()}).decode(), flush=True)
    try:
        while done < count:
            batch = await c.getmany(timeout_ms=200, max_records=1024)
            pending = []
            for tp, messages in batch.items():
                if kind == "raw":
                    for m in messages:
                        pending.append(await p.send(sink, key=m.key, value=m.value))
                else:
                    events = []
                    for m in messages:
                        try:
                            events.append(decode(m.value))
                        except Rejected:
                            continue
                    posted = [e for e in events if isinstance(e, MessagePosted)]
                    verdicts = classify([e.message.text for e in posted]) if posted else []
                    for e, v in zip(posted, verdicts):
                        out = {"kind": "verdict", "event_id": e.event_id, "group_id": e.group_id, **v.to_dict(),
                               "excerpt": v.excerpt}
                        pending.append(await p.send(sink, key=e.group_id.encode(), value=orjson.dumps(out)))
                done += len(messages)
            if pending:
                await asyncio.gather(*pending)
            if batch:
                await c.commit()
    finally:
        await p.stop()
        await c.stop()
    print(orjson.dumps({"peak_rss_mb": round(peak_rss_mb(), 1), "consumed": done}).decode(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["raw", "classify"])
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    asyncio.run(run(args.kind, args.source, args.sink, args.count, args.group))


if __name__ == "__main__":
    sys.exit(main())
