"""Prometheus metrics of the notifier, in their own registry (the notifier is its own process).
Label values come from fixed sets or from the channel names of the config, never from a record."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pipeline.notify.channels.base import STATUSES

DELIVERY_STATUSES = ("sent", "failed", "held", "suppressed")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.deliveries = Counter("moderation_notify_deliveries", "Deliveries by channel and outcome "
                                  "(sent, failed, held, suppressed)", ["channel", "status"], registry=r)
        self.attempts = Counter("moderation_notify_attempts", "Send attempts by channel and how they ended "
                                "(sent, retry, limited, rejected)", ["channel", "outcome"], registry=r)
        self.retried = Counter("moderation_notify_retried", "Attempts that will be tried again (a transient "
                               "failure or the platform's rate limit)", ["channel"], registry=r)
        self.latency = Histogram("moderation_notify_delivery_seconds", "From when a delivery may go (received, "
                                 "or released after quiet hours) to sent", ["channel"], buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.queued = Gauge("moderation_notify_outstanding", "Deliveries not yet sent or given up, per channel "
                            "(queued, held, in flight)", ["channel"], registry=r)
        self.digests = Counter("moderation_notify_digests", "Digest messages sent", ["channel"], registry=r)
        self.bad = Counter("moderation_notify_bad_records", "Input records the notifier could not read", registry=r)
        self.unrouted = Counter("moderation_notify_unrouted", "Recipient roles with no route in the config",
                                ["role"], registry=r)
        self.resumed = Counter("moderation_notify_resumed_in_flight", "Deliveries found in flight at start-up "
                               "(the notifier stopped during an attempt): sent again", registry=r)

    def delivery(self, channel: str, status: str) -> None:
        if status in DELIVERY_STATUSES:
            self.deliveries.labels(channel=channel, status=status).inc()

    def attempt(self, channel: str, outcome: str) -> None:
        self.attempts.labels(channel=channel, outcome=outcome if outcome in STATUSES else "other").inc()
        if outcome in ("retry", "limited"):
            self.retried.labels(channel=channel).inc()

    def value(self, name: str, **labels) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def serve(port: int, metrics: NotifyMetrics, host: str = "127.0.0.1"):
    return start_http_server(port, addr=host, registry=metrics.registry)
