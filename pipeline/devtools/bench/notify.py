"""`moderation bench notify`: deliveries per second against a loopback receiver, and the
notifier's own cost per delivery.

N synthetic escalations go through the real dispatcher (plan, ledger writes, render, HTTP send,
delivery records) to WeCom-style robots on 127.0.0.1, served by a separate process (so the
receiver's work is not counted as the notifier's). The platform's rate limit is lifted for the
run (a real robot takes 20 a minute: the limit, not the notifier, sets the pace there). Reported:
deliveries per second (wall), the notifier's CPU time per delivery (its whole process: intake,
ledger, rendering, the HTTP client), and the pure parts alone (plan, render) per call.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import socket
import tempfile
import time
from datetime import datetime

from rich.console import Console
from rich.table import Table


def _receiver(port: int, ready) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def main():
        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def escalations(n: int) -> list[dict]:
    return [{"kind": "escalation", "id": f"esc-{i:020x}", "group_id": f"g-{i % 50}", "group_name": "财务部工作群",
             "ts": "2026-03-02T10:00:00+08:00", "level": "reminder", "ladder": "E1", "rule": "P6",
             "severity": "warning", "member": {"id": f"u-{i % 97}", "name": "财务部-张三"},
             "recipients": {"member": f"u-{i % 97}", "admins": ["u-wm"]},
             "evidence": {"excerpt": "哈哈哈哈今天中午吃啥啊，楼下新开的火锅店要不要去试试？"}, "why": "first P6 violation",
             "violations": [f"vio-{i}"], "schema": 1} for i in range(n)]


def config_for(port: int, robots: int):
    from pipeline.notify.config import parse_notify_config

    channels = "\n".join(f"  bot{i}: {{type: wecom, url: 'http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k{i}', "
                         f"per_minute: 100000}}" for i in range(robots))
    return parse_notify_config(f"version: 1\nchannels:\n{channels}\nroutes:\n  - roles: [admins]\n"
                               f"    channels: [{', '.join(f'bot{i}' for i in range(robots))}]\n"
                               f"directory:\n  u-wm: {{wecom: WangMing}}\n")


async def _run(records: list[dict], config, store_kind: str) -> dict:
    from pipeline.notify.channels import client
    from pipeline.notify.dispatch import Dispatcher
    from pipeline.notify.ledger import FileStore, MemoryStore
    from pipeline.notify.records import parse

    delivered = 0

    async def sink(record: dict) -> None:
        nonlocal delivered
        delivered += record["status"] == "sent"

    tmp = tempfile.TemporaryDirectory()
    store = FileStore(tmp.name) if store_kind == "file" else MemoryStore()
    await store.load()
    d = Dispatcher(config, {n: client(c, config) for n, c in config.channels.items()}, store, sink, digests=False)
    d.start()
    wall, cpu = time.perf_counter(), time.process_time()
    for raw in records:
        await d.accept(parse(raw), raw)
    await d.drain()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await d.stop()
    await store.close()
    tmp.cleanup()
    return {"delivered": delivered, "wall": wall, "cpu": cpu}


def pure_costs(n: int = 2000) -> dict:
    from pipeline.notify.channels.wecom import WeComDialect
    from pipeline.notify.plan import plan
    from pipeline.notify.records import parse
    from pipeline.notify.render import escalation_message

    config = config_for(1, 1)
    records = escalations(n)
    now = datetime.now().astimezone()
    t = time.perf_counter()
    parsed = [parse(r) for r in records]
    parse_us = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for notification, raw in zip(parsed, records):
        plan(notification, raw, config, {"bot0": "wecom"}, None, now)
    plan_us = (time.perf_counter() - t) / n * 1e6
    dialect = WeComDialect()
    t = time.perf_counter()
    for notification in parsed:
        escalation_message(notification, ("admins",), ("u-wm",), config, dialect)
    render_us = (time.perf_counter() - t) / n * 1e6
    return {"parse": parse_us, "plan": plan_us, "render": render_us}


def bench_notify_command(args) -> int:
    console = Console()
    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    receiver = ctx.Process(target=_receiver, args=(port, ready), daemon=True)
    receiver.start()
    if not ready.wait(30):
        console.print("[red]the loopback receiver did not start[/]")
        return 1
    rows = []
    try:
        for robots in args.robots:
            for store in ("memory", "file"):
                with console.status(f"{args.escalations:,} escalations → {robots} robot(s), ledger in {store}…"):
                    result = asyncio.run(_run(escalations(args.escalations), config_for(port, robots), store))
                rows.append((robots, store, result))
    finally:
        receiver.terminate()
        receiver.join(10)
    table = Table(title=f"Notifier: {args.escalations:,} escalations, one delivery per robot each, loopback receiver")
    for column in ("robots", "ledger", "deliveries", "deliveries/s", "CPU ms/delivery", "seconds"):
        table.add_column(column, justify="right")
    for robots, store, r in rows:
        table.add_row(str(robots), store, f"{r['delivered']:,}", f"{r['delivered'] / r['wall']:,.0f}",
                      f"{r['cpu'] / max(r['delivered'], 1) * 1000:.3f}", f"{r['wall']:.2f}")
    console.print(table)
    pure = pure_costs()
    console.print(f"pure parts per escalation: parse {pure['parse']:.1f} µs, plan {pure['plan']:.1f} µs, "
                  f"render {pure['render']:.1f} µs")
    ok = all(r["delivered"] == args.escalations * robots for robots, _, r in rows)
    return 0 if ok else 1


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("notify", help="the notifier: deliveries per second to a loopback robot, CPU per delivery")
    p.add_argument("--escalations", type=int, default=2000)
    p.add_argument("--robots", type=int, nargs="+", default=[1, 4], help="robot channels, each run (default 1 4)")
    p.set_defaults(func=bench_notify_command)
