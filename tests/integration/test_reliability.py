"""Crashes, restarts, two workers, broker outages and exactly-once, on the real broker.

Every test compares what the worker wrote with what the offline core computes for the same
events: the same set of output ids, each copy of an id byte-identical, nothing missing.
"""
from __future__ import annotations

import time
from collections import Counter

import orjson

from pipeline.devtools.loadgen import generate
from pipeline.core.offline import run

ROLES = ("verdicts", "violations", "escalations")


def expected_outputs(engine, events) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {role: {} for role in ROLES}
    for role, event in run(engine, [orjson.dumps(e) for e in events]):
        out[role][event["id"]] = event
    return out


def check_complete(got: dict[str, list[dict]], expected: dict[str, dict[str, dict]]) -> dict[str, int]:
    """Every expected output arrived, nothing unexpected did, duplicates are identical copies.
    Returns the number of duplicate records per role."""
    duplicates = {}
    for role in ROLES:
        ids = Counter(e["id"] for e in got[role])
        assert set(ids) == set(expected[role]), (
            f"{role}: missing {len(set(expected[role]) - set(ids))}, unexpected {len(set(ids) - set(expected[role]))}")
        for event in got[role]:
            assert event == expected[role][event["id"]], f"{role} {event['id']} differs from the offline core"
        duplicates[role] = sum(ids.values()) - len(ids)
    return duplicates


def wait_for_outputs(deployment, role: str, at_least: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = deployment.output_count(role)
        if n >= at_least:
            return n
        time.sleep(0.2)
    raise AssertionError(f"fewer than {at_least} {role} after {timeout}s")


def test_kill_9_mid_stream_then_restart_loses_nothing(deployment, engine, record_property):
    events = list(generate(4000, groups=40, seed=11))
    expected = expected_outputs(engine, events)
    deployment.produce(events)
    first = deployment.start_worker()
    wait_for_outputs(deployment, "verdicts", len(expected["verdicts"]) // 4)
    deployment.stop_worker(first, kill=True)
    restarted_at = time.monotonic()
    deployment.start_worker()
    got = deployment.collect_ids({r: set(v) for r, v in expected.items()})
    duplicates = check_complete(got, expected)
    record_property("duplicates", duplicates)
    record_property("recovery_seconds", round(time.monotonic() - restarted_at, 1))
    print(f"\nkill -9 and restart: {len(events)} events in, duplicates by role {duplicates}")


def test_exactly_once_mode_gives_no_duplicates_after_a_crash(broker, tmp_path, engine):
    from tests.integration.harness import Deployment

    deployment = Deployment(bootstrap=broker.bootstrap, workdir=tmp_path,
                            extra_env={"MODERATION_PROCESSING_GUARANTEE": "exactly_once"})
    deployment.create_topics()
    try:
        events = list(generate(3000, groups=30, seed=12))
        expected = expected_outputs(engine, events)
        deployment.produce(events)
        first = deployment.start_worker()
        wait_for_outputs(deployment, "verdicts", len(expected["verdicts"]) // 4)
        deployment.stop_worker(first, kill=True)
        deployment.start_worker()
        got = deployment.collect_ids({r: set(v) for r, v in expected.items()}, timeout=150)
        duplicates = check_complete(got, expected)
        print(f"\nexactly-once, kill -9 and restart: duplicates by role {duplicates}")
        # The harness reads with isolation_level=read_committed, as consumers of a transactional
        # pipeline must: records of aborted transactions are not seen.
        assert sum(duplicates.values()) == 0
    finally:
        deployment.stop_all()
        deployment.delete_topics()


def test_two_workers_split_partitions_and_survive_losing_one(deployment, engine):
    events = list(generate(4000, groups=40, seed=13))
    expected = expected_outputs(engine, events)
    one = deployment.start_worker()
    two = deployment.start_worker()
    deployment.produce(events)
    wait_for_outputs(deployment, "verdicts", len(expected["verdicts"]) // 4)
    deployment.stop_worker(two, kill=True)
    got = deployment.collect_ids({r: set(v) for r, v in expected.items()}, timeout=150)
    duplicates = check_complete(got, expected)
    assert one.poll() is None, "the surviving worker stopped"
    print(f"\ntwo workers, one killed: duplicates by role {duplicates}")
