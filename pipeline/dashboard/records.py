"""Reading one output record as the dashboard needs it: every field checked, every size bounded.

The output topics are written by the workers, but anything with access to the broker can write
to them, and a bug upstream can too, so a record is hostile until read. `read(value)` returns the
fields the dashboard uses, in plain types, or raises `BadRecord` with a fixed reason and a message
naming the field. A bad record is counted and skipped; nothing in it is kept or shown.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

# Reasons a record is not used: the fixed labels the reader counts by (`/healthz`, the page).
BAD_REASONS = ("not_json", "not_object", "bad_field", "too_large", "failed")
# Kinds the dashboard reads; other kinds (a future kind) are counted only.
KINDS = ("verdict", "violation", "escalation", "responsiveness", "group_report", "rejected", "retraction", "review",
         "delivery")
REVIEW_DECISIONS = ("confirmed", "dismissed", "relabelled")
MAX_REASONS = 20        # reasons of a verdict or violation kept
DELIVERY_STATUSES = ("sent", "failed", "held", "suppressed")

ID_CHARS = 256          # ids: event, group, member, message ids
NAME_CHARS = 512        # display names, titles, labels
TEXT_CHARS = 8_000      # excerpts, reasons, actions: longer is not an output the pipeline writes
SHORT_CHARS = 64        # enumerations, rule ids, timestamps
MAX_ITEMS = 10_000      # entries of any list or mapping in a record
MAX_COUNT = 10**12      # counts and seconds
REPORT_KEYS = 200       # keys of a report's tallies (`by_rule`, `owners`, a tracker's counts)


class BadRecord(ValueError):
    """A record the dashboard does not use; `reason` is one of BAD_REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def parse_ts(value: str) -> float | None:
    """Seconds since the epoch for an ISO-8601 time with an offset; None if it is not one."""
    if len(value) > SHORT_CHARS:
        return None
    try:
        ts = datetime.fromisoformat(value)
        return ts.timestamp() if ts.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


class Fields:
    """Typed, bounded access to one JSON object; `where` names it in error messages."""

    __slots__ = ("data", "where")

    def __init__(self, data: dict, where: str = ""):
        self.data, self.where = data, where

    def _bad(self, key: str, expected: str, reason: str = "bad_field") -> BadRecord:
        value = self.data.get(key)
        got = type(value).__name__ if reason == "bad_field" else f"{_size(value)} long"
        return BadRecord(reason, f"field '{self.where}{key}': expected {expected}, got {got}")

    def text(self, key: str, limit: int, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise BadRecord("bad_field", f"field '{self.where}{key}' is missing")
            return None
        if not isinstance(value, str):
            raise self._bad(key, "text")
        if len(value) > limit:
            raise self._bad(key, f"at most {limit} characters", "too_large")
        return value

    def ts(self, key: str, required: bool = False) -> tuple[str, float] | None:
        value = self.text(key, SHORT_CHARS, required)
        if value is None:
            return None
        seconds = parse_ts(value)
        if seconds is None:
            raise BadRecord("bad_field", f"field '{self.where}{key}': not an ISO-8601 time with an offset")
        return value, seconds

    def count(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            raise self._bad(key, f"a whole number from 0 to {MAX_COUNT}")
        return value

    def number(self, key: str, high: float = MAX_COUNT) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= high:
            raise self._bad(key, f"a number from 0 to {high:g}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def obj(self, key: str) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "an object")
        if len(value) > MAX_ITEMS:
            raise self._bad(key, f"at most {MAX_ITEMS} keys", "too_large")
        return Fields(value, f"{self.where}{key}.")

    def items(self, key: str) -> list | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        if len(value) > MAX_ITEMS:
            raise self._bad(key, f"at most {MAX_ITEMS} entries", "too_large")
        return value

    def objects(self, key: str) -> list[Fields]:
        """A list whose entries must all be objects."""
        out = []
        for i, entry in enumerate(self.items(key) or ()):
            if not isinstance(entry, dict):
                raise BadRecord("bad_field", f"field '{self.where}{key}[{i}]': expected an object")
            out.append(Fields(entry, f"{self.where}{key}[{i}]."))
        return out

    def member(self, key: str) -> dict | None:
        """A member reference: `{"id", "name"}` (either may be null); a bare id string is accepted."""
        return _member(self.data.get(key), f"{self.where}{key}")

    def members(self, key: str) -> list[dict] | None:
        """A list of member references (objects or bare ids)."""
        entries = self.items(key)
        if entries is None:
            return None
        found = (_member(entry, f"{self.where}{key}[{i}]") for i, entry in enumerate(entries))
        return [m for m in found if m]

    def counts(self, key: str, max_keys: int, key_limit: int = SHORT_CHARS) -> dict[str, int] | None:
        """A mapping of short names to counts (`by_rule`, `owners`)."""
        fields = self.obj(key)
        return None if fields is None else _counts(fields, max_keys, key_limit)


def _counts(fields: Fields, max_keys: int, key_limit: int = SHORT_CHARS) -> dict[str, int]:
    if len(fields.data) > max_keys:
        raise BadRecord("too_large", f"field '{fields.where}': more than {max_keys} keys")
    out = {}
    for name in fields.data:
        if len(name) > key_limit:
            raise BadRecord("too_large", f"field '{fields.where}': a key of {len(name)} characters")
        out[name] = fields.count(name) or 0
    return out


def _member(value: Any, where: str) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > ID_CHARS:
            raise BadRecord("too_large", f"field '{where}': a member id of {len(value)} characters")
        return {"id": value, "name": None}
    if not isinstance(value, dict):
        raise BadRecord("bad_field", f"field '{where}': expected a member, got {type(value).__name__}")
    fields = Fields(value, f"{where}.")
    return {"id": fields.text("id", ID_CHARS), "name": fields.text("name", NAME_CHARS)}


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, dict)) else 0


# --------------------------------------------------------------------------- per kind


def read(event: Any) -> dict:
    """The fields the dashboard uses from one decoded output record: `kind` (`other` for a kind it
    does not read), `id`, `ts`, `ts_seconds` and the kind's own. Raises `BadRecord`."""
    if not isinstance(event, dict):
        raise BadRecord("not_object", f"expected a JSON object, got {type(event).__name__}")
    f = Fields(event)
    kind = f.text("kind", SHORT_CHARS, required=True)
    record_id = f.text("id", ID_CHARS)
    stamp = f.ts("ts")
    base = {"kind": kind, "id": record_id, "ts": stamp[0] if stamp else None,
            "ts_seconds": stamp[1] if stamp else None}
    reader = _READERS.get(kind)
    if reader is None:
        return {**base, "kind": kind if kind in KINDS else "other"}
    return {**base, **reader(f)}


def _texts(f: Fields, key: str, limit: int = TEXT_CHARS) -> list[str]:
    """A list of short texts (reasons); only the first MAX_REASONS are kept."""
    entries = f.items(key) or []
    if not all(isinstance(e, str) and len(e) <= limit for e in entries):
        raise BadRecord("bad_field", f"field '{f.where}{key}': expected a list of texts of at most {limit} characters")
    return entries[:MAX_REASONS]


def _scores(f: Fields) -> dict[str, float] | None:
    scores = f.obj("scores")
    if scores is None:
        return None
    if len(scores.data) > 32:
        raise BadRecord("too_large", "field 'scores': more than 32 classes")
    out = {}
    for name in scores.data:
        if len(name) > SHORT_CHARS:
            raise BadRecord("too_large", f"field 'scores': a class name of {len(name)} characters")
        out[name] = scores.number(name, 1.0)
    return out


def _verdict(f: Fields) -> dict:
    return {"group_id": f.text("group_id", ID_CHARS), "label": f.text("label", SHORT_CHARS),
            "band": f.text("band", SHORT_CHARS), "message_id": f.text("message_id", ID_CHARS),
            "scores": _scores(f)}


def _violation(f: Fields) -> dict:
    evidence = f.obj("evidence") or Fields({}, "evidence.")
    review = f.text("review", SHORT_CHARS)
    if review not in (None, "required", "none"):
        raise BadRecord("bad_field", "field 'review': expected required or none")
    return {"group_id": f.text("group_id", ID_CHARS), "group_name": f.text("group_name", NAME_CHARS),
            "rule": f.text("rule", SHORT_CHARS),
            "severity": f.text("severity", SHORT_CHARS), "member": f.member("member"),
            "excerpt": f.text("excerpt", TEXT_CHARS), "detail": f.text("action", TEXT_CHARS),
            "review": review, "label": evidence.text("label", SHORT_CHARS),
            "score": evidence.number("score", 1.0), "reasons": _texts(evidence, "reasons"),
            "message_id": evidence.text("message_id", ID_CHARS)}


def _escalation(f: Fields) -> dict:
    evidence = f.obj("evidence") or Fields({})
    due = f.ts("due")
    recipients = f.obj("recipients")
    roles = {}
    for role in (recipients.data if recipients else ()):
        if len(role) > SHORT_CHARS:
            raise BadRecord("too_large", f"field 'recipients': a key of {len(role)} characters")
        who = recipients.members(role) if isinstance(recipients.data[role], list) else [recipients.member(role)]
        roles[role] = [m["id"] for m in who if m and m.get("id")]
    return {"group_id": f.text("group_id", ID_CHARS), "rule": f.text("rule", SHORT_CHARS),
            "severity": f.text("severity", SHORT_CHARS), "level": f.text("level", SHORT_CHARS),
            "member": f.member("member"), "excerpt": evidence.text("excerpt", TEXT_CHARS),
            "detail": f.text("why", TEXT_CHARS), "recipients": roles, "due": due[0] if due else None}


def _responsiveness(f: Fields) -> dict:
    window = f.obj("window") or Fields({})
    start = window.ts("start")
    end = window.ts("end")
    member = f.member("member")
    scope = f.text("scope", SHORT_CHARS)
    if scope not in (None, "member", "group"):
        raise BadRecord("bad_field", "field 'scope': expected member or group")
    return {"group_id": f.text("group_id", ID_CHARS), "scope": scope or ("member" if member and member["id"] else "group"),
            "member": member or {"id": None, "name": None},
            "window": {"kind": window.text("kind", SHORT_CHARS), "start": start[0] if start else None,
                       "end": end[0] if end else None},
            "window_seconds": start[1] if start else None,
            **{k: f.count(k) for k in ("addressed", "replied", "acknowledged", "overdue", "unanswered")},
            "reply_rate": f.number("reply_rate", 1.0),
            **{k: f.number(k) for k in ("median_reply_seconds", "p90_reply_seconds")}}


_TRACKERS = ("problems", "rectifications", "urgent_posts")
_ENTRY_TIMES = ("opened", "issued_at", "posted", "due", "last_active")
_ENTRY_PEOPLE = ("responsible", "poster", "reporter", "missing", "member", "issued_by")


def _report_entry(e: Fields) -> dict:
    entry: dict[str, Any] = {k: e.text(k, ID_CHARS) for k in ("message_id", "announcement_id", "id")}
    entry.update(title=e.text("title", NAME_CHARS), name=e.text("name", NAME_CHARS), rule=e.text("rule", SHORT_CHARS))
    for key in _ENTRY_TIMES:
        stamp = e.ts(key)
        entry[key] = stamp[0] if stamp else None
    entry["since_seconds"] = next((s[1] for s in (e.ts(k) for k in ("opened", "issued_at", "posted")) if s), None)
    for key in ("overdue", "open"):
        entry[key] = e.flag(key)
    for key in ("owner_responded", "resolved"):        # when it happened, or null (true/false also read)
        stamp = e.ts(key) if isinstance(e.data.get(key), str) else e.flag(key)
        entry[key] = stamp[0] if isinstance(stamp, tuple) else stamp
    for key in ("acknowledged", "audience", "silent_days"):
        entry[key] = e.count(key)
    entry["read_rate"] = e.number("read_rate", 1.0)
    for key in _ENTRY_PEOPLE:
        value = e.data.get(key)
        entry[key] = e.members(key) if isinstance(value, list) else e.member(key)
    return entry


def _group_report(f: Fields) -> dict:
    period = f.obj("period") or Fields({})
    start, end = period.ts("start"), period.ts("end")
    group = f.obj("group") or Fields({})
    violations = f.obj("violations")
    responsiveness = f.obj("responsiveness")
    activity = f.obj("activity")
    report: dict[str, Any] = {
        "group_id": f.text("group_id", ID_CHARS, required=True),
        "group_name": group.text("name", NAME_CHARS),
        "period": {"kind": period.text("kind", SHORT_CHARS), "start": start[0] if start else None,
                   "end": end[0] if end else None},
        "violations": None if violations is None else {"total": violations.count("total"),
                                                       "by_rule": violations.counts("by_rule", REPORT_KEYS) or {}},
        "responsiveness": None if responsiveness is None else {
            **{k: responsiveness.count(k) for k in ("addressed", "replied", "overdue")},
            **{k: responsiveness.number(k) for k in ("median_reply_seconds", "p90_reply_seconds")}},
        "activity": None if activity is None else {
            "messages": activity.count("messages"), "active_members": activity.count("active_members"),
            "owners": activity.counts("owners", REPORT_KEYS, ID_CHARS) or {}},
    }
    for name in _TRACKERS:
        section = f.obj(name)
        if section is None:
            report[name] = None
            continue
        tallies = Fields({k: v for k, v in section.data.items() if k != "open"}, section.where)
        report[name] = {"counts": _counts(tallies, REPORT_KEYS),
                        "open": [_report_entry(e) for e in section.objects("open")]}
    report["announcements"] = None if f.data.get("announcements") is None else \
        [_report_entry(e) for e in f.objects("announcements")]
    report["inactive_members"] = None if f.data.get("inactive_members") is None else \
        [_report_entry(e) for e in f.objects("inactive_members")]
    return report


def _rejected(f: Fields) -> dict:
    return {"reason": f.text("reason", TEXT_CHARS)}


def _retraction(f: Fields) -> dict:
    retracts = f.items("retracts") or []
    if not all(isinstance(r, str) and len(r) <= ID_CHARS for r in retracts):
        raise BadRecord("bad_field", "field 'retracts': expected a list of ids")
    return {"group_id": f.text("group_id", ID_CHARS), "retracts": retracts,
            "violation_id": f.text("violation_id", ID_CHARS), "reason": f.text("reason", TEXT_CHARS)}


def _review(f: Fields) -> dict:
    decision = f.text("decision", SHORT_CHARS)
    if decision not in REVIEW_DECISIONS:
        raise BadRecord("bad_field", f"field 'decision': expected one of {', '.join(REVIEW_DECISIONS)}")
    return {"group_id": f.text("group_id", ID_CHARS), "violation_id": f.text("violation_id", ID_CHARS, required=True),
            "decision": decision, "old_label": f.text("old_label", SHORT_CHARS),
            "new_label": f.text("new_label", SHORT_CHARS), "reviewer": f.member("reviewer"),
            "note": f.text("note", TEXT_CHARS), "outcome": _summary(f.data.get("outcome"))}


def _summary(value: Any) -> str | None:
    """A field whose shape this reader does not rely on (a review's outcome), as short text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value[:SHORT_CHARS * 4]
    try:
        return orjson.dumps(value).decode()[:SHORT_CHARS * 4]
    except (TypeError, orjson.JSONEncodeError):
        return None


def _delivery(f: Fields) -> dict:
    return {"status": f.text("status", SHORT_CHARS)}


_READERS = {"verdict": _verdict, "violation": _violation, "escalation": _escalation,
            "responsiveness": _responsiveness, "group_report": _group_report, "rejected": _rejected,
            "retraction": _retraction, "review": _review, "delivery": _delivery}
