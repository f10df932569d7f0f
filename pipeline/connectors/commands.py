"""Command-line entries of this area: `moderation ingest`, `moderation produce`, `moderation roster`.

Wired into `pipeline.cli` with `add_arguments(sub)` on the top-level subparsers.
"""
from __future__ import annotations

import argparse


def cmd_ingest(args) -> int:
    from pipeline.connectors.ingest import run

    return run(args.format, args.file, tz=args.tz, names_path=args.names, dry_run=args.dry_run, wait=args.wait)


def cmd_produce(args) -> int:
    from pipeline.connectors.produce import run

    return run(args.file, dry_run=args.dry_run, wait=args.wait)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    from pipeline.connectors import FORMATS
    from pipeline.connectors.base import DEFAULT_TZ
    from pipeline.connectors.publish import EXIT_STATUS_HELP

    p = subparsers.add_parser(
        "ingest", help="convert platform records (WeCom archive, DingTalk robot, Slack events) and produce them",
        description="Convert records exported or posted by a chat platform into input events and produce them "
                    "to the input topic, keyed by group, waiting for the broker's acknowledgements. A record "
                    "that cannot be converted is listed on stderr with its line and reason and skipped; the "
                    "import goes on. Records skipped on purpose (an image, a one-to-one chat) are listed but are "
                    f"not errors. {EXIT_STATUS_HELP} See docs/CONNECTORS.md.")
    p.add_argument("--from", dest="format", required=True, choices=sorted(FORMATS), help="source format")
    p.add_argument("file", help="JSON lines, a JSON array or one JSON object; - for standard input")
    p.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of the event timestamps (default {DEFAULT_TZ})")
    p.add_argument("--names", metavar="FILE", help="JSON object of member id → display name (部门-姓名)")
    _add_common(p)
    p.set_defaults(func=cmd_ingest)

    p = subparsers.add_parser(
        "produce", help="produce hand-written input events (JSON lines, EVENTS.md) to the input topic",
        description="Check each input event (one JSON object per line, as in EVENTS.md) exactly as the worker "
                    "will, and produce the valid ones to the input topic keyed by group_id (acks=all), waiting "
                    "for the broker's acknowledgements. An event that fails the check is listed on stderr with "
                    f"its line and reason and skipped; the others go on. {EXIT_STATUS_HELP} "
                    "See docs/CONNECTORS.md.")
    p.add_argument("file", help="JSON lines of input events (a JSON array also works); - for standard input")
    _add_common(p)
    p.set_defaults(func=cmd_produce)


def _add_common(p: argparse.ArgumentParser) -> None:
    from pipeline.cli import add_wait_argument

    p.add_argument("--dry-run", action="store_true",
                   help="print the events as JSON lines instead of producing them (never contacts the broker)")
    add_wait_argument(p)
