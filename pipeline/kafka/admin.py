"""Topic administration and small client helpers on aiokafka."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from pipeline.config import Settings


def ssl_context(settings: Settings):
    """The TLS context for SSL and SASL_SSL, or None for the plaintext protocols."""
    if "SSL" not in settings.security_protocol:
        return None
    import ssl

    return ssl.create_default_context(cafile=settings.ssl_cafile)


def client_options(settings: Settings | None) -> dict:
    if settings is None or settings.security_protocol == "PLAINTEXT":
        return {}
    options = {"security_protocol": settings.security_protocol}
    if (context := ssl_context(settings)) is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        options.update(sasl_mechanism=settings.sasl_mechanism or "PLAIN",
                       sasl_plain_username=settings.sasl_username, sasl_plain_password=settings.sasl_password)
    return options


log = logging.getLogger("pipeline.kafka")


class BrokerUnavailable(RuntimeError):
    """The broker did not answer within the time a command was given to wait for it."""


@asynccontextmanager
async def _quiet_admin(bootstrap: str, timeout: float, settings: Settings | None) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client that asks once and says nothing in the log: aiokafka logs each refused
    connection as an error, and the caller says what it waits for instead."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000),
                                **client_options(settings))
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        await asyncio.wait_for(admin.start(), timeout)
        yield admin
    finally:
        try:
            await admin.close()
        except Exception:  # noqa: BLE001 - closing a half-open client
            pass
        client_log.setLevel(level)


async def probe(bootstrap: str, timeout: float = 3.0, settings: Settings | None = None) -> str | None:
    """None when the broker at `bootstrap` answers a metadata request, else what went wrong."""
    try:
        async with _quiet_admin(bootstrap, timeout, settings) as admin:
            await asyncio.wait_for(admin.list_topics(), timeout)
        return None
    except asyncio.TimeoutError:
        return f"no answer within {timeout:.0f}s"
    except KafkaConnectionError:
        return "cannot connect"
    except (KafkaError, OSError) as exc:
        return str(exc) or type(exc).__name__


def broker_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    return asyncio.run(probe(bootstrap, timeout)) is None


async def wait_for_broker(settings: Settings, seconds: float | None, what: str) -> None:
    """Return once the broker answers, retrying with exponential backoff (0.5 s doubling to 10 s)
    and logging what it waits for; after `seconds` (None: no limit) raise `BrokerUnavailable`."""
    deadline = None if seconds is None else time.monotonic() + seconds
    delay = 0.5
    while True:
        problem = await probe(settings.bootstrap, timeout=min(5.0, max(1.0, seconds or 5.0)), settings=settings)
        if problem is None:
            return
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise BrokerUnavailable(
                f"the Kafka broker at {settings.bootstrap} did not answer within {seconds:.0f}s ({problem}); "
                f"start it (`moderation kafka up` for the local one) or set MODERATION_BOOTSTRAP")
        pause = delay if left is None else min(delay, left)
        log.warning("%s: waiting for the Kafka broker at %s (%s); trying again in %.1fs",
                    what, settings.bootstrap, problem, pause)
        await asyncio.sleep(pause)
        delay = min(delay * 2, 10.0)


async def cluster_broker_ids(bootstrap: str, timeout: float = 3.0, settings: Settings | None = None) -> list[int]:
    """The ids of the brokers the cluster's metadata lists (empty when it does not answer)."""
    try:
        async with _quiet_admin(bootstrap, timeout, settings) as admin:
            described = await asyncio.wait_for(admin.describe_cluster(), timeout)
        return sorted(broker["node_id"] for broker in described["brokers"])
    except (asyncio.TimeoutError, KafkaError, OSError):
        return []


@dataclass(frozen=True)
class Replication:
    """How many copies the pipeline's topics keep, and how many a write must reach."""
    factor: int
    min_insync: int

    def topic_configs(self) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync)}


def replication_for(settings: Settings, brokers: int) -> Replication:
    """The configured replication factor, or unset: 3 copies on a cluster of three or more brokers
    (one node can be lost with no write refused), else one per broker."""
    from pipeline.kafka.local import min_insync

    factor = settings.replication_factor or min(3, max(1, brokers))
    return Replication(factor, min_insync(factor))


async def cluster_replication(settings: Settings) -> Replication:
    """`replication_for` the cluster at the settings' bootstrap (asked how many brokers it has)."""
    if settings.replication_factor is not None:
        return replication_for(settings, brokers=settings.replication_factor)
    brokers = await cluster_broker_ids(settings.bootstrap, timeout=10.0, settings=settings)
    if not brokers:
        # Guessing would create topics with one copy on a cluster that has three.
        raise BrokerUnavailable(f"the Kafka cluster at {settings.bootstrap} did not say how many brokers it has, "
                                f"which sets the topics' replication; try again, or set MODERATION_REPLICATION_FACTOR")
    return replication_for(settings, len(brokers))


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the input and output topics with the configured partition count, replicated as
    `cluster_replication` says; returns those created."""
    replication = await cluster_replication(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [settings.topics.input, settings.topics.repartition, *settings.topics.outputs().values()]
        wanted = [NewTopic(name, settings.partitions, replication.factor, topic_configs=replication.topic_configs())
                  for name in names if name not in existing]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def delete_topics(settings: Settings, names: list[str], prefix: str | None = None) -> None:
    """Delete the named topics that exist, and with `prefix` every topic whose name starts with it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = sorted(n for n in existing if n in names or (prefix and n.startswith(prefix)))
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def partitions_of(c: AIOKafkaConsumer, topic: str) -> list:
    """The topic's partitions as TopicPartitions, asking the broker again if the consumer's metadata
    does not know the topic yet (one created a moment ago)."""
    from aiokafka import TopicPartition

    partitions = c.partitions_for_topic(topic) or set()
    if not partitions:
        await c._client.force_metadata_update()
        partitions = c.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def read_to_end(settings: Settings, topic: str, keep: Callable[[Any], None]) -> int:
    """Call `keep(record)` for every record of `topic` (an aiokafka ConsumerRecord: key, value,
    timestamp…) from its start up to its end offsets as of now; returns how many were read."""
    c = consumer(settings, group_id=None, enable_auto_commit=False)
    await c.start()
    try:
        tps = await partitions_of(c, topic)
        if not tps:
            return 0
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        ends = await c.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > await c.position(tp)}
        read = 0
        while remaining:
            for tp, messages in (await c.getmany(*remaining, timeout_ms=1000, max_records=5000)).items():
                for m in messages:
                    if m.offset < ends[tp]:
                        keep(m)
                        read += 1
                if await c.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return read
    finally:
        await c.stop()


def producer(settings: Settings, **kw) -> AIOKafkaProducer:
    kw.setdefault("acks", "all")
    kw.setdefault("linger_ms", 5)
    return AIOKafkaProducer(bootstrap_servers=settings.bootstrap, **client_options(settings), **kw)


def consumer(settings: Settings, *topics: str, **kw) -> AIOKafkaConsumer:
    kw.setdefault("auto_offset_reset", "earliest")
    kw.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(*topics, bootstrap_servers=settings.bootstrap, **client_options(settings), **kw)


async def partition_leaders(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """The broker id leading each partition of `topics` (-1 for a partition with no leader)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
    await admin.start()
    try:
        return {(topic["topic"], partition["partition"]): partition["leader"]
                for topic in await admin.describe_topics(topics) for partition in topic["partitions"]}
    finally:
        await admin.close()


async def topic_replication(settings: Settings, topics: list[str]) -> dict[str, tuple[int, int]]:
    """Per topic: (replicas of its first partition, its min.insync.replicas)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
    await admin.start()
    try:
        replicas = {topic["topic"]: len(topic["partitions"][0]["replicas"])
                    for topic in await admin.describe_topics(topics) if topic["partitions"]}
        insync = {}
        for response in await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": None}) for name in topics]):
            for _, _, _, name, entries in response.resources:
                insync.update({name: int(value) for key, value, *_ in entries if key == "min.insync.replicas"})
        return {name: (replicas.get(name, 0), insync.get(name, 0)) for name in topics}
    finally:
        await admin.close()
