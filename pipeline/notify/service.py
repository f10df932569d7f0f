"""`moderation notify`: the live notifier, a Kafka consumer of the escalations and reports topics.

For each record: plan its deliveries and write them to the ledger (acknowledged), then commit the
record's offset; the dispatcher sends them. The ledger is a compacted topic with a partition per
input partition (the range assignor gives one notifier partition p of both input topics), read
back when a partition is assigned, so a restarted or replaced notifier resumes what was queued,
held or in flight and sends nothing it already sent.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys

import orjson

from pipeline.config import ConfigError, Settings, load_runtime
from pipeline.core.events import encode
from pipeline.notify.channels import client
from pipeline.notify.config import NotifyConfig, load_notify_config
from pipeline.notify.dispatch import Dispatcher
from pipeline.notify.ledger import KafkaStore
from pipeline.notify.metrics import NotifyMetrics, serve
from pipeline.notify.records import BadNotification, parse

log = logging.getLogger("pipeline.notify")


async def run_service(settings: Settings, config: NotifyConfig, work_hours, metrics: NotifyMetrics,
                      stop: asyncio.Event) -> None:
    from aiokafka import ConsumerRebalanceListener
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor

    from pipeline.kafka.admin import cluster_replication, consumer, ensure_topics, producer, wait_for_broker

    await wait_for_broker(settings, None, "notify")
    await ensure_topics(settings)
    p = producer(settings, enable_idempotence=True)
    await p.start()
    store = KafkaStore(settings, settings.topics.notify_ledger, p)
    await store.ensure_topic(settings.partitions, await cluster_replication(settings))
    ledger_partitions = len(await p.partitions_for(settings.topics.notify_ledger))

    async def sink(record: dict) -> None:
        await p.send_and_wait(settings.topics.deliveries, key=record["group_id"].encode("utf-8"), value=encode(record))

    clients = {name: client(channel, config) for name, channel in config.channels.items()}
    quiet = work_hours if config.quiet_hours.enabled else None
    d = Dispatcher(config, clients, store, sink, metrics, work_hours=quiet, digests=True)
    inputs = [settings.topics.escalations, settings.topics.reports]
    owned: set[int] = set()

    class Listener(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked):
            gone = {tp.partition for tp in revoked}
            await d.quiesce(max((c.timeout_seconds for c in config.channels.values()), default=10.0))
            d.forget_partitions(gone)
            owned.difference_update(gone)

        async def on_partitions_assigned(self, assigned):
            new = {tp.partition for tp in assigned} - owned
            too_high = [n for n in new if n >= ledger_partitions]
            if too_high:
                raise ConfigError(f"input partition {too_high[0]} has no ledger partition: "
                                  f"{settings.topics.notify_ledger} has {ledger_partitions}; give it as many "
                                  f"partitions as the input topics")
            resumed = await d.adopt(await store.load(sorted(new)))
            owned.update(new)
            log.info("notify: partitions %s assigned; %d deliveries were in flight and go again",
                     sorted(new), resumed)

    c = consumer(settings, group_id=f"{settings.app_id}-notify", enable_auto_commit=False,
                 auto_offset_reset="earliest", partition_assignment_strategy=(RangePartitionAssignor,),
                 session_timeout_ms=int(settings.session_timeout_seconds * 1000),
                 heartbeat_interval_ms=int(settings.session_timeout_seconds * 1000 / 3))
    c.subscribe(inputs, listener=Listener())
    await c.start()
    d.start()
    log.warning("notify: ready, reading %s; channels: %s", ", ".join(inputs), ", ".join(config.channels))
    try:
        while not stop.is_set():
            batch = await c.getmany(timeout_ms=500, max_records=500)
            offsets = {}
            for tp, messages in batch.items():
                for m in messages:
                    await _handle(d, m, metrics)
                    offsets[tp] = m.offset + 1
            if offsets:
                await c.commit(offsets)
    finally:
        await d.stop()
        await c.stop()
        await p.stop()


async def _handle(d: Dispatcher, m, metrics: NotifyMetrics) -> None:
    try:
        record = parse(m.value)
    except BadNotification as exc:
        metrics.bad.inc()
        log.warning("notify: skipping %s/%s@%s: %s", m.topic, m.partition, m.offset, exc)
        return
    if record is not None:
        await d.accept(record, orjson.loads(m.value), m.partition)


def run(args) -> int:
    runtime = load_runtime()
    config = load_notify_config(args.config)
    if not config.channels or not config.routes:
        raise ConfigError("no channels or no routes in the notifier's config: nothing would be delivered. "
                          "Configure them in config/notify.yaml (docs/NOTIFY.md), or try "
                          "`moderation notify --replay FILE --to TYPE=URL`")
    logging.getLogger("pipeline.notify").setLevel(args.loglevel.upper())
    metrics = NotifyMetrics()
    port = args.metrics_port if args.metrics_port is not None else config.metrics_port
    if port:
        server, _ = serve(port, metrics)
        print(f"notify: metrics on http://127.0.0.1:{server.server_port}/metrics", file=sys.stderr)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_service(runtime.settings, config, runtime.policy.work_hours, metrics, stop)

    asyncio.run(main())
    return 0
