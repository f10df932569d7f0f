"""`moderation review export --out FILE`: reviewers' decisions as labelled training data (R3).

Reads moderation.reviews from its start to its end as of now, keeps the latest decision per
violation (a dismissal is the label `work`, a relabelling its new label, a confirmation the label it
had), then reads chat.events for the messages those decisions are about and writes one
`{"text", "label"}` line per message: what `moderation train --add-data FILE` takes. A message no
longer in chat.events (past the topic's retention) is counted and left out: its excerpt is
redacted and cut, not the text the model would see.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from pipeline.config import Settings
from pipeline.kafka.admin import read_to_end, wait_for_broker


def latest_decisions(records: list[dict]) -> dict[str, dict]:
    """The latest decision per violation (by time, then by order read)."""
    latest: dict[str, dict] = {}
    for record in records:
        previous = latest.get(record["violation_id"])
        if previous is None or record["ts"] >= previous["ts"]:
            latest[record["violation_id"]] = record
    return latest


async def export(settings: Settings, out: Path, wait: float) -> dict:
    await wait_for_broker(settings, wait, "review export")
    reviews: list[dict] = []

    def keep_review(message) -> None:
        try:
            record = orjson.loads(message.value)
        except orjson.JSONDecodeError:
            return
        if isinstance(record, dict) and record.get("kind") == "review" and record.get("message_event_id"):
            reviews.append(record)

    await read_to_end(settings, settings.topics.reviews, keep_review)
    wanted = {r["message_event_id"]: r["new_label"] for r in latest_decisions(reviews).values()}
    texts: dict[str, str] = {}

    def keep_message(message) -> None:
        try:
            event = orjson.loads(message.value)
        except orjson.JSONDecodeError:
            return
        if isinstance(event, dict) and event.get("event_id") in wanted and event.get("type") == "message.posted":
            text = (event.get("message") or {}).get("text")
            if isinstance(text, str):
                texts[event["event_id"]] = text

    await read_to_end(settings, settings.topics.input, keep_message)
    with out.open("wb") as f:
        for event_id, label in wanted.items():
            if event_id in texts:
                f.write(orjson.dumps({"text": texts[event_id], "label": label}) + b"\n")
    return {"decisions": len(reviews), "messages": len(wanted), "written": len(texts),
            "missing": len(wanted) - len(texts)}


def export_command(args) -> int:
    from pipeline.config import load_settings

    counts = asyncio.run(export(load_settings(), Path(args.out), args.wait))
    print(f"{counts['written']} labelled messages written to {args.out} from {counts['decisions']} decisions"
          + (f"; {counts['missing']} messages are no longer in the input topic (retention) and were left out"
             if counts["missing"] else ""), file=sys.stderr)
    return 0


def add_arguments(sub) -> None:
    review = sub.add_parser("review", help="reviewers' decisions (R3)")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    p = review_sub.add_parser("export", help="decided messages as {text, label} JSONL for `moderation train --add-data`")
    p.add_argument("--out", required=True, help="the JSONL file to write")
    p.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for the broker before giving up (default 60)")
    p.set_defaults(func=export_command)
