"""The paged state codec: any state round-trips, order included, in records the broker accepts."""
from __future__ import annotations

import random

import orjson
from hypothesis import given, settings, strategies as st

from pipeline.core.state_pages import (
    HEAD_BYTES, PAGE_BYTES, STUB, StateTooLarge, Stored, decode, encode, head_key,
)


def roundtrip(group_id: str, state: dict, previous: Stored | None = None) -> Stored:
    stored = encode(group_id, state, previous)
    for key, value in stored.records.items():
        limit = HEAD_BYTES if key == head_key(group_id) else PAGE_BYTES
        assert len(value) <= limit, (key[:60], len(value))
    back, again = decode(group_id, stored.records.get)
    # Equal as JSON bytes: the same values in the same order, every dict's insertion order included.
    assert orjson.dumps(back) == orjson.dumps(state)
    assert again.records == stored.records
    return stored


def member(i: int) -> dict:
    return {"name": f"研发部-成员{i:05d}", "joined": "2026-03-02T09:15:00+08:00",
            "last_active": "2026-03-02T09:15:00+08:00"}


def big_group(n: int) -> dict:
    return {"watermark": "2026-03-02T09:15:00+08:00", "roles": {"name": "全员群", "admins": ["u-1"]},
            "members": {f"u-{i}": member(i) for i in range(n)},
            "responsiveness": {"group_id": "g", "items": {f"m-1|u-{i}": {"addressee": f"u-{i}", "acks": []}
                                                          for i in range(n)}}}


def test_a_small_state_is_one_record_as_before():
    state = {"watermark": None, "members": {"u-1": member(1)}}
    stored = roundtrip("g-1", state)
    assert stored.records == {b"g-1": orjson.dumps(state)}


def test_ten_thousand_members_with_an_open_item_each_fit_in_bounded_records():
    state = big_group(10_000)
    assert len(orjson.dumps(state)) > 1_048_576  # one record would be refused by the broker
    stored = roundtrip("g-all", state)
    assert len(stored.records) > 10
    assert max(map(len, stored.records.values())) <= PAGE_BYTES or len(stored.records[b"g-all"]) <= HEAD_BYTES


def test_changing_one_member_rewrites_one_page_and_the_head():
    state = big_group(10_000)
    first = roundtrip("g-all", state)
    state["members"]["u-5000"]["last_active"] = "2026-03-03T10:00:00+08:00"
    second = roundtrip("g-all", state, first)
    written = {k for k, v in second.records.items() if first.records.get(k) != v}
    assert written == {b"g-all"} | {k for k in written if b"members" in k}
    assert len(written) == 2  # the head (it names the new page) and the member's page
    # Copy-on-write: the changed page has a new key; the old one is no longer referenced.
    assert len(set(first.records) - set(second.records)) == 1


def test_order_is_kept_when_an_entry_moves_to_the_end():
    state = big_group(3_000)
    first = roundtrip("g", state)
    record = state["members"].pop("u-10")
    state["members"]["u-10"] = record          # moved to the end, as the files index does
    state["members"]["u-new"] = member(99999)  # and a new one after it
    second = roundtrip("g", state, first)
    state["members"] = dict(sorted(state["members"].items()))  # reordered wholesale
    roundtrip("g", state, second)


def test_pages_split_and_merge_as_the_state_grows_and_shrinks():
    state = big_group(200)
    stored = roundtrip("g", state)
    for n in range(200, 12_000, 1_500):  # grow
        state["members"].update({f"u-{i}": member(i) for i in range(n, n + 1_500)})
        stored = roundtrip("g", state, stored)
    pages = len(stored.records)
    for key in list(state["members"])[:11_000]:  # shrink
        del state["members"][key]
        state["responsiveness"]["items"].pop(f"m-1|{key}", None)
    stored = roundtrip("g", state, stored)
    assert len(stored.records) < pages


def test_large_lists_and_nested_large_dicts_are_paged_too():
    state = {"announcements": {"open": {"a-1": {"audience": [f"u-{i}" for i in range(40_000)],
                                                "acknowledged": {f"u-{i}": "2026-03-02T10:00:00+08:00"
                                                                 for i in range(0, 40_000, 2)}}}},
             # a collection of small entries and one over a page: the collection is paged, and the
             # large entry's members are paged in turn
             "windows": {**{f"day|{d:03d}": {"start": d} for d in range(5_000)},
                         "week|001": {"start": 1, "members": {f"u-{i}": {"addressed": i} for i in range(9_000)}}}}
    stored = roundtrip("g", state)
    stub = orjson.dumps(STUB)[1:-1]
    # A window is an entry of the paged windows dict, and its members are paged in turn: a stub in a page.
    assert any(stub in v for k, v in stored.records.items() if k != b"g")


def test_a_value_that_cannot_be_paged_is_refused_with_a_reason():
    try:
        encode("g", {"blob": "x" * (HEAD_BYTES + 10)})
    except StateTooLarge as exc:
        assert "'blob'" in str(exc)
    else:
        raise AssertionError("a single value over the limit must be refused")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=12), children, max_size=8),
    max_leaves=30)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6), small=json_values)
def test_any_state_round_trips_through_changes(seed, small):
    rng = random.Random(seed)
    state = {"small": small, "members": {}, "lists": []}
    stored = None
    for _ in range(4):
        for _ in range(rng.randrange(0, 3000)):
            key = f"u-{rng.randrange(0, 6000)}"
            if rng.random() < 0.2:
                state["members"].pop(key, None)
            else:
                state["members"][key] = {"n": "x" * rng.randrange(0, 300), "v": rng.random()}
        state["lists"].extend(["y" * rng.randrange(0, 200) for _ in range(rng.randrange(0, 2000))])
        stored = roundtrip("g-prop", state, stored)
