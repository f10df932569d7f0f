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


def cmd_roster(args) -> int:
    from pipeline.connectors.roster import run

    return run(args.files, tz=args.tz, at=args.at, dry_run=args.dry_run, wait=args.wait)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    from pipeline.connectors import FORMATS
    from pipeline.connectors.base import DEFAULT_TZ
    from pipeline.connectors.publish import EXIT_STATUS_HELP

    p = subparsers.add_parser(
        "ingest", help="convert platform records (WeCom archive, DingTalk robot, Slack or Feishu events) and produce them",
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

    p = subparsers.add_parser(
        "roster", help="import groups' names, kinds, admins and owners, and departed staff, from CSV or YAML",
        description="Read roster files (YAML with 'groups' and 'departed' lists, or CSV files told apart by "
                    "their header: group_id,name,kind,admins,owners for groups, member_id,groups,reason,date "
                    "for departures) and produce a group.configured event per group and a member.departed "
                    "event per departed member and group ('all': every group the same import configures). "
                    "Event ids follow from the content, so importing the same file twice is harmless. Each bad "
                    "row is listed on stderr with its file, line and field, and skipped; a file that cannot be "
                    f"read at all stops the import before anything is sent. {EXIT_STATUS_HELP} "
                    "See docs/CONNECTORS.md for the formats with examples.")
    p.add_argument("files", nargs="+", metavar="FILE", help="roster files: .yaml/.yml, or .csv")
    p.add_argument("--tz", default=DEFAULT_TZ,
                   help=f"time zone of dates without an offset (default {DEFAULT_TZ}); a date is 00:00 that day")
    p.add_argument("--at", metavar="TIME", default=None,
                   help="time of the group.configured events, ISO-8601 (default now)")
    _add_common(p)
    p.set_defaults(func=cmd_roster)


def _add_common(p: argparse.ArgumentParser) -> None:
    from pipeline.cli import add_wait_argument

    p.add_argument("--dry-run", action="store_true",
                   help="print the events as JSON lines instead of producing them (never contacts the broker)")
    add_wait_argument(p)
