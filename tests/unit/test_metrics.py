"""The worker's Prometheus metrics: names, labels, reason buckets, the HTTP endpoint."""
from __future__ import annotations

import urllib.request
from datetime import datetime, timezone

import pytest

from pipeline.core.events import Rejected, decode
from pipeline.worker.metrics import DLQ_REASONS, Metrics, TimedClassifier, reason_bucket, start_metrics_server
from pipeline.devtools.sample import conversation

MAX_TEXT = 20000


def _reason_of(raw: bytes) -> str:
    with pytest.raises(Rejected) as info:
        decode(raw, not_after=datetime(2026, 3, 3, tzinfo=timezone.utc))
    return info.value.reason


@pytest.mark.parametrize("raw, bucket", [
    (b"", "empty"),
    (b"{nope", "not_json"),
    (b"[1, 2]", "not_json"),
    (b'{"type": "message.exploded"}', "unknown_type"),
    (b'{"event_id": "e"}', "unknown_type"),
    (b'{"event_id":"e","type":"message.posted","ts":"2026-03-02T09:00:00+08:00","group_id":"g",'
     b'"actor":{"id":"u","name":"n"}}', "missing_field"),
    (b'{"event_id":"e","type":"clock.tick","ts":"yesterday","group_id":"g","actor":{"id":"u","name":"n"}}',
     "bad_timestamp"),
    (b'{"event_id":"e","type":"clock.tick","ts":"2026-03-02T09:00:00","group_id":"g","actor":{"id":"u","name":"n"}}',
     "bad_timestamp"),
    (b'{"event_id":"e","type":"message.posted","ts":"2026-03-02T09:00:00+08:00","group_id":"g",'
     b'"actor":{"id":"u","name":"n"},"message":{"id":"m","text":"x"}}'.replace(b"2026-03-02", b"2093-03-02"),
     "ts_ahead"),
    (b'{"event_id":"e","type":"clock.tick","ts":"2026-03-02T09:00:00+08:00","group_id":5,"actor":{"id":"u","name":"n"}}',
     "invalid_field"),
])
def test_real_rejection_reasons_fall_into_fixed_buckets(raw, bucket):
    assert reason_bucket(_reason_of(raw)) == bucket


def test_unknown_reasons_are_other_and_every_bucket_is_declared():
    assert reason_bucket("the broker ate it") == "other"
    assert reason_bucket(None) == "other"
    assert reason_bucket("record of 2000000 bytes exceeds the 1000000-byte limit") == "too_large"
    assert {reason_bucket(r) for r in ("", "x")} <= set(DLQ_REASONS)


def test_batch_counts_events_outputs_violations_escalations():
    m = Metrics()
    events = [decode(__import__("orjson").dumps(e)) for e in conversation()[:6]]
    outputs = [
        ("verdicts", {"kind": "verdict", "label": "work"}),
        ("violations", {"kind": "violation", "rule": "P5", "severity": "warning"}),
        ("violations", {"kind": "violation", "rule": "D1", "severity": "severe"}),
        ("violations", {"kind": "violation", "rule": "<script>", "severity": "catastrophic"}),
        ("escalations", {"kind": "escalation", "level": "supervisor", "rule": "D1"}),
        ("dlq", {"kind": "rejected", "reason": "empty record"}),
    ]
    m.observe_batch(events, outputs, classify_seconds=0.02, classified_messages=3)
    assert m.value("moderation_events_in_total", type="group.configured") == 1
    assert m.value("moderation_events_in_total", type="member.joined") == 4
    assert m.value("moderation_events_in_total", type="message.posted") == 1
    assert m.value("moderation_outputs_total", topic="violations", kind="violation") == 3
    assert m.value("moderation_outputs_total", topic="dlq", kind="rejected") == 1
    assert m.value("moderation_violations_total", rule="D1", severity="severe") == 1
    assert m.value("moderation_violations_total", rule="other", severity="other") == 1
    assert m.value("moderation_escalations_total", level="supervisor", rule="D1") == 1
    assert m.value("moderation_classification_seconds_count") == 1
    assert m.value("moderation_classification_seconds_bucket", le="0.025") == 1
    assert m.value("moderation_verdicts_total", label="work") == 1


def test_verdicts_the_warning_notice_rule_decided_are_counted():
    import numpy as np

    from pipeline.classify import LABELS
    from pipeline.classify.model import ModelClassifier
    from pipeline.core.engine import verdict_event

    class SaysIllegal:  # a stand-in model: every message illegal at 0.9, so the rule alone decides
        labels = list(LABELS)

        def probabilities(self, items):
            return np.tile([0.9 if label == "illegal" else 0.1 / 6 for label in LABELS], (len(items), 1))

    notice, offer = ModelClassifier(SaysIllegal()).classify(
        ["【安全提示】严禁员工出借、出售本人银行卡和电话卡，发现有人收购请向保卫科举报", "高价收购银行卡，一套八百，加微信 kabao_6688"])
    m = Metrics()
    event = decode(__import__("orjson").dumps(conversation()[5]))
    m.observe_batch([event, event], [("verdicts", verdict_event(event, v, "2026-03-02T09:00:00+08:00"))
                                     for v in (notice, offer)])
    assert m.value("moderation_verdicts_total", label="work") == 1
    assert m.value("moderation_verdicts_total", label="illegal") == 1
    assert m.value("moderation_warning_notices_total") == 1


def test_rejected_and_lag():
    class TP:
        topic, partition = "chat.events", 3

    m = Metrics()
    m.observe_rejected("not valid UTF-8 JSON: unexpected character")
    m.observe_rejected("missing field 'message'; missing field 'actor'")
    assert m.value("moderation_dlq_total", reason="not_json") == 1
    assert m.value("moderation_dlq_total", reason="missing_field") == 1
    m.set_lag(TP(), 42)
    m.set_lag(("chat.events", 0), -5)     # a stale watermark never shows as negative lag
    assert m.value("moderation_consumer_lag", topic="chat.events", partition="3") == 42
    assert m.value("moderation_consumer_lag", topic="chat.events", partition="0") == 0
    m.set_lag(TP(), None)
    assert m.registry.get_sample_value("moderation_consumer_lag", {"topic": "chat.events", "partition": "3"}) is None
    m.set_lag(TP(), None)                 # removing twice is harmless


def test_timed_classifier_passes_through_and_times():
    class Fake:
        name = "fake"

        def classify(self, texts):
            return [t.upper() for t in texts]

    m = Metrics()
    wrapped = TimedClassifier(Fake(), m)
    assert wrapped.classify(["a", "b"]) == ["A", "B"]
    assert wrapped.name == "fake"
    assert m.value("moderation_classification_seconds_count") == 1
    assert m.value("moderation_classified_messages_total") == 2


def test_http_endpoint_serves_the_documented_names():
    m = Metrics()
    m.observe_rejected("empty record")
    server, thread = start_metrics_server(0, metrics=m)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'moderation_dlq_total{reason="empty"} 1.0' in body
    for name in ("moderation_events_in_total", "moderation_outputs_total", "moderation_violations_total",
                 "moderation_escalations_total", "moderation_classification_seconds_bucket",
                 "moderation_consumer_lag"):
        assert f"# TYPE {name.removesuffix('_total').removesuffix('_bucket')}" in body


async def test_update_lag_from_a_faust_like_consumer():
    from collections import namedtuple

    from pipeline.worker.metrics import update_lag

    TP = namedtuple("TP", "topic partition")

    class FakeConsumer:
        def __init__(self, assigned):
            self.assigned = assigned

        def assignment(self):
            return set(self.assigned)

        def highwater(self, tp):
            return {0: 100, 1: 7, 2: None}.get(tp.partition)

        async def position(self, tp):
            return {0: 60, 1: 7, 2: 3}.get(tp.partition)

    m = Metrics()
    consumer = FakeConsumer([TP("chat.events", 0), TP("chat.events", 1), TP("chat.events", 2), TP("other", 0)])
    await update_lag(consumer, topics=["chat.events"], metrics=m)
    assert m.value("moderation_consumer_lag", topic="chat.events", partition="0") == 40
    assert m.value("moderation_consumer_lag", topic="chat.events", partition="1") == 0
    assert m.registry.get_sample_value("moderation_consumer_lag", {"topic": "chat.events", "partition": "2"}) is None
    assert m.registry.get_sample_value("moderation_consumer_lag", {"topic": "other", "partition": "0"}) is None
    consumer.assigned = [TP("chat.events", 1)]                 # partition 0 revoked in a rebalance
    await update_lag(consumer, topics=["chat.events"], metrics=m)
    assert m.registry.get_sample_value("moderation_consumer_lag", {"topic": "chat.events", "partition": "0"}) is None
