"""The dashboard's shell: a Kafka reader of the output topics feeding `DashboardState`, and an
aiohttp app serving the page, `/api/state` (JSON), `/api/stream` (server-sent events),
`/api/decisions` (a reviewer's decision), the login (`login.py`) and `/healthz`.

The reader is a consumer like any other (no consumer group, from the beginning of every output
topic), so the page shows what the topics hold, not what a worker has in memory. Every request
passes the same middleware chain (`create_app`): the Host allow-list first, then the login gate
(`login.gate`), in front of every route. What a logged-in user gets is cut to the groups their
role lets them see (`View.scope`), on the server.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
import webbrowser
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiohttp import web

from pipeline.config import Dashboard, Settings, host_allowed, load_settings
from pipeline.dashboard.auth import Principal
from pipeline.dashboard.decisions import OUTBOX_KEY, Outbox, decide
from pipeline.dashboard.login import AUTH_KEY, PRINCIPAL, SESSION, add_routes, create_auth, gate
from pipeline.dashboard.push import Frame, changes, patch_message
from pipeline.dashboard.state import Bounds, DashboardState, View

log = logging.getLogger("pipeline.dashboard")
STATIC = Path(__file__).resolve().parent / "static"
PUSH_INTERVAL = 0.5        # seconds between checks for changes to push
# A live client's updates after the first: at most this many bytes a second on average (a larger
# update waits longer before the next; docs/SCALING.md, "Dashboard").
STREAM_BYTES_PER_SECOND = 64 << 10
HEARTBEAT = 15.0           # seconds between keep-alive comments on an idle stream
RETRY_SECONDS = 3.0        # wait before reconnecting to an unreachable broker
PROBE_SECONDS = 5.0        # how often the reader asks the broker for metadata while records are quiet
PROBE_TIMEOUT = 5.0
POLL_RECORDS = 500         # records handled per poll, so requests are served during a long backlog
FRAME_REUSE_SECONDS = 1.0  # a view's payload is rebuilt at most this often, however many clients ask
FRAME_CACHE = 16           # views whose latest payload is kept
STREAM_SOCKET_BUFFER = 128 << 10   # kernel send buffer of a stream's socket (bytes)
# Content-Security-Policy: the page loads only its own files; nothing inline, nothing remote.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the login
    # form's POST, and the origin check (login.py) must see the dashboard's own origin.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class ReaderStatus:
    """What the Kafka reader last knew; `/healthz` and the page's status line read it."""
    bootstrap: str
    topics: list[str]
    static: bool = False              # serving a given state without Kafka (tests): always up
    connected: bool = False
    error: str | None = None
    last_answer: float | None = None  # monotonic time the broker last answered (a fetch or a probe)
    task: asyncio.Task | None = None

    def up(self, stale_seconds: float) -> bool:
        if self.static:
            return True
        return (self.task is not None and not self.task.done() and self.connected
                and self.last_answer is not None and time.monotonic() - self.last_answer <= stale_seconds)

    def answered_ago(self) -> float | None:
        return None if self.last_answer is None else round(time.monotonic() - self.last_answer, 1)


@dataclass
class Streams:
    active: int = 0
    dropped: int = 0
    by_user: Counter = field(default_factory=Counter)

    def per_user(self, limit: int) -> int:
        """Live pages one user may have open: a quarter of all (at least two), so that no one
        account can leave everyone else without live updates."""
        return max(2, limit // 4)


@dataclass
class Frames:
    """The latest payload of each recently asked view, shared by every client asking for it."""
    entries: OrderedDict = field(default_factory=OrderedDict)


STATE_KEY = web.AppKey("state", DashboardState)
STATUS_KEY = web.AppKey("status", ReaderStatus)
SETTINGS_KEY = web.AppKey("settings", Settings)
STREAMS_KEY = web.AppKey("streams", Streams)
FRAMES_KEY = web.AppKey("frames", Frames)


def bounds(settings: Dashboard) -> Bounds:
    return Bounds(groups=settings.groups, feed=settings.feed, severe=settings.severe, followups=settings.followups,
                  reviews=settings.reviews)


def read_topics(settings: Settings) -> dict[str, str]:
    """Role → topic of what the reader follows: every output but the audit trail, which the
    dashboard writes and never shows."""
    return {role: name for role, name in settings.topics.outputs().items() if role != "audit"}


# --------------------------------------------------------------------------- the Kafka reader


class Feed:
    """The reader: every output topic from the beginning, each record into the state. No record
    can stop it: a bad one is counted, an unexpected failure is logged and the reader goes on."""

    def __init__(self, settings: Settings, state: DashboardState, status: ReaderStatus):
        self.settings, self.state, self.status = settings, state, status
        self.roles = {name: role for role, name in read_topics(settings).items()}
        self._logged_bad: dict[str, int] = {}
        # The next offset to read per partition, kept across reconnects: a new consumer starts from
        # the beginning again, and what was already counted must not be counted twice.
        self.positions: dict[tuple[str, int], int] = {}

    async def run(self) -> None:
        from aiokafka.errors import KafkaError

        from pipeline.kafka.admin import consumer

        while True:
            # Short metadata age: topics created after the dashboard started are picked up within seconds.
            c = consumer(self.settings, *self.roles, group_id=None, auto_offset_reset="earliest",
                         metadata_max_age_ms=5000)
            try:
                await c.start()
                self._answered()
                self.status.connected = True
                next_probe = time.monotonic() + PROBE_SECONDS
                resumed: set[tuple[str, int]] = set()
                while True:
                    batch = await c.getmany(timeout_ms=500, max_records=POLL_RECORDS)
                    if batch:
                        self._answered()
                    for tp, messages in batch.items():
                        key = (tp.topic, tp.partition)
                        if key not in resumed:
                            resumed.add(key)
                            if self.positions.get(key, 0) > messages[0].offset:
                                c.seek(tp, self.positions[key])
                        for message in messages:
                            if message.offset >= self.positions.get(key, 0):
                                self._receive(message)
                                self.positions[key] = message.offset + 1
                    if time.monotonic() >= next_probe:
                        await self._probe(c)
                        next_probe = time.monotonic() + PROBE_SECONDS
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                self._lost(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                log.warning("dashboard reader: %s; retrying in %.0fs", self.status.error, RETRY_SECONDS)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the reader for good
                self._lost(f"reader failed ({type(exc).__name__}); restarting")
                log.exception("dashboard reader failed; restarting it in %.0fs", RETRY_SECONDS)
            finally:
                try:
                    await c.stop()
                except Exception:  # noqa: BLE001 - stopping a client that never started
                    pass
            await asyncio.sleep(RETRY_SECONDS)

    def _answered(self) -> None:
        if self.status.error is not None:
            log.warning("dashboard reader: the broker at %s answers again", self.settings.bootstrap)
        self.status.last_answer = time.monotonic()
        self.status.error = None

    def _lost(self, error: str) -> None:
        self.status.connected = False
        self.status.error = error[:300]

    async def _probe(self, c) -> None:
        """A metadata round trip: the broker answers, or the status says since when it has not."""
        from aiokafka.errors import KafkaError

        try:
            await asyncio.wait_for(c.topics(), PROBE_TIMEOUT)
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            if self.status.error is None:
                log.warning("dashboard reader: the broker at %s does not answer (%s); /healthz says down "
                            "once it has not answered for %.0fs", self.settings.bootstrap, type(exc).__name__,
                            self.settings.dashboard.stale_seconds)
            self.status.error = f"no answer from the broker ({type(exc).__name__})"
        else:
            self._answered()

    def _receive(self, message) -> None:
        try:
            outcome = self.state.receive(message.value)
        except Exception:  # noqa: BLE001 - a record that trips a bug is counted, not fatal
            self.state.count_failed()
            log.exception("dashboard: record at %s[%d]@%d could not be handled; skipped",
                          message.topic, message.partition, message.offset)
            return
        if outcome in ("applied", "repeat", "counted"):
            return
        seen = self._logged_bad[outcome] = self._logged_bad.get(outcome, 0) + 1
        if seen == 1 or seen % 1000 == 0:
            log.warning("dashboard: skipped a bad record (%s, %d so far) at %s[%d]@%d",
                        outcome, seen, message.topic, message.partition, message.offset)


# --------------------------------------------------------------------------- the web app


@web.middleware
async def allowed_hosts(request: web.Request, handler):
    """DNS rebinding defence: a page on another site that makes its name point at this machine
    still sends its own name as Host, and gets nothing."""
    settings = request.app[SETTINGS_KEY].dashboard
    host = request.headers.get("Host", "")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    if not host_allowed(host, settings.allowed_hosts, port):
        return web.Response(status=421, text=(
            f"This dashboard does not answer for the host {host[:100]!r}. Open it as http://127.0.0.1:{port}/ "
            f"or add the name to MODERATION_DASHBOARD_ALLOWED_HOSTS.\n"))
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def _view(request: web.Request) -> View:
    """The filters the query asks for, cut to the groups the logged-in user may see."""
    try:
        view = View.parse(request.query, request.app[STATE_KEY].bounds.page)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    principal: Principal = request[PRINCIPAL]
    return replace(view, scope=principal.scope)


def _status_view(app: web.Application, scoped: bool = False) -> dict:
    status, state = app[STATUS_KEY], app[STATE_KEY]
    connected = status.up(app[SETTINGS_KEY].dashboard.stale_seconds)
    if scoped:   # a group admin or owner: whether the page is live, nothing about the deployment
        return {"connected": connected, "error": None if status.error is None else "the dashboard cannot reach Kafka",
                "records": None, "bad_records": None, "bootstrap": None, "topics": []}
    return {"connected": connected, "error": status.error,
            "records": state.records, "bad_records": sum(state.bad.values()),
            "bootstrap": status.bootstrap, "topics": status.topics}


def _frame(app: web.Application, view: View) -> Frame:
    """The view's answer, built again when the state or the reader's status changed (and at most
    every FRAME_REUSE_SECONDS), once for every client asking for the same view. The cache holds
    the views of the live streams and FRAME_CACHE more."""
    state, frames = app[STATE_KEY], app[FRAMES_KEY].entries
    status = _status_view(app, scoped=view.scope is not None)
    # The queue's age filter moves with the clock: its answer is rebuilt each minute at least.
    key = (state.version, status["connected"], status["error"], int(time.time() // 60) if view.review_age else 0)
    entry = frames.get(view)
    now = time.monotonic()
    if entry is not None and (entry[0] == key or now - entry[1] < FRAME_REUSE_SECONDS):
        frames.move_to_end(view)
        return entry[2]
    answer = state.view(view, now=time.time())
    answer["status"] = status
    frame = Frame(answer)
    frames[view] = (key, now, frame)
    frames.move_to_end(view)
    while len(frames) > FRAME_CACHE + app[STREAMS_KEY].active:
        frames.popitem(last=False)
    return frame


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def api_state(request: web.Request) -> web.Response:
    return web.Response(body=_frame(request.app, _view(request)).whole(), content_type="application/json")


async def api_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: first the whole view (`state`), then whenever it changes what changed
    (`patch`: push.py), each numbered by its event id. A client's unsent bytes are at most one
    update: while it has not taken the last one it gets no new one, and then the changes since
    what it took (a slow reader sees fewer updates, never stale ones). A client whose update waits
    longer than `stream_stall_seconds`, or whose update would not fit `stream_buffer_bytes`, is
    dropped."""
    app, view = request.app, _view(request)
    limits, streams = app[SETTINGS_KEY].dashboard, app[STREAMS_KEY]
    if streams.active >= limits.max_streams:
        raise web.HTTPServiceUnavailable(
            text=f"This dashboard already serves {limits.max_streams} live pages; try again later "
                 f"(MODERATION_DASHBOARD_MAX_STREAMS sets the limit).\n", headers={"Retry-After": "10"})
    user = request[PRINCIPAL].name
    if streams.by_user[user] >= streams.per_user(limits.max_streams):
        raise web.HTTPServiceUnavailable(
            text=f"You already have {streams.by_user[user]} live pages open, the most one user may have (a quarter "
                 f"of MODERATION_DASHBOARD_MAX_STREAMS, at least two): close one; this page reads /api/state "
                 f"meanwhile.\n", headers={"Retry-After": "10"})
    transport = request.transport
    if transport is None:
        return web.Response(status=400)
    # A view too large to be sent as one update is refused before the stream starts: opened and
    # then dropped at its first message, it looks to the browser like a lost connection, which it
    # opens again at once, and the page never shows anything. Refused, the page reads /api/state.
    size = len(_frame(app, view).whole())
    if size > limits.stream_buffer_bytes:
        raise web.HTTPServiceUnavailable(
            text=f"This view is {size:,} bytes, more than the {limits.stream_buffer_bytes:,} a live page is sent at "
                 f"once (MODERATION_DASHBOARD_STREAM_BUFFER_BYTES): ask /api/state for it, or fewer items (limit).\n",
            headers={"Retry-After": "10"})
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SOCKET_BUFFER)
    # One update up to the buffer size is taken without waiting; past that the writer would wait.
    transport.set_write_buffer_limits(high=limits.stream_buffer_bytes)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    streams.active += 1
    streams.by_user[user] += 1
    sent: Frame | None = None      # the client's copy: the frame it was last sent
    number, idle, waiting_since, next_update = 0, 0.0, None, 0.0
    auth, token = app[AUTH_KEY], request[SESSION].token
    try:
        while not transport.is_closing():
            # The stream ends with its session (expired, logged out, user removed or changed).
            if auth.sessions.get(token, auth.users.current(), time.monotonic(), touch=False) is None:
                break
            if transport.get_write_buffer_size():
                waiting_since = waiting_since or time.monotonic()
                if time.monotonic() - waiting_since > limits.stream_stall_seconds:
                    _drop(streams, transport, "took nothing for %.0fs", limits.stream_stall_seconds)
                    break
            else:
                waiting_since = None
                frame = None if time.monotonic() < next_update else _frame(app, view)
                message = _message(sent, frame, number + 1) if frame is not None and frame is not sent else None
                if message is None and idle >= HEARTBEAT:
                    message = b": keep-alive\n\n"
                if message is not None:
                    if len(message) > limits.stream_buffer_bytes:
                        _drop(streams, transport, "an update of %d bytes exceeds its buffer", len(message))
                        break
                    try:   # the buffer was empty and the message fits: this does not wait
                        await asyncio.wait_for(response.write(message), limits.stream_stall_seconds)
                    except asyncio.TimeoutError:
                        _drop(streams, transport, "took nothing for %.0fs", limits.stream_stall_seconds)
                        break
                    idle = 0.0
                    if not message.startswith(b":"):
                        if sent is not None:
                            next_update = time.monotonic() + len(message) / STREAM_BYTES_PER_SECOND
                        sent, number = frame, number + 1
            await asyncio.sleep(PUSH_INTERVAL)
            idle += PUSH_INTERVAL
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        streams.active -= 1
        streams.by_user[user] -= 1
        if not streams.by_user[user]:
            del streams.by_user[user]
    return response


def _message(sent: Frame | None, frame: Frame, number: int) -> bytes | None:
    """The event that brings a client from `sent` to `frame`: the changes, or the whole view when
    it has none yet or the changes would not be smaller; None when nothing it shows changed."""
    if sent is not None:
        ops = changes(sent, frame)
        if ops is not None:
            if not ops:
                return None
            patch = patch_message(ops)
            if len(patch) < len(frame.whole()):
                return b"event: patch\nid: %d\ndata: " % number + patch + b"\n\n"
    return b"event: state\nid: %d\ndata: " % number + frame.whole() + b"\n\n"


def _drop(streams: Streams, transport: asyncio.Transport, why: str, *args) -> None:
    streams.dropped += 1
    log.info("dashboard: dropped a live client that " + why, *args)
    transport.abort()   # discards its unsent bytes now; a plain close would keep them until sent


async def health(request: web.Request) -> web.Response:
    """Public: up when the reader runs and the broker answered within `stale_seconds`; nothing else."""
    app = request.app
    up = app[STATUS_KEY].up(app[SETTINGS_KEY].dashboard.stale_seconds)
    return web.json_response({"status": "up" if up else "down"}, status=200 if up else 503)


async def health_details(request: web.Request) -> web.Response:
    """For a logged-in user who sees every group: the counts behind /healthz (no data from the records)."""
    app = request.app
    principal: Principal = request[PRINCIPAL]
    status, state, streams = app[STATUS_KEY], app[STATE_KEY], app[STREAMS_KEY]
    up = status.up(app[SETTINGS_KEY].dashboard.stale_seconds)
    body: dict = {"status": "up" if up else "down"}
    if principal.scope is None:
        auth, outbox = app[AUTH_KEY], app[OUTBOX_KEY]
        body.update({"kafka_answered_seconds_ago": status.answered_ago(),
                     "records": state.records, "bad_records": sum(state.bad.values()),
                     "bad_records_by_reason": dict(state.bad), "streams": streams.active,
                     "streams_dropped": streams.dropped, "sessions": len(auth.sessions),
                     "logins_refused_by_limits": auth.limits.refused,
                     "audit_waiting": outbox.audit_queue.qsize(), "audit_written": outbox.audit_written,
                     "audit_lost": outbox.audit_lost})
    return web.json_response(body, status=200 if up else 503)


def create_app(settings: Settings | None = None, state: DashboardState | None = None,
               consume: bool = True) -> web.Application:
    """The web app; with `consume=False` it serves the given state without touching Kafka (tests)."""
    settings = settings or load_settings()
    app = web.Application(middlewares=[allowed_hosts, gate])
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = state or DashboardState(bounds(settings.dashboard))
    app[STATUS_KEY] = ReaderStatus(settings.bootstrap, sorted(read_topics(settings).values()), static=not consume)
    app[STREAMS_KEY] = Streams()
    app[FRAMES_KEY] = Frames()
    app[AUTH_KEY] = create_auth(settings)
    app[OUTBOX_KEY] = outbox = Outbox(settings, kafka=consume)
    app.on_response_prepare.append(_security_headers)
    # Route names matter: login.PUBLIC_ROUTES names the few that answer without a session.
    app.router.add_get("/", index, name="index")
    app.router.add_get("/api/state", api_state, name="state")
    app.router.add_get("/api/stream", api_stream, name="stream")
    app.router.add_get("/api/health", health_details, name="health")
    app.router.add_post("/api/decisions", decide, name="decide")
    app.router.add_get("/healthz", health, name="healthz")
    app.router.add_static("/static/", STATIC, append_version=False, name="static")
    add_routes(app)

    async def outbox_running(app: web.Application):
        await outbox.start()
        yield
        await outbox.stop()

    app.cleanup_ctx.append(outbox_running)

    if consume:
        async def reader(app: web.Application):
            status = app[STATUS_KEY]
            status.task = asyncio.create_task(Feed(settings, app[STATE_KEY], status).run())
            yield
            status.task.cancel()
            try:
                await status.task
            except asyncio.CancelledError:
                pass

        app.cleanup_ctx.append(reader)
    return app


async def start(host: str, port: int, settings: Settings | None = None, state: DashboardState | None = None,
                consume: bool = True) -> tuple[web.AppRunner, str]:
    settings = settings or load_settings()
    # keepalive_timeout: a connection must bring a whole request (line and headers) within this
    # long of opening or of its previous response, or it is closed: idle and half-sent alike.
    runner = web.AppRunner(create_app(settings, state, consume), access_log=None, shutdown_timeout=2.0,
                           keepalive_timeout=settings.dashboard.idle_seconds)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, f"http://{host}:{bound}/"


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False) -> int:
    settings = load_settings()
    # aiokafka logs every failed reconnect (ten a second while a broker is down); the reader says
    # once that the broker stopped answering and once that it is back.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def main() -> None:
        runner, url = await start(host, port, settings)
        print(f"Dashboard on {url}  (reading {', '.join(sorted(read_topics(settings).values()))} "
              f"at {settings.bootstrap}; Ctrl-C stops it)", flush=True)
        users = create_auth(settings).users
        if not users.current():
            print(users.error or f"No users yet: add one with `moderation users add NAME --role supervisor` "
                  f"(kept in {settings.dashboard.users_file}); the login page says the same.", flush=True)
        if open_browser:
            webbrowser.open(url)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"dashboard: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
