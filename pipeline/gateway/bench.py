"""`moderation bench gateway`: requests per second and latency to a 2xx of the gateway (a signed Slack
message event: the SDK's signature check, the connector, the contract check, and Kafka's acks=all
acknowledgement), next to a plain aiohttp handler that reads the body and answers 200 (the
ceiling), measured in the same run with the same client.

Each contender runs in its own process on loopback. For each: the most it takes (a closed loop:
`--connections` requests in flight for `--seconds`), then each offered rate (an open loop: request i
is sent at t0 + i/rate whatever the earlier ones do, and its latency counts from then, so a slow
server's queue shows in the figures). Every request is a distinct message, so none is answered
from the retry memory; at the end the input topic must hold exactly the requests answered 2xx.
Everything is bounded: `--seconds` per phase, and at most rate × seconds requests at a rate.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = 200
MAX_REQUESTS_PER_PHASE = 200_000
START_SECONDS = 60.0


@dataclass
class Phase:
    name: str                  # "max" or "<rate>/s"
    offered: float | None      # requests per second offered; None: as fast as it answers
    sent: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)   # seconds, of the 2xx answers

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Contender:
    name: str
    phases: list[Phase] = field(default_factory=list)
    cpu_us_per_request: float | None = None
    accepted: int = 0                 # requests answered 2xx, warm-up included
    in_kafka: int | None = None       # records in the input topic after the run (the gateway)


class SignedSlackEvents:
    """Distinct Slack message events, signed as Slack signs them (v0 HMAC-SHA256 of the timestamp
    and the body), made just before they are sent so the timestamp is fresh."""

    def __init__(self, signing_secret: str):
        self.key = signing_secret.encode("utf-8")
        self.count = 0
        self.base = int(time.time()) - 3600

    def next(self) -> tuple[bytes, dict]:
        self.count += 1
        n = self.count
        event = {"type": "message", "channel": f"C{n % CHANNELS:04d}", "user": f"U{n % 977:05d}",
                 "text": f"第 {n} 条：请各位在周五前提交三月份报销单据 <@U{(n + 1) % 977:05d}>",
                 "ts": f"{self.base + n // 1_000_000}.{n % 1_000_000:06d}", "channel_type": "channel"}
        body = orjson.dumps({"type": "event_callback", "event_id": f"Ev{n:010d}", "event": event})
        stamp = str(int(time.time()))
        signature = "v0=" + hmac.new(self.key, f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                      "X-Slack-Signature": signature}


async def _one(session, url: str, events: SignedSlackEvents, phase: Phase, started: float) -> None:
    body, headers = events.next()
    phase.sent += 1
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            ok = 200 <= response.status < 300
    except Exception:  # noqa: BLE001 - a refused or reset connection is a failed request, counted
        ok = False
    if ok:
        phase.ok += 1
        phase.latencies.append(time.perf_counter() - started)
    else:
        phase.failed += 1


async def closed_loop(url: str, events: SignedSlackEvents, connections: int, seconds: float) -> Phase:
    import aiohttp

    phase = Phase("max", None)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        begin = time.perf_counter()
        stop_at = begin + seconds

        async def worker():
            while time.perf_counter() < stop_at and phase.sent < MAX_REQUESTS_PER_PHASE:
                await _one(session, url, events, phase, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(connections)))
        phase.seconds = time.perf_counter() - begin
    return phase


async def open_loop(url: str, events: SignedSlackEvents, rate: float, seconds: float, connections: int) -> Phase:
    import aiohttp

    phase = Phase(f"{rate:g}/s", rate)
    total = min(int(rate * seconds), MAX_REQUESTS_PER_PHASE)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        begin = time.perf_counter()
        tasks = []
        for i in range(total):
            due = begin + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(_one(session, url, events, phase, due)))
        await asyncio.gather(*tasks)
        phase.seconds = max(time.perf_counter() - begin, seconds)
    return phase


# --------------------------------------------------------------------------- the contenders


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(proc: subprocess.Popen, url: str, log_path: Path) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"not up within {START_SECONDS:.0f}s:\n{log_path.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure(name: str, command: list[str], env: dict, health_url: str, url: str, signing_secret: str, *,
            rates: list[float], seconds: float, connections: int, workdir: Path, console) -> Contender:
    log_path = workdir / f"{name.split()[0]}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    contender = Contender(name)
    events = SignedSlackEvents(signing_secret)
    try:
        _wait_up(proc, health_url, log_path)
        warm = asyncio.run(closed_loop(url, events, connections, min(1.0, seconds)))     # not reported
        contender.accepted = warm.ok
        cpu_before = _cpu_seconds(proc.pid)
        peak = asyncio.run(closed_loop(url, events, connections, seconds))
        cpu = _cpu_seconds(proc.pid) - cpu_before
        contender.cpu_us_per_request = cpu / peak.sent * 1e6 if peak.sent else None
        contender.phases.append(peak)
        console.print(f"  {name}: at most {peak.rate:,.0f} requests/s ({peak.failed} failed)")
        for rate in rates:
            phase = asyncio.run(open_loop(url, events, rate, seconds, max(connections, 256)))
            contender.phases.append(phase)
            console.print(f"  {name}: {rate:,.0f}/s offered → {phase.rate:,.0f}/s answered 2xx, "
                          f"p99 {_ms(phase.percentile(99))} ms ({phase.failed} failed)")
        contender.accepted += sum(phase.ok for phase in contender.phases)
    finally:
        _stop(proc)
    return contender


async def records_in(settings, topic: str) -> int:
    from aiokafka import TopicPartition

    from pipeline.kafka.admin import consumer

    c = consumer(settings, group_id=None)
    await c.start()
    try:
        await c.topics()   # fresh metadata (and the consumer's start-up has run: stopping before it fails)
        partitions = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        c.assign(partitions)
        ends = await c.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await c.stop()


def run_bench(*, rates: list[float], seconds: float, connections: int, workdir: Path, console) -> list[Contender]:
    from pipeline.config import TOPIC_NAMES, load_settings
    from pipeline.kafka.admin import delete_topics, ensure_topics
    from pipeline.kafka.local import LocalBroker

    broker = LocalBroker.from_env()
    broker.up(quiet=True)
    prefix = f"benchgw{uuid.uuid4().hex[:8]}"
    secret = secrets.token_hex(16)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TOPIC_")}
    env = {**base, "MODERATION_BOOTSTRAP": broker.bootstrap, "PYTHONUNBUFFERED": "1",
           **{f"MODERATION_TOPIC_{role.upper()}": f"{prefix}.{topic}" for role, topic in TOPIC_NAMES.items()},
           "MODERATION_SLACK_SIGNING_SECRET": secret,
           "MODERATION_GATEWAY_MAX_CONNECTIONS": str(max(connections, 256) + 64),
           "MODERATION_GATEWAY_MAX_PENDING": "100000"}
    settings = load_settings(env=env)
    asyncio.run(ensure_topics(settings))
    results = []
    try:
        for name, command in (("plain aiohttp (ceiling)", [sys.executable, "-m", "pipeline.gateway.bench", "--ceiling"]),
                              ("gateway", [sys.executable, "-m", "pipeline.cli", "gateway"])):
            port = _free_port()
            results.append(measure(name, [*command, "--port", str(port)], env, f"http://127.0.0.1:{port}/healthz",
                                   f"http://127.0.0.1:{port}/slack/events", secret, rates=rates, seconds=seconds,
                                   connections=connections, workdir=workdir, console=console))
        results[-1].in_kafka = asyncio.run(records_in(settings, settings.topics.input))
    finally:
        asyncio.run(delete_topics(settings, [], prefix=prefix))
    return results


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.1f}"


def render(results: list[Contender], console) -> None:
    from rich.table import Table

    ceiling, gateway = results[0], results[-1]
    table = Table(title="Webhook gateway on loopback: 2xx answers (the gateway's include Kafka's acks=all)")
    table.add_column("contender")
    table.add_column("phase")
    table.add_column("requests/s", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("CPU µs/request", justify="right")
    for contender in results:
        for i, phase in enumerate(contender.phases):
            cpu = f"{contender.cpu_us_per_request:.0f}" if i == 0 and contender.cpu_us_per_request else ""
            table.add_row(contender.name if i == 0 else "", phase.name if phase.offered else "most it takes",
                          f"{phase.rate:,.0f}", _ms(phase.percentile(50)), _ms(phase.percentile(99)),
                          str(phase.failed), cpu)
    console.print(table)
    if ceiling.phases and gateway.phases and ceiling.phases[0].rate:
        console.print(f"gateway / ceiling, most it takes: {gateway.phases[0].rate / ceiling.phases[0].rate:.0%}")
    if gateway.in_kafka is not None:
        mark = "✓" if gateway.in_kafka == gateway.accepted else "✗"
        console.print(f"{mark} the input topic holds {gateway.in_kafka:,} records; the gateway answered "
                      f"{gateway.accepted:,} requests 2xx")


def bench_gateway_command(args) -> int:
    import tempfile

    from rich.console import Console

    console = Console()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        results = run_bench(rates=rates, seconds=args.seconds, connections=args.connections, workdir=Path(workdir),
                            console=console)
    render(results, console)
    if args.json:
        print(orjson.dumps([{"name": c.name, "cpu_us_per_request": c.cpu_us_per_request, "in_kafka": c.in_kafka,
                             "accepted": c.accepted,
                             "phases": [{"phase": p.name, "offered": p.offered, "rate": p.rate, "failed": p.failed,
                                         "p50_ms": p.percentile(50) and p.percentile(50) * 1000,
                                         "p99_ms": p.percentile(99) and p.percentile(99) * 1000}
                                        for p in c.phases]} for c in results]).decode())
    gateway = results[-1]
    return 0 if gateway.in_kafka == gateway.accepted else 1


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("gateway", help="the webhook gateway against a plain aiohttp handler, on loopback")
    p.add_argument("--rates", default="250,500,1000,2000", help="offered rates, requests per second")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of each phase")
    p.add_argument("--connections", type=int, default=64, help="requests in flight when measuring the most it takes")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    p.set_defaults(func=bench_gateway_command)


# --------------------------------------------------------------------------- the ceiling's server


def serve_ceiling(port: int) -> None:
    """A plain aiohttp handler on loopback: read the body, answer 200. Nothing else."""
    from aiohttp import web

    from pipeline.gateway.server import use_uvloop

    async def events(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", health)
    use_uvloop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--ceiling" and sys.argv[2] == "--port":
        serve_ceiling(int(sys.argv[3]))
    else:
        sys.exit("usage: python -m pipeline.gateway.bench --ceiling --port PORT (run by `moderation bench gateway`)")
