"""`moderation bench ticks`: what the live clock costs at N groups (docs/RESPONSIVENESS.md).

One worker on the local broker holds N groups: N - D of them quiet (one message dated now, nothing
due for days) and D with an overdue question (dated ten days ago: the C1 reminder, its owner
escalation, the windows and the weekly report are all past due). Then:

1. due only (what the worker does): the worker is restarted with the live clock on
   (`--tick` seconds); it reads its groups from the table, ticks the D due groups, and the figures
   are the ticks it wrote to the input topic over `--periods` periods, the time the table read took
   and the worker's CPU per period once the due groups are done;
2. every group (one tick per group per period, what a clock that does not know who is due does):
   N `clock.tick` records, one per group, go to the same worker; the figures are the time it takes
   to process them, its CPU, and the input and changelog records and bytes one such round adds.
"""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
from aiokafka import TopicPartition
from rich.console import Console
from rich.table import Table

from pipeline.devtools.bench.e2e import Contender, _produce, _wait_ready, _watch
from pipeline.config import load_settings
from pipeline.kafka.admin import consumer, delete_topics, ensure_topics
from pipeline.worker.live_clock import now_stamp, tick_event
from pipeline.kafka.local import LocalBroker

CST = timezone(timedelta(hours=8))


def quiet_group(i: int, now: datetime) -> list[dict]:
    return [{"event_id": f"bt-{i}", "type": "message.posted", "ts": now.isoformat(), "group_id": f"bench-group-{i:06d}",
             "actor": {"id": f"u-{i % 97}", "name": "研发中心-张三"}, "message": {"id": f"m-{i}", "text": "报表今天下班前发我一下，谢谢"}}]


def overdue_group(i: int, asked: datetime) -> list[dict]:
    group = f"bench-due-{i:06d}"
    common = {"ts": asked.isoformat(), "group_id": group, "actor": {"id": "u-lead", "name": "研发中心-陈刚"}}
    return [
        {**common, "event_id": f"bd-{i}-c", "type": "group.configured",
         "group": {"name": f"项目组{i}", "kind": "department", "admins": ["u-lead"], "owners": ["u-lead"]}},
        {**common, "event_id": f"bd-{i}-j", "type": "member.joined", "member": {"id": "u-2", "name": "研发中心-李四"},
         "approved_by": "u-lead"},
        {**common, "event_id": f"bd-{i}-q", "type": "message.posted",
         "message": {"id": f"q-{i}", "text": "@研发中心-李四 本周的周报什么时候能交？", "mentions": ["u-2"]}},
    ]


def last_monday_morning(now: datetime) -> datetime:
    """10:00 (UTC+8) on the Monday of the week before last: a working day whatever the date."""
    day = now.astimezone(CST).date() - timedelta(days=7 + now.astimezone(CST).weekday())
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=CST)


async def _ends(settings, topic: str, partitions: int) -> dict[TopicPartition, int]:
    c = consumer(settings, group_id=None)
    await c.start()
    try:
        return await c.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await c.stop()


async def _records_between(settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> list:
    """The records of each partition from `start` to `end`."""
    c = consumer(settings, group_id=None)
    await c.start()
    try:
        tps = [tp for tp in end if end[tp] > start.get(tp, 0)]
        if not tps:
            return []
        c.assign(tps)
        for tp in tps:
            c.seek(tp, start.get(tp, 0))
        out = []
        while any([await c.position(tp) < end[tp] for tp in tps]):
            for tp, messages in (await c.getmany(timeout_ms=500, max_records=10000)).items():
                out += [m for m in messages if m.offset < end[tp]]
        return out
    finally:
        await c.stop()


def _cpu_per_period(c: Contender, tick: float, periods: int) -> float:
    """The worker's CPU seconds per `tick` seconds, over `periods` periods."""
    cpu, started = c.cpu_seconds(), time.monotonic()
    time.sleep(tick * periods)
    return (c.cpu_seconds() - cpu) / ((time.monotonic() - started) / tick)


def _size(records) -> int:
    return sum(len(m.key or b"") + len(m.value or b"") for m in records)


def _wait_for_count(settings, topic: str, partitions: int, before: dict, want: int, timeout: float) -> float:
    """Seconds until the topic has `want` records more than `before` (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        ends = asyncio.run(_ends(settings, topic, partitions))
        if sum(ends.values()) - sum(before.values()) >= want:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"{topic}: fewer than {want} new records after {timeout:.0f}s")


def measure(groups: int, due: int, tick: float, periods: int, workdir: Path, partitions: int = 4,
            console: Console | None = None) -> dict:
    console = console or Console()
    settings = load_settings()
    c = Contender("pipeline", uuid.uuid4().hex[:6], settings.bootstrap, partitions, workdir)
    asyncio.run(ensure_topics(c.settings))
    changelog = f"{c.name}-group-state-changelog"
    now, _ = now_stamp()
    asked = last_monday_morning(now)
    events = [e for i in range(groups - due) for e in quiet_group(i, now)]
    events += [e for i in range(due) for e in overdue_group(i, asked)]
    messages = {e["event_id"] for e in events if e["type"] == "message.posted"}
    result: dict = {"groups": groups, "due": due, "tick_seconds": tick, "periods": periods}
    try:
        with console.status(f"loading {groups:,} groups through the worker (live clock off) …"):
            c.start(len(events))
            _wait_ready(c)
            asyncio.run(_produce(c.settings, c.source, events))
            seen = asyncio.run(_watch(c.settings, c.sink, len(messages), timeout=600, ids=messages))
            if len(seen) < len(messages):
                raise RuntimeError(f"only {len(seen)} of {len(messages)} verdicts")
        with console.status("the worker idle, live clock off …"):
            result["idle_cpu_seconds_per_period_clock_off"] = round(_cpu_per_period(c, tick, periods), 4)
        c.stop()

        # 1. Due only: the worker as it runs, restarted so that it reads its groups from the table.
        c.env["MODERATION_LIVE_TICK_SECONDS"] = str(tick)
        inputs_before = asyncio.run(_ends(c.settings, c.source, partitions))
        escalations = c.settings.topics.escalations
        escalations_before = asyncio.run(_ends(c.settings, escalations, partitions))
        with console.status(f"due only: the worker restarted with a tick every {tick:g}s, {periods} periods …"):
            c.start(0)
            _wait_ready(c)
            # The due groups: a reminder and an owner escalation each (both deadlines are past).
            _wait_for_count(c.settings, escalations, partitions, escalations_before, 2 * due, timeout=120 + 2 * tick)
            cpu_per_period = _cpu_per_period(c, tick, periods)
        ticks = [m for m in asyncio.run(_records_between(c.settings, inputs_before,
                                                          asyncio.run(_ends(c.settings, c.source, partitions))))]
        log = c.log_path.read_text(errors="replace")
        read = re.search(r"live clock: (\d+) group\(s\) of partition\(s\) \S+ read from the table in ([\d.]+)s", log)
        result["due_only"] = {
            "ticks_written": len(ticks), "tick_bytes": _size(ticks),
            "table_read_groups": int(read.group(1)) if read else None,
            "table_read_seconds": float(read.group(2)) if read else None,
            "cpu_seconds_per_period_after": round(cpu_per_period, 4),
        }

        # 2. Every group ticked once: what one period costs when the clock ticks them all.
        _, stamp = now_stamp()
        all_ticks = [tick_event(f"bench-group-{i:06d}", stamp) for i in range(groups - due)]
        all_ticks += [tick_event(f"bench-due-{i:06d}", stamp) for i in range(due)]
        changelog_before = asyncio.run(_ends(c.settings, changelog, partitions))
        inputs_before = asyncio.run(_ends(c.settings, c.source, partitions))
        with console.status(f"every group: {groups:,} ticks through the worker …"):
            cpu_before = c.cpu_seconds()
            started = time.monotonic()
            asyncio.run(_produce(c.settings, c.source, all_ticks))
            produced = time.monotonic() - started
            _wait_for_count(c.settings, changelog, partitions, changelog_before, groups, timeout=600)
            seconds = time.monotonic() - started
            cpu = c.cpu_seconds() - cpu_before
        inputs = asyncio.run(_records_between(c.settings, inputs_before, asyncio.run(_ends(c.settings, c.source, partitions))))
        saved = asyncio.run(_records_between(c.settings, changelog_before, asyncio.run(_ends(c.settings, changelog, partitions))))
        result["every_group"] = {
            "input_records": len(inputs), "input_bytes": _size(inputs), "changelog_records": len(saved),
            "changelog_bytes": _size(saved), "seconds": round(seconds, 2), "produce_seconds": round(produced, 2),
            "worker_cpu_seconds": round(cpu, 2),
        }
        return result
    finally:
        c.stop()
        asyncio.run(delete_topics(c.settings, [], prefix=c.name))


def bench_ticks_command(args) -> int:
    console = Console()
    LocalBroker.from_env().up(quiet=True)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    r = measure(args.groups, args.due, args.tick, args.periods, workdir, console=console)
    if args.json:
        print(orjson.dumps(r, option=orjson.OPT_INDENT_2).decode())
    every, only = r["every_group"], r["due_only"]
    per_hour = 3600 / 60  # at the default tick of 60 s
    table = Table(title=f"The live clock at {r['groups']:,} groups, {r['due']:,} with a deadline past due")
    for column in ("clock", "input records", "input MB", "changelog records", "changelog MB", "worker CPU s", "seconds"):
        table.add_column(column, justify="right")
    table.add_row("every group, one period", f"{every['input_records']:,}", f"{every['input_bytes'] / 1e6:.2f}",
                  f"{every['changelog_records']:,}", f"{every['changelog_bytes'] / 1e6:.2f}",
                  f"{every['worker_cpu_seconds']:.2f}", f"{every['seconds']:.1f}")
    table.add_row("every group, an hour at 60 s", f"{every['input_records'] * per_hour:,.0f}",
                  f"{every['input_bytes'] * per_hour / 1e6:.0f}", f"{every['changelog_records'] * per_hour:,.0f}",
                  f"{every['changelog_bytes'] * per_hour / 1e6:.0f}", f"{every['worker_cpu_seconds'] * per_hour:.0f}", "")
    table.add_row(f"due only, {r['periods']} periods of {r['tick_seconds']:g}s", f"{only['ticks_written']:,}",
                  f"{only['tick_bytes'] / 1e6:.3f}", "", "", f"{only['cpu_seconds_per_period_after']:.3f} a period", "")
    console.print(table)
    console.print(f"idle worker, live clock off: {r['idle_cpu_seconds_per_period_clock_off']:.3f} CPU s a period of "
                  f"{r['tick_seconds']:g}s; due only, once the due groups are done: "
                  f"{only['cpu_seconds_per_period_after']:.3f}")
    console.print(f"due only: {only['table_read_groups']:,} groups read from the table at start in "
                  f"{only['table_read_seconds']:.2f}s; ticks only for the {r['due']:,} due groups "
                  f"(each tick fires what is due: reminder, owner escalation, windows, report)")
    return 0


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("ticks", help="the live clock's cost: ticking every group against ticking the due ones")
    p.add_argument("--groups", type=int, default=20_000)
    p.add_argument("--due", type=int, default=200, help="groups with a deadline past due")
    p.add_argument("--tick", type=float, default=5.0, help="the live clock's period in the due-only run")
    p.add_argument("--periods", type=int, default=6, help="periods watched once the due groups are done")
    p.add_argument("--workdir", default="var/bench")
    p.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    p.set_defaults(func=bench_ticks_command)
