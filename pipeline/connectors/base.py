"""What every connector shares: the outcome of converting one source record, reading its fields
as hostile input, ids, timestamps and names.

A converter reads every field through `require` / `optional` (or checks it itself): a field that is
absent where it must be present, or present with the wrong type, becomes `Broken` naming the field,
never a Python exception from deep inside the converter.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
_MAX_ID = 128
MAX_NAME = 256             # the input contract's limit for a display name and a group name
MAX_MENTIONS = 10_000      # the input contract's limit for `message.mentions`
_SUFFIX_LABEL = 32         # "@李四" finds "财务部-李四": suffixes up to this length are indexed
# 2000-01-01 to 2100-01-01 UTC: the years the input contract accepts; anything else is a unit mix-up.
_EARLIEST, _LATEST = 946_684_800, 4_102_444_800


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
        return display_name(self.names.get(member_id) or fallback) or member_id[:MAX_NAME]

    @cached_property
    def members_by_label(self) -> tuple[dict[str, str], dict[str, str]]:
        """(full name → id, name suffix → id) of the roster, for resolving "@显示名" in a text; the
        first roster entry wins a shared name or suffix. Built once, so a text with many @-labels
        costs one look-up per label, not a pass over the roster."""
        exact: dict[str, str] = {}
        suffixes: dict[str, str] = {}
        for member_id, name in self.names.items():
            exact.setdefault(name, member_id)
            for start in range(max(0, len(name) - _SUFFIX_LABEL), len(name) - 1):
                suffixes.setdefault(name[start:], member_id)
        return exact, suffixes


def source_id(prefix: str, raw: str) -> str:
    """`prefix-raw`, or `prefix-<hash>` when that would exceed the 128-character id limit; the
    same source id always gives the same event id, so a re-import is de-duplicated downstream."""
    candidate = f"{prefix}-{raw}"
    if len(candidate) <= _MAX_ID:
        return candidate
    digest = hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{prefix}-h{digest}"


def show(value: Any) -> str:
    """A short, safe description of a hostile value for a reason: never its whole size, never a
    recursion into its nesting, never a terminal control character."""
    if isinstance(value, str):
        return repr(value[:40]) + ("…" if len(value) > 40 else "")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if -10**30 < value < 10**30 else "a number too large to be one"
    if isinstance(value, float):
        return repr(value)
    return f"a {kind_name(type(value))}"


def kind_name(kind) -> str:
    names = {str: "string", int: "number", float: "number", list: "list", dict: "object", bool: "boolean",
             type(None): "null"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


_PATHS: dict[str, tuple[str, ...]] = {}   # a dotted path → its parts; the paths are the converters' literals
_ABSENT = object()


def _lookup(record: Any, path: str) -> Any:
    """The value at a dotted path, or _ABSENT."""
    parts = _PATHS.get(path)
    if parts is None:
        parts = tuple(path.split("."))
        if len(_PATHS) < 1024:
            _PATHS[path] = parts
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return _ABSENT
        value = value.get(part, _ABSENT)
        if value is _ABSENT:
            return _ABSENT
    return value


def _check(value: Any, path: str, kind) -> Any:
    if type(value) is kind:   # the usual case, and never a bool passing for an int
        return value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        article = "an" if kind_name(kind)[0] in "aeiou" else "a"
        raise Broken(f"field '{path}' should be {article} {kind_name(kind)}, got {show(value)}")
    return value


def require(record: Any, path: str, kind: type | tuple[type, ...] = str, at: str = "") -> Any:
    """The value at a dotted path, or `Broken` naming the path (a string must not be blank). `at`
    names where `record` itself sits in the source record, e.g. "atUsers[2]"."""
    name = f"{at}.{path}" if at else path
    value = _lookup(record, path)
    if value is _ABSENT or value is None:
        raise Broken(f"missing field '{name}'")
    _check(value, name, kind)
    if isinstance(value, str) and not value.strip():
        raise Broken(f"field '{name}' is empty")
    return value


def optional(record: Any, path: str, kind: type | tuple[type, ...] = str, at: str = "") -> Any:
    """The value at a dotted path, None when it is absent, null or an empty string; `Broken` when
    it is there with the wrong type."""
    value = _lookup(record, path)
    if value is _ABSENT or value is None or value == "":
        return None
    return _check(value, f"{at}.{path}" if at else path, kind)


def expect_object(record: Any) -> dict:
    if not isinstance(record, dict):
        raise Broken(f"expected a JSON object, got {show(record)}")
    return record


def display_name(value: str | None) -> str | None:
    """A name as the contract takes it: trimmed and cut to its length limit; None when blank."""
    if value is None:
        return None
    value = value.strip()
    return value[:MAX_NAME] if value else None


def from_epoch_ms(value: Any, field_name: str, options: Options) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{10,16}", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Broken(f"field '{field_name}' should be epoch milliseconds, got {show(value)}")
    if not _EARLIEST * 1000 <= value < _LATEST * 1000:
        raise Broken(f"field '{field_name}' = {show(value)} is not a time between 2000 and 2100 (wrong unit?)")
    return _iso(value // 1000, value % 1000 * 1000, options)


_SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")


def from_epoch_seconds(value: Any, field_name: str, options: Options) -> str:
    """Slack-style `"1709342100.000200"` (seconds with a sequence suffix) or a whole number."""
    if isinstance(value, str) and _SECONDS.fullmatch(value):
        whole_text, _, fraction = value.partition(".")
        whole, micros = int(whole_text), int(fraction[:6].ljust(6, "0")) if fraction else 0
    elif isinstance(value, int) and not isinstance(value, bool):
        whole, micros = value, 0
    else:
        raise Broken(f"field '{field_name}' should be epoch seconds, got {show(value)}")
    if not _EARLIEST <= whole < _LATEST:
        raise Broken(f"field '{field_name}' = {show(value)} is not a time between 2000 and 2100 (wrong unit?)")
    return _iso(whole, micros, options)


def _iso(whole: int, micros: int, options: Options) -> str:
    """Epoch seconds and microseconds (a finer part is cut off) in the options' zone."""
    return datetime.fromtimestamp(whole, tz=options.zone).replace(microsecond=micros).isoformat()


def valid_ids(values: list[str]) -> list[str]:
    """Distinct member ids in order, without the ones no member can have (blank, too long), at
    most the contract's number."""
    return [v for v in dict.fromkeys(values) if v.strip() and len(v) <= _MAX_ID][:MAX_MENTIONS]


def message_event(*, event_id: str, ts: str, group_id: str, actor_id: str, actor_name: str, message_id: str,
                  text: str, mentions: list[str] | None = None, reply_to: str | None = None,
                  group_name: str | None = None, source: str) -> dict:
    message: dict = {"id": message_id, "text": text}
    if mentions and (ids := valid_ids(mentions)):
        message["mentions"] = ids
    if reply_to:
        message["reply_to"] = reply_to
    event = {"event_id": event_id, "type": "message.posted", "ts": ts, "group_id": group_id,
             "actor": {"id": actor_id, "name": actor_name}, "message": message, "source": source}
    return with_group_name(event, group_name)


def with_group_name(event: dict, name: str | None) -> dict:
    """The event with the platform's name for its group, when the platform sends one (an optional
    field: see docs/CONNECTORS.md, "Group names")."""
    if (name := display_name(name)) is not None:
        event["group_name"] = name
    return event
