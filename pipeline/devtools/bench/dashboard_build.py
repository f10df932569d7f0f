"""The time to build one live update, in one process (run by path by `bench dashboard`).

Run as `python dashboard_build.py --prefill N --rates 100,1000 --ticks 5 --admins A --per-admin G`
with PYTHONPATH naming the source tree to measure (this checkout, or an older commit unpacked by the
bench), and the records as JSON lines on standard input: the prefill, then for each rate `ticks`
ticks of `rate * tick` records each. Only `pipeline.dashboard` of that tree is imported, so the
same script measures the old code and the new. Times are this process's CPU time (the machine is
shared: wall time would count the other processes' turns). Prints one JSON object.

The figures: the state's size at the prefill; then per rate, for every tick, the time to build
what the clients of one supervisor and A group admins (each with their own groups) are sent for
that tick, per view and summed over the views, and its size (0: nothing sent).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import orjson


def admin_groups(admin: int, per_admin: int, groups: int) -> list[str]:
    # The same groups as dashboard_traffic.admin_groups (this script imports nothing of the bench).
    return [f"dash-g{(admin * per_admin + j) * 7919 % groups:05d}" for j in range(per_admin)]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefill", type=int, required=True)
    parser.add_argument("--rates", required=True)
    parser.add_argument("--ticks", type=int, required=True)
    parser.add_argument("--tick", type=float, required=True)
    parser.add_argument("--admins", type=int, required=True)
    parser.add_argument("--per-admin", type=int, required=True)
    parser.add_argument("--groups", type=int, required=True)
    args = parser.parse_args()

    from pipeline.dashboard.state import DashboardState, View

    try:
        from pipeline.dashboard.push import Frame, changes, patch_message   # the incremental path, where the tree has it
    except ImportError:
        Frame = None

    lines = sys.stdin.buffer
    before = rss_mb()
    state = DashboardState()
    started = time.process_time()
    for _ in range(args.prefill):
        state.receive(lines.readline().rstrip(b"\n"))
    apply_us = (time.process_time() - started) / max(args.prefill, 1) * 1e6
    state_mb = rss_mb() - before
    views = {"supervisor": View()}
    for a in range(args.admins):
        views[f"admin {a}"] = View(scope=frozenset(admin_groups(a, args.per_admin, args.groups)))
    copies: dict[str, object] = {}     # per view: the frame its client was last sent

    def build_all() -> tuple[dict[str, float], dict[str, int]]:
        """One tick's update for every view (one client each): CPU seconds and bytes per view."""
        took, sizes = {}, {}
        for name, view in views.items():
            t = time.process_time()
            if Frame is None:           # the whole view, every tick
                message = orjson.dumps(state.view(view, now=time.time()))
            else:
                frame = Frame(state.view(view, now=time.time()))
                ops = changes(copies[name], frame) if name in copies else None
                message = frame.whole() if ops is None else patch_message(ops) if ops else b""
                if message:
                    copies[name] = frame
            took[name] = time.process_time() - t
            sizes[name] = len(message)
        return took, sizes

    first, _ = build_all()          # what a client gets when it connects: a whole view
    out = {"mode": "incremental" if Frame else "full", "apply_us": round(apply_us, 1),
           "state_mb": round(state_mb, 1),
           "first_ms": {"supervisor": round(first["supervisor"] * 1e3, 2),
                        "admin": round(statistics.median(v for k, v in first.items() if k != "supervisor") * 1e3, 2)},
           "rates": {}}
    for rate in (int(r) for r in args.rates.split(",")):
        per_tick = max(1, round(rate * args.tick))
        supervisor, admin, total, supervisor_bytes, admin_bytes = [], [], [], [], []
        for _ in range(args.ticks):
            for _ in range(per_tick):
                state.receive(lines.readline().rstrip(b"\n"))
            took, sizes = build_all()
            supervisor.append(took["supervisor"])
            admin.extend(v for k, v in took.items() if k != "supervisor")
            total.append(sum(took.values()))
            supervisor_bytes.append(sizes["supervisor"])
            admin_bytes.extend(v for k, v in sizes.items() if k != "supervisor")
        out["rates"][str(rate)] = {"supervisor_ms": round(statistics.median(supervisor) * 1e3, 2),
                                   "admin_ms": round(statistics.median(admin) * 1e3, 2),
                                   "tick_ms": round(statistics.median(total) * 1e3, 2),
                                   "supervisor_kb": round(statistics.mean(supervisor_bytes) / 1024, 1),
                                   "admin_kb": round(statistics.mean(admin_bytes) / 1024, 2),
                                   "admin_silent": round(admin_bytes.count(0) / len(admin_bytes), 2)}
    print(orjson.dumps(out).decode(), flush=True)


if __name__ == "__main__":
    main()
