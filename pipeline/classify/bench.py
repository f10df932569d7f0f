"""`moderation bench classify`: messages/s for batches of 1 and 512, p50/p99 per-message latency,
for normalise + detect + model together (the verdict cache is off unless --cache)."""
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


def run(n: int = 20000, seed: int = 5, cache: bool = False, pin: bool = True, model: str | None = None) -> dict:
    """The classifier of the default policy (its content.model_path), or the artifact at `model` with
    the policy's thresholds."""
    from pipeline.classify import load_classifier, model_path
    from pipeline.classify.evaluate import _policy
    from pipeline.classify.model import load

    class _A:
        policy = None

    if pin and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass
    t0 = time.perf_counter()
    policy = _policy(_A())
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
    # batch 512
    t = time.perf_counter()
    for i in range(0, len(msgs), 512):
        clf.classify(msgs[i:i + 512])
    out["batch512_msgs_per_s"] = round(len(msgs) / (time.perf_counter() - t))
    # batch 1, per-message latency
    single = msgs[: min(len(msgs), 5000)]
    lat = np.empty(len(single))
    for i, m in enumerate(single):
        s = time.perf_counter()
        clf.classify([m])
        lat[i] = time.perf_counter() - s
    out["batch1_msgs_per_s"] = round(len(single) / lat.sum())
    out["p50_ms"] = round(float(np.percentile(lat, 50)) * 1e3, 3)
    out["p99_ms"] = round(float(np.percentile(lat, 99)) * 1e3, 3)
    out["max_ms"] = round(float(lat.max()) * 1e3, 3)
    return out


def bench_classify_command(args) -> int:
    from pipeline.classify.model import ModelError

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
    print(f"  batch 512         {res['batch512_msgs_per_s']:>8} msgs/s")
    print(f"  batch 1           {res['batch1_msgs_per_s']:>8} msgs/s")
    print(f"  latency (batch 1) p50 {res['p50_ms']:.3f} ms   p99 {res['p99_ms']:.3f} ms   max {res['max_ms']:.3f} ms")
    return 0
