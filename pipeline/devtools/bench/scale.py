"""`moderation bench scale` and `moderation bench workers`: a company's traffic on the real worker.

`bench scale` puts a simulated day of `--groups` groups and `--members` members
(`pipeline.devtools.simulate.simulate_groups`, with its ground truth) through one worker, once per
table store (`memory`, `rocksdb`), each in topics of its own, and measures:
  - the drain: throughput and CPU per event from the moment the worker is ready (the day already
    waiting in the input topic) to its last output;
  - memory: the worker's RSS after the day and its peak (VmHWM);
  - state: the bytes of the group states as the changelog holds them at the end (the newest record
    of each key), per group, and all the changelog bytes written (what a start without a local
    copy reads back); with RocksDB, the size of its files;
  - restart: the worker killed (`kill -9`) and started again; the time from the start until it is
    ready, and until the verdict of a message sent at the start arrives (it comes only once the
    group states are back);
  - truth: the responsiveness aggregates the worker wrote against the simulator's ground truth.

`bench workers` runs 1, 2 and 3 workers in one consumer group on the cluster: the throughput and
CPU per event of each count on a backlog, then, with events offered at a steady rate, the pause in
output when a worker joins, leaves (SIGTERM) and dies (`kill -9`).

Both print the machine's load average beside the figures: the machine may be shared, and CPU per
event is the figure least disturbed by that.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from pipeline.config import PROJECT_ROOT, TOPIC_NAMES, Settings, load_settings
from pipeline.kafka.admin import consumer, delete_topics, ensure_topics, producer, read_to_end

RESPONSIVENESS_KEYS = ("addressed", "replied", "acknowledged", "overdue", "unanswered", "reply_rate",
                       "median_reply_seconds", "p90_reply_seconds")


# --------------------------------------------------------------------------- a deployment of workers


@dataclass
class Deployment:
    """Topics of their own and workers (`moderation worker` processes) in one consumer group."""
    bootstrap: str
    workdir: Path
    partitions: int = 4
    extra_env: dict = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"bs{uuid.uuid4().hex[:6]}")
    workers: list = field(default_factory=list)

    def env(self, index: int) -> dict:
        return {**{k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TOPIC_")},
                "MODERATION_BOOTSTRAP": self.bootstrap, "MODERATION_APP_ID": self.name,
                "MODERATION_PARTITIONS": str(self.partitions), "MODERATION_WEB_PORT": "0",
                "MODERATION_DATA_DIR": str(self.workdir / self.name / f"worker-{index}"),
                **{f"MODERATION_TOPIC_{r.upper()}": f"{self.name}.{t}" for r, t in TOPIC_NAMES.items()},
                **self.extra_env}

    @property
    def settings(self) -> Settings:
        return load_settings(env=self.env(0))

    @property
    def changelog(self) -> str:
        return f"{self.name}-group-state-changelog"

    def start_worker(self, index: int | None = None) -> "Worker":
        index = len(self.workers) if index is None else index
        (self.workdir / self.name / f"worker-{index}").mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{self.name}-worker-{index}-{len(self.workers)}.log"
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "info"],
                                cwd=PROJECT_ROOT, env=self.env(index), stdout=open(log, "wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(proc, log, started)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()

    def clean(self) -> None:
        self.stop_all()
        asyncio.run(delete_topics(self.settings, [], prefix=self.name))
        shutil.rmtree(self.workdir / self.name, ignore_errors=True)


@dataclass
class Worker:
    proc: subprocess.Popen
    log: Path
    started: float              # epoch seconds

    def ready_at(self, timeout: float = 600.0) -> float:
        """When the worker said it was ready (epoch seconds, from its log)."""
        from pipeline.devtools.bench.e2e import _logged_at

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_bytes().splitlines():
                if b"Worker]: Ready" in line:
                    return _logged_at(line.decode(errors="replace"))
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"the worker was not ready in {timeout:.0f}s; see {self.log}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, field_name: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- reading and writing


async def produce_lines(settings: Settings, topic: str, lines: list[bytes]) -> None:
    """The events (JSONL lines) keyed by group, as a connector writes them."""
    p = producer(settings, linger_ms=10, max_batch_size=512 * 1024)
    await p.start()
    try:
        pending = []
        for line in lines:
            group = orjson.loads(line)["group_id"]
            pending.append(await p.send(topic, key=group.encode(), value=line))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await p.stop()


async def watch(settings: Settings, wanted: dict[str, int], timeout: float, keep: tuple[str, ...] = ()) -> dict:
    """Read the roles' topics from the start until each has `wanted[role]` distinct ids (or the
    timeout): per role the newest record timestamp (ms) and the count, and the records of `keep`."""
    names = {getattr(settings.topics, role): role for role in wanted}
    c = consumer(settings, *names, group_id=None)
    await c.start()
    ids: dict[str, set] = {role: set() for role in wanted}
    last: dict[str, int] = {role: 0 for role in wanted}
    kept: dict[str, list] = {role: [] for role in keep}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and any(len(ids[r]) < n for r, n in wanted.items()):
            for tp, messages in (await c.getmany(timeout_ms=500, max_records=20_000)).items():
                role = names[tp.topic]
                for m in messages:
                    event = orjson.loads(m.value)
                    if event.get("id") not in ids[role]:
                        ids[role].add(event.get("id"))
                        last[role] = max(last[role], m.timestamp)
                        if role in kept:
                            kept[role].append(event)
    finally:
        await c.stop()
    return {"counts": {r: len(v) for r, v in ids.items()}, "last_ms": last, "kept": kept}


async def compacted_bytes(settings: Settings, topic: str) -> tuple[int, int, int]:
    """(bytes of the newest record of each live key, keys, bytes of every record) of a topic."""
    newest: dict[bytes, int] = {}
    written = 0

    def keep(m) -> None:
        nonlocal written
        size = len(m.key or b"") + len(m.value or b"")
        written += size
        if m.value is None:
            newest.pop(m.key, None)
        else:
            newest[m.key] = size

    await read_to_end(settings, topic, keep)
    return sum(newest.values()), len(newest), written


def tracked(aggregates: list[dict]) -> list[dict]:
    rows = [{"group": e["group_id"], "window": e["window"]["kind"], "start": e["window"]["start"][:10],
             "member": e["member"]["id"] if e["member"] else None, **{k: e[k] for k in RESPONSIVENESS_KEYS}}
            for e in aggregates]
    return sorted(rows, key=_truth_order)


def truth_differences(aggregates: list[dict], truth: list[dict], path: Path) -> int:
    """How many ground-truth rows the worker's aggregates do not reproduce (and rows it wrote that
    the truth does not have); the differing rows are written to `path`."""
    got = {orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in tracked(aggregates)}
    want = {orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in truth}
    missing, extra = sorted(want - got), sorted(got - want)
    if missing or extra:
        path.write_bytes(b"".join(b"truth " + row + b"\n" for row in missing) +
                         b"".join(b"worker " + row + b"\n" for row in extra))
    return max(len(missing), len(extra))


def _truth_order(row: dict):
    return row["group"], row["window"], row["start"], row["member"] or "~"


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


# --------------------------------------------------------------------------- bench scale


def measure_store(store: str, lines: list[bytes], truth: list[dict], messages: int, bootstrap: str,
                  workdir: Path, partitions: int, console: Console) -> dict:
    d = Deployment(bootstrap, workdir, partitions, extra_env={"MODERATION_STORE": store})
    s = d.settings
    asyncio.run(ensure_topics(s))
    row: dict = {"store": store, "events": len(lines), "load_before": load()}
    try:
        with console.status(f"{store}: writing {len(lines):,} events to the input topic…"):
            asyncio.run(produce_lines(s, s.topics.input, lines))
        worker = d.start_worker(0)
        ready = worker.ready_at()
        cpu = worker.cpu_seconds()
        with console.status(f"{store}: the worker drains the day ({messages:,} verdicts, {len(truth):,} aggregates)…"):
            seen = asyncio.run(watch(s, {"verdicts": messages, "responsiveness": len(truth)},
                                     timeout=max(600.0, len(lines) / 200), keep=("responsiveness",)))
        cpu = worker.cpu_seconds() - cpu
        end_ms = max(seen["last_ms"].values())
        seconds = end_ms / 1000 - ready
        time.sleep(3)
        row.update(verdicts=seen["counts"]["verdicts"], aggregates=seen["counts"]["responsiveness"],
                   seconds=round(seconds, 1), throughput=round(len(lines) / seconds),
                   cpu_us_per_event=round(1e6 * cpu / len(lines), 1),
                   rss_after_mb=round(worker.memory_mb("VmRSS")), peak_rss_mb=round(worker.memory_mb("VmHWM")),
                   truth_differs=truth_differences(seen["kept"]["responsiveness"], truth,
                                                   workdir / f"{d.name}-truth-differences.jsonl"))
        with console.status(f"{store}: reading the changelog…"):
            live, keys, written = asyncio.run(compacted_bytes(s, d.changelog))
        groups = len({row["group"] for row in truth})
        row.update(state_bytes=live, state_keys=keys, bytes_per_group=round(live / groups),
                   changelog_written_mb=round(written / 2**20, 1),
                   disk_mb=round(_du_mb(workdir / d.name / "worker-0"), 1))
        # kill -9, start again at once, and send one message to a group the day filled
        worker.kill()
        probe_group = orjson.loads(lines[-1])["group_id"]
        probe = {"event_id": f"probe-{uuid.uuid4().hex[:8]}", "type": "message.posted",
                 "ts": orjson.loads(lines[-1])["ts"], "group_id": probe_group,
                 "actor": {"id": f"{probe_group}-u-01", "name": "研发中心-李四"},
                 "message": {"id": "probe-message", "text": "测试环境已经部署完成"}}
        with console.status(f"{store}: kill -9 and restart…"):
            restarted = d.start_worker(0)
            asyncio.run(produce_lines(s, s.topics.input, [orjson.dumps(probe)]))
            ready_after = restarted.ready_at() - restarted.started
            answer = asyncio.run(watch(s, {"verdicts": messages + 1}, timeout=900.0))
        row.update(restart_ready_s=round(ready_after, 1),
                   restart_verdict_s=round(answer["last_ms"]["verdicts"] / 1000 - restarted.started, 1)
                   if answer["counts"]["verdicts"] > messages else None,
                   rss_restarted_mb=round(restarted.memory_mb("VmRSS")), load_after=load())
        return row
    finally:
        d.clean()


def bench_scale_command(args) -> int:
    from pipeline.config import load_policy
    from pipeline.devtools.simulate import simulate_groups
    from pipeline.native import core_mode

    console = Console(width=230)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bootstrap = load_settings().bootstrap
    with console.status(f"simulating {args.groups:,} groups and {args.members:,} members for {args.days} day(s)…"):
        lines, truth = simulate_groups(args.groups, args.members, args.days, args.seed, date.fromisoformat(args.start),
                                       load_policy())
    messages = sum(1 for line in lines if b'"message.posted"' in line)
    console.print(f"{len(lines):,} events ({messages:,} messages), {len(truth):,} ground-truth rows; "
                  f"broker {bootstrap}; rules core {core_mode()}")
    rows = []
    for round_no in range(1, args.rounds + 1):
        for store in args.stores.split(","):
            row = measure_store(store, lines, truth, messages, bootstrap, workdir, args.partitions, console)
            row["round"] = round_no
            rows.append(row)
            console.print(orjson.dumps(row).decode())
    table = Table(title=f"{args.groups:,} groups, {args.members:,} members, {args.days} day(s): {len(lines):,} events")
    columns = [("store", "store"), ("round", "round"), ("events/s", "throughput"), ("CPU µs/event", "cpu_us_per_event"),
               ("RSS after MB", "rss_after_mb"), ("peak RSS MB", "peak_rss_mb"), ("state B/group", "bytes_per_group"),
               ("changelog MB written", "changelog_written_mb"), ("disk MB", "disk_mb"),
               ("restart→ready s", "restart_ready_s"), ("restart→verdict s", "restart_verdict_s"),
               ("RSS restarted MB", "rss_restarted_mb"), ("rows ≠ truth", "truth_differs"), ("load before/after", None)]
    for title, _ in columns:
        table.add_column(title, justify="right")
    for row in rows:
        table.add_row(*[f"{row['load_before']} → {row['load_after']}" if key is None else
                        (f"{row[key]:,}" if isinstance(row[key], (int, float)) and not isinstance(row[key], bool)
                         else str(row[key])) for _, key in columns])
    console.print(table)
    return 0 if all(r["truth_differs"] == 0 and r["verdicts"] == messages for r in rows) else 1


# --------------------------------------------------------------------------- bench workers


class SteadyProducer(threading.Thread):
    """Offers events at a fixed rate from its own thread until stopped."""

    def __init__(self, settings: Settings, events: list[dict], rate: float):  # noqa: D107
        super().__init__(daemon=True)
        self.settings, self.events, self.rate = settings, events, rate
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        asyncio.run(self._produce())

    async def _produce(self) -> None:
        p = producer(self.settings, linger_ms=0)
        await p.start()
        try:
            start, pending = time.monotonic(), []
            for i, event in enumerate(self.events):
                if self.stopping.is_set():
                    break
                delay = start + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(await p.send(self.settings.topics.input, key=event["group_id"].encode(),
                                            value=orjson.dumps(event)))
                self.sent += 1
            await asyncio.gather(*pending)
        finally:
            await p.stop()


def drain(count: int, events: list[dict], bootstrap: str, workdir: Path, partitions: int, console: Console) -> dict:
    """`count` workers started and settled on empty topics, then the backlog written at once."""
    d = Deployment(bootstrap, workdir, partitions)
    s = d.settings
    asyncio.run(ensure_topics(s))
    try:
        workers = [d.start_worker(i) for i in range(count)]
        for worker in workers:
            worker.ready_at()
        time.sleep(8)   # every worker joined: the group settles before the backlog comes
        before = load()
        cpu = sum(w.cpu_seconds() for w in workers)
        started = time.time()
        messages = sum(1 for e in events if e["type"] == "message.posted")
        with console.status(f"{count} worker(s): {len(events):,} events…"):
            asyncio.run(produce_lines(s, s.topics.input, [orjson.dumps(e) for e in events]))
            seen = asyncio.run(watch(s, {"verdicts": messages}, timeout=600.0))
        cpu = sum(w.cpu_seconds() for w in workers) - cpu
        seconds = seen["last_ms"]["verdicts"] / 1000 - started
        return {"workers": count, "events": len(events), "verdicts": seen["counts"]["verdicts"],
                "seconds": round(seconds, 1), "throughput": round(len(events) / seconds),
                "cpu_us_per_event": round(1e6 * cpu / len(events), 1), "load": f"{before} → {load()}"}
    finally:
        d.clean()


def rebalances(events: list[dict], rate: float, bootstrap: str, workdir: Path, partitions: int,
               console: Console, settle: float = 15.0) -> list[dict]:
    """At a steady offered rate: one worker, a second and third joining, the third leaving (SIGTERM),
    the second dying (kill -9). The longest gap in verdicts after each step, and the longest
    input→verdict delay of the events offered in that stretch."""
    d = Deployment(bootstrap, workdir, partitions)
    s = d.settings
    asyncio.run(ensure_topics(s))
    steps: list[tuple[str, float]] = []
    try:
        first = d.start_worker(0)
        first.ready_at()
        steady = SteadyProducer(s, events, rate)
        steady.start()
        time.sleep(settle)
        with console.status("joins and leaves at a steady rate…"):
            steps.append(("2nd worker joins", time.time()))
            second = d.start_worker(1)
            time.sleep(settle)
            steps.append(("3rd worker joins", time.time()))
            third = d.start_worker(2)
            time.sleep(settle)
            steps.append(("3rd worker leaves (SIGTERM)", time.time()))
            third.stop()
            time.sleep(settle)
            steps.append(("2nd worker dies (kill -9)", time.time()))
            second.kill()
            time.sleep(settle + s.session_timeout_seconds)
            steps.append(("end", time.time()))
            steady.stopping.set()
            steady.join(60)
            sent = {e["event_id"] for e in events[:steady.sent] if e["type"] == "message.posted"}
            stamps = asyncio.run(_stamps(s, sent))
        rows = []
        for (what, at), (_, until) in zip(steps, steps[1:]):
            outs = sorted(ts for eid, (inp, ts) in stamps.items() if at * 1000 <= ts < until * 1000)
            window = [at * 1000] + outs
            gap = max((b - a for a, b in zip(window, window[1:])), default=float("nan"))
            delays = [ts - inp for inp, ts in stamps.values() if at * 1000 <= inp < until * 1000]
            rows.append({"step": what, "longest_gap_s": round(gap / 1000, 1),
                         "longest_delay_s": round(max(delays, default=float("nan")) / 1000, 1),
                         "verdicts": len(outs)})
        rows.append({"step": "all offered events judged", "longest_gap_s": None, "longest_delay_s": None,
                     "verdicts": f"{len(stamps):,} of {len(sent):,}"})
        return rows
    finally:
        d.clean()


async def _stamps(settings: Settings, ids: set) -> dict[str, tuple[int, int]]:
    """Per event id: (input record timestamp, first verdict timestamp), in ms."""
    inputs: dict[str, int] = {}
    got: dict[str, tuple[int, int]] = {}

    def keep_input(m) -> None:
        event_id = orjson.loads(m.value).get("event_id")
        if event_id in ids:
            inputs.setdefault(event_id, m.timestamp)

    def keep_verdict(m) -> None:
        event_id = orjson.loads(m.value).get("event_id")
        if event_id in inputs and event_id not in got:
            got[event_id] = (inputs[event_id], m.timestamp)

    await read_to_end(settings, settings.topics.input, keep_input)
    await read_to_end(settings, settings.topics.verdicts, keep_verdict)
    return got


def bench_workers_command(args) -> int:
    from pipeline.devtools.loadgen import generate

    console = Console(width=230)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bootstrap = load_settings().bootstrap
    backlog = list(generate(args.events, groups=args.groups, seed=5))
    rows = []
    for round_no in range(1, args.rounds + 1):
        for count in range(1, args.max_workers + 1):
            row = drain(count, backlog, bootstrap, workdir, args.partitions, console)
            row["round"] = round_no
            rows.append(row)
            console.print(orjson.dumps(row).decode())
    table = Table(title=f"{args.events:,} events through 1–{args.max_workers} workers, {args.partitions} partitions")
    for column in ("workers", "round", "events/s", "CPU µs/event (all workers)", "seconds", "load"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["workers"]), str(row["round"]), f"{row['throughput']:,}", str(row["cpu_us_per_event"]),
                      str(row["seconds"]), row["load"])
    console.print(table)
    if args.rate:
        offered = list(generate(int(args.rate * 120), groups=args.groups, seed=6))
        steps = rebalances(offered, args.rate, bootstrap, workdir, args.partitions, console)
        table = Table(title=f"Joins and leaves at {args.rate:,.0f} events/s offered")
        for column in ("step", "longest gap in verdicts (s)", "longest input→verdict (s)", "verdicts"):
            table.add_column(column, justify="right")
        for row in steps:
            table.add_row(row["step"], str(row["longest_gap_s"]), str(row["longest_delay_s"]), str(row["verdicts"]))
        console.print(table)
        console.print(orjson.dumps(steps).decode())
    return 0 if all(r["verdicts"] > 0 for r in rows) else 1


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("scale", help="a simulated day of many groups through the worker, per table store")
    p.add_argument("--groups", type=int, default=20_000)
    p.add_argument("--members", type=int, default=200_000)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default="2026-02-09", help="the first simulated workday (YYYY-MM-DD)")
    p.add_argument("--stores", default="memory,rocksdb")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--workdir", default="var/bench")
    p.set_defaults(func=bench_scale_command)

    p = bench_sub.add_parser("workers", help="1, 2, 3 workers in one group: throughput, CPU per event, rebalance pauses")
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--groups", type=int, default=600)
    p.add_argument("--max-workers", type=int, default=3)
    p.add_argument("--partitions", type=int, default=12, help="divisible by 1, 2 and 3, so each count splits evenly")
    p.add_argument("--rate", type=float, default=500.0, help="offered events/s for the join/leave pauses (0: skip)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--workdir", default="var/bench")
    p.set_defaults(func=bench_workers_command)
