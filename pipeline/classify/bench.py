"""`moderation bench classify`: messages/s for batches of 1 and 512, p50/p99 per-message latency,
for normalise + detect + model together (the verdict cache is off unless --cache). Each figure is
measured in wall-clock time and in this process's CPU time: on a shared machine another process on
the core stretches the first, not the second. With --against PATH, two artifacts are measured in
turns (A, B, A, B …) in one run, so that both see the same load."""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np


def _messages(n: int, seed: int) -> list[str]:
    """Unique synthetic work-group messages (the project's generator, made unique by a suffix)."""
    from pipeline.classify.corpus import generate

    rows = generate(seed, {"work": n // 2, "chitchat": n // 10, "ad": n // 10, "rumour": n // 20, "abuse": n // 20,
                           "confidential": n // 10, "illegal": n // 10})
    rng = random.Random(seed)
    return [r["text"] + ("" if rng.random() < 0.5 else f" {i}") for i, r in enumerate(rows)][:n]


def _pin_to_one_core(pin: bool) -> None:
    if pin and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass


def _default_policy():
    """The policy `moderation eval` would use without --policy."""
    from pipeline.classify.evaluate import _policy

    class _NoPolicyArgument:
        policy = None

    return _policy(_NoPolicyArgument())


def run(n: int = 20000, seed: int = 5, cache: bool = False, pin: bool = True, model: str | None = None) -> dict:
    """The classifier of the default policy (its content.model_path), or the artifact at `model` with
    the policy's thresholds."""
    from pipeline.classify import load_classifier, model_path
    from pipeline.classify.model import load

    _pin_to_one_core(pin)
    t0 = time.perf_counter()
    policy = _default_policy()
    path = Path(model) if model else model_path(policy)
    if model:
        clf = load(path, dict(policy.content.thresholds) if policy is not None else None,
                   warning_notices=policy.content.warning_notices if policy is not None else True)
    else:
        clf = load_classifier(policy)
    load_s = time.perf_counter() - t0
    if not cache:
        clf.cache_size = 0
    msgs = _messages(n, seed)
    clf.classify(msgs[:256])  # warm up
    out = {"messages": len(msgs), "model": str(path), "load_seconds": round(load_s, 3),
           "artifact_mb": round(path.stat().st_size / 1e6, 2), "cache": cache}
    out.update(measure(clf, msgs))
    return out


def measure(clf, msgs: list[str]) -> dict:
    """Batch-512 throughput and one-message latency, wall clock and CPU time of this thread."""
    out = {}
    t, c = time.perf_counter(), time.thread_time()
    for i in range(0, len(msgs), 512):
        clf.classify(msgs[i:i + 512])
    out["batch512_msgs_per_s"] = round(len(msgs) / (time.perf_counter() - t))
    out["batch512_msgs_per_cpu_s"] = round(len(msgs) / max(time.thread_time() - c, 1e-9))
    single = msgs[: min(len(msgs), 5000)]
    lat = np.empty(len(single))
    cpu = np.empty(len(single))
    for i, m in enumerate(single):
        s, sc = time.perf_counter(), time.thread_time_ns()
        clf.classify([m])
        lat[i] = time.perf_counter() - s
        cpu[i] = (time.thread_time_ns() - sc) / 1e9
    out["batch1_msgs_per_s"] = round(len(single) / lat.sum())
    out["p50_ms"] = round(float(np.percentile(lat, 50)) * 1e3, 3)
    out["p99_ms"] = round(float(np.percentile(lat, 99)) * 1e3, 3)
    out["max_ms"] = round(float(lat.max()) * 1e3, 3)
    out["cpu_p50_ms"] = round(float(np.percentile(cpu, 50)) * 1e3, 3)
    out["cpu_p99_ms"] = round(float(np.percentile(cpu, 99)) * 1e3, 3)
    return out


def run_against(n: int, seed: int, model: str | None, against: str, rounds: int = 3, pin: bool = True) -> dict:
    """Both artifacts measured in turns, `rounds` times each; every round's figures."""
    from pipeline.classify import model_path
    from pipeline.classify.model import load

    _pin_to_one_core(pin)
    policy = _default_policy()
    thresholds = dict(policy.content.thresholds) if policy is not None else None
    paths = [Path(model) if model else model_path(policy), Path(against)]
    classifiers = [load(p, thresholds) for p in paths]
    msgs = _messages(n, seed)
    for clf in classifiers:
        clf.cache_size = 0
        clf.classify(msgs[:256])  # warm up (and build the sound table once)
    runs: dict[str, list] = {str(p): [] for p in paths}
    for _ in range(rounds):
        for p, clf in zip(paths, classifiers):
            runs[str(p)].append(measure(clf, msgs))
    return {"messages": len(msgs), "rounds": rounds, "runs": runs}


def bench_classify_command(args) -> int:
    from pipeline.classify.model import ModelError

    if getattr(args, "against", None):
        try:
            res = run_against(getattr(args, "messages", 20000), getattr(args, "seed", 5), getattr(args, "model", None),
                              args.against, rounds=getattr(args, "rounds", 3))
        except ModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if getattr(args, "json", False):
            print(json.dumps(res))
            return 0
        print(f"classifier benchmark, two artifacts in turns ({res['rounds']} rounds, {res['messages']} unique messages, "
              "one core, cache off); msgs/s wall clock (CPU time), latency of one message wall clock (CPU time)")
        for path, runs in res["runs"].items():
            print(f"  {path}")
            for r in runs:
                print(f"    batch 512 {r['batch512_msgs_per_s']:>7} ({r['batch512_msgs_per_cpu_s']:>7}) msgs/s   batch 1 "
                      f"{r['batch1_msgs_per_s']:>6} msgs/s   p50 {r['p50_ms']:.3f} ({r['cpu_p50_ms']:.3f}) ms   "
                      f"p99 {r['p99_ms']:.3f} ({r['cpu_p99_ms']:.3f}) ms")
        return 0
    try:
        res = run(n=getattr(args, "messages", 20000), seed=getattr(args, "seed", 5), cache=getattr(args, "cache", False),
                  model=getattr(args, "model", None))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(res))
        return 0
    print(f"classifier benchmark (normalise + detect + model, one core, {res['messages']} unique messages, "
          f"cache {'on' if res['cache'] else 'off'})")
    print(f"  model load        {res['load_seconds']:.3f} s ({res['model']}, {res['artifact_mb']} MB)")
    print(f"  batch 512         {res['batch512_msgs_per_s']:>8} msgs/s ({res['batch512_msgs_per_cpu_s']} per CPU second)")
    print(f"  batch 1           {res['batch1_msgs_per_s']:>8} msgs/s")
    print(f"  latency (batch 1) p50 {res['p50_ms']:.3f} ms   p99 {res['p99_ms']:.3f} ms   max {res['max_ms']:.3f} ms "
          f"(CPU time: p50 {res['cpu_p50_ms']:.3f} ms, p99 {res['cpu_p99_ms']:.3f} ms)")
    return 0
