"""The Faust shell: topics, the state table, the worker loop. All deciding happens in `pipeline.core.engine`.

The worker loop takes the input records in batches (`Feed.batches`: a cheaper hand-over than an
agent's stream), decodes them, hands them to the core with the group states, sends the outputs and
waits until the broker has them, and only then saves the states and lets the offsets be committed.
A record that cannot be decoded goes to the DLQ.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import faust
from aiokafka.partitioner import murmur2

from pipeline.worker import metrics
from pipeline.classify import load_classifier
from pipeline.config import Runtime
from pipeline.kafka.admin import Replication, replication_for
from pipeline.core.engine import Engine
from pipeline.core.events import MAX_OUTPUT_BYTES, Rejected, decode, encode, rejected_event, shrink_output
from pipeline.worker.heap import settle_heap
from pipeline.worker.batches import Record, send_batches
from pipeline.worker.gaps import GapFiller, GapReader
from pipeline.worker.live_clock import DueIndex, run_live_clock
from pipeline.worker.state_store import GroupStore, table_bytes
from pipeline.worker.log import partitions_line
from pipeline.worker.transport import Feed, Transport, commits_held
from pipeline.native import core_mode, source_path, stale

log = logging.getLogger("pipeline.worker")


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
    (`pipeline.worker.transport.Feed`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.feeds: dict = {}
        # The next offset the worker expects per (topic, partition) of a feed: set by the consumer's
        # seek, moved on by each record taken (`pipeline.worker.gaps.GapFiller`).
        self.next_offsets: dict[tuple[str, int], int] = {}

    def feed(self, topic, capacity: int) -> Feed:
        feed = Feed(self, topic, capacity)
        for name in topic.topics:
            self.feeds[name] = feed
        return feed

    async def on_start(self) -> None:
        await super().on_start()
        outdated = stale()
        if outdated:
            log.warning("rules core: interpreted (pipeline/native.py): the compiled build is not from the current "
                        "%s; run `make native` to rebuild it", source_path(outdated[0]))
        else:
            log.info("rules core: %s (pipeline/native.py)", core_mode())
        settle_heap()
        # As an agent's stream does, but before the first subscription: a topic added later is only
        # subscribed after Faust's 45-second resubscription pause.
        for feed in set(self.feeds.values()):
            self.topics.add(feed.topic)

    def _new_transport(self):
        return Transport(self.conf.broker_consumer, self)


def broker_urls(bootstrap: str) -> str:
    """Faust's form of a bootstrap list ("h1:9092,h2:9094" → "kafka://h1:9092;kafka://h2:9094")."""
    return ";".join(f"kafka://{address.strip()}" for address in bootstrap.split(",") if address.strip())


# RocksDB's defaults in Faust are sized for one big table per host (a 2 GiB block cache and three
# 64 MiB write buffers per partition); the group states are small and read mostly from the worker's
# own cache of decoded states.
ROCKSDB_OPTIONS = {"write_buffer_size": 16 << 20, "max_write_buffer_number": 2, "block_cache_size": 64 << 20,
                   "block_cache_compressed_size": 0, "target_file_size_base": 32 << 20, "driver": "rocksdict"}


def create_app(runtime: Runtime, engine: Engine | None = None, replication: Replication | None = None) -> faust.App:
    """The worker's Faust app; `replication` is what the topics were created with
    (pipeline.kafka.admin.cluster_replication), for Faust's own topics (the changelog)."""
    s = runtime.settings
    engine = engine or Engine(runtime.policy, load_classifier(runtime.policy))
    replication = replication or replication_for(s, brokers=1)
    app = App(
        s.app_id,
        broker=broker_urls(s.bootstrap),
        store="rocksdb://" if s.store == "rocksdb" else "memory://",
        datadir=s.data_dir,
        topic_partitions=s.partitions,
        topic_replication_factor=replication.factor,
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
    # The input, and the records of it re-keyed to their group's partition: one feed, one loop.
    source = app.topic(s.topics.input, s.topics.repartition, **raw)
    # Output topics are declared to Faust so it knows their partitioning; records are sent to
    # them straight through the producer below.
    for name in s.topics.outputs().values():
        app.topic(name, **raw)
    topic_names = s.topics.outputs()
    # bytes key and value: Faust then writes and recovers the changelog with the raw codec.
    states = app.Table("group-state", default=None, partitions=s.partitions, key_type=bytes, value_type=bytes,
                       extra_topic_configs=replication.topic_configs(),
                       options=dict(ROCKSDB_OPTIONS) if s.store == "rocksdb" else None)
    skew = timedelta(seconds=s.max_future_skew_seconds)

    feed = app.feed(source, capacity=max(s.batch_size * 4, 16384))
    # The live clock's view of when each group is next due (pipeline/worker/live_clock.py).
    clock = DueIndex(engine.next_due) if s.live_tick_seconds > 0 else None

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
        events, positions, homes, rejected, forwards, raws = [], [], {}, [], [], []
        # Nothing may move a group's clock beyond the worker's own by more than the allowed skew.
        not_after = datetime.now(timezone.utc) + skew
        input_partitions = app.consumer.topic_partitions(s.topics.input) or s.partitions
        for value, topic, partition, offset, _, headers in await gaps.fill(batch):
            try:
                event = decode(value, not_after)
            except Rejected as exc:
                metrics.observe_rejected(exc.reason)
                rejected.append(Record(topic_names["dlq"], partition, None, encode(rejected_event(
                    exc.reason, value or b"", topic, partition, offset, original=s.dlq_original))))
                continue
            home = home_partition(event.group_id, s.partitions)
            if topic == s.topics.input:
                position = (f"{topic}/{partition}", offset)
                misplaced = partition != home or input_partitions != s.partitions
            else:  # re-keyed: judged as of where it was first written
                position = origin(headers) or (f"{topic}/{partition}", offset)
                misplaced = partition != home
            if misplaced:
                # Its group's state lives in another partition: re-keyed to it, as Kafka Streams
                # repartitions, and judged there; never judged here, never lost.
                forwards.append(Record(s.topics.repartition, home, event.group_id.encode(), value,
                                       [(ORIGIN_HEADER, f"{position[0]}@{position[1]}".encode())], partition))
                continue
            events.append(event)
            positions.append(position)
            raws.append((value, topic, partition, offset))
            homes[event.group_id] = home
        metrics.observe_rekeyed(len(forwards))
        group_states = {}
        for group_id, home in homes.items():
            state = store.load(group_id, home)
            if state is not None:
                group_states[group_id] = upgraded(state, home)
        outputs, set_aside = engine.process_setting_aside(events, group_states, positions, stored_state)
        for i, reason in set_aside:
            value, topic, partition, offset = raws[i]
            log.error("event at %s/%s/%s set aside: %s", topic, partition, offset, reason)
            metrics.observe_rejected(reason)
            rejected.append(Record(topic_names["dlq"], partition, None, encode(rejected_event(
                reason, value, topic, partition, offset, original=s.dlq_original))))
        metrics.observe_batch(events, outputs)
        # Outputs go to the partition of the group (the topics are co-partitioned): the order of a
        # group's outputs is kept, and in exactly-once mode the send joins the transaction of the
        # partition the group's input was read from.
        # Straight to the producer: Faust's channel machinery per record costs more than the send.
        await publish(rejected + forwards + [Record(topic_names[role], homes[event["group_id"]],
                                                    event["group_id"].encode(), bounded_output(event, log))
                                             for role, event in outputs])
        # Only once the broker has the outputs are the states saved, and the changelog must hold
        # them before the offsets can be committed: a crash can then leave the state behind the
        # outputs (replayed with the same ids) but never ahead of them or of the offsets. (In
        # exactly-once mode the partition's transaction covers all three.)
        saved = await publish([record for group_id, data in group_states.items()
                               for record in store.save(group_id, data, homes[group_id])])
        reached: dict[int, int] = {}
        for sent in saved:
            reached[sent.partition] = max(sent.offset, reached.get(sent.partition, -1))
        for partition, offset in reached.items():
            store.saved(partition, offset)
        if clock is not None:
            clock.saw(group_states)

    async def publish(records: list[Record]) -> list:
        """Send the records and wait until the broker has them all; returns their metadata (for a
        batch of records, that of its first)."""
        if not records:
            return []
        if app.in_transaction:
            # Each record joins the transaction of its input partition (every record here goes to
            # the partition of its group's input, but for a re-keyed one, which joins the
            # transaction of the partition it was read from). Named explicitly: Faust's
            # `transactions.send` looks the partition up in the consumer's metadata, which only
            # knows subscribed topics, so records for the output topics went out in no transaction
            # at all, visible at once and repeated after a crash.
            send = app.consumer.transactions.producer.send
            prefix = f"{app.conf.id}-{app.assignor.group_for_topic(s.topics.input)}-"
            pending = [await send(r.topic, r.key, r.value, r.partition, None, r.headers,
                                  transactional_id=f"{prefix}{r.partition if r.transaction_partition is None else r.transaction_partition}")
                       for r in records]
        else:
            # Faust's producer wrapper has no batch API; its aiokafka producer does.
            pending = await send_batches(app.producer._ensure_producer(), records)
        return await asyncio.gather(*pending)

    # Records Faust passed over are read back (pipeline.worker.gaps), from where the consumer's seek
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
        log.info("partitions assigned: %s", partitions_line(assigned, (s.topics.input, s.topics.repartition)))

    @app.on_before_shutdown.connect
    async def stop_gap_reader(app, **kwargs) -> None:
        await gap_reader.stop()

    store = GroupStore(table_bytes(states), states.changelog_topic.get_topic_name(), s.state_cache_groups)

    def stored_state(group_id: str) -> dict | None:
        """The group's state decoded anew (not the cached dict, which a failed batch may have changed)."""
        home = homes_of(group_id)
        state = store.fresh(group_id, home)
        return None if state is None else upgraded(state, home)

    def homes_of(group_id: str) -> int:
        return home_partition(group_id, s.partitions)

    def upgraded(state: dict, home: int) -> dict:
        # States saved before positions were kept per source partition hold one offset, of the
        # group's own partition.
        if "applied_offset" in state:
            state.setdefault("applied", {})[f"{s.topics.input}/{home}"] = state.pop("applied_offset")
        return state

    if clock is not None:
        @app.task
        async def live_tick() -> None:
            await run_live_clock(app, s, clock, store, states.changelog_topic.get_topic_name(), home_partition)

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
    app.store = store
    return app


ORIGIN_HEADER = "moderation-origin"


def home_partition(group_id: str, partitions: int) -> int:
    """The partition of a group's state and outputs: Kafka's default partitioner on the group id
    (what a producer keying by group_id chooses)."""
    return (murmur2(group_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


def origin(headers) -> tuple[str, int] | None:
    """Where a re-keyed record was first written (the header the worker put on it)."""
    for key, value in headers or ():
        if key == ORIGIN_HEADER:
            source, _, offset = bytes(value).decode("utf-8", "replace").rpartition("@")
            if source and offset.isdigit():
                return source, int(offset)
    return None


def bounded_output(event: dict, logger) -> bytes:
    """An output's bytes, cut to fit a record if it would not (by design none comes near: this is
    the last guard, and it says so in the log)."""
    value = encode(event)
    if len(value) <= MAX_OUTPUT_BYTES:
        return value
    logger.error("output %s of %d bytes cut to fit a record", event.get("id"), len(value))
    return encode(shrink_output(event, MAX_OUTPUT_BYTES))
