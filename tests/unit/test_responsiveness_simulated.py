"""A simulated week through the offline core gives exactly the simulator's ground truth."""
from __future__ import annotations

from contextlib import contextmanager

from datetime import date

import pytest

from pipeline.core.offline import run
from pipeline.devtools.simulate import simulate

KEYS = ("addressed", "replied", "acknowledged", "overdue", "unanswered", "reply_rate", "median_reply_seconds",
        "p90_reply_seconds")


def tracked(engine, lines) -> list[dict]:
    rows = []
    for role, e in run(engine, lines):
        if role == "responsiveness":
            rows.append({"window": e["window"]["kind"], "start": e["window"]["start"][:10],
                         "member": e["member"]["id"] if e["member"] else None, **{k: e[k] for k in KEYS}})
    return sorted(rows, key=lambda r: (r["window"], r["start"], r["member"] or "~"))


@pytest.mark.parametrize("seed,start", [(7, date(2026, 2, 9)), (11, date(2026, 3, 2)), (3, date(2026, 4, 27))])
def test_simulated_week_matches_the_ground_truth(work_engine, seed, start):
    lines, truth = simulate(seed, start, work_engine.policy)
    assert tracked(work_engine, lines) == truth
    # The week has every habit's outcome in it, so the comparison means something.
    week = {r["member"]: r for r in truth if r["window"] == "week"}
    assert week["u-01"]["overdue"] == 0 and week["u-06"]["unanswered"] > 0 and week["u-04"]["acknowledged"] > 0
    assert week["u-03"]["overdue"] > 0 and week[None]["addressed"] > 50


def test_escalations_match_the_plans(work_engine):
    lines, truth = simulate(7, date(2026, 2, 9), work_engine.policy)
    outputs = list(run(work_engine, lines))
    c1 = [e["level"] for r, e in outputs if r == "escalations" and e["rule"] == "C1"]
    week = next(r for r in truth if r["window"] == "week" and r["member"] is None)
    assert c1.count("reminder") == week["overdue"] and c1.count("supervisor") == week["unanswered"]
    (report, *_) = [e for r, e in outputs if r == "reports"]
    assert report["problems"]["opened"] == 2 and report["announcements"]


def test_simulation_is_deterministic(work_engine):
    assert simulate(5, date(2026, 3, 2), work_engine.policy) == simulate(5, date(2026, 3, 2), work_engine.policy)


def test_state_round_trips_through_json_between_batches(work_engine):
    """As in the worker: state saved as JSON after each small batch and loaded again gives the same
    outputs as one pass (pending items, windows and the report period survive a restart). States
    are stored as the worker stores them (pipeline.core.state_pages), with pages small enough that the
    larger groups are paged, so the codec's round trip is checked on real states."""
    from pipeline.core import state_pages
    from pipeline.core.events import decode, encode

    lines, _ = simulate(7, date(2026, 2, 9), work_engine.policy)
    one_pass = [encode(e) for _, e in run(work_engine, lines)]
    events = [decode(line) for line in lines]
    saved: dict[str, state_pages.Stored] = {}
    batched = []
    paged = set()
    small = dict(HEAD_BYTES=4096, PAGE_BYTES=1024, FILL_BYTES=512, SMALL_BYTES=64)
    with monkeypatched(state_pages, small):
        for i in range(0, len(events), 37):
            states = {k: state_pages.decode(k, v.records.get)[0] for k, v in saved.items()}
            batched += [encode(e) for _, e in work_engine.process(events[i:i + 37], states,
                                                                   [("f", n) for n in range(i + 1, i + 38)])]
            saved = {k: state_pages.encode(k, v, saved.get(k)) for k, v in states.items()}
            paged |= {k for k, v in saved.items() if len(v.records) > 1}
    assert batched == one_pass
    assert paged  # the round trip went through pages, not only single records


@contextmanager
def monkeypatched(module, values: dict):
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


def test_many_groups_of_a_day_match_their_ground_truth(work_engine):
    """`moderation simulate --groups`: every group with members of its own; the aggregates the core
    writes for each group equal that group's ground truth."""
    import orjson

    from pipeline.devtools.simulate import simulate_groups

    lines, truth = simulate_groups(40, 320, days=1, policy=work_engine.policy)
    events = [orjson.loads(line) for line in lines]
    assert len({e["group_id"] for e in events}) == 40
    assert len({e["event_id"] for e in events}) == len(events)
    joined = {e["member"]["id"] for e in events if e["type"] == "member.joined"}
    assert len(joined) == 320 and all(m.startswith("g-sim-") for m in joined)
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)  # one offset: the strings order as times
    rows = []
    for role, e in run(work_engine, lines):
        if role == "responsiveness":
            rows.append({"group": e["group_id"], "window": e["window"]["kind"], "start": e["window"]["start"][:10],
                         "member": e["member"]["id"] if e["member"] else None, **{k: e[k] for k in KEYS}})

    def key(r):
        return r["group"], r["window"], r["start"], r["member"] or "~"

    assert sorted(rows, key=key) == sorted(truth, key=key)
    day = [r for r in truth if r["window"] == "day" and r["member"] is None]
    assert len(day) == 40 and sum(r["addressed"] for r in day) > 40 * 15
    assert sum(r["unanswered"] for r in day) > 0 and sum(r["acknowledged"] for r in day) > 0


def test_many_groups_ask_for_a_sensible_size():
    from pipeline.devtools.simulate import simulate_groups

    with pytest.raises(ValueError, match="members per group"):
        simulate_groups(10, 500)
