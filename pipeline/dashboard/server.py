"""The dashboard's shell: a Kafka consumer of the output topics feeding `DashboardState`, and an
aiohttp app serving the page, `/api/state` (JSON) and `/api/stream` (server-sent events).

It is a consumer like any other (no consumer group, from the beginning of every output topic),
so it shows what the topics hold, not what a worker has in memory.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import webbrowser
from pathlib import Path

import orjson
from aiohttp import web

from pipeline.config import Settings, load_settings
from pipeline.dashboard.state import DashboardState

log = logging.getLogger("pipeline.dashboard")
STATIC = Path(__file__).resolve().parent / "static"
PUSH_INTERVAL = 0.5       # seconds between checks for changes to push
HEARTBEAT = 15.0          # seconds between keep-alive comments on an idle stream
RETRY_SECONDS = 3.0       # wait before reconnecting to an unreachable broker
# Content-Security-Policy: the page loads only its own files; nothing inline, nothing remote.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

STATE_KEY = web.AppKey("state", DashboardState)
STATUS_KEY = web.AppKey("status", dict)
SETTINGS_KEY = web.AppKey("settings", Settings)


class Feed:
    """The consumer loop: reads every output topic from the beginning and applies each record."""

    def __init__(self, settings: Settings, state: DashboardState, status: dict):
        self.settings, self.state, self.status = settings, state, status
        self.roles = {name: role for role, name in settings.topics.outputs().items()}

    async def run(self) -> None:
        from aiokafka.errors import KafkaError

        from pipeline.kafka.admin import consumer

        while True:
            # Short metadata age: topics created after the dashboard started are picked up within seconds.
            c = consumer(self.settings, *self.roles, group_id=None, auto_offset_reset="earliest",
                         metadata_max_age_ms=5000)
            try:
                await c.start()
                self.status.update(connected=True, error=None)
                while True:
                    batch = await c.getmany(timeout_ms=500)
                    for messages in batch.values():
                        for message in messages:
                            self._apply(message.value)
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                text = str(exc) if str(exc).startswith(exc.__class__.__name__) else f"{exc.__class__.__name__}: {exc}"
                self.status.update(connected=False, error=text[:300])
                log.warning("dashboard consumer: %s; retrying in %.0fs", exc, RETRY_SECONDS)
            finally:
                try:
                    await c.stop()
                except Exception:  # noqa: BLE001 - stopping a client that never started
                    pass
            await asyncio.sleep(RETRY_SECONDS)

    def _apply(self, value: bytes | None) -> None:
        self.status["records"] += 1
        try:
            event = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            self.status["unreadable"] += 1
            return
        self.state.apply(event)


def _payload(app: web.Application) -> bytes:
    snapshot = app[STATE_KEY].snapshot()
    snapshot["status"] = dict(app[STATUS_KEY])
    return orjson.dumps(snapshot)


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


async def api_state(request: web.Request) -> web.Response:
    return web.Response(body=_payload(request.app), content_type="application/json", headers=SECURITY_HEADERS)


async def api_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           **SECURITY_HEADERS})
    await response.prepare(request)
    app = request.app
    sent_version, sent_status, idle = None, None, 0.0
    try:
        while True:
            state, status = app[STATE_KEY], app[STATUS_KEY]
            status_view = (status["connected"], status["error"])
            if state.version != sent_version or status_view != sent_status:
                sent_version, sent_status, idle = state.version, status_view, 0.0
                await response.write(b"event: state\ndata: " + _payload(app) + b"\n\n")
            elif idle >= HEARTBEAT:
                idle = 0.0
                await response.write(b": keep-alive\n\n")
            await asyncio.sleep(PUSH_INTERVAL)
            idle += PUSH_INTERVAL
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def health(request: web.Request) -> web.Response:
    status = request.app[STATUS_KEY]
    return web.json_response(status, status=200 if status["connected"] else 503)


def create_app(settings: Settings | None = None, state: DashboardState | None = None,
               consume: bool = True) -> web.Application:
    """The web app; with `consume=False` it serves the given state without touching Kafka (tests)."""
    settings = settings or load_settings()
    app = web.Application()
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = state or DashboardState()
    app[STATUS_KEY] = {"connected": not consume, "error": None, "records": 0, "unreadable": 0,
                       "bootstrap": settings.bootstrap, "topics": sorted(settings.topics.outputs().values())}
    app.router.add_get("/", index)
    app.router.add_get("/api/state", api_state)
    app.router.add_get("/api/stream", api_stream)
    app.router.add_get("/healthz", health)
    app.router.add_static("/static/", STATIC, append_version=False)

    if consume:
        async def consumer_task(app: web.Application):
            task = asyncio.create_task(Feed(settings, app[STATE_KEY], app[STATUS_KEY]).run())
            yield
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

        app.cleanup_ctx.append(consumer_task)
    return app


async def start(host: str, port: int, settings: Settings | None = None) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, f"http://{host}:{bound}/"


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False) -> int:
    settings = load_settings()

    async def main() -> None:
        runner, url = await start(host, port, settings)
        print(f"Dashboard on {url}  (reading {', '.join(sorted(settings.topics.outputs().values()))} "
              f"at {settings.bootstrap}; Ctrl-C stops it)", flush=True)
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
