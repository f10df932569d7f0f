"""Per-group state: plain data that fits in a Faust table value (a JSON-able dict).

All of a group's state is one record keyed by `group_id`, so it lives in the partition of the
group's events and moves with it. Rules read and update their own parts of it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any


def at(stamp: str) -> datetime:
    """A time stamp as stored in the state (ISO-8601), as a datetime."""
    return datetime.fromisoformat(stamp)


class GroupState:
    """A thin view over the group's dict, with the bookkeeping every rule relies on."""

    __slots__ = ("data", "_parsed_watermark", "transient")

    def __init__(self, data: dict[str, Any] | None = None):
        self.data = data if data is not None else {
            "watermark": None,   # latest event time seen in the group (ISO-8601)
            "roles": {"name": None, "kind": None, "admins": [], "owners": []},
            "members": {},       # id -> {name, joined, last_active, departed, notices}
        }
        self._parsed_watermark: tuple[str, datetime] | None = None
        # Indexes and marks the rules keep while one batch is processed; never stored (a rule
        # rebuilds its index from `data` when it finds none).
        self.transient: dict[str, Any] = {}

    # ----------------------------------------------------------------- time
    @property
    def watermark(self) -> datetime | None:
        wm = self.data["watermark"]
        if not wm:
            return None
        # Read several times per event by the rules: parsed once per stored value.
        parsed = self._parsed_watermark
        if parsed is None or parsed[0] is not wm:
            parsed = self._parsed_watermark = (wm, at(wm))
        return parsed[1]

    def advance(self, ts: datetime, stamp: str) -> datetime:
        """Move the group's event-time watermark forward (never back) and return it. `stamp` is
        `ts.isoformat()`, which the caller has already made for the event's other records."""
        current = self.watermark
        if current is None or ts > current:
            wm = self.data["watermark"] = stamp
            self._parsed_watermark = (wm, ts)
            return ts
        return current

    # ----------------------------------------------------------------- delivery
    RECENT_IDS = 64

    def already_applied(self, event_id: str, position: tuple[str, int] | None) -> bool:
        """True for an event this state has already taken in (by its position in the log it was
        first written to, or by event id); otherwise records it as applied.

        A position is (source, offset): the topic partition the event was first written to and its
        offset there. The group keeps the last offset applied per source, so an event redelivered
        after a restart is known whichever partition it was read from (a record re-keyed to its
        group's partition keeps the position of the original)."""
        if position is not None:
            applied = self.data.get("applied")
            if applied is not None:
                last = applied.get(position[0])
                if last is not None and position[1] <= last:
                    return True
        recent = self.data.setdefault("recent_ids", [])
        if event_id in recent:
            return True
        recent.append(event_id)
        if len(recent) > self.RECENT_IDS:
            del recent[: len(recent) - self.RECENT_IDS]
        if position is not None:
            self.data.setdefault("applied", {})[position[0]] = position[1]
        return False

    # ----------------------------------------------------------------- roles
    @property
    def roles(self) -> dict:
        return self.data["roles"]

    def set_roles(self, name: str, kind: str, admins: list[str], owners: list[str]) -> None:
        self.data["roles"] = {"name": name, "kind": kind, "admins": list(admins), "owners": list(owners)}

    @property
    def admins(self) -> list[str]:
        return self.roles["admins"]

    @property
    def owners(self) -> list[str]:
        return self.roles["owners"]

    # ----------------------------------------------------------------- members
    @property
    def members(self) -> dict[str, dict]:
        return self.data["members"]

    def member(self, member_id: str) -> dict | None:
        return self.members.get(member_id)

    def ensure_member(self, member_id: str, name: str | None, stamp: str) -> dict:
        record = self.members.get(member_id)
        if record is None:
            record = {"name": name, "joined": stamp, "last_active": stamp}
            self.members[member_id] = record
        elif name:
            record["name"] = name
        return record

    def touch(self, member_id: str, name: str | None, ts: datetime, stamp: str) -> None:
        record = self.ensure_member(member_id, name, stamp)
        if at(record["last_active"]) < ts:  # as instants: offsets may differ
            record["last_active"] = stamp

    def remove_member(self, member_id: str) -> None:
        self.members.pop(member_id, None)

    def once_per_batch(self, name: str) -> bool:
        """True the first time it is asked for `name` in this batch (for housekeeping that bounds
        a section, which need not run for every event of a burst)."""
        if name in self.transient:
            return False
        self.transient[name] = True
        return True

    def section(self, name: str, default_factory=dict):
        """A rule's own part of the state, created on first use."""
        try:
            return self.data[name]
        except KeyError:
            section = self.data[name] = default_factory()
            return section
