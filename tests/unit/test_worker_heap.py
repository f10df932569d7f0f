"""The worker's collector settings (`pipeline.worker.heap.settle_heap`), applied once it has started."""
from __future__ import annotations

import gc

from pipeline.worker.heap import GC_THRESHOLDS, settle_heap


def test_settle_heap_moves_the_loaded_objects_out_of_the_scans_and_collects_less_often():
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > before[0]
        assert gc.get_freeze_count() > 1000  # the modules and objects of this test process
        young = gc.get_count()[0]
        garbage = [[] for _ in range(2000)]  # more allocations than the default threshold of 700
        assert gc.get_count()[0] >= young + 2000 - 1  # no young collection ran in between
        del garbage
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
