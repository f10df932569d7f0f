"""What every channel shares: the outcome of one attempt, the Markdown dialects, and the HTTP
robot (a JSON POST to a webhook whose answer says what happened).

An attempt ends in one of four ways, and the dispatcher acts on it:
- `sent`: the platform took it;
- `retry`: a transient failure (5xx, timeout, connection refused, "system busy"): back off and retry;
- `limited`: the platform's rate limit: pause the robot (for `retry_after` when the platform says);
- `rejected`: it will never work as sent (bad signature, unknown robot, bad payload): give up now.
`code` is the platform's own answer code (errcode, code, HTTP status, SMTP reply), for the record.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

import aiohttp
import orjson

from pipeline.notify.render import Message

STATUSES = ("sent", "retry", "limited", "rejected")
# Untrusted text in a Markdown message: characters that would start markup (links, mentions, HTML,
# emphasis, code, tables) become their full-width look-alikes, and line breaks become spaces, so
# a value can neither @-mention anyone nor forge a link nor start a heading.
_NEUTRAL = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］", "*": "＊", "`": "ˋ", "|": "｜", "#": "＃",
                          "\r": " ", "\n": " ", "\t": " ", "\\": "＼", "~": "～", "_": "＿"})


@dataclass(frozen=True)
class Outcome:
    status: str
    code: str
    retry_after: float | None = None
    detail: str = ""


def unanswered(exc: asyncio.TimeoutError | aiohttp.ClientError) -> Outcome:
    """A request the robot did not answer: tried again later."""
    if isinstance(exc, asyncio.TimeoutError):
        return Outcome("retry", "timeout")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return Outcome("retry", "connection", detail=type(exc).__name__)
    return Outcome("retry", "client error", detail=type(exc).__name__)


def neutral(text: str) -> str:
    return "".join(ch for ch in text.translate(_NEUTRAL) if ch.isprintable() or ch == " ")


class MarkdownDialect:
    """Markdown as DingTalk and WeCom robots read it (headings, bold, quotes, links)."""
    contact_field: str | None = None

    def escape(self, text: str) -> str:
        return neutral(text)

    def mention(self, platform_id: str) -> str:
        return f"@{platform_id}"

    def link(self, label: str, url: str) -> str:
        return f"[{label}]({url})"

    def finish(self, body: str) -> str:
        return body


def http_outcome(status: int, retry_after: str | None = None) -> Outcome | None:
    """The outcome an HTTP status alone decides (None: read the body)."""
    if status == 429:
        return Outcome("limited", "http 429", _seconds(retry_after))
    if status >= 500 or status == 408:
        return Outcome("retry", f"http {status}")
    if status >= 400:
        return Outcome("rejected", f"http {status}")
    return None


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None


def json_body(body: bytes) -> dict | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def errcode_outcome(status: int, body: bytes, headers, rate_limited: set[int], busy: set[int]) -> Outcome:
    """The outcome of a robot that answers `{"errcode": n, "errmsg": …}` (DingTalk, WeCom): 0 sent,
    its rate-limit codes limited, its busy codes retried, any other code rejected."""
    decided = http_outcome(status, headers.get("Retry-After"))
    if decided:
        return decided
    answer = json_body(body)
    code = answer.get("errcode") if answer else None
    if not isinstance(code, int):
        return Outcome("retry", f"http {status} without errcode")
    if code == 0:
        return Outcome("sent", "0")
    if code in rate_limited:
        return Outcome("limited", str(code))
    if code in busy:
        return Outcome("retry", str(code))
    return Outcome("rejected", str(code), detail=str(answer.get("errmsg", ""))[:200])


class Robot:
    """A group robot reached by a JSON POST. Subclasses say how to build the payload, where to
    send it (signed URLs) and how to read the answer."""

    type = ""
    dialect = MarkdownDialect()
    MAX_ANSWER = 64 * 1024   # read at most this much of an answer

    def __init__(self, url: str, secret: str | None = None, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None, clock: Callable[[], float] = time.time):
        self.url, self.secret, self.timeout, self.clock = url, secret, timeout, clock
        self._session = session
        self._own_session = session is None

    def payload(self, message: Message) -> dict:
        raise NotImplementedError

    def target(self, payload: dict) -> tuple[str, dict]:
        """(URL, payload) as sent: signed robots add their timestamp and signature here."""
        return self.url, payload

    def read(self, status: int, body: bytes, headers) -> Outcome:
        raise NotImplementedError

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._own_session = True
        return self._session

    async def send(self, message: Message, recipient: str | None = None) -> Outcome:
        url, payload = self.target(self.payload(message))
        session = await self.session()
        try:
            async with session.post(url, data=orjson.dumps(payload), timeout=aiohttp.ClientTimeout(total=self.timeout),
                                    headers={"Content-Type": "application/json; charset=utf-8"},
                                    allow_redirects=False) as response:
                body = await response.content.read(self.MAX_ANSWER)
                return self.read(response.status, body, response.headers)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            return unanswered(exc)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()


def clip_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (platforms count bytes), with an ellipsis."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"
