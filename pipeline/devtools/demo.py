"""`moderation demo`: a local broker, the worker, and the sample conversation going through it.

The demo never deletes or rewrites anything it did not create. Every topic it makes, and its
worker's app id (so Faust's changelog topic too), starts with `namespace()`: `demo-` and a digest
of this checkout's path, so two checkouts' demos on one broker keep apart as well. A run deletes
what an earlier run of the same checkout left under that prefix, and nothing else. It runs on the
local broker (started if it is down), or on MODERATION_BOOTSTRAP / `--bootstrap`; a broker that is
not on this machine needs `--allow-remote`.
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.config import PROJECT_ROOT, TOPIC_NAMES, load_runtime, load_settings
from pipeline.kafka.admin import client_options, consumer, delete_topics, ensure_topics, producer, wait_for_broker
from pipeline.kafka.local import LocalBroker
from pipeline.devtools.sample import conversation

MALFORMED = [b'{"event_id": "demo-bad-1", "type": "message.posted", "ts": "yesterday"', b"\xff\xfe not utf-8"]
LEVEL_STYLE = {"reminder": "yellow", "removal_recommended": "bold red", "supervisor": "bold magenta"}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "severe": "bold red"}


def namespace(root: Path = PROJECT_ROOT) -> str:
    """The prefix of every topic the demo creates (and of its worker's app id)."""
    return f"demo-{hashlib.sha256(str(root).encode('utf-8')).hexdigest()[:6]}."


def topic_env(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The demo's topic names as MODERATION_TOPIC_* variables (`dashboard --demo`, `tail --demo`)."""
    return {f"MODERATION_TOPIC_{role.upper()}": namespace(root) + name for role, name in TOPIC_NAMES.items()}


def worker_env(bootstrap: str, run_id: str) -> dict[str, str]:
    """The settings of the demo's worker: its own topics and app id, no web port, and the live clock
    off, so that its outputs are those of `moderation check` on the same events (event time only)."""
    return {"MODERATION_BOOTSTRAP": bootstrap, "MODERATION_APP_ID": f"{namespace()}moderation-{run_id}",
            "MODERATION_WEB_PORT": "0", "MODERATION_LIVE_TICK_SECONDS": "0",
            "MODERATION_DATA_DIR": str(PROJECT_ROOT / "var" / "demo"), **topic_env()}


def remote_hosts(bootstrap: str) -> list[str]:
    """The servers of a bootstrap list that are not this machine (loopback addresses, `localhost`)."""
    remote = []
    for server in bootstrap.split(","):
        server = server.strip()
        host = server.rsplit(":", 1)[0] if server.count(":") == 1 or server.startswith("[") else server
        host = host.strip("[]").lower()
        if host == "localhost":
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        remote.append(server)
    return remote


def run_demo(timeout: float = 180.0, pace: float = 0.05, via: str | None = None, bootstrap: str | None = None,
             allow_remote: bool = False) -> int:
    console = Console()
    local = LocalBroker.from_env()
    # Where the dashboard and tail will look afterwards (they read MODERATION_BOOTSTRAP, then the config).
    usual = os.environ.get("MODERATION_BOOTSTRAP") or load_settings().bootstrap
    source = "--bootstrap" if bootstrap else "MODERATION_BOOTSTRAP"
    bootstrap = bootstrap or os.environ.get("MODERATION_BOOTSTRAP") or local.bootstrap
    remote = remote_hosts(bootstrap)
    if remote and not allow_remote:
        instead = "unset MODERATION_BOOTSTRAP" if source == "MODERATION_BOOTSTRAP" else "leave --bootstrap out"
        Console(stderr=True).print(
            f"[red]✗[/] {escape(', '.join(remote))} (from {source}) is not on this machine. The demo would create "
            f"its own topics there ({namespace()}*) and delete only those; pass --allow-remote to run it there "
            f"anyway, or {instead} to use the local broker.", soft_wrap=True)
        return 2

    run_id = time.strftime("%Y%m%d%H%M%S")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TOPIC_")}
    env.update(worker_env(bootstrap, run_id))
    os.environ.update({k: v for k, v in env.items() if k.startswith("MODERATION_")})
    runtime = load_runtime()
    settings = runtime.settings
    if bootstrap == local.bootstrap:
        with console.status("Starting the local Apache Kafka broker (first run fetches it from Maven Central) …"):
            console.print(f"[green]✓[/] Kafka: {local.up(quiet=True)}")
    else:
        with console.status(f"Waiting for the Kafka broker at {bootstrap} …"):
            asyncio.run(wait_for_broker(settings, 60, "demo"))
        console.print(f"[green]✓[/] Kafka: up at {bootstrap}")

    # Only what an earlier demo of this checkout created goes; the broker's other topics stay as they are.
    asyncio.run(_delete_and_wait(settings, namespace()))
    asyncio.run(ensure_topics(settings))
    console.print(f"[green]✓[/] Topics: {settings.topics.input}, {namespace()}moderation.* ({settings.partitions} "
                  f"partitions each): the demo's own, no other topic is touched")

    events = conversation()
    pairs = _gateway_deliveries(events) if via == "gateway" else None
    expected = _expected(runtime, [event for event, _ in pairs] if pairs else events)
    log_path = PROJECT_ROOT / "var" / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"],
                                  cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        with console.status("Starting the Faust worker …"):
            _wait_ready(worker, log_path, timeout=90)
        console.print(f"[green]✓[/] Worker running (pid {worker.pid}, log {log_path.relative_to(PROJECT_ROOT)})")
        console.print(f"\nReplaying the sample conversation: {len(events)} events in 3 groups, "
                      f"plus {len(MALFORMED)} malformed records.\n")
        got = asyncio.run(_replay_and_watch(console, settings, events, pace, len(expected) + len(MALFORMED), timeout,
                                            pairs))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    _summary(console, got, expected)
    if pairs:
        _compare_via_gateway(console, runtime, events, pairs, got)
    prefix = "" if usual == bootstrap else f"MODERATION_BOOTSTRAP={bootstrap} "
    console.print(f"\nSee it live: [bold]{prefix}.venv/bin/moderation dashboard --demo[/] → http://127.0.0.1:8765 "
                  f"(reads these topics; log in after [bold].venv/bin/moderation users add NAME --role supervisor[/]); "
                  f"follow a topic with [bold]{prefix}.venv/bin/moderation tail violations --demo[/].")
    return 0


async def _topics(settings) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


async def _delete_and_wait(settings, prefix: str, timeout: float = 60.0) -> None:
    """Delete the topics whose names start with `prefix`, and wait until the broker has let them go
    (a topic being deleted cannot be created again)."""
    await delete_topics(settings, [], prefix=prefix)
    deadline = time.monotonic() + timeout
    while any(name.startswith(prefix) for name in await _topics(settings)):
        if time.monotonic() > deadline:
            raise SystemExit(f"the broker did not delete the demo's earlier topics ({prefix}*) within {timeout:.0f}s")
        await asyncio.sleep(0.5)


def _expected(runtime, events) -> dict[str, dict]:
    from pipeline.classify import load_classifier
    from pipeline.core.engine import Engine
    from pipeline.core.offline import run

    engine = Engine(runtime.policy, load_classifier(runtime.policy))
    return {e["id"]: e for _, e in run(engine, [orjson.dumps(x) for x in events])}


def _wait_ready(proc, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if b"Worker]: Ready" in log_path.read_bytes():
            return
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}); see {log_path}")
        time.sleep(0.2)
    raise SystemExit(f"the worker did not become ready in {timeout:.0f}s; see {log_path}")


async def _replay_and_watch(console, settings, events, pace, expect, timeout, pairs=None) -> list[tuple[str, dict]]:
    roles = {getattr(settings.topics, r): r
             for r in ("verdicts", "violations", "escalations", "responsiveness", "reports", "dlq")}
    c = consumer(settings, *roles, group_id=None)
    p = producer(settings)
    await c.start()
    await p.start()
    got: list[tuple[str, dict]] = []

    async def feed():
        if pairs is not None:
            await _feed_via_gateway(settings, pairs, p, pace)
        for event in events if pairs is None else ():
            await p.send(settings.topics.input, key=event["group_id"].encode(), value=orjson.dumps(event))
            await asyncio.sleep(pace)
        for raw in MALFORMED:
            await p.send(settings.topics.input, key=b"unknown", value=raw)
        await p.flush()

    feeder = asyncio.create_task(feed())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline and (len(got) < expect or not feeder.done()):
            for tp, messages in (await c.getmany(timeout_ms=300)).items():
                for m in messages:
                    event = orjson.loads(m.value)
                    got.append((roles[tp.topic], event))
                    _print_live(console, roles[tp.topic], event)
    finally:
        feeder.cancel()
        await p.stop()
        await c.stop()
    return got


def _print_live(console, role: str, e: dict) -> None:
    who = (e.get("member") or {}).get("name") or (e.get("member") or {}).get("id") or ""
    if role == "violations":
        style = SEVERITY_STYLE.get(e["severity"], "")
        console.print(f"[dim]{e['ts'][11:16]}[/] [{style}]⚠ {e['rule']:<3} {e['severity']:<7}[/] {e['group_id']:<9} "
                      f"{who:<12} {e.get('excerpt') or e.get('action')}", overflow="ellipsis", no_wrap=True)
    elif role == "escalations":
        style = LEVEL_STYLE.get(e["level"], "")
        to = ", ".join(f"{k}: {v if isinstance(v, str) else ','.join(v)}" for k, v in e["recipients"].items() if v)
        console.print(f"[dim]{e['ts'][11:16]}[/] [{style}]↑ {e['level']}[/] {e['rule']} {who} → {to}",
                      overflow="ellipsis", no_wrap=True)
    elif role == "reports":
        console.print(f"[dim]{e['ts'][11:16]}[/] [bold blue]▤ group report[/] {e['group_id']}", overflow="ellipsis")
    elif role == "dlq":
        console.print(f"      [red]✗ DLQ[/] {e['reason']} (offset {e['source']['offset']})", overflow="ellipsis")


def _summary(console, got, expected) -> None:
    outputs = [e for role, e in got if role != "dlq"]
    counts = Counter(role for role, _ in got)
    table = Table(title="Violations by group and rule")
    rules = sorted({e["rule"] for role, e in got if role == "violations"})
    groups = sorted({e["group_id"] for role, e in got if role == "violations"})
    table.add_column("group")
    for rule in rules:
        table.add_column(rule, justify="right")
    per = Counter((e["group_id"], e["rule"]) for role, e in got if role == "violations")
    for g in groups:
        table.add_row(g, *[str(per[(g, r)] or "") for r in rules])
    console.print()
    console.print(table)
    levels = Counter(e["level"] for role, e in got if role == "escalations")
    console.print("Escalations: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))
    console.print(f"Outputs read back from Kafka: {counts['verdicts']} verdicts, {counts['violations']} violations, "
                  f"{counts['escalations']} escalations, {counts['responsiveness']} responsiveness aggregates, "
                  f"{counts['reports']} group reports, {counts['dlq']} DLQ records.")
    same = {e["id"]: e for e in outputs} == expected
    mark = "[green]✓ identical[/]" if same else "[red]✗ different[/]"
    console.print(f"Kafka outputs vs. `moderation check` on the same events: {mark}")


# --------------------------------------------------------------------------- --via gateway (pipeline/gateway/demo.py)


def _gateway_deliveries(events):
    from pipeline.gateway.demo import deliveries

    return deliveries(events)


async def _feed_via_gateway(settings, pairs, producer, pace) -> None:
    from pipeline.gateway.demo import feed

    await feed(settings, pairs, producer, pace)


def _compare_via_gateway(console, runtime, events, pairs, got) -> None:
    from pipeline.gateway.demo import differences

    posted = sum(body is not None for _, body in pairs)
    found = differences(_expected(runtime, events), {e["id"]: e for role, e in got if role != "dlq"}, events, pairs)
    mark = "[green]✓ the same[/]" if not found else "[red]✗ different[/]: " + "; ".join(found[:5])
    console.print(f"{posted} messages posted to the gateway as signed Slack events: labels and rules vs. the "
                  f"conversation produced directly: {mark}")
