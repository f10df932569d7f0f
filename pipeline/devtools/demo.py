"""`moderation demo`: a local broker, the worker, and the sample conversation going through it."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from pipeline.config import PROJECT_ROOT, TOPIC_NAMES, load_runtime
from pipeline.kafka.admin import consumer, delete_topics, ensure_topics, producer
from pipeline.kafka.local import LocalBroker
from pipeline.devtools.sample import conversation

MALFORMED = [b'{"event_id": "demo-bad-1", "type": "message.posted", "ts": "yesterday"', b"\xff\xfe not utf-8"]
LEVEL_STYLE = {"reminder": "yellow", "removal_recommended": "bold red", "supervisor": "bold magenta"}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "severe": "bold red"}


def run_demo(timeout: float = 180.0, pace: float = 0.05) -> int:
    console = Console()
    broker = LocalBroker.from_env()
    with console.status("Starting the local Apache Kafka broker (first run fetches it from Maven Central) …"):
        console.print(f"[green]✓[/] Kafka: {broker.up(quiet=True)}")

    run_id = time.strftime("%Y%m%d%H%M%S")
    env = {**os.environ, "MODERATION_BOOTSTRAP": broker.bootstrap, "MODERATION_APP_ID": f"moderation-demo-{run_id}",
           "MODERATION_WEB_PORT": "0", "MODERATION_DATA_DIR": str(PROJECT_ROOT / "var" / "demo")}
    for key in list(env):
        if key.startswith("MODERATION_TOPIC_"):
            del env[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("MODERATION_")})
    runtime = load_runtime()
    settings = runtime.settings
    asyncio.run(delete_topics(settings, list(TOPIC_NAMES.values())))
    time.sleep(1.0)
    asyncio.run(ensure_topics(settings))
    console.print(f"[green]✓[/] Topics: {', '.join(TOPIC_NAMES.values())} ({settings.partitions} partitions each)")

    events = conversation()
    expected = _expected(runtime, events)
    log_path = PROJECT_ROOT / "var" / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "info"],
                                  cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        with console.status("Starting the Faust worker …"):
            _wait_ready(worker, log_path, timeout=90)
        console.print(f"[green]✓[/] Worker running (pid {worker.pid}, log {log_path.relative_to(PROJECT_ROOT)})")
        console.print(f"\nReplaying the sample conversation: {len(events)} events in 3 groups, "
                      f"plus {len(MALFORMED)} malformed records.\n")
        got = asyncio.run(_replay_and_watch(console, settings, events, pace, len(expected) + len(MALFORMED), timeout))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    _summary(console, got, expected)
    return 0


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


async def _replay_and_watch(console, settings, events, pace, expect, timeout) -> list[tuple[str, dict]]:
    roles = {getattr(settings.topics, r): r
             for r in ("verdicts", "violations", "escalations", "responsiveness", "reports", "dlq")}
    c = consumer(settings, *roles, group_id=None)
    p = producer(settings)
    await c.start()
    await p.start()
    got: list[tuple[str, dict]] = []

    async def feed():
        for event in events:
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
    console.print("\nSee it live: [bold].venv/bin/moderation dashboard[/] → http://127.0.0.1:8765 "
                  "(reads these topics; log in after [bold].venv/bin/moderation users add NAME --role supervisor[/]); "
                  "follow a topic with [bold].venv/bin/moderation tail violations[/].")
