"""Prometheus metrics of the worker: what came in, what went out, what was rejected and why, how
long classification took, how far behind the consumer is.

The worker shell calls the small API at the bottom (`observe_batch`, `observe_rejected`,
`set_lag` or `update_lag`, `start_metrics_server`); everything goes into one registry, so tests can make their
own `Metrics` and read it back without touching the process-wide one. Label values come from
fixed, small sets (event types, output roles, rule ids, DLQ reason buckets) so a flood of bad
input cannot blow up the number of time series.
"""
from __future__ import annotations

import re
import time
from collections import Counter as Tally
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import generate_latest

from pipeline.classify.verdict import LABELS, WARNING_NOTICE_REASON

# Rejection reasons are free text (they name fields and values); the label is one of these.
DLQ_REASONS = ("empty", "too_large", "not_json", "unknown_type", "missing_field", "ts_ahead",
               "bad_timestamp", "invalid_field", "other")
_REASON_PATTERNS = (
    ("empty", re.compile(r"^empty record")),
    ("too_large", re.compile(r"^record of \d+ bytes exceeds")),
    ("not_json", re.compile(r"^(not valid UTF-8 JSON|expected a JSON object)")),
    ("unknown_type", re.compile(r"^(unknown event type|missing field 'type')")),
    ("ts_ahead", re.compile(r"beyond the latest time accepted")),
    ("bad_timestamp", re.compile(r"^field '(ts|[\w.]*ack_deadline)'|ISO-8601|UTC offset|year \d+ is outside")),
    ("missing_field", re.compile(r"^missing field")),
    ("invalid_field", re.compile(r"^field '")),
    ("internal_error", re.compile(r"^internal error while processing")),
)
# Anything outside these sets is counted as "other" rather than becoming a new series.
_KNOWN_EVENT_TYPES_RE = re.compile(r"^[a-z]+\.[a-z_]+$")
_RULE_RE = re.compile(r"^[A-Z]\d{1,2}$")
_ESCALATION_LEVELS = ("reminder", "removal_recommended", "supervisor")
_SEVERITIES = ("info", "warning", "severe")
_OUTPUT_ROLES = ("verdicts", "violations", "escalations", "responsiveness", "reports", "dlq")

# Per batch of messages: from a single message (~1 ms) to a large batch on a slow machine.
CLASSIFY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def reason_bucket(reason: str | None) -> str:
    """The fixed label for a free-text rejection reason (the first reason if several are joined)."""
    first = (reason or "").split("; ", 1)[0].strip()
    for label, pattern in _REASON_PATTERNS:
        if pattern.search(first):
            return label
    return "other"


def _event_type(event: Any) -> str:
    value = event.get("type") if isinstance(event, dict) else getattr(event, "type", None)
    return value if isinstance(value, str) and _KNOWN_EVENT_TYPES_RE.match(value) else "other"


def _one_of(value: Any, allowed: Iterable[str]) -> str:
    return value if value in allowed else "other"


def _rule(value: Any) -> str:
    return value if isinstance(value, str) and _RULE_RE.match(value) else "other"


class Metrics:
    """The worker's metrics in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter("moderation_events_in", "Input events decoded, by event type",
                                 ["type"], registry=r)
        self.outputs = Counter("moderation_outputs", "Output events sent, by output topic role and kind",
                               ["topic", "kind"], registry=r)
        self.dlq = Counter("moderation_dlq", "Input records sent to the DLQ, by reason bucket",
                           ["reason"], registry=r)
        self.violations = Counter("moderation_violations", "Violations, by rule id and severity",
                                  ["rule", "severity"], registry=r)
        self.escalations = Counter("moderation_escalations", "Escalations, by ladder level and rule id",
                                   ["level", "rule"], registry=r)
        self.verdicts = Counter("moderation_verdicts", "Verdicts, by label", ["label"], registry=r)
        self.warning_notices = Counter("moderation_warning_notices",
                                       "Verdicts the warning-notice rule made work (the model said illegal or ad)",
                                       registry=r)
        self.classify_seconds = Histogram("moderation_classification_seconds",
                                          "Time to classify one batch of messages", buckets=CLASSIFY_BUCKETS,
                                          registry=r)
        self.classified = Counter("moderation_classified_messages", "Messages classified", registry=r)
        self.batches = Counter("moderation_batches", "Batches handled by the worker", registry=r)
        self.rekeyed = Counter("moderation_rekeyed_records",
                               "Input records on a partition other than their group's, re-keyed to it", registry=r)
        self.gap_records = Counter("moderation_gap_records",
                                   "Input records Faust skipped that the worker read back itself", registry=r)
        self.lag = Gauge("moderation_consumer_lag", "Records not yet consumed (high watermark - position)",
                         ["topic", "partition"], registry=r)

    # ------------------------------------------------------------------ recording
    def observe_batch(self, events: Iterable[Any], outputs: Iterable[tuple[str, dict]],
                      classify_seconds: float | None = None, classified_messages: int | None = None) -> None:
        """One handled batch: the decoded input events (models or dicts), the outputs as
        `(role, event)` pairs as the engine returns them, and the classification time if measured.
        DLQ outputs are counted as outputs here; their reasons go through `observe_rejected`."""
        self.batches.inc()
        # Counted per label set first: a labelled increment costs more than the counting.
        for event_type, n in Tally(_event_type(event) for event in events).items():
            self.events_in.labels(type=event_type).inc(n)
        outputs_by, violations_by, escalations_by, verdicts_by = Tally(), Tally(), Tally(), Tally()
        notices = 0
        for role, event in outputs:
            kind = event.get("kind") if isinstance(event, dict) else None
            outputs_by[_one_of(role, _OUTPUT_ROLES), str(kind or "other")[:32]] += 1
            if kind == "verdict":
                verdicts_by[_one_of(event.get("label"), LABELS)] += 1
                reasons = event.get("reasons")
                notices += bool(reasons) and str(reasons[0]).startswith(WARNING_NOTICE_REASON)
            elif kind == "violation":
                violations_by[_rule(event.get("rule")), _one_of(event.get("severity"), _SEVERITIES)] += 1
            elif kind == "escalation":
                escalations_by[_one_of(event.get("level"), _ESCALATION_LEVELS), _rule(event.get("rule"))] += 1
        for (topic, kind), n in outputs_by.items():
            self.outputs.labels(topic=topic, kind=kind).inc(n)
        for (rule, severity), n in violations_by.items():
            self.violations.labels(rule=rule, severity=severity).inc(n)
        for (level, rule), n in escalations_by.items():
            self.escalations.labels(level=level, rule=rule).inc(n)
        for label, n in verdicts_by.items():
            self.verdicts.labels(label=label).inc(n)
        if notices:
            self.warning_notices.inc(notices)
        if classify_seconds is not None:
            self.observe_classification(classify_seconds, classified_messages)

    def observe_classification(self, seconds: float, messages: int | None = None) -> None:
        self.classify_seconds.observe(max(0.0, seconds))
        if messages:
            self.classified.inc(messages)

    def observe_rejected(self, reason: str) -> None:
        self.dlq.labels(reason=reason_bucket(reason)).inc()

    def set_lag(self, tp: Any, lag: int | float | None) -> None:
        """Lag of one partition; `tp` is a TopicPartition (or any object with `.topic` and
        `.partition`) or a `(topic, partition)` pair. `None` removes the series (partition revoked)."""
        topic, partition = (tp.topic, tp.partition) if hasattr(tp, "topic") else tp
        if lag is None:
            try:
                self.lag.remove(str(topic), str(partition))
            except KeyError:
                pass
            return
        self.lag.labels(topic=str(topic), partition=str(partition)).set(max(0, lag))

    @contextmanager
    def time_classification(self, messages: int | None = None):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_classification(time.perf_counter() - start, messages)

    # ------------------------------------------------------------------ reading
    def value(self, name: str, **labels) -> float:
        """The current value of one sample (0 if absent), e.g. `value('moderation_dlq_total', reason='not_json')`."""
        found = self.registry.get_sample_value(name, labels)
        return found or 0.0

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class TimedClassifier:
    """Wraps a classifier so every `classify(texts)` call is timed into the histogram; the rest
    of the classifier is reached through unchanged. `engine.classifier = TimedClassifier(engine.classifier)`."""

    def __init__(self, classifier: Any, metrics: Metrics | None = None):
        self._classifier = classifier
        self._metrics = metrics

    def classify(self, texts):
        with (self._metrics or METRICS).time_classification(len(texts)):
            return self._classifier.classify(texts)

    def __getattr__(self, name):
        return getattr(self._classifier, name)


# ---------------------------------------------------------------------- the worker's API

METRICS = Metrics()


def observe_batch(events, outputs, classify_seconds: float | None = None,
                  classified_messages: int | None = None) -> None:
    METRICS.observe_batch(events, outputs, classify_seconds, classified_messages)


def observe_rejected(reason: str) -> None:
    METRICS.observe_rejected(reason)


def observe_gap(records: int) -> None:
    METRICS.gap_records.inc(records)


def observe_rekeyed(records: int) -> None:
    if records:
        METRICS.rekeyed.inc(records)


def set_lag(tp, lag) -> None:
    METRICS.set_lag(tp, lag)


async def update_lag(consumer, topics: Iterable[str] | None = None, metrics: Metrics | None = None) -> None:
    """Set the lag gauge for every partition `consumer` has assigned (of `topics`, if given) and drop
    the partitions it no longer has. Duck-typed on Faust's consumer (`app.consumer`): `assignment()`,
    `highwater(tp)`, `await position(tp)`; call it from a timer, e.g. every few seconds."""
    m = metrics or METRICS
    wanted = set(topics) if topics is not None else None
    assigned = {tp for tp in consumer.assignment() if wanted is None or tp.topic in wanted}
    for tp in assigned:
        highwater = consumer.highwater(tp)
        position = await consumer.position(tp)
        if highwater is not None and position is not None:
            m.set_lag(tp, highwater - position)
    for labels in [s.labels for metric in m.lag.collect() for s in metric.samples]:
        key = (labels["topic"], labels["partition"])
        if not any((tp.topic, str(tp.partition)) == key for tp in assigned):
            m.set_lag(key, None)


def start_metrics_server(port: int, host: str = "127.0.0.1", metrics: Metrics | None = None):
    """Serve `/metrics` on host:port from a background thread; returns (server, thread).
    Port 0 picks a free port: `server.server_port` tells which."""
    return start_http_server(port, addr=host, registry=(metrics or METRICS).registry)
