"""What every platform route shares, without I/O: the request as data, the three answers a route can
give (events to send, a handshake to answer, a delivery to acknowledge and skip), the refusals
with their HTTP status and reason label, and the recent-id memory that answers retries.

A platform module (slack, feishu, dingtalk) is a class with `handle(Request) -> Accept | Answer |
Ignore` that raises `Refused`; it reads the clock only from `Request.now`, so a test can give it
any time. The server (pipeline.gateway.server) does the HTTP and the Kafka work around it.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from pipeline.connectors import Broken, Options, Skipped, clean_reason, convert_record

# Every reason a request can be refused for: the `reason` label of the metrics, the `error` field
# of the answer. A fixed set, so hostile traffic cannot create new time series.
REASONS = (
    "host_not_allowed", "route_off", "content_type", "content_encoding", "too_large", "body_timeout",
    "not_utf8", "malformed_json", "missing_signature", "bad_timestamp", "stale_timestamp", "bad_signature",
    "bad_token", "bad_encryption", "unknown_type", "invalid_event", "not_connected", "over_capacity",
    "ack_timeout", "broker_error", "internal_error",
)
_DIGITS = re.compile(r"[0-9]{1,16}")


class Refused(Exception):
    """The request is not taken: `status` and `reason` (one of REASONS) go to the answer and the
    metrics, `detail` is a short sentence for the person reading the platform's delivery log. Before
    the request is authenticated it quotes nothing of it; after, at most a short escaped excerpt of
    the field at fault (the connector's reason)."""

    def __init__(self, status: int, reason: str, detail: str):
        assert reason in REASONS, reason
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(frozen=True)
class Request:
    """One webhook delivery as the routes see it: its headers (case-insensitive), its whole body, and
    the time it arrived (epoch seconds)."""
    headers: Mapping[str, str]
    body: bytes
    now: float


@dataclass(frozen=True)
class Accept:
    """Input events to produce; the answer is 2xx once Kafka has acknowledged every one."""
    events: list[dict]


@dataclass(frozen=True)
class Answer:
    """A handshake (a URL verification challenge): answered at once, nothing produced."""
    body: dict


@dataclass(frozen=True)
class Ignore:
    """An authentic delivery with nothing to moderate (a bot's message, an edit, a read receipt):
    acknowledged so the platform does not retry it, nothing produced."""
    reason: str


def json_object(body: bytes, what: str = "the body") -> dict:
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "not_utf8", f"{what} is not UTF-8 text") from None
        raise Refused(400, "malformed_json", f"{what} is not valid JSON") from None
    if not isinstance(record, dict):
        raise Refused(400, "malformed_json", f"{what} is JSON but not an object")
    return record


def convert(fmt: str, record: dict, options: Options) -> Accept | Ignore:
    """The platform's record through its connector (the one mapping shared with `moderation ingest`),
    each event checked by the worker's own decoder."""
    try:
        return Accept(convert_record(fmt, record, options))
    except Skipped as exc:
        return Ignore(exc.reason)
    except Broken as exc:
        raise Refused(422, "invalid_event", clean_reason(exc.reason)[:200]) from None


def epoch_header(headers: Mapping[str, str], name: str, *, unit: float = 1.0) -> float:
    """A timestamp header (whole seconds, or milliseconds with unit=1000) as epoch seconds; `Refused`
    when it is absent or not plain digits (no sign, no spaces, no other scripts' digits)."""
    value = headers.get(name)
    if value is None:
        raise Refused(401, "missing_signature", f"the {name} header is missing")
    if not _DIGITS.fullmatch(value):
        raise Refused(401, "bad_timestamp", f"the {name} header is not a {'millisecond ' if unit > 1 else ''}"
                                            "epoch timestamp")
    return int(value) / unit


def within(when: float, now: float, window: float, header: str) -> None:
    if abs(now - when) > window:
        raise Refused(401, "stale_timestamp", f"{header} is more than {window:g} s from this server's clock "
                                              "(a replayed request, or a clock out of sync)")


def required_header(headers: Mapping[str, str], name: str, pattern: re.Pattern, what: str) -> str:
    value = headers.get(name)
    if value is None:
        raise Refused(401, "missing_signature", f"the {name} header is missing")
    if not pattern.fullmatch(value):
        raise Refused(401, "bad_signature", f"the {name} header is not {what}")
    return value


_ACKED = object()


class RecentIds:
    """Event ids recently sent: acknowledged by Kafka (a platform's retry of them is answered 2xx
    without sending again), or still waiting for the broker (a retry waits for the same send, the
    entry the sender gave). At most `size` ids, the least recently seen dropped first; the worker's
    own de-duplication is the guard behind it. An id whose send failed is forgotten, so the
    platform's retry sends it again."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[str, object] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def acknowledged(self, event_id: str) -> bool:
        return self._entries.get(event_id) is _ACKED

    def waiting(self, event_id: str):
        entry = self._entries.get(event_id)
        return None if entry is _ACKED else entry

    def sending(self, event_id: str, send: object) -> None:
        self._put(event_id, send)

    def settled(self, event_id: str, send: object, ok: bool) -> None:
        """The send ended: remember the id as acknowledged, or forget it after a failure."""
        if ok:
            self._put(event_id, _ACKED)
        elif self._entries.get(event_id) is send:
            del self._entries[event_id]

    def _put(self, event_id: str, value: object) -> None:
        self._entries[event_id] = value
        self._entries.move_to_end(event_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
