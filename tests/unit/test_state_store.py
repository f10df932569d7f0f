"""The worker's store of group states: bounded cache, pages written in order, deletions sent; the
same behaviour over the in-memory store and over RocksDB (one database per partition)."""
from __future__ import annotations

import faust
import orjson
import pytest

from pipeline.core.state_pages import head_key
from pipeline.worker.app import ROCKSDB_OPTIONS
from pipeline.worker.state_store import GroupStore, MemoryBytes, RocksBytes, table_bytes


def big(n: int) -> dict:
    return {"members": {f"u-{i}": {"name": f"研发中心-同事{i}", "last_active": "2026-03-02T09:00:00+08:00"}
                        for i in range(n)}}


class RocksDirs:
    """RocksDB databases per partition in a folder, opened as Faust opens them."""

    def __init__(self, path):
        from faust.stores.rocksdb import RocksDBOptions

        options = {k: v for k, v in ROCKSDB_OPTIONS.items() if k != "driver"}
        self.options = RocksDBOptions(**options, use_rocksdict=True)
        self.path, self.dbs, self.offsets = path, {}, {}

    def db_for(self, partition: int):
        if partition not in self.dbs:
            self.dbs[partition] = self.options.open(self.path / f"p{partition}.db")
        return self.dbs[partition]

    def bytes(self) -> RocksBytes:
        return RocksBytes(self.db_for, self.offsets.__setitem__)

    def keys(self) -> set[bytes]:
        return {key for db in self.dbs.values() for key in db.keys()}

    def close(self) -> None:
        for db in self.dbs.values():
            db.close()
        self.dbs.clear()


@pytest.fixture(params=["memory", "rocksdb"])
def table(request, tmp_path):
    """(the store's view, a function listing every key it holds)"""
    if request.param == "memory":
        data: dict = {}
        yield MemoryBytes(data), lambda: set(data)
    else:
        dirs = RocksDirs(tmp_path)
        yield dirs.bytes(), dirs.keys
        dirs.close()


def test_decoded_states_kept_are_bounded_and_the_rest_come_back_from_the_table(table):
    data, keys = table
    store = GroupStore(data, "changelog", capacity=100)
    for i in range(3000):
        store.save(f"g-{i}", {"watermark": str(i)}, i % 4)
    assert len(store) == 100 and len(keys()) == 3000
    assert store.load("g-5", 1) == {"watermark": "5"}  # evicted long ago, decoded from the table
    assert len(store) == 100


def test_a_recovered_table_is_read_again_not_the_cache(table):
    data, _ = table
    store = GroupStore(data, "changelog", capacity=10)
    store.save("g", {"n": 1}, 0)
    assert store.load("g", 0) == {"n": 1}
    data.put(b"g", orjson.dumps({"n": 2}), 0)  # what a changelog recovery puts there: other bytes
    assert store.load("g", 0) == {"n": 2}


def test_pages_go_to_the_changelog_before_their_head_and_dropped_pages_are_deleted(table):
    data, keys = table
    store = GroupStore(data, "changelog", capacity=10)
    records = store.save("g", big(10_000), 3)
    written = [r.key for r in records]
    assert written[-1] == head_key("g") and len(written) > 10
    assert {r.partition for r in records} == {3} and all(len(r.value) < 300_000 for r in records)
    assert keys() == set(written)
    state = store.load("g", 3)
    state["members"]["u-17"]["last_active"] = "2026-03-03T09:00:00+08:00"
    changed = store.save("g", state, 3)
    # the member's page under a new key, then the head, then the old page deleted
    assert [r.value is None for r in changed] == [False, False, True] and changed[1].key == head_key("g")
    shrunk = store.save("g", {"members": {}}, 3)
    assert [r.key for r in shrunk if r.value is not None] == [head_key("g")]
    assert keys() == {head_key("g")}
    assert GroupStore(data, "changelog", 10).load("g", 3) == {"members": {}}


def test_rocksdb_keeps_each_group_in_its_partitions_database_and_across_a_restart(tmp_path):
    dirs = RocksDirs(tmp_path)
    store = GroupStore(dirs.bytes(), "changelog", capacity=10)
    store.save("g-two", big(3_000), 2)
    store.save("g-zero", {"n": 0}, 0)
    store.saved(2, 41)
    assert dirs.offsets == {2: 41}
    assert dirs.db_for(2).get(head_key("g-two")) is not None and dirs.db_for(0).get(head_key("g-two")) is None
    assert store.load("g-two", 0) is None  # another partition's database does not have it
    dirs.close()
    reopened = RocksDirs(tmp_path)   # a new process: nothing cached, the databases on disk
    assert GroupStore(reopened.bytes(), "changelog", 10).load("g-two", 2) == big(3_000)
    reopened.close()


@pytest.mark.parametrize("url", ["memory://", "rocksdb://"])
def test_both_faust_stores_give_the_same_view(url, tmp_path):
    app = faust.App(f"store-test-{url[:6]}", store=url, datadir=str(tmp_path))
    table = app.Table("group-state", default=None, partitions=4, key_type=bytes, value_type=bytes,
                      options=dict(ROCKSDB_OPTIONS) if url.startswith("rocksdb") else None)
    view = table_bytes(table)
    assert isinstance(view, RocksBytes if url.startswith("rocksdb") else MemoryBytes)
    store = GroupStore(view, table.changelog_topic.get_topic_name(), 10)
    store.save("g", {"n": 1}, 3)
    store.saved(3, 7)
    assert GroupStore(view, "changelog", 10).load("g", 3) == {"n": 1}
    changelog_tp = faust.types.TP(table.changelog_topic.get_topic_name(), 3)
    if url.startswith("rocksdb"):
        # Faust reads this at the next start and recovers only the changelog records after it.
        assert table.data.persisted_offset(changelog_tp) == 7
        assert table.data._db_for_partition(3).get(head_key("g")) is not None
    else:
        assert table.data.persisted_offset(changelog_tp) is None


def test_the_groups_of_partitions_are_listed_once_and_without_their_pages(table):
    """What the live clock reads at a rebalance: the groups stored in the worker's partitions."""
    data, keys = table
    store = GroupStore(data, "changelog", capacity=10)
    store.save("g-big", big(6000), 1)
    for i in range(6):
        store.save(f"g-{i}", {"watermark": str(i)}, i % 2)
    assert any(b"\x00" in key for key in keys())  # the large group is paged
    listed = list(store.group_ids([1]))
    assert len(listed) == len(set(listed))
    # The in-memory store keeps every partition in one dict, so it lists them all (the live clock
    # keeps the groups whose home is its own); RocksDB lists the partition's database only.
    wanted = {"g-big", "g-1", "g-3", "g-5"}
    assert set(listed) == (wanted if isinstance(data, RocksBytes) else wanted | {"g-0", "g-2", "g-4"})


def test_a_data_folder_is_claimed_by_one_worker_and_a_second_is_told_to_use_its_own(tmp_path):
    """Two workers with the RocksDB store on one data folder: the second waited for the databases'
    locks forever ('DB for partition 0 is locked! Retry in 1s...' every second, at INFO), a member
    of the consumer group that never processed anything. It stops at start with what to do."""
    import subprocess
    import sys

    from pipeline.config import ConfigError
    from pipeline.worker.state_store import claim_data_dir

    held = claim_data_dir(tmp_path / "worker")
    try:
        with pytest.raises(ConfigError, match="MODERATION_DATA_DIR"):
            claim_data_dir(tmp_path / "worker")
        other = subprocess.run([sys.executable, "-c", "import sys; from pipeline.worker.state_store import "
                                "claim_data_dir; claim_data_dir(sys.argv[1])", str(tmp_path / "worker")],
                               capture_output=True, text=True)
        assert other.returncode != 0 and "another worker" in other.stderr
    finally:
        held.close()
    claim_data_dir(tmp_path / "worker").close()      # free again once the first has gone
