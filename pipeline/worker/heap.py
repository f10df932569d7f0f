"""The collector settings of the long-running processes (the worker, the gateway), applied once each
has loaded what it keeps for life."""
from __future__ import annotations

import gc

# Collect the young generation every 50,000 allocations instead of 700: the core allocates a few
# hundred short-lived objects per event, and with Python's default each batch ran hundreds of
# collections (about 12% of the worker's CPU in paired runs, docs/BENCHMARKS.md).
GC_THRESHOLDS = (50_000, 20, 100)


def settle_heap() -> None:
    """Take the objects loaded so far (libraries, the model, the policy) out of the collector's
    scans (`gc.freeze`) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
