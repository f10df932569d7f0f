"""`moderation bench groups`: the worker's memory against the number of groups it holds.

The same N one-message groups go through the real worker twice in one run: once with the decoded
states bounded (`state_cache_groups`, the default) and once with room for all of them (what the
worker did before it had a bound). RSS is read from /proc when the worker is ready and after its
last verdict; the table also holds the group states' bytes in the table store, which stay.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.devtools.bench.e2e import Contender, _produce, _wait_ready, _watch
from pipeline.config import load_settings
from pipeline.kafka.admin import delete_topics, ensure_topics


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_message_groups(n: int) -> list[dict]:
    return [{"event_id": f"bg-{i}", "type": "message.posted", "ts": "2026-03-02T10:00:00+08:00",
             "group_id": f"bench-group-{i:06d}", "actor": {"id": f"u-{i % 97}", "name": "研发中心-张三"},
             "message": {"id": f"m-{i}", "text": "报表今天下班前发我一下，谢谢"}} for i in range(n)]


def measure(n: int, cache: int, workdir: Path, partitions: int = 4) -> dict:
    settings = load_settings()
    contender = Contender("pipeline", uuid.uuid4().hex[:6], settings.bootstrap, partitions, workdir)
    contender.env["MODERATION_STATE_CACHE_GROUPS"] = str(cache)
    asyncio.run(ensure_topics(contender.settings))
    try:
        contender.start(n)
        _wait_ready(contender)
        time.sleep(2)
        before = _rss_mb(contender.proc.pid)
        started = time.perf_counter()
        asyncio.run(_produce(contender.settings, contender.source, one_message_groups(n)))
        seen = asyncio.run(_watch(contender.settings, contender.sink, n, timeout=600))
        seconds = time.perf_counter() - started
        time.sleep(2)
        after = _rss_mb(contender.proc.pid)
        return {"groups": n, "cache": cache, "verdicts": len(seen), "rss_ready_mb": round(before, 1),
                "rss_after_mb": round(after, 1), "kb_per_group": round((after - before) * 1024 / n, 2),
                "seconds": round(seconds, 1)}
    finally:
        contender.stop()
        asyncio.run(delete_topics(contender.settings, [], prefix=contender.name))


def bench_groups_command(args) -> int:
    console = Console()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for cache in (args.cache, args.groups * 2):
        label = "bounded" if cache == args.cache else "all kept"
        with console.status(f"{args.groups:,} groups through the worker, decoded states {label} ({cache:,})…"):
            rows.append(measure(args.groups, cache, workdir))
    table = Table(title=f"Worker memory with {args.groups:,} one-message groups")
    for column in ("decoded states kept", "verdicts", "RSS ready (MB)", "RSS after (MB)", "growth per group (KB)", "seconds"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(f"{row['cache']:,}", f"{row['verdicts']:,}", str(row["rss_ready_mb"]), str(row["rss_after_mb"]),
                      str(row["kb_per_group"]), str(row["seconds"]))
    console.print(table)
    bounded, unbounded = rows
    growth = lambda r: r["rss_after_mb"] - r["rss_ready_mb"]  # noqa: E731
    console.print(f"growth bounded / all kept: {growth(bounded):.0f} / {growth(unbounded):.0f} MB "
                  f"({growth(bounded) / max(growth(unbounded), 1e-9):.0%})")
    return 0 if all(r["verdicts"] == args.groups for r in rows) else 1


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("groups", help="the worker's memory against the number of groups (bounded state cache)")
    p.add_argument("--groups", type=int, default=30_000)
    p.add_argument("--cache", type=int, default=load_settings().state_cache_groups,
                   help="decoded states kept in the bounded run (default: the configured state_cache_groups)")
    p.add_argument("--workdir", default="var/bench")
    p.set_defaults(func=bench_groups_command)
