"""Live ingestion: the chat platforms' webhooks → verified, de-duplicated input events in Kafka.

One module per platform (`slack`, `feishu`, `dingtalk`: authenticate a delivery, answer its
handshake, hand the record to the platform's connector in pipeline.connectors), the shared pieces
in `platform`, and `server`, the aiohttp shell that answers 2xx only once Kafka has acknowledged.
`moderation gateway` runs it; `moderation bench gateway` measures it (pipeline.gateway.bench).
Wired into `pipeline.cli` with `add_arguments(sub)`.
"""
from __future__ import annotations

import argparse

DEFAULT_HOST = "127.0.0.1"


def cmd_gateway(args) -> int:
    import sys

    from pipeline.connectors import Options
    from pipeline.connectors.ingest import load_names
    from pipeline.gateway.server import serve

    options = Options(tz=args.tz)
    try:
        options.zone  # noqa: B018 - an unknown zone fails here, before the server starts
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, or ValueError for a path-like key
        print(f"gateway: unknown time zone {args.tz!r} ({exc.__class__.__name__}); use an IANA name such as "
              "Asia/Shanghai or UTC", file=sys.stderr)
        return 2
    try:
        options.names = load_names(args.names)
    except OSError as exc:
        print(f"gateway: cannot read {args.names}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    return serve(host=args.host, port=args.port, options=options)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    from pipeline.connectors.base import DEFAULT_TZ

    p = subparsers.add_parser(
        "gateway", help="receive Slack, Feishu/Lark and DingTalk webhooks and produce them to the input topic",
        description="Serve the platforms' event webhooks (POST /slack/events, /feishu/events, /dingtalk/events; "
                    "each on when its secret is set: MODERATION_SLACK_SIGNING_SECRET, "
                    "MODERATION_FEISHU_VERIFICATION_TOKEN and MODERATION_FEISHU_ENCRYPT_KEY, "
                    "MODERATION_DINGTALK_APP_SECRET). Each request is verified, converted like `moderation ingest` "
                    "does, and answered 2xx only once Kafka has acknowledged it; 503 when the broker does not "
                    "within MODERATION_GATEWAY_ACK_DEADLINE_SECONDS, so the platform retries. GET /healthz, "
                    "GET /metrics. See docs/CONNECTORS.md, \"Live webhooks\".")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to bind (default 127.0.0.1: put a TLS reverse proxy in front of it)")
    p.add_argument("--port", type=int, default=None, help="port (default $MODERATION_GATEWAY_PORT or 8780)")
    p.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of the events' timestamps (default {DEFAULT_TZ})")
    p.add_argument("--names", metavar="FILE", help="JSON object of member id → display name (部门-姓名)")
    p.set_defaults(func=cmd_gateway)


__all__ = ["add_arguments"]
