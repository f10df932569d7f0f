"""Reading what the notifier is given: escalations, retractions and group reports, as the worker
writes them (EVENTS.md). Anyone with access to the broker can write to those topics, so each record
is checked field by field, every size is bounded, and every free-text field is masked again
(the worker already did; the notifier does not trust that it was the worker).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pipeline.core.events import MAX_ROLE_MEMBERS
from pipeline.notify.config import LEVELS, ROLES
from pipeline.text.redact import redact

MAX_RECORD_BYTES = 1_000_000
ID_CHARS = 128
NAME_CHARS = 256
TEXT_CHARS = 2000
MAX_RETRACTED = 1000


class BadNotification(ValueError):
    """A record the notifier cannot act on; the message names the field."""


@dataclass(frozen=True)
class Notification:
    """One escalation or group report to deliver."""
    kind: str                       # "escalation" or "group_report"
    id: str
    group_id: str
    ts: datetime
    level: str                      # an escalation level, or "report"
    rule: str
    severity: str | None
    recipients: dict[str, tuple[str, ...]]   # role → member ids (the member role has one)
    group_name: str | None = None
    member_id: str | None = None
    member_name: str | None = None
    excerpt: str | None = None
    why: str | None = None
    report: dict = field(default_factory=dict)   # period, totals of a group report

    @property
    def severe(self) -> bool:
        return self.severity == "severe"


@dataclass(frozen=True)
class Retraction:
    id: str
    group_id: str
    ts: datetime
    retracts: tuple[str, ...]
    reason: str | None = None
    violation_id: str | None = None


def parse(value: bytes | str | dict) -> Notification | Retraction | None:
    """A record's value → what to do with it; None for kinds the notifier does not handle.
    Raises BadNotification."""
    if isinstance(value, dict):
        data = value
    else:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        if not value or len(value) > MAX_RECORD_BYTES:
            raise BadNotification("empty record" if not value else f"record of {len(value)} bytes is too large")
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BadNotification(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadNotification("not a JSON object")
    kind = data.get("kind")
    if kind == "escalation":
        return _escalation(data)
    if kind == "retraction":
        return _retraction(data)
    if kind == "group_report":
        return _report(data)
    return None


def _text(data: dict, key: str, limit: int, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise BadNotification(f"field '{key}' is missing")
        return None
    if not isinstance(value, str) or (required and not value):
        raise BadNotification(f"field '{key}' must be text")
    if len(value) > limit:
        raise BadNotification(f"field '{key}' is over {limit} characters")
    return value


def _id(data: dict, key: str, required: bool = True) -> str | None:
    value = _text(data, key, ID_CHARS, required)
    if value is not None and (not value or not value.isprintable()):
        raise BadNotification(f"field '{key}' is not a printable id")
    return value


def _masked(value: str | None, limit: int = TEXT_CHARS) -> str | None:
    if value is None:
        return None
    masked = redact(value)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def _ts(data: dict) -> datetime:
    value = _text(data, "ts", 64, required=True)
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise BadNotification("field 'ts' is not an ISO-8601 time") from None
    if ts.tzinfo is None:
        raise BadNotification("field 'ts' has no UTC offset")
    return ts


def _recipients(data: dict) -> dict[str, tuple[str, ...]]:
    raw = data.get("recipients")
    if not isinstance(raw, dict):
        raise BadNotification("field 'recipients' must be an object")
    out: dict[str, tuple[str, ...]] = {}
    for role in ROLES:
        value = raw.get(role)
        if value is None:
            continue
        ids = [value] if role == "member" else value
        if not isinstance(ids, list) or len(ids) > MAX_ROLE_MEMBERS:
            raise BadNotification(f"field 'recipients.{role}' must be a list of at most {MAX_ROLE_MEMBERS} ids")
        checked = []
        for member_id in ids:
            if not isinstance(member_id, str) or not 0 < len(member_id) <= ID_CHARS or not member_id.isprintable():
                raise BadNotification(f"field 'recipients.{role}' holds something that is not an id")
            if member_id not in checked:
                checked.append(member_id)
        if checked:
            out[role] = tuple(checked)
    return out


def _escalation(data: dict) -> Notification:
    level = _text(data, "level", 32, required=True)
    if level not in LEVELS:
        raise BadNotification(f"field 'level' is not one of {', '.join(LEVELS)}")
    member = data.get("member") if isinstance(data.get("member"), dict) else {}
    evidence = data.get("evidence") if isinstance(data.get("evidence"), dict) else {}
    severity = _text(data, "severity", 16)
    return Notification(
        kind="escalation", id=_id(data, "id"), group_id=_id(data, "group_id"), ts=_ts(data), level=level,
        rule=_rule(data), severity=severity if severity in ("info", "warning", "severe") else None,
        recipients=_recipients(data), group_name=_masked(_text(data, "group_name", NAME_CHARS), NAME_CHARS),
        member_id=_id(member, "id", required=False), member_name=_masked(_text(member, "name", NAME_CHARS), NAME_CHARS),
        excerpt=_masked(_text(evidence, "excerpt", TEXT_CHARS)), why=_masked(_text(data, "why", TEXT_CHARS)),
    )


def _rule(data: dict) -> str:
    rule = _text(data, "rule", 8, required=True)
    if not (rule[:1].isalpha() and rule[1:].isdigit()):
        raise BadNotification("field 'rule' is not a rule id")
    return rule


def _retraction(data: dict) -> Retraction:
    retracts = data.get("retracts")
    if not isinstance(retracts, list) or not retracts or len(retracts) > MAX_RETRACTED:
        raise BadNotification(f"field 'retracts' must be a list of 1–{MAX_RETRACTED} escalation ids")
    for escalation_id in retracts:
        if not isinstance(escalation_id, str) or not 0 < len(escalation_id) <= ID_CHARS or not escalation_id.isprintable():
            raise BadNotification("field 'retracts' holds something that is not an id")
    return Retraction(id=_id(data, "id"), group_id=_id(data, "group_id"), ts=_ts(data),
                      retracts=tuple(dict.fromkeys(retracts)), reason=_masked(_text(data, "reason", TEXT_CHARS)),
                      violation_id=_id(data, "violation_id", required=False))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**12 else None


def _report(data: dict) -> Notification:
    group = data.get("group") if isinstance(data.get("group"), dict) else {}
    period = data.get("period") if isinstance(data.get("period"), dict) else {}
    violations = data.get("violations") if isinstance(data.get("violations"), dict) else {}
    problems = data.get("problems") if isinstance(data.get("problems"), dict) else {}
    by_rule = violations.get("by_rule") if isinstance(violations.get("by_rule"), dict) else {}
    tally = {rule: n for rule, n in list(by_rule.items())[:50]
             if isinstance(rule, str) and len(rule) <= 8 and _count(n) is not None}
    open_problems = problems.get("open")
    return Notification(
        kind="group_report", id=_id(data, "id"), group_id=_id(data, "group_id"), ts=_ts(data), level="report",
        rule=_text(data, "rule", 8) or "D3", severity=None, recipients=_recipients(data),
        group_name=_masked(_text(data, "group_name", NAME_CHARS) or _text(group, "name", NAME_CHARS), NAME_CHARS),
        report={"kind": _text(period, "kind", 16), "start": _text(period, "start", 64), "end": _text(period, "end", 64),
                "total": _count(violations.get("total")), "by_rule": tally,
                "open_problems": len(open_problems) if isinstance(open_problems, list) else None},
    )
