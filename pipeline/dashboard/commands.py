"""Command-line entry of this area: `moderation dashboard` (`moderation ingest` is in pipeline.connectors.commands).

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

    if args.demo:
        from pipeline.devtools.demo import topic_env

        os.environ.update(topic_env())
    port = _port(args)
    if port is None:
        print(f"configuration error: {PORT_ENV}={os.environ.get(PORT_ENV)!r} is not a port number (0–65535)",
              file=sys.stderr)
        return 2
    return serve(host=args.host, port=port, open_browser=args.open)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard", help="live web dashboard of the output topics (violations, escalations, responsiveness, reports)",
        description="Serve a live dashboard on loopback. It reads the output topics from the beginning "
                    "(topic names and broker from MODERATION_* settings) and updates the page as records arrive.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None,
                   help=f"port (default ${PORT_ENV} or {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--demo", action="store_true", help="read the topics of `moderation demo`")
    p.set_defaults(func=cmd_dashboard)
