"""`moderation bench e2e` at a tiny size, so the benchmark cannot rot (no timing is asserted)."""
from __future__ import annotations

import math

from rich.console import Console

from pipeline.devtools.bench.e2e import KINDS, plot, ratios, render, run_bench
from pipeline.native import core_mode


def test_bench_e2e_runs_end_to_end(broker, tmp_path):
    console = Console(record=True, width=140)
    results = run_bench(n=600, rates=(100,), seconds_per_rate=1.0, partitions=2, workdir=tmp_path, console=console,
                        rounds=2)
    assert [r.kind for r in results] == list(KINDS)
    for r in results:
        assert len(r.rounds) == 2 and all(d["throughput"] > 0 for d in r.rounds), r
        assert r.throughput > 0 and math.isfinite(r.throughput), r
        assert r.latency_ms[100]["n"] > 0 and r.latency_ms[100]["lost"] == 0, r
        assert r.peak_rss_mb > 0 and r.cpu_us_per_event >= 0, r  # CPU: too few events here to see
    share = ratios(results)["classify"]
    assert len(share["rounds"]) == 2 and min(share["rounds"]) <= share["throughput"] <= max(share["rounds"])
    render(results, console, core_mode())
    text = console.export_text()
    assert "pipeline / classify" in text and "CPU µs/event" in text and "round by round" in text
    assert f"rules core: {core_mode()}" in text
    plot(results, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").stat().st_size > 1000
