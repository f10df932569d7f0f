"""The broker goes away for 30 s while events flow; the worker reconnects by itself, nothing is lost.

This test runs its own broker (another port and data folder) so stopping it disturbs no one.
"""
from __future__ import annotations

import os
import time


from pipeline.devtools.loadgen import generate
from tests.integration.harness import Deployment
from tests.integration.test_reliability import check_complete, expected_outputs, wait_for_outputs

OUTAGE_SECONDS = float(os.environ.get("MODERATION_OUTAGE_SECONDS", "30"))


def test_broker_outage_while_events_flow(own_broker, tmp_path, engine):
    deployment = Deployment(bootstrap=own_broker.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    events = list(generate(3000, groups=30, seed=21))
    before, after = events[:1500], events[1500:]
    expected = expected_outputs(engine, events)
    worker = deployment.start_worker()
    try:
        deployment.produce(before)
        wait_for_outputs(deployment, "verdicts", 100)
        own_broker.down()
        down_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, "the worker died while the broker was away"
        own_broker.up(quiet=True)
        deployment.produce(after)
        got = deployment.collect_ids({r: set(v) for r, v in expected.items()}, timeout=180)
        recovered = time.monotonic() - down_at - OUTAGE_SECONDS
        duplicates = check_complete(got, expected)
        assert worker.poll() is None, "the worker stopped after the outage"
        print(f"\nbroker down {OUTAGE_SECONDS:.0f}s: all {len(events)} events processed "
              f"{recovered:.1f}s after it came back; duplicates {duplicates}")
    finally:
        deployment.stop_all()
