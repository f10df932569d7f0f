"""`moderation bench dashboard`: the dashboard at 20,000 groups (docs/SCALING.md, "Dashboard").

In one run, on the local broker and topics of the run's own:

1. output records as the worker writes them (`dashboard_traffic`: the real core's outputs moved onto
   `--groups` groups) fill the topics (`--prefill`, a day's worth: every store of the dashboard full);
2. the dashboard runs as its own process (`python -m pipeline.dashboard dashboard`), from this
   checkout and, with `--baseline REF`, from that commit (unpacked with `git archive` into the work
   folder), one after the other, against the same topics and users;
3. for each: its reading rate, CPU per record and RSS once it has read the prefill; `/api/state`
   (time and bytes) and the page's first load in headless Chromium (time to the rendered tables,
   bytes) for a supervisor and a group admin; then at each `--rates` (output records per second
   for `--seconds`), with one supervisor and `--admins` group admins (`--per-admin` groups each)
   following the live stream: the updates each client gets (count, bytes per second, sizes), the
   dashboard's CPU per record and RSS, and how long it took to catch up;
4. the time to build one update, in one process per source tree (`dashboard_build.py`) with the
   same records.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from pipeline.config import PROJECT_ROOT, TOPIC_NAMES, load_settings
from pipeline.devtools.bench.dashboard_traffic import Traffic, admin_groups
from pipeline.kafka.admin import delete_topics, ensure_topics, producer

PASSWORD = "bench dashboard password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TICK = 0.5                 # the server's push interval: what one update covers at a given rate
BROWSER_LOADS = 3


# --------------------------------------------------------------------------- the source trees


@dataclass
class Tree:
    """A source tree the dashboard runs from: this checkout, or a commit unpacked."""
    label: str
    root: Path
    pythonpath: str | None = None


def unpack(ref: str, workdir: Path) -> Tree:
    sha = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    target = workdir / f"dashboard-baseline-{sha[:12]}"
    if not (target / "pipeline").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", sha, "pipeline", "config"],
                                 check=True, capture_output=True).stdout
        tar = target / "src.tar"
        tar.write_bytes(archive)
        with tarfile.open(tar) as t:
            t.extractall(target, filter="data")
        tar.unlink()
    return Tree(f"{ref} ({sha[:8]})", target, str(target))


def _env(tree: Tree, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    if tree.pythonpath:
        env["PYTHONPATH"] = tree.pythonpath
    return env


# --------------------------------------------------------------------------- the dashboard process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """The dashboard as a child process; its CPU and memory read from /proc."""

    def __init__(self, tree: Tree, env: dict[str, str], log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.dashboard", "dashboard", "--port", str(self.port)],
                                     cwd=tree.root, env=_env(tree, env), stdout=open(log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.log = log

    def cpu_seconds(self) -> float:
        fields_ = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, key: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# --------------------------------------------------------------------------- HTTP clients


async def log_in(url: str, name: str):
    import aiohttp

    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_read=120))
    try:
        page = await (await session.get(url + "login")).text()
        response = await session.post(url + "login", allow_redirects=False, data={
            "username": name, "password": PASSWORD, "csrf": CSRF.search(page).group(1)})
        if response.status != 303:
            raise RuntimeError(f"bench: logging in as {name} answered {response.status}")
    except BaseException:
        await session.close()
        raise
    return session


async def records_read(session, url: str) -> int:
    return (await (await session.get(url + "api/health")).json())["records"]


@dataclass
class StreamStats:
    """What one live client received."""
    first_bytes: int = 0
    updates: int = 0
    update_bytes: int = 0
    largest: int = 0
    kinds: dict = field(default_factory=dict)


async def follow(session, url: str, stats: StreamStats, stop: asyncio.Event) -> None:
    """Reads the live stream until `stop`; the first message (the whole view) is counted apart."""
    async with session.get(url + "api/stream") as response:
        buffer = b""
        reader = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            chunk = asyncio.ensure_future(response.content.readany())
            done, _ = await asyncio.wait({chunk, reader}, return_when=asyncio.FIRST_COMPLETED)
            if chunk not in done:
                chunk.cancel()
                break
            data = chunk.result()
            if not data:
                break
            buffer += data
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                if not message.startswith(b"event: "):
                    continue              # a keep-alive comment
                kind = message[7:message.index(b"\n")].decode()
                size = len(message) + 2
                if not stats.first_bytes:
                    stats.first_bytes = size
                    continue
                stats.updates += 1
                stats.update_bytes += size
                stats.largest = max(stats.largest, size)
                stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
        reader.cancel()


# --------------------------------------------------------------------------- producing


async def produce(settings, records: list[tuple[str, bytes]]) -> None:
    p = producer(settings, linger_ms=20, max_batch_size=512 * 1024)
    await p.start()
    try:
        for role, value in records:
            await p.send(getattr(settings.topics, role), value=value)
        await p.flush()
    finally:
        await p.stop()


async def produce_at(settings, traffic: Traffic, rate: int, seconds: float) -> int:
    """`rate` records a second for `seconds`, dated now, in steps of 50 ms."""
    p = producer(settings, linger_ms=5)
    await p.start()
    sent = 0
    try:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(rate * elapsed) - sent
            for role, value in traffic.records(due, live=True):
                await p.send(getattr(settings.topics, role), value=value)
            sent += max(due, 0)
            await asyncio.sleep(0.05)
        await p.flush()
    finally:
        await p.stop()
    return sent


# --------------------------------------------------------------------------- the browser


def first_loads(url: str, user: str, loads: int) -> dict | None:
    """Headless Chromium: log in, then load the page `loads` times; the time from navigation to the
    page's first render (the tables filled from the first answer) and the bytes it fetched."""
    chromium, driver_path = "/usr/bin/chromium", "/usr/bin/chromedriver"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    if not (os.path.exists(chromium) and os.path.exists(driver_path)):
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        # Set before any script of the page runs: the moment render() first marks the body.
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
            new MutationObserver((changes, observer) => {
              if (document.body && document.body.dataset.version !== undefined) {
                window.__firstRender = performance.now(); observer.disconnect();
              }
            }).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-version"]});"""})
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/login"))
        driver.find_element(By.ID, "username").send_keys(user)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "submit").click()
        times, sizes = [], []
        for _ in range(loads):
            driver.get(url)
            WebDriverWait(driver, 60, poll_frequency=0.05).until(
                lambda d: d.execute_script("return window.__firstRender"))
            times.append(driver.execute_script("return window.__firstRender"))
            sizes.append(driver.execute_script(
                "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
                ".reduce((n, e) => n + (e.transferSize || 0), 0)"))
        rows = driver.execute_script("return document.querySelectorAll('#feed tbody tr').length")
        return {"ms": round(statistics.median(times)), "bytes": int(statistics.median(sizes)), "feed_rows": rows}
    finally:
        driver.quit()


# --------------------------------------------------------------------------- one contender


@dataclass
class Setup:
    settings: object
    env: dict
    traffic: Traffic
    prefill: int
    rates: list[int]
    seconds: float
    admins: int
    per_admin: int
    groups: int
    browser: bool
    workdir: Path


async def _timed_state(session, url: str, times: int = 5) -> dict:
    """The first answer (built for this view) and the median of the next ones (the server may reuse it)."""
    took, size = [], 0
    for _ in range(times):
        started = time.perf_counter()
        body = await (await session.get(url + "api/state")).read()
        took.append(time.perf_counter() - started)
        size = len(body)
    return {"first_ms": round(took[0] * 1e3, 1), "ms": round(statistics.median(took[1:]) * 1e3, 1), "bytes": size}


async def _wait_read(session, url: str, count: int, timeout: float) -> float:
    started = time.monotonic()
    while (read := await records_read(session, url)) < count:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"bench: the dashboard read {read:,} of {count:,} records in {timeout:.0f}s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def measure(tree: Tree, setup: Setup, console: Console, produced_before: int) -> tuple[dict, int]:
    """One source tree's figures, and how many records the topics hold after its run."""
    out: dict = {"tree": tree.label}
    log = setup.workdir / f"dashboard-{re.sub(r'[^A-Za-z0-9]+', '-', tree.label)}.log"
    process = Process(tree, setup.env, log)
    sessions = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                supervisor = await log_in(process.url, "bench-sup")
                break
            except OSError:
                if process.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("bench: the dashboard did not start:\n" + log.read_text()[-2000:]) from None
                await asyncio.sleep(0.3)
        sessions.append(supervisor)
        # From the first record read (start-up and imports not counted) to the last of the prefill.
        while not (first := await records_read(supervisor, process.url)):
            await asyncio.sleep(0.05)
        cpu = process.cpu_seconds()
        seconds = await _wait_read(supervisor, process.url, produced_before, 900)
        out["prefill"] = {"seconds": round(seconds, 1),
                          "records_per_s": round((produced_before - first) / max(seconds, 1e-3)),
                          "cpu_us_per_record": round((process.cpu_seconds() - cpu) / max(produced_before - first, 1) * 1e6, 1),
                          "rss_mb": round(process.memory_mb(), 1)}
        admin = await log_in(process.url, "bench-adm-0")
        sessions.append(admin)
        out["state"] = {}
        for who, session in (("supervisor", supervisor), ("admin", admin)):
            out["state"][who] = await _timed_state(session, process.url)
        if setup.browser:
            with console.status(f"{tree.label}: first loads in Chromium…"):
                out["browser"] = {who: await asyncio.to_thread(first_loads, process.url, user, BROWSER_LOADS)
                                  for who, user in (("supervisor", "bench-sup"), ("admin", "bench-adm-0"))}
        followers = [supervisor] + [admin] + [await log_in(process.url, f"bench-adm-{a}") for a in range(1, setup.admins)]
        sessions.extend(followers[2:])
        out["rates"] = {}
        produced = produced_before
        for rate in setup.rates:
            with console.status(f"{tree.label}: {rate:,} records/s for {setup.seconds:.0f}s, "
                                f"{len(followers)} live clients…"):
                stop = asyncio.Event()
                stats = [StreamStats() for _ in followers]
                tasks = [asyncio.create_task(follow(s, process.url, st, stop)) for s, st in zip(followers, stats)]
                await asyncio.sleep(2.0)            # every client has had its first (whole) view
                cpu, read = process.cpu_seconds(), await records_read(supervisor, process.url)
                started = time.monotonic()
                sent = await produce_at(setup.settings, setup.traffic, rate, setup.seconds)
                window = time.monotonic() - started
                counts = [(st.updates, st.update_bytes) for st in stats]   # at the end of the producing window
                produced += sent
                lag = await _wait_read(supervisor, process.url, produced, 600)
                cpu_used, records = process.cpu_seconds() - cpu, await records_read(supervisor, process.url) - read
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
            sup, admins = stats[0], stats[1:]

            def per_client(st: StreamStats, count: tuple[int, int]) -> dict:
                return {"updates_per_s": round(count[0] / window, 2), "kb_per_s": round(count[1] / window / 1024, 1),
                        "mean_kb": round(count[1] / max(count[0], 1) / 1024, 1), "largest_kb": round(st.largest / 1024, 1),
                        "first_kb": round(st.first_bytes / 1024, 1), "kinds": st.kinds}

            admin_rows = [per_client(st, c) for st, c in zip(admins, counts[1:])]
            out["rates"][str(rate)] = {
                "sent": sent, "window_s": round(window, 1), "caught_up_s": round(lag, 1),
                "cpu_us_per_record": round(cpu_used / max(records, 1) * 1e6, 1),
                "cpu_percent": round(cpu_used / (window + lag) * 100),
                "rss_mb": round(process.memory_mb(), 1), "peak_rss_mb": round(process.memory_mb("VmHWM"), 1),
                "supervisor": per_client(sup, counts[0]),
                "admin": {k: round(statistics.median(r[k] for r in admin_rows), 2)
                          for k in ("updates_per_s", "kb_per_s", "mean_kb", "largest_kb", "first_kb")},
                "admin_kinds": admin_rows[0]["kinds"] if admin_rows else {},
            }
        return out, produced
    finally:
        for session in sessions:
            await session.close()
        process.stop()


def build_times(tree: Tree, setup: Setup, prefill: list[bytes], ticks: int) -> dict:
    """dashboard_build.py under the tree's PYTHONPATH, fed the prefill and `ticks` ticks per rate."""
    script = Path(__file__).with_name("dashboard_build.py")
    lines = list(prefill)
    for rate in setup.rates:
        lines += [value for _, value in setup.traffic.records(max(1, round(rate * TICK)) * ticks, live=True)]
    env = _env(tree, {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    result = subprocess.run(
        [sys.executable, str(script), "--prefill", str(len(prefill)), "--rates", ",".join(map(str, setup.rates)),
         "--ticks", str(ticks), "--tick", str(TICK), "--admins", str(setup.admins), "--per-admin", str(setup.per_admin),
         "--groups", str(setup.groups)],
        input=b"\n".join(lines) + b"\n", capture_output=True, cwd=tree.root, env=env, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"bench: building updates failed in {tree.label}:\n{result.stderr.decode()[-3000:]}")
    return orjson.loads(result.stdout.splitlines()[-1])


# --------------------------------------------------------------------------- the run


def _users(path: Path, admins: int, per_admin: int, groups: int) -> None:
    from pipeline.dashboard.users import UserFile

    users = UserFile(path)
    users.add("bench-sup", "supervisor", [], PASSWORD)
    for a in range(admins):
        users.add(f"bench-adm-{a}", "admin", admin_groups(a, per_admin, groups), PASSWORD)


def _print(console: Console, results: list[dict], builds: list[dict], setup: Setup) -> None:
    labels = [r["tree"] for r in results]
    table = Table(title=f"Dashboard at {setup.groups:,} groups, {setup.prefill:,} records read first")
    table.add_column("figure")
    for label in labels:
        table.add_column(label, justify="right")

    def row(name: str, value) -> None:
        table.add_row(name, *[value(r) for r in results])

    row("prefill read (records/s)", lambda r: f"{r['prefill']['records_per_s']:,}")
    row("CPU per record read, no clients (µs)", lambda r: str(r["prefill"]["cpu_us_per_record"]))
    row("RSS after the prefill (MB)", lambda r: str(r["prefill"]["rss_mb"]))
    for who in ("supervisor", "admin"):
        row(f"/api/state {who}: ms first / again, KB",
            lambda r, w=who: f"{r['state'][w]['first_ms']} / {r['state'][w]['ms']}, {r['state'][w]['bytes'] / 1024:.1f}")
        if setup.browser:
            row(f"first load {who}: ms to render / KB",
                lambda r, w=who: "–" if not r["browser"][w] else
                f"{r['browser'][w]['ms']} / {r['browser'][w]['bytes'] / 1024:.1f}")
    for rate in setup.rates:
        row(f"[bold]{rate:,}/s[/bold] CPU per record (µs) / CPU %",
            lambda r, x=rate: f"{r['rates'][str(x)]['cpu_us_per_record']} / {r['rates'][str(x)]['cpu_percent']}")
        row(f"{rate:,}/s RSS / peak (MB), caught up after (s)",
            lambda r, x=rate: f"{r['rates'][str(x)]['rss_mb']:.0f} / {r['rates'][str(x)]['peak_rss_mb']:.0f}, "
                              f"{r['rates'][str(x)]['caught_up_s']}")
        for who in ("supervisor", "admin"):
            row(f"{rate:,}/s {who}: updates/s, KB/s, mean KB",
                lambda r, x=rate, w=who: f"{r['rates'][str(x)][w]['updates_per_s']}, {r['rates'][str(x)][w]['kb_per_s']}, "
                                         f"{r['rates'][str(x)][w]['mean_kb']}")
    console.print(table)

    table = Table(title=f"Time to build one update (one process, the same records; one supervisor and "
                        f"{setup.admins} admins of {setup.per_admin} groups; {TICK}s of records per tick)")
    table.add_column("figure")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_row("how", *[b["mode"] for b in builds])
    table.add_row("apply one record (µs CPU)", *[str(b["apply_us"]) for b in builds])
    table.add_row("the state's memory after the prefill (MB RSS)", *[str(b["state_mb"]) for b in builds])
    table.add_row("whole view on connect: supervisor / admin (ms)",
                  *[f"{b['first_ms']['supervisor']} / {b['first_ms']['admin']}" for b in builds])
    for rate in setup.rates:
        key = str(rate)
        table.add_row(f"{rate:,}/s: supervisor / admin / all views per tick (ms)",
                      *[f"{b['rates'][key]['supervisor_ms']} / {b['rates'][key]['admin_ms']} / "
                        f"{b['rates'][key]['tick_ms']}" for b in builds])
        table.add_row(f"{rate:,}/s: KB per tick supervisor / admin (admin ticks with nothing sent)",
                      *[f"{b['rates'][key]['supervisor_kb']} / {b['rates'][key]['admin_kb']} "
                        f"({b['rates'][key]['admin_silent']:.0%})" for b in builds])
    console.print(table)


def bench_dashboard_command(args) -> int:
    console = Console()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    trees = [Tree("this checkout", PROJECT_ROOT)]
    if args.baseline:
        trees.insert(0, unpack(args.baseline, workdir))
    run_id = uuid.uuid4().hex[:6]
    name = f"benchdash{run_id}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MODERATION_TOPIC_")},
           **{f"MODERATION_TOPIC_{r.upper()}": f"{name}.{t}" for r, t in TOPIC_NAMES.items()},
           "MODERATION_DASHBOARD_USERS_FILE": str(workdir / f"{name}-users.json")}
    env.pop("PYTHONPATH", None)
    settings = load_settings(env=env)
    rates = [int(r) for r in args.rates.split(",")]
    with console.status("harvesting output records from the real core…"):
        traffic = Traffic(args.groups, seed=args.seed)
    console.print(f"output mix (from the core over loadgen): {traffic.mix_text()}")
    setup = Setup(settings, env, traffic, args.prefill, rates, args.seconds, args.admins, args.per_admin,
                  args.groups, not args.no_browser, workdir)
    with console.status("users…"):
        _users(Path(env["MODERATION_DASHBOARD_USERS_FILE"]), args.admins, args.per_admin, args.groups)
    asyncio.run(ensure_topics(settings))
    try:
        with console.status(f"{args.prefill:,} records over {args.groups:,} groups onto the topics…"):
            prefill = traffic.records(args.prefill)
            asyncio.run(produce(settings, prefill))
        results, produced = [], args.prefill
        for tree in trees:
            result, produced = asyncio.run(measure(tree, setup, console, produced))
            results.append(result)
        builds = []
        for tree in trees:
            with console.status(f"{tree.label}: time to build one update…"):
                builds.append(build_times(tree, setup, [v for _, v in prefill], args.ticks))
        _print(console, results, builds, setup)
        report = workdir / f"{name}.json"
        report.write_bytes(orjson.dumps({"groups": args.groups, "prefill": args.prefill, "mix": traffic.mix,
                                         "results": results, "builds": builds}, option=orjson.OPT_INDENT_2))
        console.print(f"figures also in {report}")
    finally:
        asyncio.run(delete_topics(settings, [], prefix=name + "."))
        Path(env["MODERATION_DASHBOARD_USERS_FILE"]).unlink(missing_ok=True)
    return 0


def add_arguments(bench_sub) -> None:
    p = bench_sub.add_parser("dashboard", help="the dashboard at N groups: memory, page load, live updates")
    p.add_argument("--groups", type=int, default=20_000)
    p.add_argument("--prefill", type=int, default=500_000, help="output records on the topics before measuring")
    p.add_argument("--rates", default="100,1000,5000", help="output records per second, comma separated")
    p.add_argument("--seconds", type=float, default=20.0, help="how long each rate runs")
    p.add_argument("--admins", type=int, default=8, help="group admins following the live stream")
    p.add_argument("--per-admin", type=int, default=3, help="groups of each admin")
    p.add_argument("--ticks", type=int, default=10, help="ticks per rate in the build-time measurement")
    p.add_argument("--baseline", metavar="REF", help="also run the dashboard of this commit (e.g. the one before a change)")
    p.add_argument("--no-browser", action="store_true", help="leave out the first loads in Chromium")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default="var/bench")
    p.set_defaults(func=bench_dashboard_command)
