"""Loopback stand-ins for the platforms the notifier talks to, each implementing its webhook's
contract as the platform documents it: where the robot's key goes, the signature check, the answer
and error codes, and the rate limit (answered the platform's way). And a real SMTP server
(aiosmtpd) that requires STARTTLS and then AUTH.

Each server runs its own event loop in a thread, so synchronous tests, asyncio tests and
subprocesses (the notifier as an operator runs it) can all talk to it. Everything received is
kept: `messages` (accepted), `requests` (every request with its time and answer).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

ESCALATION_ID = re.compile(r"esc-[0-9a-f]{20}")


@dataclass
class Request:
    at: float
    status: int
    code: str
    accepted: bool


@dataclass
class PlatformServer:
    """One robot of one platform. `kind`: wecom | dingtalk | feishu | slack."""
    kind: str
    token: str = "tok-123"
    secret: str | None = None
    per_minute: int | None = None
    per_second: int | None = None
    limited_penalty: float = 0.0        # DingTalk: after going over, limited this long (10 minutes there)
    outage_until: float = 0.0           # answer HTTP 500 until this time.time()
    delay: float = 0.0                  # seconds before answering (a slow platform)
    messages: list = field(default_factory=list)
    requests: list = field(default_factory=list)

    def __post_init__(self):
        self._limited_until = 0.0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    # ------------------------------------------------------------------ server
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def stop():
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return {"wecom": f"{base}/cgi-bin/webhook/send?key={self.token}",
                "dingtalk": f"{base}/robot/send?access_token={self.token}",
                "feishu": f"{base}/open-apis/bot/v2/hook/{self.token}",
                "slack": f"{base}/services/T000/B000/{self.token}"}[self.kind]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        with self._lock:
            status, answer, code, accepted = self._answer(request, body, now)
            self.requests.append(Request(now, status, code, accepted))
        if self.delay:
            # Taken, then answered late: a sender that dies meanwhile does not know it was taken.
            await asyncio.sleep(self.delay)
        if isinstance(answer, dict):
            return web.json_response(answer, status=status, headers=self._headers(status))
        return web.Response(text=answer, status=status, headers=self._headers(status))

    def _headers(self, status: int) -> dict:
        return {"Retry-After": "1"} if status == 429 else {}

    def _over_limit(self, now: float) -> bool:
        recent = [r.at for r in self.requests if r.accepted]
        return bool((self.per_minute and sum(1 for t in recent if t > now - 60) >= self.per_minute)
                    or (self.per_second and sum(1 for t in recent if t > now - 1) >= self.per_second))

    def _answer(self, request: web.Request, body: bytes, now: float):
        if now < self.outage_until:
            return 500, "internal error", "http 500", False
        return getattr(self, f"_{self.kind}")(request, body, now)

    # ------------------------------------------------------------------ platforms
    def _wecom(self, request, body, now):
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.token:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, "93000", False
        payload = _json(body)
        if payload is None or payload.get("msgtype") not in ("text", "markdown"):
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}, "40008", False
        content = (payload.get(payload["msgtype"]) or {}).get("content") or ""
        if not content:
            return 200, {"errcode": 44004, "errmsg": "empty content"}, "44004", False
        if len(content.encode()) > 4096:
            return 200, {"errcode": 45002, "errmsg": "content size out of limit"}, "45002", False
        if self._over_limit(now):
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, "45009", False
        self.messages.append({"at": now, "payload": payload, "text": content})
        return 200, {"errcode": 0, "errmsg": "ok"}, "0", True

    def _dingtalk(self, request, body, now):
        if request.path != "/robot/send" or request.query.get("access_token") != self.token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}, "300001", False
        if self.secret is not None:
            ts, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
            expected = base64.b64encode(hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if not ts.isdigit() or abs(int(ts) / 1000 - now) > 3600 or not hmac.compare_digest(sign, expected):
                return 200, {"errcode": 310000, "errmsg": "sign not match"}, "310000", False
        payload = _json(body)
        if payload is None or payload.get("msgtype") != "markdown" or not (payload.get("markdown") or {}).get("text"):
            return 200, {"errcode": 400105, "errmsg": "unsupported message type or empty text"}, "400105", False
        if now < self._limited_until or self._over_limit(now):
            self._limited_until = max(self._limited_until, now + self.limited_penalty)
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, "130101", False
        self.messages.append({"at": now, "payload": payload, "text": payload["markdown"]["text"]})
        return 200, {"errcode": 0, "errmsg": "ok"}, "0", True

    def _feishu(self, request, body, now):
        if request.path != f"/open-apis/bot/v2/hook/{self.token}":
            return 404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}, "19001", False
        payload = _json(body)
        if payload is None:
            return 400, {"code": 9499, "msg": "Bad Request", "data": {}}, "9499", False
        if self.secret is not None:
            ts, sign = str(payload.get("timestamp", "")), payload.get("sign", "")
            key = f"{ts}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if not ts.isdigit() or abs(int(ts) - now) > 3600 or not hmac.compare_digest(str(sign), expected):
                return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from "
                                                   "current time", "data": {}}, "19021", False
        if payload.get("msg_type") != "interactive" or not isinstance(payload.get("card"), dict):
            return 400, {"code": 9499, "msg": "Bad Request", "data": {}}, "9499", False
        if len(body) > 20 * 1024:
            return 400, {"code": 9499, "msg": "Bad Request", "data": {}}, "9499", False
        if self._over_limit(now):
            return 200, {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"}, "11232", False
        text = " ".join(el.get("text", {}).get("content", "") for el in payload["card"].get("elements", []))
        self.messages.append({"at": now, "payload": payload, "text": text})
        return 200, {"code": 0, "msg": "success", "data": {}}, "0", True

    def _slack(self, request, body, now):
        if not request.path.startswith("/services/") or not request.path.endswith(self.token):
            return 404, "no_service", "no_service", False
        payload = _json(body)
        if payload is None:
            return 400, "invalid_payload", "invalid_payload", False
        if not payload.get("text") and not payload.get("blocks"):
            return 400, "no_text", "no_text", False
        if self._over_limit(now):
            return 429, "rate_limited", "rate_limited", False
        text = payload.get("text") or ""
        self.messages.append({"at": now, "payload": payload, "text": text})
        return 200, "ok", "ok", True

    # ------------------------------------------------------------------ reading
    def ids(self) -> list[str]:
        """Escalation ids mentioned by the accepted messages, one per mention."""
        return [i for m in list(self.messages) for i in ESCALATION_ID.findall(m["text"])]

    def max_in_window(self, seconds: float) -> int:
        """The most requests (accepted or not) that arrived within any `seconds` window."""
        times = sorted(r.at for r in self.requests)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


def _json(body: bytes):
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- SMTP


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (the client trusts it as its CA file) and its key."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class SmtpServer:
    """aiosmtpd on loopback: STARTTLS required, then AUTH (PLAIN/LOGIN) with one user."""

    def __init__(self, directory: Path, user: str = "notifier", password: str = "s3cret-pass",
                 refuse: set[str] | None = None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.cert, self.key = self_signed(directory)
        self.user, self.password = user, password
        self.messages: list[dict] = []
        self.auth_failures = 0
        self.refuse = refuse or set()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(self.cert), str(self.key))
        outer = self

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = getattr(auth_data, "login", b"") == user.encode() and getattr(auth_data, "password", b"") == password.encode()
            if not ok:
                outer.auth_failures += 1
            return AuthResult(success=ok, handled=False)

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address in outer.refuse:
                    return "550 5.1.1 no such mailbox"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                outer.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                       "data": envelope.content.decode("utf-8", "replace"),
                                       "tls": session.ssl is not None, "auth": session.authenticated})
                return "250 Message accepted"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=tls,
                                     require_starttls=True, auth_required=True, auth_require_tls=True,
                                     authenticator=authenticator)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()

    def ids(self) -> list[str]:
        from email import message_from_string

        out = []
        for m in self.messages:
            mail = message_from_string(m["data"])
            text = mail.get_payload(decode=True).decode("utf-8", "replace") if not mail.is_multipart() else m["data"]
            out.extend(ESCALATION_ID.findall(text))
        return out
