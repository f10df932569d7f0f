"""Whatever bytes arrive, decoding gives a valid event or one `Rejected` with a reason; the core
never fails on a valid event, whatever its text."""
from __future__ import annotations

import time

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.core.events import Rejected, decode
from tests.conftest import outputs
from tests.factory import message

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def decodes_or_rejects(raw: bytes) -> str:
    try:
        decode(raw)
        return "event"
    except Rejected as exc:
        assert exc.reason and isinstance(exc.reason, str)
        return "rejected"


@given(st.binary(max_size=2000))
@settings(max_examples=400)
def test_arbitrary_bytes(raw):
    decodes_or_rejects(raw)


@given(json_values)
@settings(max_examples=300)
def test_arbitrary_json(value):
    assert decodes_or_rejects(orjson.dumps(value)) == "rejected"


FIELDS = ("event_id", "type", "ts", "group_id", "actor", "message")


@given(field=st.sampled_from(FIELDS), replacement=json_values, drop=st.booleans())
@settings(max_examples=300)
def test_a_valid_event_with_one_field_broken(field, replacement, drop):
    event = message("报表今天下班前发我")
    if drop:
        del event[field]
    else:
        event[field] = replacement
    decodes_or_rejects(orjson.dumps(event))


@given(st.text(min_size=1, max_size=5).filter(lambda t: "." in t or t.isalpha()))
def test_unknown_types_are_rejected_by_name(kind):
    event = {**message("x"), "type": kind}
    try:
        decode(orjson.dumps(event))
    except Rejected as exc:
        assert "type" in exc.reason


def test_truncated_records_are_rejected():
    raw = orjson.dumps(message("完整的一条消息"))
    for cut in range(1, len(raw)):
        assert decodes_or_rejects(raw[:cut]) == "rejected"


def test_deeply_nested_json_is_rejected_quickly():
    for depth in (600, 10_000, 200_000):
        raw = b"[" * depth + b"]" * depth
        start = time.perf_counter()
        assert decodes_or_rejects(raw) == "rejected"
        assert time.perf_counter() - start < 1.0


def test_ten_megabyte_text_is_rejected_without_parsing_it():
    raw = orjson.dumps(message("字" * 10_000_000))
    start = time.perf_counter()
    assert decodes_or_rejects(raw) == "rejected"
    assert time.perf_counter() - start < 1.0


def test_timestamps_far_away_or_without_offset_are_rejected():
    for ts in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+14:00", "2026-03-02T09:00:00",
               "2026-13-45T99:00:00+08:00", "", "1700000000"):
        assert decodes_or_rejects(orjson.dumps({**message("x"), "ts": ts})) == "rejected", ts


def test_invalid_utf8_and_surrogates_are_rejected():
    assert decodes_or_rejects(b'{"event_id": "\xed\xa0\x80"}') == "rejected"
    assert decodes_or_rejects(orjson.dumps(message("ok"))[:-3] + b"\xff\"}}") == "rejected"


@given(st.lists(st.text(max_size=600), min_size=1, max_size=4))
@example(["收到", ""])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_core_handles_any_texts_in_one_batch(engine, texts):
    # several messages, so that the classifier sees batches with empty or odd texts anywhere in them
    out = outputs(engine, *(message(text) for text in texts))
    verdicts = [e for e in out if e["kind"] == "verdict"]
    assert len(verdicts) == len(texts)


def test_duplicate_event_ids_give_one_verdict(engine):
    first = message("同一条消息")
    again = dict(first)
    assert len(outputs(engine, first, again, again, role="verdicts")) == 1
