"""What every connector shares: the outcome of converting one source record, ids, timestamps."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
_MAX_ID = 128


class Broken(Exception):
    """A record that should convert but cannot (missing or malformed field): an error to report."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Skipped(Exception):
    """A well-formed record that carries nothing the pipeline moderates (an image, a recall, a
    one-to-one chat, a handshake): reported with its reason, but not an error."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Options:
    tz: str = DEFAULT_TZ
    names: dict[str, str] = field(default_factory=dict)   # member id → display name (部门+姓名)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def name_of(self, member_id: str, fallback: str | None = None) -> str:
        return self.names.get(member_id) or fallback or member_id


def source_id(prefix: str, raw: str) -> str:
    """`prefix-raw`, or `prefix-<hash>` when that would exceed the 128-character id limit; the
    same source id always gives the same event id, so a re-import is de-duplicated downstream."""
    candidate = f"{prefix}-{raw}"
    if len(candidate) <= _MAX_ID:
        return candidate
    return f"{prefix}-h{hashlib.blake2b(raw.encode('utf-8'), digest_size=16).hexdigest()}"


def require(record: dict, path: str, kind: type | tuple[type, ...] = str) -> Any:
    """The value at a dotted path, or `Broken` naming the path."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Broken(f"missing field '{path}'")
        value = value[part]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        raise Broken(f"field '{path}' should be {_kind_name(kind)}, got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise Broken(f"field '{path}' is empty")
    return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind) -> str:
    names = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in _as_tuple(kind)))


def from_epoch_ms(value: Any, field_name: str, options: Options) -> str:
    if isinstance(value, str) and re.fullmatch(r"\d{10,16}", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Broken(f"field '{field_name}' should be epoch milliseconds, got {value!r:.40}")
    return _iso(Decimal(value) / 1000, field_name, options)


def from_epoch_seconds(value: Any, field_name: str, options: Options) -> str:
    """Slack-style `"1709342100.000200"` (seconds with a sequence suffix) or a number."""
    try:
        seconds = Decimal(str(value)) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    except InvalidOperation:
        seconds = None
    if seconds is None:
        raise Broken(f"field '{field_name}' should be epoch seconds, got {value!r:.40}")
    return _iso(seconds, field_name, options)


def _iso(seconds: Decimal, field_name: str, options: Options) -> str:
    # 2000–2100 is what the input contract accepts; anything else is a unit mix-up.
    if not Decimal(946_684_800) <= seconds < Decimal(4_102_444_800):
        raise Broken(f"field '{field_name}' = {seconds} is not a time between 2000 and 2100 (wrong unit?)")
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    ts = datetime.fromtimestamp(whole, tz=timezone.utc).replace(microsecond=micros).astimezone(options.zone)
    return ts.isoformat()


def message_event(*, event_id: str, ts: str, group_id: str, actor_id: str, actor_name: str, message_id: str,
                  text: str, mentions: list[str] | None = None, reply_to: str | None = None,
                  source: str) -> dict:
    message: dict = {"id": message_id, "text": text}
    if mentions:
        message["mentions"] = list(dict.fromkeys(mentions))
    if reply_to:
        message["reply_to"] = reply_to
    return {"event_id": event_id, "type": "message.posted", "ts": ts, "group_id": group_id,
            "actor": {"id": actor_id, "name": actor_name}, "message": message, "source": source}
