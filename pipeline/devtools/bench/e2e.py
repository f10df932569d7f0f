"""`moderation bench e2e`: the pipeline against raw Kafka baselines on the real local broker.

Three contenders see the same N generated events in topics of their own:
  raw       aiokafka consume → produce one record per input (the ceiling);
  classify  aiokafka consume → decode → classify in batches → produce verdicts (no Faust, no rules);
  pipeline  the Faust worker with every rule on.
Throughput: a backlog of N events, timed from the moment the contender reports ready (the
backlog is already waiting) to its last output record, so start-up is not counted; the
contender's CPU time over the same stretch gives CPU per event, which shared machines disturb
less. Latency: events offered at fixed rates to the running contender, produce→output per event
from the record timestamps. Peak memory: the process's VmHWM.
With `--rounds R` each contender drains the backlog R times, the contenders taking turns, and the
ratios are taken within each round (the figures of one machine state) before the median.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.config import PROJECT_ROOT, TOPIC_NAMES, load_settings
from pipeline.kafka.admin import consumer, delete_topics, ensure_topics, producer, read_to_end
from pipeline.kafka.local import LocalBroker
from pipeline.devtools.loadgen import generate
from pipeline.native import core_mode

KINDS = ("raw", "classify", "pipeline")


@dataclass
class Result:
    kind: str
    events: int
    seconds: float = 0.0
    throughput: float = 0.0
    latency_ms: dict = field(default_factory=dict)      # offered rate → {p50, p95, p99, n}
    peak_rss_mb: float = 0.0
    cpu_us_per_event: float = 0.0   # the contender's CPU time while draining the backlog, per event
    rounds: list[dict] = field(default_factory=list)    # each drain: seconds, throughput, cpu_us_per_event


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Contender:
    def __init__(self, kind: str, run_id: str, bootstrap: str, partitions: int, workdir: Path):
        self.kind, self.run_id = kind, run_id
        self.name = f"bench{run_id}{kind}"
        self.workdir = workdir
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TOPIC_")},
                    "MODERATION_BOOTSTRAP": bootstrap, "MODERATION_APP_ID": self.name,
                    "MODERATION_PARTITIONS": str(partitions), "MODERATION_WEB_PORT": "0",
                    "MODERATION_DATA_DIR": str(workdir / self.name),
                    # Event time only: no wall-clock ticks among the measured events.
                    "MODERATION_LIVE_TICK_SECONDS": "0",
                    **{f"MODERATION_TOPIC_{r.upper()}": f"{self.name}.{t}" for r, t in TOPIC_NAMES.items()}}
        self.settings = load_settings(env=self.env)
        self.source = self.settings.topics.input
        self.sink = self.settings.topics.verdicts
        self.proc: subprocess.Popen | None = None

    def start(self, count: int) -> None:
        log = open(self.workdir / f"{self.name}.log", "wb")
        if self.kind == "pipeline":
            cmd = [sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "info"]
        else:
            cmd = [sys.executable, "-m", "pipeline.devtools.bench.baseline", self.kind, "--source", self.source,
                   "--sink", self.sink, "--count", str(count), "--group", self.name]
        self.log_path = Path(log.name)
        self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def peak_rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        for line in reversed(self.log_path.read_text(errors="replace").splitlines()):
            if line.startswith("{") and "peak_rss_mb" in line:
                return orjson.loads(line)["peak_rss_mb"]
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the contender's process so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


async def _produce(settings, topic: str, events: list[dict], rate: float | None = None, progress=None, task=None):
    p = producer(settings, linger_ms=5 if rate is None else 0, max_batch_size=512 * 1024)
    await p.start()
    try:
        start = time.perf_counter()
        pending = []
        for i, e in enumerate(events):
            if rate is not None:
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await p.send(topic, key=e["group_id"].encode(), value=orjson.dumps(e)))
            if progress is not None and i % 1000 == 999:
                progress.advance(task, 1000)
        await asyncio.gather(*pending)
        if progress is not None:
            progress.update(task, completed=len(events))
    finally:
        await p.stop()


async def _watch(settings, topic: str, want: int, timeout: float, progress=None, task=None,
                 ids: set | None = None) -> dict[str, int]:
    """Output record timestamps (ms) by event id, until `want` distinct ids have arrived."""
    c = consumer(settings, topic, group_id=None, auto_offset_reset="earliest")
    await c.start()
    seen: dict[str, int] = {}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(seen) < want and loop.time() < deadline:
            for messages in (await c.getmany(timeout_ms=300, max_records=5000)).values():
                for m in messages:
                    event_id = orjson.loads(m.value).get("event_id")
                    if event_id and (ids is None or event_id in ids) and event_id not in seen:
                        seen[event_id] = m.timestamp
                        if progress is not None:
                            progress.advance(task)
    finally:
        await c.stop()
    return seen


def _wait_ready(contender: Contender, timeout: float = 120) -> float:
    """Wait until the contender is ready; returns the moment it said so (epoch seconds, from its log)."""
    marker = b"Worker]: Ready" if contender.kind == "pipeline" else b'"ready":true'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in contender.log_path.read_bytes().splitlines():
            if marker in line:
                return _logged_at(line.decode(errors="replace"))
        if contender.proc.poll() is not None:
            raise RuntimeError(f"{contender.kind} exited: {contender.log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)  # the contender's CPU is read from here on
    raise RuntimeError(f"{contender.kind} not ready in {timeout}s")


def _logged_at(line: str) -> float:
    if line.startswith("{"):
        return orjson.loads(line)["at"]
    # Faust's log line: "[2026-11-26 02:45:33,811] [pid] [INFO] [^Worker]: Ready" in local time
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def run_bench(n: int = 50_000, rates=(250, 500, 1000, 2000), seconds_per_rate: float = 5.0, partitions: int = 4,
              kinds=KINDS, workdir: Path | None = None, console: Console | None = None,
              rounds: int = 1) -> list[Result]:
    """`rounds` backlog drains per contender, taken in turn (raw, classify, pipeline, raw, ...), so a
    change in the machine's load falls on every contender alike; the latency phases run in the last
    round. A contender's throughput and CPU figures are the medians of its rounds."""
    console = console or Console()
    broker = LocalBroker.from_env()
    broker.up(quiet=True)
    run_id = uuid.uuid4().hex[:6]
    workdir = workdir or PROJECT_ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    backlog = list(generate(n, seed=1))
    # Few groups, so most offered events are messages rather than group set-up.
    offered = {rate: list(generate(int(rate * seconds_per_rate), seed=100 + rate, groups=20))
               for rate in rates}
    # Distinct event ids per phase: the latency events must not collide with the backlog's.
    for rate, events in offered.items():
        for e in events:
            e["event_id"] = f"r{rate}-{e['event_id']}"
            e["group_id"] = f"r{rate}-{e['group_id']}"
    results = {kind: Result(kind, n) for kind in kinds}
    with Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        for round_no in range(1, rounds + 1):
            last = round_no == rounds
            for kind in kinds:
                label = f"{kind}" + (f" (round {round_no}/{rounds})" if rounds > 1 else "")
                c = Contender(kind, f"{run_id}{round_no}", broker.bootstrap, partitions, workdir)
                asyncio.run(ensure_topics(c.settings))
                t = progress.add_task(f"{label}: writing the backlog", total=n)
                asyncio.run(_produce(c.settings, c.source, backlog, progress=progress, task=t))
                c.start(n + (sum(len(v) for v in offered.values()) if last else 0))
                try:
                    results[kind].rounds.append(_drain(c, backlog, progress, label))
                    if last:
                        for rate, events in offered.items():
                            results[kind].latency_ms[rate] = _latency(c, events, rate, seconds_per_rate, progress)
                        results[kind].peak_rss_mb = round(c.peak_rss_mb(), 1)
                finally:
                    c.stop()
                    asyncio.run(delete_topics(c.settings, [getattr(c.settings.topics, r) for r in TOPIC_NAMES]))
    for result in results.values():
        result.seconds = _pct([r["seconds"] for r in result.rounds], 0.5)
        result.throughput = _pct([r["throughput"] for r in result.rounds], 0.5)
        result.cpu_us_per_event = _pct([r["cpu_us_per_event"] for r in result.rounds], 0.5)
    return list(results.values())


def _drain(c: Contender, backlog: list[dict], progress: Progress, label: str) -> dict:
    """Throughput and CPU per event while the contender drains the backlog waiting for it."""
    n = len(backlog)
    posted = {e["event_id"] for e in backlog if c.kind == "raw" or e["type"] == "message.posted"}
    ready_ms = _wait_ready(c) * 1000
    cpu_before = c.cpu_seconds()
    t = progress.add_task(f"{label}: draining {n:,} events", total=len(posted))
    seen = asyncio.run(_watch(c.settings, c.sink, len(posted), timeout=max(120, n / 500),
                              progress=progress, task=t, ids=posted))
    cpu_used = c.cpu_seconds() - cpu_before
    # From the moment the contender is ready (the backlog is already waiting) to its last output:
    # the first output only comes after a whole first batch.
    seconds = (max(seen.values()) - ready_ms) / 1000 if seen else float("nan")
    return {"seconds": round(seconds, 3), "throughput": round(n / seconds, 1) if seconds else 0.0,
            "cpu_us_per_event": round(1e6 * cpu_used / n, 1)}


def _latency(c: Contender, events: list[dict], rate: int, seconds_per_rate: float, progress: Progress) -> dict:
    """Produce→output latency percentiles with `events` offered at `rate` per second."""
    t = progress.add_task(f"{c.kind}: {rate:,}/s for {seconds_per_rate:.0f}s", total=len(events))
    ids = {e["event_id"] for e in events if c.kind == "raw" or e["type"] == "message.posted"}

    async def phase():
        watcher = asyncio.create_task(_watch(c.settings, c.sink, len(ids), timeout=60 + seconds_per_rate, ids=ids))
        await asyncio.sleep(0.5)
        await _produce(c.settings, c.source, events, rate=rate, progress=progress, task=t)
        return await watcher

    out = asyncio.run(phase())
    sent_at = asyncio.run(_input_stamps(c.settings, c.source, ids))
    lat = [out[i] - sent_at[i] for i in out if i in sent_at]
    return {"p50": _pct(lat, 0.50), "p95": _pct(lat, 0.95), "p99": _pct(lat, 0.99), "n": len(lat),
            "lost": len(ids) - len(out)}


async def _input_stamps(settings, topic: str, ids: set) -> dict[str, int]:
    """Producer timestamps of the input records with these ids (reads the topic to its end)."""
    stamps: dict[str, int] = {}

    def keep(m) -> None:
        event_id = orjson.loads(m.value).get("event_id")
        if event_id in ids:
            stamps[event_id] = m.timestamp

    await read_to_end(settings, topic, keep)
    return stamps


def render(results: list[Result], console: Console, core: str) -> None:
    table = Table(title="End-to-end on the local broker")
    table.add_column("contender")
    table.add_column("events/s", justify="right")
    for rate in results[0].latency_ms:
        table.add_column(f"p50/p95/p99 ms @{rate}/s", justify="right")
    table.add_column("peak RSS MB", justify="right")
    table.add_column("CPU µs/event", justify="right")
    for r in results:
        table.add_row(r.kind, f"{r.throughput:,.0f}",
                      *[f"{v['p50']:.0f}/{v['p95']:.0f}/{v['p99']:.0f}" for v in r.latency_ms.values()],
                      f"{r.peak_rss_mb:,.0f}", f"{r.cpu_us_per_event:,.0f}")
    console.print(table)
    for base, share in ratios(results).items():
        line = f"pipeline / {base}: {share['throughput']:.0%} of its throughput"
        if share.get("cpu"):
            line += f", {share['cpu']:.0%} of its events per CPU second"
        if len(share["rounds"]) > 1:
            line += " (round by round: " + ", ".join(f"{x:.0%}" for x in share["rounds"]) + ")"
        console.print(line)
    console.print(f"rules core: {core} (pipeline/native.py)")


def ratios(results: list[Result]) -> dict[str, dict]:
    """The pipeline against each baseline, round by round (the contenders of a round ran one after
    the other), and the median of those per-round ratios."""
    by = {r.kind: r for r in results}
    if "pipeline" not in by:
        return {}
    pipeline = by["pipeline"].rounds
    out = {}
    for base in ("raw", "classify"):
        if base not in by or not by[base].rounds:
            continue
        pairs = list(zip(pipeline, by[base].rounds))
        rounds = [p["throughput"] / b["throughput"] for p, b in pairs if b["throughput"]]
        cpu = [b["cpu_us_per_event"] / p["cpu_us_per_event"] for p, b in pairs if p["cpu_us_per_event"] > 0]
        out[base] = {"throughput": _pct(rounds, 0.5), "cpu": _pct(cpu, 0.5) if cpu else None, "rounds": rounds}
    return out


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in results:
        rates = list(r.latency_ms)
        ax.plot(rates, [r.latency_ms[x]["p99"] for x in rates], marker="o", label=f"{r.kind} p99")
        ax.plot(rates, [r.latency_ms[x]["p50"] for x in rates], marker=".", linestyle="--", label=f"{r.kind} p50")
    ax.set_xlabel("offered rate (events/s)")
    ax.set_ylabel("produce → output latency (ms)")
    ax.set_yscale("symlog", linthresh=1)  # a p50 of 0 ms at a low rate stays on the chart
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Latency against offered rate (local Apache Kafka 3.9.1, 2 cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def bench_e2e_command(args) -> int:
    console = Console(stderr=args.json)
    rates = tuple(int(x) for x in args.rates.split(","))
    results = run_bench(n=args.events, rates=rates, seconds_per_rate=args.seconds, partitions=args.partitions,
                        kinds=tuple(args.kinds.split(",")), console=console, rounds=args.rounds)
    core = core_mode()
    if args.json:
        print(orjson.dumps({"results": [asdict(r) for r in results], "ratios": ratios(results), "core": core},
                           option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    else:
        render(results, console, core)
    if args.plot:
        plot(results, Path(args.plot))
        console.print(f"plot written to {args.plot}")
    return 0


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("e2e", help="the pipeline against raw aiokafka baselines on the local broker")
    p.add_argument("--events", type=int, default=50_000, help="backlog size for the throughput figure")
    p.add_argument("--rates", default="250,500,1000,2000", help="offered rates for the latency figures")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds at each offered rate")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3,
                   help="backlog drains per contender, taken in turn; figures are their medians")
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--plot", default=None, help="write the latency plot (PNG) here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=bench_e2e_command)
