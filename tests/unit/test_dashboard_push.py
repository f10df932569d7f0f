"""The dashboard's incremental path: the stores' indexes, views read through them, and the live
updates sent as changes (push.py) — against the plain answers, over random record sequences."""
from __future__ import annotations

import asyncio
import copy
import random
import time
from collections import Counter

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.dashboard.push import Frame, changes, patch_message
from pipeline.dashboard.server import FRAME_CACHE, FRAME_REUSE_SECONDS, FRAMES_KEY, STREAMS_KEY
from pipeline.dashboard.state import RESPONSIVENESS_KEYS, Bounds, DashboardState, View
from pipeline.dashboard.stores import Ranked, Sizes, TimeOrdered
from tests.unit.dashboard_helpers import log_in
from tests.unit.test_dashboard_state import REPORT, _client, _serve, escalation, responsiveness, violation

GROUPS = ("g-fin", "g-apollo", "g-hr", "g-ops")


def apply_changes(base: dict, ops: list) -> dict:
    """What the page does with an update (static/app.js, applyChanges), for the tests in Python."""
    state = dict(base)
    for op, path, value in ops:
        target = state
        if len(path) == 2:
            target = state[path[0]] = dict(state[path[0]])
        if op == "set":
            target[path[-1]] = value
        elif op == "list":
            old = target[path[-1]]
            target[path[-1]] = [x for part in value
                                for x in (old[part[0]:part[0] + part[1]] if isinstance(part, list) else [part])]
        else:
            raise AssertionError(f"unknown operation {op}")
    return state


# --------------------------------------------------------------------------- the stores' indexes


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "put", "put", "pop"]), st.integers(0, 30), st.sampled_from("abcd"),
                          st.integers(0, 5), st.sampled_from(["x", "y"])), max_size=120),
       st.integers(3, 12))
def test_ranked_indexes_agree_with_the_entries_after_any_puts_pops_and_drops(ops, cap):
    store = Ranked(cap, lambda v: (v["rank"], v["n"]), group_of=lambda v: v["group"],
                   orders={"place": lambda v: v["place"] if v["place"] % 3 else None}, tally_of=lambda v: v["label"])
    dropped = []
    for n, (op, key, group, place, label) in enumerate(ops):
        if op == "put":
            store.put(key, {"group": group, "place": place, "label": label, "rank": place, "n": n},
                      on_drop=lambda k, v: dropped.append(k))
        else:
            store.pop(key)
    assert len(store) <= cap
    data = store.data
    assert {g: set(keys) for g, keys in store.groups().items()} == \
        {g: {k for k, v in data.items() if v["group"] == g} for g in {v["group"] for v in data.values()}}
    assert dict(store.in_groups("ab")) == {k: v for k, v in data.items() if v["group"] in "ab"}
    in_order = [k for k, v in sorted(data.items(), key=lambda kv: kv[1]["place"]) if v["place"] % 3]
    order = store.order("place")
    assert [data[k]["place"] for k in order.ascending()] == [data[k]["place"] for k in in_order]
    assert set(order.ascending()) == set(in_order) and order.last(3) == list(order.descending())[:3]
    assert order.count_before(2) == sum(1 for k in in_order if data[k]["place"] < 2)
    assert store.tally == Counter(v["label"] for v in data.values())
    sizes = Counter(v["group"] for v in data.values())
    largest = store.largest_groups(2)
    assert [n for _, n in largest] == sorted(sizes.values(), reverse=True)[:2]
    assert all(sizes[g] == n for g, n in largest)
    assert not set(dropped) & set(data) or any(op == "put" for op, *_ in ops)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from("abc"), st.sampled_from(["violation", "escalation"])),
                max_size=80), st.integers(2, 10))
def test_time_ordered_by_group_and_kind_agrees_with_the_whole_store(adds, cap):
    store = TimeOrdered(cap, group_of=lambda i: i["group"], tally_of=lambda i: i["kind"])
    for n, (seconds, group, kind) in enumerate(adds):
        store.add(seconds if n % 7 else None, {"group": group, "kind": kind, "n": n})
    everything = list(store.newest_first())
    assert len(everything) == min(cap, len(adds))
    for groups in ("a", "ab", "abc", ""):
        assert list(store.newest_first(groups)) == [i for i in everything if i["group"] in groups]
    assert store.tally == Counter(i["kind"] for i in everything)


def test_sizes_find_the_largest_and_forget_the_empty():
    sizes = Sizes()
    for name, size in (("a", 1), ("b", 3), ("c", 2), ("a", 4), ("b", 0), ("d", 4)):
        sizes.set(name, size)
    assert sizes.largest(2) == [("a", 4), ("d", 4)] and sizes.largest(10) == [("a", 4), ("d", 4), ("c", 2)]


# --------------------------------------------------------------------------- random records


@st.composite
def records(draw, groups=GROUPS):
    """A sequence of valid output records of every kind the views list from, over a few groups
    (repeats, decisions on earlier violations, retractions of earlier escalations included)."""
    out, violations, escalations = [], [], []
    for n in range(draw(st.integers(1, 60))):
        group = draw(st.sampled_from(groups))
        member = draw(st.sampled_from(["u-1", "u-2", "u-3"]))
        ts = f"2026-03-0{draw(st.integers(2, 6))}T{draw(st.integers(8, 20)):02d}:{draw(st.integers(0, 59)):02d}:00+08:00"
        kind = draw(st.sampled_from(["violation", "content", "escalation", "responsiveness", "report", "review",
                                     "retraction", "verdict", "repeat"]))
        if kind == "violation":
            record = violation(f"{n}", rule=draw(st.sampled_from(["P6", "C3", "D1"])), group=group, member=member,
                               severity=draw(st.sampled_from(["warning", "severe", "info"])), ts=ts)
        elif kind == "content":
            record = {**violation(f"c{n}", group=group, member=member, ts=ts, rule="M2"),
                      "review": draw(st.sampled_from(["required", "none"])),
                      "evidence": {"label": draw(st.sampled_from(["ad", "abuse", "rumour"])), "score": 0.7,
                                   "reasons": ["model"], "message_id": f"m-{n}"}}
            violations.append(record["id"])
        elif kind == "escalation":
            record = escalation(f"{n}", level=draw(st.sampled_from(["reminder", "removal_recommended", "supervisor"])),
                                group=group, member=member, ts=ts, rule=draw(st.sampled_from(["P6", "D1"])))
            escalations.append(record["id"])
        elif kind == "responsiveness":
            rate = draw(st.sampled_from([None, 0.0, 0.5, 1.0]))
            record = responsiveness(draw(st.sampled_from([None, member])), f"2026-03-0{draw(st.integers(2, 4))}T00:00:00+08:00",
                                    0.0 if rate is None else rate, draw(st.sampled_from([60, 900, 3600])),
                                    overdue=draw(st.integers(0, 2)), group=group, kind=draw(st.sampled_from(["day", "week"])))
            record["reply_rate"] = rate
            if rate is None:
                record["addressed"] = 0
        elif kind == "report":
            record = {**copy.deepcopy(REPORT), "id": f"rep-{n}", "group_id": group, "ts": ts}
        elif kind == "review" and violations:
            record = {"kind": "review", "id": f"rv-{n}", "group_id": group, "ts": ts,
                      "violation_id": draw(st.sampled_from(violations)),
                      "decision": draw(st.sampled_from(["confirmed", "dismissed"])), "old_label": "ad",
                      "new_label": "work", "reviewer": {"id": "sup", "name": "S"}, "note": "n", "outcome": "ok"}
        elif kind == "retraction" and escalations:
            record = {"kind": "retraction", "id": f"rt-{n}", "group_id": group, "ts": ts,
                      "retracts": [draw(st.sampled_from(escalations))], "violation_id": "v", "reason": "dismissed"}
        elif kind == "verdict":
            record = {"kind": "verdict", "id": f"ver-{n}", "group_id": group, "ts": ts, "label": "ad", "band": "review",
                      "message_id": f"m-{draw(st.integers(0, n))}", "scores": {"ad": 0.7, "work": 0.3}}
        elif kind == "repeat" and out:
            record = draw(st.sampled_from(out))
        else:
            continue
        out.append(record)
    return out


SMALL = Bounds(groups=3, feed=6, severe=4, followups=5, responsiveness=6, reports=2, seen=40, top_groups=50,
               chart_groups=8, reviews=4, decidable=10, members=5, review_scores=6)
VIEWS = [View(), View(severity="severe"), View(rule="P6"), View(escalations=False), View(limit=2, offset=1),
         View(window="week"), View(sort="p90_reply_seconds", descending=True), View(sort="member"),
         View(descending=True, limit=3), View(review_label="ad"), View(review_age=24), View(limit=1)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_views_read_through_the_indexes_agree_with_views_of_every_group(sequence):
    """The views of everything (read from the stores' orders) and the views cut to every group
    there is (read group by group) list the same entries in the same order."""
    state = DashboardState(SMALL)
    for record in sequence:
        state.apply(record)
    everyone = frozenset(GROUPS)
    now = time.mktime((2026, 3, 7, 0, 0, 0, 0, 0, -1))
    for view in VIEWS:
        whole, cut = state.view(view, now=now), state.view(View(**{**view.__dict__, "scope": everyone}), now=now)
        for section, field in (("feed", "items"), ("feed", "total"), ("feed", "by_kind"), ("followups", "items"),
                               ("followups", "total"), ("responsiveness", "rows"), ("responsiveness", "total"),
                               ("reviews", "items"), ("reviews", "total"), ("reviews", "waiting"),
                               ("reviews", "labels"), ("reviews", "groups")):
            assert whole[section][field] == cut[section][field], (view, section, field)
        assert whole["report_groups"] == cut["report_groups"] and whole["report"] == cut["report"]


def test_the_responsiveness_table_in_every_order_agrees_with_a_sort_of_its_rows():
    state = DashboardState()
    rng = random.Random(5)
    for i in range(300):
        rate = rng.choice([None, 0.0, 0.25, 0.5, 1.0])
        record = responsiveness(rng.choice([None, f"u-{i}"]), f"2026-03-0{rng.randint(2, 5)}T00:00:00+08:00",
                                0.0 if rate is None else rate, rng.choice([60, 900]),
                                group=rng.choice(GROUPS), kind=rng.choice(["day", "week"]))
        record["reply_rate"] = rate
        if rng.random() < 0.3:
            record["p90_reply_seconds"] = record["median_reply_seconds"] = None
        state.apply(record)
    for sort in RESPONSIVENESS_KEYS:
        for descending in (False, True):
            view = View(sort=sort, descending=descending, limit=200)
            fast = state.view(view)["responsiveness"]["rows"]
            by_groups = state.view(View(**{**view.__dict__, "scope": frozenset(GROUPS)}))["responsiveness"]["rows"]
            assert fast == by_groups, (sort, descending)
            if sort not in ("member", "start"):
                values = [r[sort] for r in fast if r[sort] is not None]
                assert values == sorted(values, reverse=descending) and all(
                    r[sort] is None for r in fast[len(values):])        # blanks last, whatever the direction


# --------------------------------------------------------------------------- updates as changes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.lists(st.booleans(), min_size=60, max_size=60), st.sampled_from(VIEWS + [View(group="g-fin")]))
def test_the_changes_bring_a_client_to_exactly_the_whole_view(sequence, skips, view):
    state = DashboardState(SMALL)
    sent = Frame(state.view(view))
    assert sent.whole() == orjson.dumps(state.view(view))
    copy_ = orjson.loads(sent.whole())
    for record, skip in zip(sequence, skips):
        state.apply(record)
        frame = Frame(state.view(view))
        assert frame.whole() == orjson.dumps(state.view(view))     # the answer /api/state gives, byte for byte
        if skip:
            continue                                                # this client missed a frame: no harm
        ops = changes(sent, frame)
        assert ops is not None
        if not ops:
            # Nothing but the version changed: nothing is sent, and nothing the page shows differs.
            assert {k: v for k, v in orjson.loads(frame.whole()).items() if k != "version"} == \
                {k: v for k, v in copy_.items() if k != "version"}
            continue
        copy_ = apply_changes(copy_, orjson.loads(patch_message(ops))["ops"])
        sent = frame
        assert copy_ == orjson.loads(frame.whole())


def test_a_change_of_a_few_items_sends_those_items_and_runs_of_the_rest():
    state = DashboardState()
    for i in range(150):
        state.apply(violation(i, ts=f"2026-03-02T09:{i // 60:02d}:{i % 60:02d}+08:00"))
    before = Frame(state.view(View()))
    state.apply(violation("new", ts="2026-03-02T10:00:00+08:00"))
    after = Frame(state.view(View()))
    message = patch_message(changes(before, after))
    ops = orjson.loads(message)["ops"]
    feed = [op for op in ops if op[1] == ["feed", "items"]]
    assert feed == [["list", ["feed", "items"], [after_item(after), [0, 99]]]]
    assert len(message) < 3_000 < len(after.whole())


def after_item(frame: Frame) -> dict:
    return orjson.loads(frame.parts["feed"]["items"][0])


def test_an_admin_is_never_sent_anything_of_another_group():
    """Random records of their group and another, each of the other's carrying marks; whatever the
    admin is sent (the whole view, then changes) carries none, and adds up to their view."""
    marks = ("g-secret", "u-secret", "secret-excerpt")
    rng = random.Random(11)
    state = DashboardState(SMALL)
    views = [View(scope=frozenset({"g-fin"})), View(scope=frozenset({"g-fin"}), group="g-secret"),
             View(scope=frozenset({"g-fin"}), severity="severe", review_group="g-secret")]
    clients = {view: (Frame(state.view(view)), None) for view in views}
    own = 0
    fin_ids: list[str] = []       # their group's latest violations and escalations, for the other's records to name
    for n in range(400):
        theirs = rng.random() < 0.5
        group, member = ("g-fin", "u-1") if theirs else ("g-secret", "u-secret")
        record = rng.choice([
            lambda: {**violation(n, group=group, member=member, severity=rng.choice(["warning", "severe"])),
                     "excerpt": "fin-excerpt" if theirs else "secret-excerpt"},
            lambda: {**violation(f"c{n}", group=group, member=member), "review": "required",
                     "evidence": {"label": "ad", "score": 0.7, "reasons": ["r"], "message_id": f"m{n}"},
                     "excerpt": "fin-excerpt" if theirs else "secret-excerpt"},
            lambda: escalation(n, group=group, member=member, level=rng.choice(["reminder", "supervisor"])),
            lambda: responsiveness(member, "2026-03-02T00:00:00+08:00", rng.random(), 60, group=group),
            lambda: {**REPORT, "id": f"rep-{n}", "group_id": group},
            # Records of the other group naming this group's violations and escalations.
            lambda: {"kind": "review", "id": f"rv-{n}", "group_id": "g-secret", "ts": "2026-03-02T12:00:00+08:00",
                     "violation_id": rng.choice(fin_ids[-3:] or ["none"]), "decision": "dismissed",
                     "reviewer": {"id": "u-secret", "name": "S"}, "note": "secret-excerpt", "outcome": "ok"},
            lambda: {"kind": "retraction", "id": f"rt-{n}", "group_id": "g-secret", "ts": "2026-03-02T12:00:00+08:00",
                     "retracts": [rng.choice(fin_ids[-3:] or ["none"])], "violation_id": "v", "reason": "secret-excerpt"},
        ])()
        if record.get("group_id") == "g-fin" and record["kind"] in ("violation", "escalation"):
            fin_ids.append(record["id"])
        state.apply(record)
        for view in views:
            sent, held = clients[view]
            frame = Frame(state.view(view))
            ops = changes(sent, frame) if held is not None else None
            message = frame.whole() if ops is None else patch_message(ops) if ops else b""
            assert not [m for m in marks if m.encode() in message], (view, message[:300])
            own += b"fin-excerpt" in message
            if held is None:
                held = orjson.loads(message)
            elif ops:
                held = apply_changes(held, orjson.loads(message)["ops"])
            if message:
                clients[view] = (frame, held)
            without_version = {k: v for k, v in orjson.loads(frame.whole()).items() if k != "version"}
            assert {k: v for k, v in held.items() if k != "version"} == without_version
    assert own > 50                                                  # their own group's data did arrive


# --------------------------------------------------------------------------- the stream on loopback


async def _events(stream, count: int, timeout: float = 10) -> list[tuple[str, int, bytes]]:
    out = []
    while len(out) < count:
        message = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), timeout)
        if message.startswith(b":"):
            continue
        head, _, data = message.partition(b"\ndata: ")
        lines = dict(line.split(": ", 1) for line in head.decode().splitlines())
        out.append((lines["event"], int(lines["id"]), data.rstrip(b"\n")))
    return out


async def test_the_stream_sends_the_whole_view_then_numbered_changes_that_add_up():
    state = DashboardState()
    state.apply(violation(1, group="g-fin"))
    runner, url, _ = await _serve(state)
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            async with client.get(url + "api/stream") as stream:
                (kind, number, data), = await _events(stream, 1)
                assert (kind, number) == ("state", 1)
                held = orjson.loads(data)
                for i in range(3):
                    state.apply(violation(f"more-{i}", group="g-apollo", ts=f"2026-03-02T10:0{i}:00+08:00"))
                    (kind, number, data), = await _events(stream, 1)
                    assert (kind, number) == ("patch", i + 2)
                    held = apply_changes(held, orjson.loads(data)["ops"])
                now = await (await client.get(url + "api/state")).json()
                assert held["feed"] == now["feed"] and held["totals"] == now["totals"]
    finally:
        await runner.cleanup()


async def test_a_client_that_missed_updates_gets_the_whole_view_when_it_comes_back():
    """A page that finds an update missing (or could not apply one) opens the stream again: the
    first event of every stream is the whole view, as it is now."""
    state = DashboardState()
    runner, url, _ = await _serve(state)
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            async with client.get(url + "api/stream") as stream:
                await _events(stream, 1)
                state.apply(violation("a"))
                await _events(stream, 1)                   # this one is lost on the way
            for i in range(5):
                state.apply(violation(f"b{i}", ts=f"2026-03-02T11:0{i}:00+08:00"))
            await asyncio.sleep(FRAME_REUSE_SECONDS)                # an answer is reused for up to this long
            async with client.get(url + "api/stream") as stream:
                (kind, number, data), = await _events(stream, 1)
                assert (kind, number) == ("state", 1)
                now = await (await client.get(url + "api/state")).json()
                assert {k: v for k, v in orjson.loads(data).items() if k != "status"} == \
                    {k: v for k, v in now.items() if k != "status"}
                assert len(now["feed"]["items"]) == 6
    finally:
        await runner.cleanup()


async def test_an_admins_stream_carries_only_their_groups_and_adds_up_to_their_view():
    state = DashboardState()
    runner, url, _ = await _serve(state)
    try:
        async with _client() as client:
            await log_in(client, url, "adm-fin")
            async with client.get(url + "api/stream") as stream:
                (_, _, data), = await _events(stream, 1)
                held = orjson.loads(data)
                for i in range(6):
                    state.apply({**violation(f"s{i}", group="g-apollo", member="u-secret"), "excerpt": "secret-excerpt"})
                    state.apply(violation(f"f{i}", group="g-fin", ts=f"2026-03-02T10:0{i}:00+08:00"))
                    for kind, _, data in await _events(stream, 1):
                        assert b"g-apollo" not in data and b"secret" not in data
                        held = apply_changes(held, orjson.loads(data)["ops"]) if kind == "patch" else orjson.loads(data)
                # Changes in another group alone send nothing to this admin.
                state.apply(violation("s-last", group="g-apollo"))
                with pytest.raises(asyncio.TimeoutError):
                    await _events(stream, 1, timeout=1.5)
                now = await (await client.get(url + "api/state")).json()
                assert {k: v for k, v in held.items() if k != "version"} == {k: v for k, v in now.items() if k != "version"}
    finally:
        await runner.cleanup()


async def test_the_answers_kept_are_bounded_by_the_live_streams():
    state = DashboardState()
    runner, url, _ = await _serve(state)
    app = runner.app
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            for i in range(3 * FRAME_CACHE):
                assert (await client.get(url + f"api/state?member=u-{i}")).status == 200
            assert len(app[FRAMES_KEY].entries) == FRAME_CACHE and app[STREAMS_KEY].active == 0
    finally:
        await runner.cleanup()


async def test_a_client_is_sent_at_most_its_byte_rate_however_fast_its_view_changes():
    """After the whole view, updates to one client average at most 64 KiB a second (the figure
    docs/OPERATIONS.md promises): a larger
    update waits longer before the next. Records arrive far faster than that here (each tick
    replaces the supervisor's newest-first feed with new, long items)."""
    state = DashboardState()
    runner, url, _ = await _serve(state)
    stop = asyncio.Event()

    async def pour() -> None:
        i = 0
        while not stop.is_set():
            for _ in range(60):
                i += 1
                state.apply({**violation(f"r{i}", group=f"g-{i % 400}", ts=f"2026-03-02T10:{i // 6000 % 60:02d}:00+08:00"),
                             "excerpt": f"{i} " + "长" * 300, "action": f"{i} " + "撤" * 200})
            await asyncio.sleep(0.05)

    poured = asyncio.create_task(pour())
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            async with client.get(url + "api/stream") as stream:
                await _events(stream, 1)                          # the whole view: not counted
                started, sizes = time.monotonic(), []
                while time.monotonic() - started < 6:
                    (_, _, data), = await _events(stream, 1)
                    sizes.append(len(data))
                elapsed = time.monotonic() - started
    finally:
        stop.set()
        await poured
        await runner.cleanup()
    assert len(sizes) >= 3 and min(sizes) > 20_000            # the view did change, by a lot, often
    # What came in `elapsed` seconds: the rate's worth, plus the one update sent when a wait ended.
    assert sum(sizes) <= 64 * 1024 * elapsed + max(sizes), (sizes, elapsed)


async def test_a_view_larger_than_a_live_update_may_be_is_refused_before_the_stream_starts():
    """A view whose whole answer is larger than `stream_buffer_bytes` used to open the stream and drop it at its first
    message, which the browser takes for a network error and reconnects to, again and again: the
    page never showed anything. It is refused before the stream starts (the page then reads
    /api/state), and /api/state answers it. (Here a hundred items of long Chinese text, three
    bytes a character, against the smallest buffer allowed.)"""
    state = DashboardState()
    for i in range(100):
        state.apply({**violation(i, ts=f"2026-03-02T09:{i % 60:02d}:{i // 60:02d}+08:00"), "excerpt": "中" * 8000,
                     "action": "文" * 8000})
    runner, url, _ = await _serve(state, stream_buffer_bytes=256 << 10)
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            whole = await (await client.get(url + "api/state")).read()
            assert len(whole) > 256 << 10
            async with client.get(url + "api/stream") as stream:
                assert stream.status == 503, stream.status
                assert "MODERATION_DASHBOARD_STREAM_BUFFER_BYTES" in await stream.text()
            async with client.get(url + "api/stream?limit=5") as stream:      # a smaller view streams
                (kind, number, _), = await _events(stream, 1)
                assert (kind, number) == ("state", 1)
    finally:
        await runner.cleanup()


def test_an_admins_view_does_not_count_the_records_of_other_groups():
    """The version counted every record of every group, and a group admin was sent it with each
    update and in /api/state: how busy the other groups are (the scoped totals leave the record
    count out for that reason). Another group's records, short of pushing this group's entries out
    of a store, leave an admin's view exactly as it was."""
    own = [violation("f1", group="g-fin"), escalation("f2", group="g-fin"),
           responsiveness("u-1", "2026-03-02T00:00:00+08:00", 0.5, 60, group="g-fin")]
    quiet, busy = DashboardState(), DashboardState()
    for record in own:
        quiet.apply(record)
    for i, record in enumerate(own):
        busy.apply(record)
        for j in range(20):
            busy.apply(violation(f"s{i}-{j}", group="g-secret"))
            busy.receive(b"{not json")
    view = View(scope=frozenset({"g-fin"}))
    assert busy.view(view) == quiet.view(view)
