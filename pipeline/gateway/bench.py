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
import statistics
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
OPEN_LOOP_CONNECTIONS = 256      # the client's pool at an offered rate: enough that it never holds a request back


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
    command: list[str]
    port: int = 0
    proc: subprocess.Popen | None = None
    peaks: list[Phase] = field(default_factory=list)        # the most it takes, one per round
    rates: list[Phase] = field(default_factory=list)        # one per offered rate
    cpu_us: list[float] = field(default_factory=list)       # its process's CPU per request, per round
    accepted: int = 0                 # requests answered 2xx, warm-up included
    in_kafka: int | None = None       # records in the input topic after the run (the gateway)
    peak_rss_mb: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def peak(self) -> float:
        return statistics.median(p.rate for p in self.peaks) if self.peaks else 0.0


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


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _start(contender: Contender, env: dict, workdir: Path) -> None:
    contender.port = _free_port()
    log_path = workdir / f"{contender.name.split()[0]}.log"
    with open(log_path, "wb") as log:
        contender.proc = subprocess.Popen([*contender.command, "--port", str(contender.port)], cwd=ROOT, env=env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_up(contender.proc, f"http://127.0.0.1:{contender.port}/healthz", log_path)


def _peak_round(contender: Contender, events: SignedSlackEvents, connections: int, seconds: float) -> Phase:
    before = _cpu_seconds(contender.proc.pid)
    phase = asyncio.run(closed_loop(contender.url, events, connections, seconds))
    if phase.sent:
        contender.cpu_us.append((_cpu_seconds(contender.proc.pid) - before) / phase.sent * 1e6)
    contender.peaks.append(phase)
    contender.accepted += phase.ok
    return phase


async def records_in(settings, topic: str) -> int:
    from aiokafka import TopicPartition

    from pipeline.kafka.admin import consumer, producer

    p = producer(settings)
    await p.start()
    try:   # the producer's metadata knows every partition of a topic (a fresh consumer's knows only its own)
        partitions = [TopicPartition(topic, n) for n in await p.partitions_for(topic)]
    finally:
        await p.stop()
    c = consumer(settings, group_id=None)
    await c.start()
    try:
        c.assign(partitions)
        ends = await c.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await c.stop()


def run_bench(*, rates: list[float], seconds: float, connections: int, rounds: int, workdir: Path,
              console) -> list[Contender]:
    """Both servers run side by side; they take turns (ceiling, gateway, ceiling, …) so that a change
    in the shared machine's load falls on both: `rounds` turns at the most each takes, then one turn
    each at every offered rate."""
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
           "MODERATION_GATEWAY_MAX_CONNECTIONS": str(max(connections, OPEN_LOOP_CONNECTIONS) + 64),
           "MODERATION_GATEWAY_MAX_PENDING": "100000"}
    settings = load_settings(env=env)
    asyncio.run(ensure_topics(settings))
    contenders = [Contender("plain aiohttp (ceiling)", [sys.executable, "-m", "pipeline.gateway.bench", "--ceiling"]),
                  Contender("gateway", [sys.executable, "-m", "pipeline.cli", "gateway"])]
    events = SignedSlackEvents(secret)
    try:
        for contender in contenders:
            _start(contender, env, workdir)
            warm = asyncio.run(closed_loop(contender.url, events, connections, min(1.0, seconds)))  # not reported
            contender.accepted += warm.ok
        for round_ in range(1, rounds + 1):
            for contender in contenders:
                phase = _peak_round(contender, events, connections, seconds)
                console.print(f"  round {round_}: {contender.name}: {phase.rate:,.0f} requests/s answered 2xx "
                              f"({phase.failed} failed), {contender.cpu_us[-1]:.0f} µs CPU per request")
        for rate in rates:
            for contender in contenders:
                phase = asyncio.run(open_loop(contender.url, events, rate, seconds, OPEN_LOOP_CONNECTIONS))
                contender.rates.append(phase)
                contender.accepted += phase.ok
                console.print(f"  {rate:,.0f}/s offered: {contender.name}: {phase.rate:,.0f}/s answered 2xx, "
                              f"p50 {_ms(phase.percentile(50))} ms, p99 {_ms(phase.percentile(99))} ms "
                              f"({phase.failed} failed)")
        for contender in contenders:
            contender.peak_rss_mb = _peak_rss_mb(contender.proc.pid)
        contenders[-1].in_kafka = asyncio.run(records_in(settings, settings.topics.input))
    finally:
        for contender in contenders:
            if contender.proc is not None:
                _stop(contender.proc)
        asyncio.run(delete_topics(settings, [], prefix=prefix))
    return contenders


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.1f}"


def render(results: list[Contender], console) -> None:
    from rich.table import Table

    ceiling, gateway = results[0], results[-1]
    table = Table(title="Webhook gateway on loopback: requests answered 2xx (the gateway's after Kafka's acks=all)")
    table.add_column("contender")
    table.add_column("phase")
    table.add_column("requests/s", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("failed", justify="right")
    for contender in results:
        peak = sorted(contender.peaks, key=lambda p: p.rate)[len(contender.peaks) // 2] if contender.peaks else None
        rows = ([("most it takes (median round)", peak)] if peak else []) + [(p.name + " offered", p)
                                                                             for p in contender.rates]
        for i, (name, phase) in enumerate(rows):
            table.add_row(contender.name if i == 0 else "", name, f"{phase.rate:,.0f}", _ms(phase.percentile(50)),
                          _ms(phase.percentile(99)), str(phase.failed))
    console.print(table)
    for contender in results:
        cpu = f"{statistics.median(contender.cpu_us):.0f} µs CPU per request" if contender.cpu_us else ""
        rss = f", peak RSS {contender.peak_rss_mb:.0f} MB" if contender.peak_rss_mb else ""
        console.print(f"{contender.name}: {cpu}{rss}")
    ratios = [g.rate / c.rate for c, g in zip(ceiling.peaks, gateway.peaks) if c.rate]
    if ratios:
        console.print(f"gateway / ceiling, most it takes: rounds {', '.join(f'{r:.0%}' for r in ratios)}; "
                      f"median {statistics.median(ratios):.0%}")
    if gateway.in_kafka is not None:
        mark = "✓" if gateway.in_kafka == gateway.accepted else "✗"
        console.print(f"{mark} the input topic holds {gateway.in_kafka:,} records; the gateway answered "
                      f"{gateway.accepted:,} requests 2xx")


def bench_gateway_command(args) -> int:
    import tempfile

    from rich.console import Console

    from pipeline.devtools.bench.scale import load

    console = Console()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    console.print(f"load average at the start (1/5/15 min): {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        results = run_bench(rates=rates, seconds=args.seconds, connections=args.connections, rounds=args.rounds,
                            workdir=Path(workdir), console=console)
    render(results, console)
    console.print(f"load average at the end (1/5/15 min): {load()}")
    if args.json:
        print(orjson.dumps([{"name": c.name, "cpu_us_per_request": c.cpu_us, "in_kafka": c.in_kafka,
                             "accepted": c.accepted, "peak_rss_mb": c.peak_rss_mb,
                             "phases": [{"phase": "max" if p.offered is None else p.name, "rate": p.rate,
                                         "failed": p.failed, "p50_ms": _ms(p.percentile(50)),
                                         "p99_ms": _ms(p.percentile(99))} for p in [*c.peaks, *c.rates]]}
                            for c in results]).decode())
    gateway = results[-1]
    return 0 if gateway.in_kafka == gateway.accepted else 1


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("gateway", help="the webhook gateway against a plain aiohttp handler, on loopback")
    p.add_argument("--rates", default="250,500,1000,2000", help="offered rates, requests per second")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of each phase")
    p.add_argument("--connections", type=int, default=128,
                   help="requests in flight when measuring the most it takes (default 128)")
    p.add_argument("--rounds", type=int, default=3, help="turns each at the most it takes; the median is reported")
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
