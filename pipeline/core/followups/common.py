"""What the follow-up trackers share: the configured text patterns, the business-time clock, and
the shape of a deadline escalation."""
from __future__ import annotations

import math
import re
import weakref
from datetime import datetime
from typing import Callable

from pipeline.config import Policy
from pipeline.core.events import SCHEMA_VERSION, stable_id
from pipeline.core.rules.base import Emit
from pipeline.core.state import GroupState, at  # noqa: F401 - at: the trackers read stamps with it
from pipeline.core.worktime import add_business_seconds, business_seconds_between, local


# The section that keeps the group's next deadline over all trackers (pipeline.core.responsiveness).
SCHEDULE_SECTION = "responsiveness"


def _compiled(patterns: tuple[str, ...]) -> re.Pattern | None:
    # One alternation searches the text once instead of once per pattern (this runs per message).
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


# The compiled pattern of each kind, by the id of the patterns object (`matches` runs several times
# per message, and hashing the object would read all its patterns); an entry goes with its object.
_COMPILED_BY_POLICY: dict[int, dict[str, re.Pattern | None]] = {}


def matches(policy: Policy, kind: str, text: str) -> bool:
    """True when `text` matches one of the configured `responsiveness.patterns.<kind>`."""
    patterns = policy.responsiveness.patterns
    compiled = _COMPILED_BY_POLICY.get(id(patterns))
    if compiled is None:
        compiled = _COMPILED_BY_POLICY[id(patterns)] = {}
        weakref.finalize(patterns, _COMPILED_BY_POLICY.pop, id(patterns), None)
    try:
        pattern = compiled[kind]
    except KeyError:
        pattern = compiled[kind] = _compiled(getattr(patterns, kind))
    return pattern is not None and pattern.search(text) is not None


def cached_due(section: dict, earliest: Callable[[dict], str | None], items: str = "open",
               key: str = "due") -> str | None:
    """A tracker's next deadline, `earliest(section[items])`, kept in its section under `key`: it is
    asked after every event of the group, while the open items change far less often. Whatever
    changes an open item's deadline, or the set of open items, calls `due_changed` first."""
    if key not in section:
        section[key] = earliest(section.setdefault(items, {}))
    return section[key]


def due_changed(state: GroupState, section: dict, key: str = "due") -> None:
    """Drops a tracker's cached deadline, and with it the group's next deadline over all trackers
    (`next_due` in the `responsiveness` section), which is worked out again after the event: most
    events change no deadline, and then nothing is recomputed."""
    section.pop(key, None)
    state.section(SCHEDULE_SECTION).pop("next_due", None)


def due_after(start: datetime, seconds: float, policy: Policy) -> datetime:
    return add_business_seconds(start, seconds, policy.work_hours)


def work_seconds(start: datetime, end: datetime, policy: Policy) -> int:
    return int(business_seconds_between(start, end, policy.work_hours))


def stamp(ts: datetime, policy: Policy) -> str:
    """A time as stored and reported: ISO-8601 in the work-hours timezone, so the strings of one
    policy compare in time order."""
    return local(ts, policy.work_hours).isoformat()


def admins(state: GroupState) -> list[str]:
    # A group without named admins still needs someone to tell: its owners stand in.
    return sorted(state.admins) or sorted(state.owners)


def owners(state: GroupState) -> list[str]:
    return sorted(state.owners) or sorted(state.admins)


def member_ref(state: GroupState, member_id: str | None) -> dict | None:
    if member_id is None:
        return None
    record = state.member(member_id) or {}
    return {"id": member_id, "name": record.get("name")}


def escalation(*, rule: str, level: str, key: str, group_id: str, now: datetime, member: dict | None,
               recipients: dict, evidence: dict, why: str, due: str, severity: str = "warning",
               **extra) -> Emit:
    """A deadline escalation (EVENTS.md `escalation`). Not a violation: it does not climb the E1–E3
    ladder, and its id comes from the tracked item and the level, so each fires once."""
    return Emit("escalations", {
        "kind": "escalation",
        "id": stable_id("esc", rule, level, key),
        "group_id": group_id,
        "ts": now.isoformat(),
        "level": level,
        "ladder": None,
        "rule": rule,
        "member": member,
        "severity": severity,
        "recipients": recipients,
        "violations": [],
        "evidence": evidence,
        "due": due,
        "why": why,
        **extra,
        "schema": SCHEMA_VERSION,
    })


# Lists of members in an output (who has not read an announcement, who must rectify) hold at most
# this many; a cut list comes with `<name>_total`, the full count.
MAX_LISTED = 200


def listed(name: str, items: list, total: int | None = None) -> dict:
    """`{name: items}`, or the first MAX_LISTED of them and `{name}_total` when there are more
    (`total`: the count when `items` is already a cut list)."""
    total = len(items) if total is None else total
    if total <= MAX_LISTED:
        return {name: items}
    return {name: items[:MAX_LISTED], f"{name}_total": total}


# Reply times are kept exactly up to this many per window; beyond it as a histogram with buckets
# 1% wide (exact below 128 s), so a window of a busy group stays small whatever its traffic.
EXACT_DURATIONS = 1000
_EXACT_BELOW = 128
_STEP = math.log(1.01)


def add_duration(counts: dict, seconds: int) -> None:
    """Add one reply time to `counts["seconds"]` (a list, or a histogram once it is long)."""
    values = counts["seconds"]
    if isinstance(values, list):
        values.append(seconds)
        if len(values) > EXACT_DURATIONS:
            histogram: dict = {"histogram": {}}
            for value in values:
                _count_in(histogram, value)
            counts["seconds"] = histogram
    else:
        _count_in(values, seconds)


def _bucket(seconds: int) -> int:
    if seconds < _EXACT_BELOW:
        return max(0, seconds)
    return _EXACT_BELOW + int(math.log(seconds / _EXACT_BELOW) / _STEP)


def _bucket_value(bucket: int) -> float:
    if bucket < _EXACT_BELOW:
        return float(bucket)
    return float(round(_EXACT_BELOW * math.exp((bucket - _EXACT_BELOW + 0.5) * _STEP)))


def _count_in(histogram: dict, seconds: int) -> None:
    buckets = histogram["histogram"]
    key = str(_bucket(seconds))
    buckets[key] = buckets.get(key, 0) + 1


def percentile_summary(seconds: list[int] | dict) -> tuple[float | None, float | None]:
    """(median, p90) of reply times: the median averages the middle pair; p90 is the nearest rank
    (the smallest value with at least 90% of the values at or below it). From a histogram (a busy
    window) each value stands for its bucket, within 1%."""
    if isinstance(seconds, dict):
        ordered: list = []
        for bucket, count in sorted((int(b), c) for b, c in seconds["histogram"].items()):
            ordered += [_bucket_value(bucket)] * count
    else:
        ordered = sorted(seconds)
    if not ordered:
        return None, None
    n = len(ordered)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    rank = -(-9 * n // 10)  # ceil(0.9 n) without floats
    return float(median), float(ordered[rank - 1])
