"""Every record the pipeline writes waits for all in-sync replicas (acks=all): on a cluster with
min.insync.replicas 2, a write the broker acknowledged survives the loss of any one node."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

from pipeline.config import Runtime, load_policy, load_settings
from pipeline.kafka.admin import producer

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"


def test_every_kafka_producer_is_made_by_the_one_helper():
    makers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                    if "AIOKafkaProducer(" in path.read_text(encoding="utf-8"))
    assert makers == ["kafka/admin.py"]


def test_no_caller_asks_for_fewer_acknowledgements():
    # A keyword argument acks=… or producer_acks=… (not a variable named acks, as in the core's
    # acknowledgement lists).
    lowered = [(str(path.relative_to(PACKAGE)), match.group(0)) for path in PACKAGE.rglob("*.py")
               for match in re.finditer(r"[(,]\s*(?:producer_)?acks=([^,)\s]+)", path.read_text(encoding="utf-8"))
               if match.group(1) not in ('"all"', "-1", "all")]  # (docstrings say acks=all)
    assert lowered == []


def test_the_helpers_producer_waits_for_all_replicas():
    async def made():
        p = producer(load_settings(env={}))
        return p._sender._acks

    assert asyncio.run(made()) == -1


def test_the_workers_producers_wait_for_all_replicas():
    from pipeline.worker.app import create_app

    for guarantee in ("at_least_once", "exactly_once"):
        # No live clock: it asks the engine when each group is next due, and this engine is a stand-in.
        settings = load_settings(env={"MODERATION_PROCESSING_GUARANTEE": guarantee,
                                      "MODERATION_LIVE_TICK_SECONDS": "0"})
        app = create_app(Runtime(settings, load_policy()), engine=object())
        options = {**app.producer._settings_default(), **app.producer._settings_extra()}
        assert options["acks"] in (-1, "all"), guarantee
