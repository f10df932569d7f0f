"""Command-line entries of this area: `moderation dashboard` and `moderation ingest`.

Wired into `pipeline.cli` with `add_arguments(sub)` on the top-level subparsers.
"""
from __future__ import annotations

import argparse
import os

DEFAULT_PORT = 8765
PORT_ENV = "MODERATION_DASHBOARD_PORT"


def _port(args) -> int | None:
    if args.port is not None:
        return args.port
    value = os.environ.get(PORT_ENV)
    if value is None:
        return DEFAULT_PORT
    if value.strip().isdigit() and 0 <= int(value) <= 65535:
        return int(value)
    return None


def cmd_dashboard(args) -> int:
    import sys

    from pipeline.dashboard.server import serve

    port = _port(args)
    if port is None:
        print(f"configuration error: {PORT_ENV}={os.environ.get(PORT_ENV)!r} is not a port number (0–65535)",
              file=sys.stderr)
        return 2
    return serve(host=args.host, port=port, open_browser=args.open)


def cmd_ingest(args) -> int:
    from pipeline.connectors.ingest import run

    return run(args.format, args.file, tz=args.tz, names_path=args.names, dry_run=args.dry_run)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    from pipeline.connectors import FORMATS
    from pipeline.connectors.base import DEFAULT_TZ

    p = subparsers.add_parser(
        "dashboard", help="live web dashboard of the output topics (violations, escalations, responsiveness, reports)",
        description="Serve a live dashboard on loopback. It reads the output topics from the beginning "
                    "(topic names and broker from MODERATION_* settings) and updates the page as records arrive.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None,
                   help=f"port (default ${PORT_ENV} or {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(func=cmd_dashboard)

    p = subparsers.add_parser(
        "ingest", help="convert platform records (WeCom archive, DingTalk robot, Slack events) and produce them",
        description="Convert records exported or posted by a chat platform into input events and produce them "
                    "to the input topic, keyed by group. Records that cannot be converted are listed on "
                    "stderr with their reason; the exit status is 1 if any record was broken or unknown "
                    "(records skipped on purpose, such as images, do not count). See docs/CONNECTORS.md.")
    p.add_argument("--from", dest="format", required=True, choices=sorted(FORMATS), help="source format")
    p.add_argument("file", help="JSON lines, a JSON array or one JSON object; - for standard input")
    p.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of the event timestamps (default {DEFAULT_TZ})")
    p.add_argument("--names", metavar="FILE", help="JSON object of member id → display name (部门-姓名)")
    p.add_argument("--dry-run", action="store_true", help="print the events as JSON lines instead of producing")
    p.set_defaults(func=cmd_ingest)
