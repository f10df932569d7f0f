"""The Faust shell: topics, the state table, the worker loop. All deciding happens in `pipeline.engine`.

The worker loop takes the input records in batches (`Feed.batches`: a cheaper hand-over than an
agent's stream), decodes them, hands them to the core with the group states, sends the outputs and
waits until the broker has them, and only then saves the states and lets the offsets be committed.
A record that cannot be decoded goes to the DLQ.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from datetime import datetime, timezone

import faust
import orjson

from pipeline import metrics
from pipeline.classify import load_classifier
from pipeline.config import Runtime
from pipeline.engine import Engine
from pipeline.events import Rejected, decode, encode, rejected_event, stable_id, topic_key
from pipeline.kafka.batches import Record, send_batches
from pipeline.kafka.gaps import GapFiller, GapReader
from pipeline.kafka.transport import Feed, Transport, commits_held
from pipeline.native import core_mode

log = logging.getLogger("pipeline.worker")


# Collect the young generation every 50,000 allocations instead of 700: the core allocates a few
# hundred short-lived objects per event, and with Python's default each batch ran hundreds of
# collections (about 12% of the worker's CPU in paired runs, docs/BENCHMARKS.md).
GC_THRESHOLDS = (50_000, 20, 100)


def settle_heap() -> None:
    """Once the worker has loaded everything it keeps for life (Faust, the model, the policy): take
    those objects out of the collector's scans (`gc.freeze`) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def kafka_client_options(settings) -> dict:
    """Security options for every Kafka client the worker makes (SASL/SSL pass through)."""
    options: dict = {}
    if settings.security_protocol != "PLAINTEXT":
        options["broker_credentials"] = _credentials(settings)
    return options


def _credentials(settings):
    from pipeline.kafka.admin import ssl_context

    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(username=settings.sasl_username, password=settings.sasl_password,
                                     ssl_context=context, mechanism=settings.sasl_mechanism or "PLAIN")
    return faust.SSLCredentials(context)


class App(faust.App):
    """A Faust app whose consumer hands the records of a topic to the worker in whole batches
    (`pipeline.kafka.transport.Feed`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.feeds: dict = {}
        # The next offset the worker expects per (topic, partition) of a feed: set by the consumer's
        # seek, moved on by each record taken (`pipeline.kafka.gaps.GapFiller`).
        self.next_offsets: dict[tuple[str, int], int] = {}

    def feed(self, topic, capacity: int) -> Feed:
        feed = Feed(self, topic, capacity)
        for name in topic.topics:
            self.feeds[name] = feed
        return feed

    async def on_start(self) -> None:
        await super().on_start()
        log.info("rules core: %s (pipeline/native.py)", core_mode())
        settle_heap()
        # As an agent's stream does, but before the first subscription: a topic added later is only
        # subscribed after Faust's 45-second resubscription pause.
        for feed in set(self.feeds.values()):
            self.topics.add(feed.topic)

    def _new_transport(self):
        return Transport(self.conf.broker_consumer, self)


def create_app(runtime: Runtime, engine: Engine | None = None) -> faust.App:
    s = runtime.settings
    engine = engine or Engine(runtime.policy, load_classifier(runtime.policy))
    app = App(
        s.app_id,
        broker=f"kafka://{s.bootstrap}",
        store="memory://",
        datadir=s.data_dir,
        topic_partitions=s.partitions,
        topic_replication_factor=s.replication_factor,
        processing_guarantee=s.processing_guarantee,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Faust sends each record in its own produce request by default (linger 0); batching
        # the requests is most of the difference in throughput.
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
        broker_max_poll_records=2000,
        broker_session_timeout=s.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, s.session_timeout_seconds / 5),
        stream_buffer_maxsize=16384,
        web_enabled=s.web_port > 0,
        web_bind="127.0.0.1",
        web_port=s.web_port or 6066,
        web_in_thread=False,
        table_cleanup_interval=3600.0,
        **kafka_client_options(s),
    )
    raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
               partitions=s.partitions)
    source = app.topic(s.topics.input, **raw)
    # Output topics are declared to Faust so it knows their partitioning; records are sent to
    # them straight through the producer below.
    for name in s.topics.outputs().values():
        app.topic(name, **raw)
    topic_names = s.topics.outputs()
    # bytes key and value: Faust then writes and recovers the changelog with the raw codec.
    states = app.Table("group-state", default=None, partitions=s.partitions, key_type=bytes, value_type=bytes)
    max_text = runtime.policy.content.max_text_chars

    feed = app.feed(source, capacity=max(s.batch_size * 4, 16384))

    @app.task
    async def moderate() -> None:
        try:
            async for batch in feed.batches(s.batch_size, within=s.batch_seconds):
                if app.in_transaction:
                    # One transaction per batch: its outputs, its states and its offsets.
                    async with commits_held(app.consumer):
                        await handle_batch(batch)
                        feed.ack(batch)
                    await app.consumer.commit()
                else:
                    await handle_batch(batch)
                    feed.ack(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Nothing of the failed batch is acked, so its offsets stay uncommitted: the worker
            # stops rather than going on past it. (The core's own failures do not come here: the
            # engine sets an event it fails on aside to the DLQ. What comes here is the broker or
            # the shell.)
            log.exception("the batch could not be processed; stopping the worker")
            await app.crash(exc)

    async def handle_batch(batch) -> None:
        events, offsets, carriers, rejected, positions = [], [], {}, [], []
        for value, topic, partition, offset, message in await gaps.fill(batch):
            try:
                event = decode(value, max_text)
            except Rejected as exc:
                metrics.observe_rejected(exc.reason)
                rejected.append((partition, rejected_event(exc.reason, value or b"", topic, partition, offset)))
                continue
            events.append(event)
            offsets.append(offset)
            positions.append((value, topic, partition))
            carriers[event.group_id] = message
        group_states = {}
        for group_id in carriers:
            stored = states.data.get(group_id.encode())
            if stored is not None:
                group_states[group_id] = decoded(group_id, stored)
        outputs, set_aside = engine.process_setting_aside(events, group_states, offsets, stored_state)
        for i, reason in set_aside:
            value, topic, partition = positions[i]
            log.error("event at %s/%s/%s set aside: %s", topic, partition, offsets[i], reason)
            metrics.observe_rejected(reason)
            rejected.append((partition, rejected_event(reason, value, topic, partition, offsets[i])))
        metrics.observe_batch(events, outputs)
        # Outputs go to the partition of the group's input (the topics are co-partitioned): the
        # order of a group's outputs is kept whatever partitioner the producers use, and in
        # exactly-once mode the send joins the transaction of the input's partition.
        # Straight to the producer: Faust's channel machinery per record costs more than the send.
        await publish([(topic_names["dlq"], partition, None, encode(event)) for partition, event in rejected]
                      + [(topic_names[role], carriers[event["group_id"]].partition, topic_key(event),
                          encode(event)) for role, event in outputs])
        # Only once the broker has the outputs are the states saved, and the changelog must hold
        # them before the offsets can be committed: a crash can then leave the state behind the
        # outputs (replayed with the same ids) but never ahead of them or of the offsets. (In
        # exactly-once mode the partition's transaction covers all three.)
        await publish([save_state(group_id, data, carriers[group_id].partition)
                       for group_id, data in group_states.items()])

    async def publish(records: list[Record]) -> None:
        """Send the records and wait until the broker has them all."""
        if not records:
            return
        if app.in_transaction:
            # Each record joins the transaction of its input partition (every record here goes to
            # the partition of its group's input). Named explicitly: Faust's `transactions.send`
            # looks the partition up in the consumer's metadata, which only knows subscribed
            # topics, so records for the output topics went out in no transaction at all, visible
            # at once and repeated after a crash.
            send = app.consumer.transactions.producer.send
            prefix = f"{app.conf.id}-{app.assignor.group_for_topic(source.get_topic_name())}-"
            pending = [await send(topic, key, value, partition, None, None, transactional_id=f"{prefix}{partition}")
                       for topic, partition, key, value in records]
        else:
            # Faust's producer wrapper has no batch API; its aiokafka producer does.
            pending = await send_batches(app.producer._ensure_producer(), records)
        await asyncio.gather(*pending)

    # Records Faust passed over are read back (pipeline.kafka.gaps), from where the consumer's seek
    # put each partition.
    expected = app.next_offsets
    gap_reader = GapReader(s)
    gaps = GapFiller(gap_reader.read, expected)

    # Kept through a rebalance for the partitions this worker keeps, so records passed over while
    # a rebalance moved the read positions show up as a gap when the next record comes.
    @app.on_partitions_assigned.connect
    async def forget_positions(app, assigned, **kwargs) -> None:
        for tp in [tp for tp in expected if tp not in assigned]:
            del expected[tp]

    @app.on_before_shutdown.connect
    async def stop_gap_reader(app, **kwargs) -> None:
        await gap_reader.stop()

    # The last state written per group, decoded, so a batch does not parse what it just wrote.
    # Keyed by the very bytes object in the table: after a recovery the table holds new objects.
    recent: dict[str, tuple[bytes, dict]] = {}

    def stored_state(group_id: str) -> dict | None:
        """The group's state parsed anew from the table (not the cached dict, which a failed batch
        may have changed)."""
        stored = states.data.get(group_id.encode())
        return None if stored is None else orjson.loads(stored)

    def decoded(group_id: str, stored: bytes) -> dict:
        cached = recent.get(group_id)
        if cached is not None and cached[0] is stored:
            return cached[1]
        return orjson.loads(stored)

    changelog = states.changelog_topic.get_topic_name()

    def save_state(group_id: str, data: dict, partition: int) -> Record:
        """Store the state in the table; returns its changelog record for the group's partition.

        Written here rather than by `states[key] = value`: Faust sends changelog records through
        a buffer that drains one record at a time and stalls the agent when it fills (seen as
        1.6 s latency spikes at 2,000 events/s), and it picks the partition from the "current
        event" of the stream, which in a batch is whichever event came last."""
        key, value = group_id.encode(), orjson.dumps(data)
        states.data[key] = value
        recent[group_id] = (value, data)
        return changelog, partition, key, value

    if s.live_tick_seconds > 0:
        @app.timer(s.live_tick_seconds)
        async def live_tick() -> None:
            # The live clock goes through the log as clock.tick events, so a replay sees the same ticks.
            now = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
            for key in list(states.keys()):
                group_id = key.decode()
                tick = {"event_id": stable_id("tick", group_id, now), "type": "clock.tick", "ts": now,
                        "group_id": group_id, "actor": {"id": "system", "name": "clock"}}
                await source.send(key=key, value=encode(tick))

    @app.task
    async def stacks_on_sigusr1() -> None:
        # `kill -USR1 <pid>` writes where every task of the worker is waiting to the log.
        import signal

        def awaiting(coro) -> list[str]:
            chain = []
            while coro is not None:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
                if frame is not None:
                    chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
            return chain

        def dump() -> None:
            for task in asyncio.all_tasks():
                log.warning("task %s waits in:\n  %s", task.get_name(), "\n  ".join(awaiting(task.get_coro())))
            log.warning("consumer: %s", consumer_state())

        def consumer_state() -> str:
            # What decides whether a partition's records reach the worker: assignment, Faust's
            # active/paused sets and read offsets, aiokafka's positions, the feed and the gap filler.
            consumer = app.consumer
            lines = [f"generation {app.consumer_generation_id}, flow active {consumer.flow_active}, "
                     f"feed {sum(len(feed) for feed in set(app.feeds.values()))} record(s) waiting"]
            try:
                subscription = consumer._thread._ensure_consumer()._subscription.subscription
                positions = {tp: subscription.assignment.state_value(tp) for tp in subscription.assignment.tps}
            except Exception:  # noqa: BLE001 - diagnostics only
                positions = {}
            active = consumer._active_partitions or set()
            for tp in sorted(consumer.assignment()):
                state = positions.get(tp)
                lines.append(
                    f"{tp.topic}/{tp.partition}: active {tp in active}, paused {tp in consumer._paused_partitions}, "
                    f"read {consumer._read_offset.get(tp)}, committed {consumer._committed_offset.get(tp)}, "
                    f"expected {expected.get((tp.topic, tp.partition))}, "
                    f"position {getattr(state, '_position', None)}, fetch-paused {getattr(state, '_paused', None)}")
            return "\n  ".join(lines)

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)

    if s.metrics_port:
        engine.classifier = metrics.TimedClassifier(engine.classifier)

        @app.task
        async def serve_metrics() -> None:
            metrics.start_metrics_server(s.metrics_port, host="127.0.0.1")

        @app.timer(5.0)
        async def report_lag() -> None:
            await metrics.update_lag(app.consumer, topics=[s.topics.input])

    app.engine = engine
    app.states = states
    return app
