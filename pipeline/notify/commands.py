"""`moderation notify`: the notifier, live on Kafka or replaying a file."""
from __future__ import annotations

import argparse


def add_arguments(sub) -> None:
    p = sub.add_parser("notify", help="deliver escalations to people (WeCom, DingTalk, Feishu, Slack, e-mail)",
                       description="Without --replay: a Kafka consumer of the escalations and reports topics that "
                                   "delivers each once per recipient channel and records every outcome on "
                                   "moderation.deliveries. With --replay FILE: deliver the notifications of a "
                                   "JSON-lines file and exit.")
    p.add_argument("--config", default=None, help="the notifier's config (default config/notify.yaml, or "
                                                  "MODERATION_NOTIFY_CONFIG)")
    p.add_argument("--policy", default=None, help="the policy file, for its work hours (default config/policy.yaml)")
    p.add_argument("--replay", metavar="FILE", help="deliver the escalations in FILE (- for standard input) and exit")
    p.add_argument("--to", action="append", metavar="TYPE=URL", default=[],
                   help="with --replay: send to this channel instead of the configured routes "
                        "(wecom|dingtalk|feishu|slack=URL, email=smtp://[user@]host:port?sender=ADDRESS); repeatable")
    p.add_argument("--state", metavar="DIR", help="with --replay: remember what was sent in DIR; a later run with "
                                                  "the same DIR sends nothing again")
    p.add_argument("--dry-run", action="store_true", help="with --replay: print the messages, send nothing")
    p.add_argument("--quiet-hours", action="store_true", help="with --replay: hold non-severe deliveries outside "
                                                              "work hours (as live), in --state until a later run")
    p.add_argument("--json", action="store_true", help="with --replay: print delivery records as JSON lines")
    p.add_argument("--metrics-port", type=int, default=None, help="live: Prometheus /metrics port on loopback "
                                                                  "(default: metrics_port of the config)")
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.replay:
        from pipeline.notify.replay import run as run_replay

        return run_replay(args)
    if args.to or args.state or args.dry_run or args.quiet_hours or args.json:
        from pipeline.config import ConfigError

        raise ConfigError("--to, --state, --dry-run, --quiet-hours and --json go with --replay FILE")
    from pipeline.notify.service import run as run_live

    return run_live(args)
