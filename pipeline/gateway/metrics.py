"""Prometheus metrics of the gateway, in a registry of their own (served at `GET /metrics`).

Label values come from fixed sets (the platforms, the outcomes, `platform.REASONS`), so no request
can add a time series.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from pipeline.gateway.platform import REASONS

PLATFORMS = ("slack", "feishu", "dingtalk")
OUTCOMES = ("accepted", "duplicate", "skipped", "challenge", "rejected")
# From a loopback ack (~2 ms) to past Slack's 3 s timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


def _platform(name: str | None) -> str:
    return name if name in PLATFORMS else "other"


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.requests = Counter("moderation_gateway_requests", "Webhook requests answered, by platform and outcome",
                                ["platform", "outcome"], registry=r)
        self.rejected = Counter("moderation_gateway_rejected", "Requests refused, by platform and reason",
                                ["platform", "reason"], registry=r)
        self.events = Counter("moderation_gateway_events", "Input events acknowledged by Kafka", ["platform"],
                              registry=r)
        self.retries = Counter("moderation_gateway_platform_retries",
                               "Requests the platform marked as a retry (Slack X-Slack-Retry-Num)", ["platform"],
                               registry=r)
        self.latency = Histogram("moderation_gateway_ack_seconds",
                                 "From the request's arrival to its 2xx, Kafka's acknowledgement included",
                                 ["platform"], buckets=LATENCY_BUCKETS, registry=r)
        self.pending = Gauge("moderation_gateway_pending_events", "Events sent, not yet acknowledged by Kafka",
                             registry=r)
        self.recent_ids = Gauge("moderation_gateway_recent_ids", "Event ids remembered to answer retries", registry=r)
        self.connections = Gauge("moderation_gateway_connections", "Open HTTP connections", registry=r)
        self.connections_refused = Counter("moderation_gateway_connections_refused",
                                           "Connections answered 503 and closed: too many open", registry=r)
        self.malformed_http = Counter("moderation_gateway_malformed_http",
                                      "Requests aiohttp answered 400 before any route saw them (bad request line, "
                                      "too many or too long headers)", registry=r)
        self.broker_up = Gauge("moderation_gateway_broker_up", "1 while the producer is connected and the broker "
                                                               "answers", registry=r)

        self._children: dict = {}

    def _child(self, metric, *labels):
        """A labelled series, looked up once (label values come from the fixed sets above)."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def answered(self, platform: str | None, outcome: str, seconds: float | None = None) -> None:
        self._child(self.requests, _platform(platform), outcome if outcome in OUTCOMES else "rejected").inc()
        if seconds is not None:
            self._child(self.latency, _platform(platform)).observe(seconds)

    def refused(self, platform: str | None, reason: str) -> None:
        self._child(self.requests, _platform(platform), "rejected").inc()
        self._child(self.rejected, _platform(platform), reason if reason in REASONS else "internal_error").inc()

    def accepted_events(self, platform: str, count: int) -> None:
        self._child(self.events, _platform(platform)).inc(count)

    def retry(self, platform: str) -> None:
        self._child(self.retries, _platform(platform)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
