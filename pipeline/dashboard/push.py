"""What a live client is sent: its view once whole, then only what changed (pure, no I/O).

A `Frame` is one view's answer at one moment, encoded part by part: every top-level section, the
fields of the sections that are objects with fixed fields (`FIELDS`), and the long lists
(`LISTS`) item by item. `Frame.whole()` is the JSON of the view, byte for byte what
`orjson.dumps(view)` gives (`/api/state` answers it). `changes(old, new)` are the operations that
turn a client's copy of `old` into `new`, in order:

    ["set", [section], value]           the section replaced
    ["set", [section, field], value]    one field of a section replaced
    ["list", path, parts]               the list at `path` made again from the client's copy:
                                        each part is a run of its items, [start, count], or a new
                                        item (an object)

The page applies them (static/app.js, `applyChanges`). A stream numbers what it sends (the
server-sent event's `id`); a client that finds a number missing asks for the whole view again by
opening the stream again, and every stream starts with the whole view.

Nothing here decides what a user may see: a frame is made from a view the state has already cut
to the user's groups, and the changes between two such frames hold nothing else.
"""
from __future__ import annotations

from typing import Any

import orjson

# Sections that are objects whose fields are the same in every answer: changed field by field.
FIELDS = frozenset({"totals", "bounds", "feed", "responsiveness", "followups", "reviews", "status"})
# Lists of objects sent as changes of their items (paths: a section, or a section's field).
LISTS = frozenset({("groups",), ("charts",), ("report_groups",), ("feed", "items"), ("followups", "items"),
                   ("reviews", "items"), ("responsiveness", "rows")})
# A change of these alone is not worth an update (the version counts every record, of any group).
QUIET = frozenset({"version"})


class Items(tuple):
    """A list of objects, each already encoded."""


def _encode(value: Any, path: tuple) -> bytes | Items:
    if path in LISTS and isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return Items(orjson.dumps(item) for item in value)
    return orjson.dumps(value)


def _joined(part: bytes | Items | dict) -> bytes:
    if isinstance(part, Items):
        return b"[" + b",".join(part) + b"]"
    if isinstance(part, dict):
        return b"{" + b",".join(orjson.dumps(k) + b":" + _joined(v) for k, v in part.items()) + b"}"
    return part


class Frame:
    """One view's answer, encoded by parts."""

    __slots__ = ("parts", "_whole")

    def __init__(self, view: dict):
        self.parts: dict[str, bytes | Items | dict[str, bytes | Items]] = {}
        for name, value in view.items():
            if name in FIELDS and isinstance(value, dict):
                self.parts[name] = {k: _encode(v, (name, k)) for k, v in value.items()}
            else:
                self.parts[name] = _encode(value, (name,))
        self._whole: bytes | None = None

    def whole(self) -> bytes:
        if self._whole is None:
            self._whole = _joined(self.parts)
        return self._whole


def changes(old: Frame, new: Frame) -> list[bytes] | None:
    """The operations (each encoded) that turn a copy of `old` into `new`: none if only QUIET
    sections changed, None if the two do not have the same sections (send the whole view)."""
    if old.parts.keys() != new.parts.keys():
        return None
    ops: list[bytes] = []
    loud = False
    for name, part in new.parts.items():
        before = old.parts.get(name)
        if before is part or before == part:
            continue
        loud = loud or name not in QUIET
        if isinstance(part, dict) and isinstance(before, dict) and part.keys() == before.keys():
            for field, value in part.items():
                prior = before[field]
                if prior is not value and prior != value:
                    ops.append(_operation((name, field), prior, value))
        else:
            ops.append(_operation((name,), before, part))
    return ops if loud else []


def _operation(path: tuple, prior: Any, value: bytes | Items | dict) -> bytes:
    where = orjson.dumps(list(path))
    if isinstance(value, Items) and isinstance(prior, Items):
        parts = _list_parts(prior, value)
        if parts is not None:
            return b'["list",' + where + b"," + parts + b"]"
    return b'["set",' + where + b"," + _joined(value) + b"]"


def _list_parts(prior: Items, items: Items) -> bytes | None:
    """`items` as runs of `prior` and new items; None when that is no shorter than the list."""
    at: dict[bytes, int] = {}
    for i, item in enumerate(prior):
        at.setdefault(item, i)
    parts: list[bytes] = []
    start = length = 0
    reused = 0
    for item in items:
        i = at.get(item)
        if i is not None and length and i == start + length:
            length += 1
            continue
        if length:
            parts.append(b"[%d,%d]" % (start, length))
            reused += length
            length = 0
        if i is None:
            parts.append(item)
        else:
            start, length = i, 1
    if length:
        parts.append(b"[%d,%d]" % (start, length))
        reused += length
    if not reused:
        return None
    return b"[" + b",".join(parts) + b"]"


def patch_message(ops: list[bytes]) -> bytes:
    return b'{"ops":[' + b",".join(ops) + b"]}"
