"""The gateway's shell: an aiohttp server with one route per platform, and the Kafka producer behind
them (`Gate`).

Every request passes the same steps, each with its bound: at most `max_connections` open
connections (more are answered 503 and closed at once), the Host allow-list (421), a whole request
line and headers within `idle_seconds` and at most 128 headers of 8 KiB, `application/json` in
UTF-8 without a content encoding (415), a body of at most `max_body_bytes` (413) arriving within
`body_seconds` (408). Then the platform's route (pipeline.gateway.slack / feishu / dingtalk)
authenticates the request and turns it into input events, a handshake answer, or a skip, or refuses
it with a 4xx. Events are sent to the input topic (acks=all, idempotent producer), gathered per
partition into batches that the gateway hands to the producer itself (one acknowledgement per batch,
not per event: most of the CPU a Kafka send costs is per message otherwise), and the request is
answered 2xx only once Kafka has acknowledged every one of them; when that has not happened within
`ack_deadline_seconds` of the request's arrival the answer is 503 and the platform retries. The
send goes on: a retry of the same event finds it (pipeline.gateway.platform.RecentIds) and waits for
it, or is answered 2xx once it is acknowledged, so a retry does not produce it twice.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections import Counter, deque
from functools import partial

import orjson
from aiohttp import web
from aiokafka.partitioner import DefaultPartitioner

from pipeline.config import Gateway as Limits
from pipeline.config import Settings, host_allowed, load_settings
from pipeline.connectors import Options
from pipeline.core.events import encode, topic_key
from pipeline.gateway.dingtalk import DingTalk
from pipeline.gateway.feishu import Feishu
from pipeline.gateway.metrics import GatewayMetrics
from pipeline.gateway.platform import Answer, Ignore, RecentIds, Refused, Request
from pipeline.gateway.slack import Slack
from pipeline.worker.heap import settle_heap  # the worker's collector settings serve the gateway too

log = logging.getLogger("pipeline.gateway")
PROBE_SECONDS = 2.0        # how often the broker is asked for metadata
PROBE_TIMEOUT = 2.0
STALE_SECONDS = 5.0        # /healthz: down when the broker has not answered (probe or ack) for this long
LINGER_MS = 0              # the gateway closes each batch as it hands it over: nothing for the producer to wait for
TOPIC_CHECK_SECONDS = 10.0
MAX_HEADERS = 128
MAX_HEADER_BYTES = 8190    # one header line, and the request line
SHUTDOWN_SECONDS = 5.0     # for requests in progress to finish, then for the producer to flush
STOP_SECONDS = 1.0         # for the connecting or probing task to end once cancelled
_REFUSAL_LOG_EVERY = 1000

GATE_KEY = web.AppKey("gate", object)
METRICS_KEY = web.AppKey("metrics", GatewayMetrics)
LIMITS_KEY = web.AppKey("limits", Limits)
PLATFORMS_KEY = web.AppKey("platforms", list)
HOSTS_KEY = web.AppKey("hosts", dict)      # (Host header, port) → allowed, for the last few distinct ones
_HOSTS_REMEMBERED = 64


def platforms(settings: Settings, options: Options) -> list:
    """The three routes, each on when its secret is configured."""
    g = settings.gateway

    def secret(value):
        return value.get_secret_value() if value is not None else None

    return [Slack(secret(g.slack_signing_secret), options),
            Feishu(secret(g.feishu_verification_token), secret(g.feishu_encrypt_key), options,
                   window_seconds=g.feishu_window_seconds),
            DingTalk(secret(g.dingtalk_app_secret), options, window_seconds=g.dingtalk_window_seconds)]


# --------------------------------------------------------------------------- Kafka


class Gate:
    """The producer and what the routes need of it: `deliver(events, seconds)` returns once Kafka has
    acknowledged every event (True if any was new, False if all were repeats of acknowledged ones),
    or raises `Refused` 503. The producer connects in the background, retrying until the broker
    answers; the broker is probed every PROBE_SECONDS for /healthz."""

    def __init__(self, settings: Settings, metrics: GatewayMetrics):
        self.settings, self.limits, self.metrics = settings, settings.gateway, metrics
        self.topic = settings.topics.input
        self.producer = None
        self.recent = RecentIds(self.limits.recent_ids)
        self.pending = 0                          # events in batches not yet acknowledged
        self.pending_bytes = 0                    # and their keys' and values' bytes
        self._queued: dict[int, deque] = {}       # partition → batches not yet handed over; the last takes events
        self._shipping: dict[int, asyncio.Task] = {}   # partition → the task handing them over
        self._partitions = _Partitions()
        self._handed: set[_Batch] = set()         # batches the producer holds, not yet acknowledged or failed
        self._renewing: asyncio.Task | None = None   # replacing the producer after a batch failed
        self._stopping = False
        self.answered_at: float | None = None   # monotonic time the broker last answered
        metrics.pending.set_function(lambda: self.pending)
        metrics.recent_ids.set_function(lambda: len(self.recent))
        self.error: str | None = "not connected yet"
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def up(self) -> bool:
        return (self.producer is not None and self.answered_at is not None
                and time.monotonic() - self.answered_at <= STALE_SECONDS)

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._renewing):
            if task is not None:
                # Bounded: a Kafka client being cancelled while it connects does not always end at once.
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_SECONDS)
        if self.producer is not None:   # sends still waiting get this long; their requests were not answered 2xx
            await _close(self.producer)
        for task in list(self._shipping.values()):   # batches not handed over: their requests were not answered 2xx
            task.cancel()

    async def _run(self) -> None:
        from aiokafka.errors import KafkaError

        self.producer = await self._started_producer()
        self._answered()
        log.warning("gateway: connected to the Kafka broker at %s; producing to %s", self.settings.bootstrap,
                    self.topic)
        try:
            await asyncio.wait_for(self.producer.partitions_for(self.topic), TOPIC_CHECK_SECONDS)
        except (asyncio.TimeoutError, KafkaError):
            log.warning("gateway: the topic %s does not answer (does it exist? `moderation topics` creates it); "
                        "requests get 503 until it does", self.topic)
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await self._probe()
            except Exception:  # noqa: BLE001 - a bug in a probe must not stop the probing (/healthz would go stale)
                log.exception("gateway: probing the Kafka broker failed")

    async def _started_producer(self):
        """A started producer, once the broker answers (tried again every PROBE_SECONDS until then)."""
        from aiokafka.errors import KafkaError

        from pipeline.kafka.admin import producer, wait_for_broker

        while True:
            try:
                await wait_for_broker(self.settings, None, "gateway")
                candidate = producer(self.settings, acks="all", enable_idempotence=True, linger_ms=LINGER_MS)
                try:
                    await candidate.start()
                except BaseException:
                    await candidate.stop()
                    raise
                return candidate
            except (KafkaError, OSError) as exc:
                log.warning("gateway: cannot start the Kafka producer (%s); trying again in %.0fs",
                            type(exc).__name__, PROBE_SECONDS)
                await asyncio.sleep(PROBE_SECONDS)
            except Exception:  # noqa: BLE001 - anything else must not end the connecting for good
                log.exception("gateway: starting the Kafka producer failed; trying again in %.0fs", PROBE_SECONDS)
                await asyncio.sleep(PROBE_SECONDS)

    def _renew(self) -> None:
        """A batch the producer held failed. The idempotent producer numbered its records when it sent
        them, so for the broker every later batch of that partition is now out of sequence, and aiokafka
        fails each of them (OutOfOrderSequenceNumber) for as long as the producer lives: a new producer
        (a new producer id, numbering from zero) takes over, the old one is closed."""
        if self._renewing is None and not self._stopping:
            self._renewing = asyncio.create_task(self._replace_producer())

    async def _replace_producer(self) -> None:
        old = self.producer
        log.warning("gateway: Kafka failed a batch; starting a new Kafka producer (the old one's record numbering "
                    "no longer matches the broker's)")
        try:
            self.producer = await self._started_producer()
        finally:
            self._renewing = None
        await _close(old)
        from aiokafka.errors import KafkaConnectionError

        for batch in [batch for batch in self._handed if batch.producer is old]:   # not settled when it closed
            self._settle(batch, KafkaConnectionError("the producer holding the batch was closed"))

    async def _probe(self) -> None:
        from aiokafka.errors import KafkaError

        # The producer's own metadata, of the topics it produces to: it also sees a partition added within
        # a probe. (All the cluster's topics would be parsed in one callback: milliseconds per hundred topics.)
        try:
            answered = await asyncio.wait_for(self.producer.client.force_metadata_update(), PROBE_TIMEOUT)
            why = "no broker answered"
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            answered, why = False, type(exc).__name__
        if answered:
            self._answered()
        else:
            if self.error is None:
                log.warning("gateway: the Kafka broker at %s does not answer (%s); webhooks get 503 (the "
                            "platforms retry) until it does", self.settings.bootstrap, why)
            self.error = f"no answer from the broker ({why})"
        self.metrics.broker_up.set(1 if self.up() else 0)

    def _answered(self) -> None:
        if self.error is not None and self.producer is not None and self.answered_at is not None:
            log.warning("gateway: the Kafka broker at %s answers again", self.settings.bootstrap)
        self.error = None
        self.answered_at = time.monotonic()
        self.metrics.broker_up.set(1)

    async def deliver(self, events: list[dict], seconds: float) -> bool:
        if self.producer is None:
            raise Refused(503, "not_connected", "the gateway is not connected to Kafka yet; retry later")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(seconds, 0.0)
        partitions = self.producer.client.cluster.partitions_for_topic(self.topic)
        if not partitions:
            partitions = await self._partitions_of_topic(deadline)
        batches: list[_Batch] = []
        new: dict[str, tuple[bytes | None, bytes, int]] = {}   # event id → key, value, bytes: not sent yet
        for event in events:
            event_id = event["event_id"]
            if self.recent.acknowledged(event_id):
                continue
            batch = self.recent.waiting(event_id)
            if batch is not None:
                if batch not in batches:
                    batches.append(batch)
            elif event_id not in new:
                key, value = topic_key(event), encode(event)
                new[event_id] = (key, value, len(value) + (len(key) if key is not None else 0))
        if new:   # all of the request's new events or none of them (the first always goes)
            size = sum(size for _, _, size in new.values())
            if self.pending and (self.pending + len(new) > self.limits.max_pending
                                 or self.pending_bytes + size > self.limits.max_pending_bytes):
                raise Refused(503, "over_capacity", f"{self.pending} events ({self.pending_bytes} bytes) are "
                                                    "waiting for Kafka; retry later")
            for event_id, (key, value, size) in new.items():
                batch = self._add(event_id, key, value, size, partitions)
                self.recent.sending(event_id, batch)
                if batch not in batches:
                    batches.append(batch)
        fresh = bool(new)
        waiting = [batch for batch in batches if not batch.settled]
        if waiting and not await _settled_by(waiting, deadline, loop):
            raise Refused(503, "ack_timeout", "Kafka did not acknowledge in time; retry (the event is not lost: "
                                              "a retry is answered once it is acknowledged)")
        if any(batch.failure is not None for batch in batches):
            raise Refused(503, "broker_error", "Kafka did not take the event; retry later")
        return fresh

    async def _partitions_of_topic(self, deadline: float) -> set[int]:
        """The topic's partitions when the producer does not know them yet: asked of the broker."""
        try:
            async with asyncio.timeout_at(deadline):
                return await self.producer.partitions_for(self.topic)
        except TimeoutError:
            raise Refused(503, "ack_timeout", "Kafka did not say where the topic is in time; retry later") from None
        except Exception:  # noqa: BLE001 - the broker's answer (no such topic, an error): the platform retries
            raise Refused(503, "broker_error", "Kafka did not take the event; retry later") from None

    def _add(self, event_id: str, key: bytes | None, value: bytes, size: int, partitions: set[int]) -> _Batch:
        """The event into the open batch of its partition (the producer's partitioner on its key), which
        is handed to the producer as soon as the partition's previous batch has been."""
        partition = self._partitions.of(key, partitions)
        queue = self._queued.get(partition)
        if queue is None:
            queue = self._queued[partition] = deque()
        if not queue or not queue[-1].append(key, value):
            queue.append(_Batch(self.producer.create_batch()))
            queue[-1].append(key, value)   # a batch's first record always fits (Kafka's rule, aiokafka's too)
        if partition not in self._shipping:
            self._shipping[partition] = asyncio.create_task(self._ship(partition, queue))
        batch = queue[-1]
        batch.ids.append(event_id)
        batch.size += size
        self.pending += 1
        self.pending_bytes += size
        return batch

    async def _ship(self, partition: int, queue: deque) -> None:
        """Hands the partition's batches to the producer in order, each closed first (aiokafka's advice:
        a batch still open once handed over could change under the sender); while the producer holds the
        previous one, events gather in the next."""
        try:
            while queue:
                batch = queue[0]
                batch.builder.close()
                producer = self.producer
                try:
                    delivered = await producer.send_batch(batch.builder, self.topic, partition=partition)
                except Exception as exc:  # noqa: BLE001 - the batch's requests get 503, their retries send again
                    self._settle(queue.popleft(), exc)
                else:
                    queue.popleft()
                    if producer is not self.producer:   # replaced (and closed) while taking it: never sent
                        self._settle(batch, asyncio.CancelledError())
                        continue
                    batch.producer = producer
                    self._handed.add(batch)
                    delivered.add_done_callback(partial(self._delivered, batch))
        finally:
            del self._shipping[partition]
            while queue:   # cancelled (stopping): these events were not sent, their requests get 503
                self._settle(queue.popleft(), asyncio.CancelledError())

    def _delivered(self, batch: _Batch, delivered: asyncio.Future) -> None:
        failure = asyncio.CancelledError() if delivered.cancelled() else delivered.exception()
        if failure is not None and batch.producer is self.producer:
            self._renew()
        self._settle(batch, failure)

    def _settle(self, batch: _Batch, failure: BaseException | None) -> None:
        if batch.settled:   # the producer closed under it, and then told of it after all
            return
        self._handed.discard(batch)
        self.pending -= len(batch.ids)
        self.pending_bytes -= batch.size
        ok = failure is None
        for event_id in batch.ids:
            self.recent.settled(event_id, batch, ok)
        if ok:
            self.answered_at = time.monotonic()
        batch.settle(failure)


async def _close(producer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), SHUTDOWN_SECONDS)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - stopping is best effort
        pass


async def _settled_by(batches: list[_Batch], deadline: float, loop: asyncio.AbstractEventLoop) -> bool:
    """Waits until every batch has settled (True) or the deadline has passed (False). The wait is the
    caller's own future: the deadline ends it without touching the batches or their other waiters."""
    done = loop.create_future()
    remaining = len(batches)

    def one_settled() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not done.done():
            done.set_result(True)

    for batch in batches:
        batch.when_settled(one_settled)
    timer = loop.call_at(deadline, lambda: done.done() or done.set_result(False))
    try:
        return await done
    finally:
        timer.cancel()
        for batch in batches:   # a wait that ended stays on no batch (retries during an outage would pile up)
            batch.not_waiting(one_settled)


class _Batch:
    """Events of one partition handed to the producer together; each request with an event in it waits
    for it to be acknowledged (or to fail), a retry of one of its events too."""

    __slots__ = ("builder", "ids", "size", "producer", "settled", "failure", "_waiters")

    def __init__(self, builder):
        self.builder, self.ids, self.size, self.producer = builder, [], 0, None   # the producer it was handed to
        self.settled, self.failure = False, None
        self._waiters: set = set()   # called once it has settled

    def append(self, key: bytes, value: bytes) -> bool:
        return self.builder.append(timestamp=None, key=key, value=value) is not None

    def when_settled(self, callback) -> None:
        self._waiters.add(callback)

    def not_waiting(self, callback) -> None:
        self._waiters.discard(callback)

    def settle(self, failure: BaseException | None) -> None:
        self.settled, self.failure = True, failure
        waiters, self._waiters = self._waiters, set()
        for callback in waiters:
            callback()


class _Partitions:
    """The producer's partitioner (murmur2 of the key, as every producer of the input topic uses), its
    answers remembered per key until the topic's partitions change."""

    def __init__(self, size: int = 100_000):
        self.size, self._count, self._of = size, 0, {}
        self._partitioner = DefaultPartitioner()

    def of(self, key: bytes | None, partitions: set[int]) -> int:
        if key is None:   # no group: any partition (the worker sends the event on to its group's)
            ordered = sorted(partitions)
            return self._partitioner(None, ordered, ordered)
        if len(partitions) != self._count or len(self._of) >= self.size:
            self._count, self._of = len(partitions), {}
        partition = self._of.get(key)
        if partition is None:
            ordered = sorted(partitions)
            partition = self._of[key] = self._partitioner(key, ordered, ordered)
        return partition


# --------------------------------------------------------------------------- HTTP


class _Refusals:
    """Refusals are logged by reason: the first, then every thousandth (a flood stays a few lines)."""

    def __init__(self):
        self.counts: Counter = Counter()

    def note(self, platform: str, refused: Refused) -> None:
        key = (platform, refused.reason)
        self.counts[key] += 1
        n = self.counts[key]
        if n == 1 or n % _REFUSAL_LOG_EVERY == 0:
            log.warning("gateway: %s request refused, %d %s (%s); %d so far for this reason", platform,
                        refused.status, refused.reason, refused.detail, n)


REFUSALS_KEY = web.AppKey("refusals", _Refusals)


class _MalformedHttp(logging.Handler):
    """aiohttp answers a malformed request (bad request line, too many or too long headers) 400 itself
    and logs each with a traceback: here each is counted, and the first and every thousandth noted in
    one line."""

    def __init__(self, metrics: GatewayMetrics):
        super().__init__()
        self.metrics, self.count = metrics, 0

    def emit(self, record: logging.LogRecord) -> None:
        self.metrics.malformed_http.inc()
        self.count += 1
        if self.count == 1 or self.count % _REFUSAL_LOG_EVERY == 0:
            log.warning("gateway: malformed HTTP request answered 400 by aiohttp (%s); %d so far",
                        type(record.exc_info[1]).__name__ if record.exc_info else "no detail", self.count)


def _count_malformed_http(metrics: GatewayMetrics) -> logging.Handler:
    server_log = logging.getLogger("aiohttp.server")
    handler = _MalformedHttp(metrics)
    server_log.addHandler(handler)
    server_log.propagate = False
    return handler


def _json(body: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")


def _refusal(refused: Refused, headers: dict | None = None) -> web.Response:
    headers = dict(headers or {})
    if refused.status == 503:
        headers["Retry-After"] = "1"
    return _json({"ok": False, "error": refused.reason, "detail": refused.detail}, refused.status, headers)


async def _body(request: web.Request, limits: Limits) -> bytes:
    if request.content_type != "application/json":
        raise Refused(415, "content_type", "send Content-Type: application/json")
    if request.charset not in (None, "utf-8"):
        raise Refused(415, "content_type", "send the body in UTF-8")
    encoding = request.headers.get("Content-Encoding")
    if encoding is not None and encoding.strip().lower() != "identity":
        raise Refused(415, "content_encoding", "send the body without a Content-Encoding")
    if request.content_length is not None and request.content_length > limits.max_body_bytes:
        raise Refused(413, "too_large", f"the body is over {limits.max_body_bytes} bytes")
    try:
        if request.content.is_eof():   # the whole body came with the headers (most webhooks): no wait to bound
            body = await request.read()
        else:
            async with asyncio.timeout(limits.body_seconds):
                body = await request.read()
    except TimeoutError:
        raise Refused(408, "body_timeout", f"the body did not arrive within {limits.body_seconds:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, "too_large", f"the body is over {limits.max_body_bytes} bytes") from None
    if not body:
        raise Refused(400, "malformed_json", "the body is empty")
    return body


def _route(platform):
    async def handle(request: web.Request) -> web.Response:
        app = request.app
        arrived, now = time.monotonic(), time.time()
        metrics, limits = app[METRICS_KEY], app[LIMITS_KEY]
        try:
            body = await _body(request, limits)
            delivery = Request(request.headers, body, now)
            outcome = platform.handle(delivery)
            if platform.is_retry(delivery):
                metrics.retry(platform.name)
            if isinstance(outcome, Answer):
                metrics.answered(platform.name, "challenge")
                return _json(outcome.body)
            if isinstance(outcome, Ignore) or not outcome.events:
                metrics.answered(platform.name, "skipped")
                return _json({"ok": True, "skipped": getattr(outcome, "reason", "no events")})
            fresh = await app[GATE_KEY].deliver(outcome.events, limits.ack_deadline_seconds -
                                                (time.monotonic() - arrived))
        except Refused as refused:
            metrics.refused(platform.name, refused.reason)
            app[REFUSALS_KEY].note(platform.name, refused)
            # A refusal the same bytes would get again is final; a timeout or 5xx is worth a retry.
            final = refused.status < 500 and refused.status != 408
            return _refusal(refused, platform.refusal_headers if final else None)
        except Exception as exc:  # noqa: BLE001 - a bug: answered 500 (the platform retries), never the request logged
            log.error("gateway: internal error on a %s request (%s); please report it", platform.name,
                      type(exc).__name__)
            refused = Refused(500, "internal_error", "internal error; the platform will retry")
            metrics.refused(platform.name, refused.reason)
            return _refusal(refused)
        elapsed = time.monotonic() - arrived
        if fresh:
            metrics.accepted_events(platform.name, len(outcome.events))
        metrics.answered(platform.name, "accepted" if fresh else "duplicate", elapsed)
        return _json({"ok": True, "events": len(outcome.events), "duplicate": not fresh})

    return handle


def _off(platform):
    names = " and ".join(platform.setting_names[:1])

    async def handle(request: web.Request) -> web.Response:
        refused = Refused(404, "route_off", f"the {platform.name} route is off: set {names} to turn it on")
        request.app[METRICS_KEY].refused(platform.name, refused.reason)
        return _refusal(refused)

    return handle


def _platform_of(path: str) -> str | None:
    head = path.strip("/").split("/", 1)[0]
    return head if head in ("slack", "feishu", "dingtalk") else None


@web.middleware
async def allowed_hosts(request: web.Request, handler):
    """A request must name this server in its Host header (the dashboard's check, the gateway's list):
    a page elsewhere that points its own name at this machine gets nothing."""
    host = request.headers.get("Host", "")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    seen = request.app[HOSTS_KEY]
    allowed = seen.get((host, port))
    if allowed is None:
        if len(seen) >= _HOSTS_REMEMBERED:
            seen.clear()
        allowed = seen[(host, port)] = host_allowed(host, request.app[LIMITS_KEY].allowed_hosts, port)
    if not allowed:
        request.app[METRICS_KEY].refused(_platform_of(request.path), "host_not_allowed")
        return _refusal(Refused(421, "host_not_allowed", "this gateway does not answer for that Host; add the "
                                                         "name to MODERATION_GATEWAY_ALLOWED_HOSTS"))
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    """200 once the producer is connected and the broker answered within STALE_SECONDS; only counts."""
    app = request.app
    gate = app[GATE_KEY]
    up = gate.up()
    body = {"status": "up" if up else "down", "broker_error": gate.error,
            "routes": {p.name: "on" if p.configured else "off" for p in app[PLATFORMS_KEY]},
            "pending_events": gate.pending, "pending_bytes": gate.pending_bytes, "recent_ids": len(gate.recent)}
    return _json(body, 200 if up else 503)


async def metrics_page(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS_KEY].exposition(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def create_app(settings: Settings, options: Options, gate: Gate | None = None,
               metrics: GatewayMetrics | None = None) -> web.Application:
    limits = settings.gateway
    metrics = metrics or GatewayMetrics()
    app = web.Application(middlewares=[allowed_hosts], client_max_size=limits.max_body_bytes)
    app[LIMITS_KEY] = limits
    app[METRICS_KEY] = metrics
    app[GATE_KEY] = gate or Gate(settings, metrics)
    app[REFUSALS_KEY] = _Refusals()
    app[HOSTS_KEY] = {}
    app[PLATFORMS_KEY] = routes = platforms(settings, options)
    for platform in routes:
        app.router.add_post(platform.path, _route(platform) if platform.configured else _off(platform))
    app.router.add_get("/healthz", health)
    app.router.add_get("/metrics", metrics_page)

    async def kafka(app: web.Application):
        counting = _count_malformed_http(metrics)
        app[GATE_KEY].start()
        yield
        await app[GATE_KEY].stop()
        logging.getLogger("aiohttp.server").removeHandler(counting)

    app.cleanup_ctx.append(kafka)
    return app


_TOO_MANY = b'{"ok": false, "error": "over_capacity", "detail": "too many connections; retry later"}'


class _Refuse(asyncio.Protocol):
    """A connection over the limit: answered 503 at once and closed, before anything is read."""

    ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_TOO_MANY), _TOO_MANY))

    def connection_made(self, transport) -> None:
        transport.write(self.ANSWER)
        transport.close()


class LimitedSite(web.BaseSite):
    """A TCP site that keeps at most `max_connections` connections open: one more is answered 503
    (the platform retries) and closed. aiohttp has no such limit of its own."""

    __slots__ = ("_host", "_port", "_max", "_metrics", "_opening")

    def __init__(self, runner: web.AppRunner, host: str, port: int, max_connections: int, metrics: GatewayMetrics,
                 backlog: int = 128):
        super().__init__(runner, backlog=backlog)
        self._host, self._port, self._max, self._metrics = host, port, max_connections, metrics
        self._opening: list = []   # (handler, made at) whose connection_made has not run yet

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        loop = asyncio.get_running_loop()

        def protocol():
            # Accepted connections get their connection_made on the next loop turn: count those
            # still opening too, or a burst of accepts would all see the old count.
            now = time.monotonic()
            self._opening = [(h, made) for h, made in self._opening if h.transport is None and now - made < 1.0]
            open_now = len(server.connections) + len(self._opening)
            self._metrics.connections.set(open_now)
            if open_now >= self._max:
                self._metrics.connections_refused.inc()
                return _Refuse()
            handler = server()
            self._opening.append((handler, now))
            return handler

        self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog,
                                                reuse_address=True)

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]


async def start(settings: Settings, options: Options, host: str = "127.0.0.1", port: int | None = None,
                metrics: GatewayMetrics | None = None) -> tuple[web.AppRunner, LimitedSite]:
    limits = settings.gateway
    metrics = metrics or GatewayMetrics()
    app = create_app(settings, options, metrics=metrics)
    # keepalive_timeout: a connection must bring a whole request line and its headers within this
    # long of opening or of its previous answer, or it is closed (idle and half-sent alike).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS,
                           keepalive_timeout=limits.idle_seconds, max_line_size=MAX_HEADER_BYTES,
                           max_field_size=MAX_HEADER_BYTES, max_headers=MAX_HEADERS, auto_decompress=False)
    await runner.setup()
    site = LimitedSite(runner, host, limits.port if port is None else port, limits.max_connections, metrics)
    await site.start()
    return runner, site


def use_uvloop() -> None:
    """uvloop when it is installed (as the worker does); the default loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve(host: str = "127.0.0.1", port: int | None = None, options: Options | None = None) -> int:
    settings = load_settings()
    options = options or Options()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)   # the gateway says once what the broker does
    log.setLevel(logging.INFO)

    async def main() -> None:
        runner, site = await start(settings, options, host, port)
        settle_heap()
        routes = platforms(settings, options)
        on = [f"POST {p.path}" for p in routes if p.configured]
        off = [f"{p.name} (set {p.setting_names[0]})" for p in routes if not p.configured]
        print(f"Gateway on http://{host}:{site.port}/  routes: {', '.join(on) or 'none'}"
              + (f"; off: {', '.join(off)}" if off else "")
              + f"; Kafka {settings.bootstrap} → {settings.topics.input}; Ctrl-C stops it", flush=True)
        feishu = next(p for p in routes if p.name == "feishu")
        if feishu.configured and feishu.key is None:
            log.warning("gateway: Feishu events arrive unencrypted and unsigned: set MODERATION_FEISHU_ENCRYPT_KEY "
                        "(the app's Encrypt Key) so that only Feishu can post them")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    use_uvloop()
    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"gateway: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
