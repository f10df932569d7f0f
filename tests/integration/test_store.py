"""The RocksDB table store (MODERATION_STORE=rocksdb) on the real broker: a worker killed, its
partitions recovered by another worker, then handed back to it when it restarts with the
databases it had (behind by what the other wrote meanwhile). Every output arrives, byte-identical to
the offline core's, as with the in-memory store (tests/integration/test_reliability.py)."""
from __future__ import annotations

import time

from pipeline.devtools.loadgen import generate
from tests.integration.test_reliability import check_complete, expected_outputs, wait_for_outputs


def test_rocksdb_states_survive_a_kill_a_takeover_and_a_handback(broker, tmp_path, engine):
    from tests.integration.harness import Deployment

    deployment = Deployment(bootstrap=broker.bootstrap, workdir=tmp_path, extra_env={"MODERATION_STORE": "rocksdb"})
    deployment.create_topics()
    try:
        events = list(generate(4000, groups=40, seed=41))
        expected = expected_outputs(engine, events)
        first, rest = events[:2000], events[2000:]
        own = [{"MODERATION_DATA_DIR": str(tmp_path / name)} for name in ("a", "b")]
        deployment.produce(first)
        one = deployment.start_worker(env=own[0])
        two = deployment.start_worker(env=own[1])
        wait_for_outputs(deployment, "verdicts", 400)
        deployment.stop_worker(two, kill=True)
        deployment.produce(rest)
        wait_for_outputs(deployment, "verdicts", 1200)
        restarted_at = time.monotonic()
        deployment.start_worker(env=own[1])   # its databases as it left them
        got = deployment.collect_ids({r: set(v) for r, v in expected.items()}, timeout=150)
        duplicates = check_complete(got, expected)
        assert one.poll() is None, "the first worker stopped"
        databases = sorted(p.name for p in (tmp_path / "b").rglob("*.db"))
        assert databases, "the worker kept no RocksDB databases"
        print(f"\nrocksdb: kill -9, takeover, restart with its old databases ({len(databases)}): all outputs "
              f"{time.monotonic() - restarted_at:.1f}s after the restart; duplicates {duplicates}")
    finally:
        deployment.stop_all()
        deployment.delete_topics()


def test_a_second_rocksdb_worker_on_the_same_data_folder_stops_and_says_so(deployment):
    """Before, it joined the consumer group and waited for the databases' locks forever."""
    from pathlib import Path

    deployment.extra_env["MODERATION_STORE"] = "rocksdb"
    first = deployment.start_worker()
    second = deployment.start_worker(wait=False)
    assert second.wait(60) == 2
    assert "is in use by another worker" in Path(second.log_path).read_text() and first.poll() is None
