"""The worker's store of group states: bounded cache, pages written in order, deletions sent."""
from __future__ import annotations

import orjson

from pipeline.worker.state_store import GroupStore
from pipeline.core.state_pages import head_key


def big(n: int) -> dict:
    return {"members": {f"u-{i}": {"name": f"研发中心-同事{i}", "last_active": "2026-03-02T09:00:00+08:00"}
                        for i in range(n)}}


def test_decoded_states_kept_are_bounded_and_the_rest_come_back_from_the_table():
    data: dict = {}
    store = GroupStore(data, "changelog", capacity=100)
    for i in range(3000):
        store.save(f"g-{i}", {"watermark": str(i)}, 0)
    assert len(store) == 100 and len(data) == 3000
    assert store.load("g-5") == {"watermark": "5"}  # evicted long ago, decoded from the table
    assert len(store) == 100


def test_a_recovered_table_is_read_again_not_the_cache():
    data: dict = {}
    store = GroupStore(data, "changelog", capacity=10)
    store.save("g", {"n": 1}, 0)
    data[b"g"] = orjson.dumps({"n": 2})  # what a changelog recovery puts there: new bytes
    assert store.load("g") == {"n": 2}


def test_pages_go_to_the_changelog_before_their_head_and_dropped_pages_are_deleted():
    data: dict = {}
    store = GroupStore(data, "changelog", capacity=10)
    records = store.save("g", big(10_000), 3)
    keys = [r.key for r in records]
    assert keys[-1] == head_key("g") and len(keys) > 10
    assert {r.partition for r in records} == {3} and all(len(r.value) < 300_000 for r in records)
    assert set(data) == set(keys)
    state = store.load("g")
    state["members"]["u-17"]["last_active"] = "2026-03-03T09:00:00+08:00"
    changed = store.save("g", state, 3)
    # the member's page under a new key, then the head, then the old page deleted
    assert [r.value is None for r in changed] == [False, False, True] and changed[1].key == head_key("g")
    shrunk = store.save("g", {"members": {}}, 3)
    assert [r.key for r in shrunk if r.value is not None] == [head_key("g")]
    assert set(data) == {head_key("g")}
    assert GroupStore(data, "changelog", 10).load("g") == {"members": {}}
