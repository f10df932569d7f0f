"""`moderation notify --replay FILE`: deliver the escalations (and retractions, group reports) of a
JSON-lines file, as `moderation check --only escalations` prints them, and exit. Without Kafka.

`--to TYPE=URL` (repeatable) sends every recipient to those channels instead of the configured
routes; `--state DIR` remembers what was sent, so a second run with the same DIR sends nothing
again; `--dry-run` prints the messages and sends nothing.
"""
from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from pipeline.config import ConfigError
from pipeline.notify.channels import client
from pipeline.notify.config import CHANNEL_TYPES, ROLES, Channel, NotifyConfig, Route
from pipeline.notify.dispatch import Dispatcher, compose
from pipeline.notify.ledger import FileStore, MemoryStore
from pipeline.notify.plan import plan
from pipeline.notify.records import BadNotification, Notification, parse


def adhoc_channels(specs: list[str], env=os.environ) -> dict[str, Channel]:
    """`TYPE=URL` → channels named after their type (`slack`, `slack-2`, …). Signing secrets come
    from MODERATION_NOTIFY_DINGTALK_SECRET / …_FEISHU_SECRET; an e-mail URL is
    smtp://[user@]host[:port]?sender=ADDRESS[&starttls=0][&ca_file=PATH] with the password in
    MODERATION_NOTIFY_EMAIL_PASSWORD (addresses come from the config's directory)."""
    channels: dict[str, Channel] = {}
    for spec in specs:
        kind, sep, url = spec.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in CHANNEL_TYPES or not url:
            raise ConfigError(f"--to {spec!r}: expected TYPE=URL with TYPE one of {', '.join(CHANNEL_TYPES)}")
        name = kind if kind not in channels else f"{kind}-{sum(n.startswith(kind) for n in channels) + 1}"
        try:
            if kind == "email":
                parts = urlsplit(url)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if parts.scheme != "smtp" or not parts.hostname or "sender" not in query:
                    raise ValueError("an e-mail target is smtp://[user@]host[:port]?sender=ADDRESS")
                channels[name] = Channel(type="email", host=parts.hostname, port=parts.port or 587,
                                         username=unquote(parts.username) if parts.username else None,
                                         password=env.get("MODERATION_NOTIFY_EMAIL_PASSWORD") if parts.username else None,
                                         sender=query["sender"], starttls=query.get("starttls", "1") != "0",
                                         ca_file=query.get("ca_file"))
            else:
                secret = env.get(f"MODERATION_NOTIFY_{kind.upper()}_SECRET") if kind in ("dingtalk", "feishu") else None
                channels[name] = Channel(type=kind, url=url, secret=secret)
        except ValueError as exc:
            raise ConfigError(f"--to {spec!r}: {exc}") from None
    return channels


def with_targets(config: NotifyConfig, specs: list[str]) -> NotifyConfig:
    """The config with its channels and routes replaced by the `--to` targets: every recipient
    role of every notification goes to each of them."""
    channels = adhoc_channels(specs)
    return config.model_copy(update={"channels": channels,
                                     "routes": (Route(roles=ROLES, channels=tuple(channels)),)})


def read_lines(path: str) -> list[tuple[int, dict]]:
    out = []
    with (sys.stdin.buffer if path == "-" else open(path, "rb")) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                print(f"{path}:{number}: not JSON; skipped", file=sys.stderr)
                continue
            if isinstance(data, dict):
                out.append((number, data))
    return out


def describe(record: dict) -> str:
    about = record.get("escalation_id") or record.get("report_id")
    code = f", {record['code']}" if record.get("code") else ""
    extra = f" until {record['hold_until']}" if record.get("hold_until") else ""
    return (f"{record['status']:<10} {record['channel']:<12} {record['recipient']:<14} {about}  "
            f"{record['purpose']} (attempts {record['attempts']}{code}){extra}")


async def replay(path: str, config: NotifyConfig, state: str | None = None, dry_run: bool = False,
                 work_hours=None, as_json: bool = False, out=sys.stdout) -> int:
    if not config.channels:
        raise ConfigError("no channels to deliver to: give --to TYPE=URL, or configure channels and routes "
                          "in config/notify.yaml (docs/NOTIFY.md)")
    lines = read_lines(path)
    records = []
    for number, data in lines:
        try:
            record = parse(data)
        except BadNotification as exc:
            print(f"{path}:{number}: {exc}; skipped", file=sys.stderr)
            continue
        if record is not None:
            records.append((record, data))
    if dry_run:
        return _dry_run(records, config, out)
    clients = {name: client(channel, config) for name, channel in config.channels.items()}
    store = FileStore(state) if state else MemoryStore()
    counts: dict[str, int] = {}

    async def sink(record: dict) -> None:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
        out.write((orjson.dumps(record).decode() if as_json else describe(record)) + "\n")
        out.flush()

    d = Dispatcher(config, clients, store, sink, work_hours=work_hours, digests=False)
    try:
        resumed = await d.adopt(await store.load())
        if resumed:
            print(f"{resumed} deliveries were in flight when the last run stopped: sending them again",
                  file=sys.stderr)
        d.start()
        for record, data in records:
            await d.accept(record, data)
        await d.drain()
    finally:
        await d.stop()
        await store.close()
    held = d.outstanding(include_held=True)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing new to deliver"
    print(f"{len(records)} notifications: {summary}" + (f"; {held} held for work hours (run again with the same "
                                                         f"--state after they start)" if held else ""),
          file=sys.stderr)
    return 1 if counts.get("failed") else 0


def _dry_run(records, config: NotifyConfig, out) -> int:
    from datetime import datetime

    types = {name: c.type for name, c in config.channels.items()}
    now = datetime.now().astimezone()
    for record, data in records:
        if not isinstance(record, Notification):
            out.write(f"# retraction {record.id}: withdraws {', '.join(record.retracts)}\n")
            continue
        entries, _ = plan(record, data, config, types, None, now)
        for e in entries:
            c = client(config.channels[e.channel], config)
            message = compose([e], config, c.dialect)
            payload = c.payload(message, e.recipient) if types[e.channel] == "email" else c.payload(message)
            out.write(f"# {e.channel} ({types[e.channel]}) → {e.recipient}: {record.id}\n")
            out.write((payload.as_string() if types[e.channel] == "email"
                       else orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()) + "\n\n")
    return 0


def run(args) -> int:
    from pipeline.config import load_policy
    from pipeline.notify.config import load_notify_config

    config = load_notify_config(args.config)
    if args.to:
        config = with_targets(config, args.to)
    work_hours = load_policy(args.policy).work_hours if args.quiet_hours else None
    return asyncio.run(replay(args.replay, config, state=args.state, dry_run=args.dry_run, work_hours=work_hours,
                              as_json=args.json))
