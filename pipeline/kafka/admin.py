"""Topic administration and small client helpers on aiokafka."""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

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


def broker_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout)
            await asyncio.wait_for(admin.list_topics(), timeout)
            return True
        except (KafkaError, OSError, asyncio.TimeoutError):
            return False
        finally:
            try:
                await admin.close()
            except Exception:  # noqa: BLE001 - closing a half-open client
                pass

    return asyncio.run(probe())


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the input and output topics with the configured partition count; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [settings.topics.input, *settings.topics.outputs().values()]
        wanted = [NewTopic(name, settings.partitions, settings.replication_factor)
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


def producer(settings: Settings, **kw) -> AIOKafkaProducer:
    kw.setdefault("acks", "all")
    kw.setdefault("linger_ms", 5)
    return AIOKafkaProducer(bootstrap_servers=settings.bootstrap, **client_options(settings), **kw)


def consumer(settings: Settings, *topics: str, **kw) -> AIOKafkaConsumer:
    kw.setdefault("auto_offset_reset", "earliest")
    kw.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(*topics, bootstrap_servers=settings.bootstrap, **client_options(settings), **kw)
