"""What the dashboard shows, built from output records alone: pure, no Kafka, no web.

`DashboardState.receive(value)` takes one record's bytes (any kind, any content) and updates the
views; `view(View)` returns what one page (its filters, its page of the list) shows, as plain
JSON-able data. Nothing grows with the number of groups, members or records: every store has a
cap (`Bounds`), keeps the newest or the most active entries, and counts what it let go.

Severe cases and open follow-ups have their own stores, much larger than the recent feed, so a
busy hour of warnings cannot push them out. Outputs may be redelivered, so everything is keyed by
the records' stable ids and a repeat changes nothing. Only fields the outputs carry in redacted
form are kept (excerpts, names, ids, counts); DLQ records are counted by reason bucket, and their
original bytes are never kept.
"""
from __future__ import annotations

import heapq
import math
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from itertools import islice
from typing import Any, NamedTuple

import orjson

from pipeline.config import LABELS, RULE_IDS, SEVERITIES
from pipeline.dashboard.records import BAD_REASONS, DELIVERY_STATUSES, KINDS, BadRecord, read
from pipeline.dashboard.stores import NO_TIME, Ranked, TimeOrdered
from pipeline.worker.metrics import reason_bucket

MAX_RECORD_BYTES = 1 << 20      # a record larger than this is counted as too large, not decoded
DISPLAY_CHARS = 500             # excerpts and details kept per item (the page truncates further)
NAME_CHARS = 256                # names kept per item; ids shown are cut at ID_SHOWN (filters use whole ids)
ID_SHOWN = 128
HISTORY_RECENT = 5              # a member's latest violations in a group shown beside a review
AWAITING = 10_000               # decisions sent and not yet recorded that the queue marks
REPORT_LIST = 20                # entries of each list of a report kept for the report panel
CHART_HOURS = 168               # hourly buckets kept per group (one week)
CHART_DAY_AFTER = 48            # past this many hours a chart is drawn per day
LEVELS = ("reminder", "removal_recommended", "supervisor")
_LEVEL_RANK = {"reminder": 1, "removal_recommended": 2, "supervisor": 3}
# Sections of a group report that list open follow-ups, and how to name their items.
_REPORT_FOLLOWUPS = {"problems": "problem (C5)", "rectifications": "rectification (D4)",
                     "urgent_posts": "urgent post (P10/P11)", "announcements": "announcement (P7)"}
RESPONSIVENESS_KEYS = ("member", "group_id", "start", "addressed", "replied", "reply_rate",
                       "median_reply_seconds", "p90_reply_seconds", "overdue")


@dataclass(frozen=True)
class Bounds:
    """How much the state keeps and a response carries (docs/OPERATIONS.md lists them)."""
    groups: int = 2_000            # groups with their own counts, chart and name
    feed: int = 1_000              # newest violations and escalations of any severity
    severe: int = 20_000           # severe violations and escalations, kept apart from the feed
    followups: int = 20_000        # open follow-up items (report items and ladder steps)
    responsiveness: int = 10_000   # latest window per member (and per group) and window kind
    reports: int = 1_000           # latest report per group
    seen: int = 100_000            # record ids remembered to skip redelivered copies
    top_groups: int = 50           # groups listed in a response
    chart_groups: int = 8          # charts in a response (the selected group's alone when filtered)
    page: int = 200                # most entries of any list in one response
    reviews: int = 20_000          # violations waiting for a reviewer (past it the oldest are let go, counted)
    decidable: int = 100_000       # content violations whose group is known, so a decision can be checked
    members: int = 20_000          # members with a violation history per group
    review_scores: int = 20_000    # class scores of review-band verdicts, for the queue

    def __post_init__(self):
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"bound {f.name} must be at least 1")


class Decidable(NamedTuple):
    """What a decision on a content violation is checked against."""
    group_id: str
    label: str
    review: str       # required | none
    rule: str


@dataclass(frozen=True)
class View:
    """What one page asks for: its filters, the responsiveness table's order and a page of the list."""
    group: str = ""
    rule: str = ""
    severity: str = ""
    member: str = ""
    escalations: bool = True
    window: str = "day"
    sort: str = "reply_rate"
    descending: bool = False
    report: str = ""
    offset: int = 0
    limit: int = 100
    review_group: str = ""
    review_label: str = ""
    review_age: int = 0            # only violations waiting at least this many hours
    # The groups the asking user may see (None: every group). Set by the server from the session,
    # never from the query string.
    scope: frozenset | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str], page: int = Bounds.page) -> View:
        """From a request's query string; raises ValueError naming the parameter that is wrong."""
        def text(name: str, limit: int) -> str:
            value = query.get(name, "")
            if len(value) > limit:
                raise ValueError(f"parameter '{name}' is longer than {limit} characters")
            return value

        def choice(name: str, allowed: tuple[str, ...], default: str) -> str:
            value = query.get(name, default)
            if value not in allowed:
                raise ValueError(f"parameter '{name}' must be one of {', '.join(a or '(empty)' for a in allowed)}")
            return value

        def number(name: str, default: int, low: int, high: int) -> int:
            value = query.get(name)
            if value is None:
                return default
            if not (value.isascii() and value.isdigit() and len(value) <= 9) or not low <= int(value) <= high:
                raise ValueError(f"parameter '{name}' must be a whole number from {low} to {high}")
            return int(value)

        return cls(group=text("group", 256), rule=text("rule", 16),
                   severity=choice("severity", ("", *SEVERITIES), ""), member=text("member", 100).strip().lower(),
                   escalations=choice("escalations", ("1", "0"), "1") == "1",
                   window=choice("window", ("day", "week"), "day"),
                   sort=choice("sort", RESPONSIVENESS_KEYS, "reply_rate"),
                   descending=choice("dir", ("asc", "desc"), "asc") == "desc",
                   report=text("report", 256), offset=number("offset", 0, 0, 10_000_000),
                   limit=number("limit", min(100, page), 1, page),
                   review_group=text("rgroup", 256), review_label=choice("rlabel", ("", *LABELS), ""),
                   review_age=number("rage", 0, 0, 24 * 366))

    def query(self) -> dict[str, str]:
        """The query string that parses back to this view (defaults left out)."""
        default = View()
        out = {}
        renamed = {"review_group": "rgroup", "review_label": "rlabel", "review_age": "rage"}
        for name, value in asdict(self).items():
            if value == getattr(default, name) or name == "scope":
                continue
            if name in renamed:
                out[renamed[name]] = str(value)
            elif name == "escalations":
                out[name] = "1" if value else "0"
            elif name == "descending":
                out["dir"] = "desc" if value else "asc"
            else:
                out[name] = str(value)
        return out


class GroupStats:
    __slots__ = ("id", "name", "events", "violations", "severe", "escalations", "last_seen", "labels", "rules",
                 "hours", "severities", "levels")

    def __init__(self, group_id: str):
        self.id, self.name = group_id, None
        self.events = self.violations = self.severe = self.escalations = self.last_seen = 0
        self.labels: Counter = Counter()
        self.rules: Counter = Counter()
        self.severities: Counter = Counter()   # the group's own totals, for a user who sees only some groups
        self.levels: Counter = Counter()
        self.hours: dict[str, tuple[float, Counter]] = {}   # hour bucket → (its time, counts per rule)

    def rank(self) -> tuple:
        return self.violations, self.events, self.last_seen

    def summary(self) -> dict:
        return {"id": self.id, "name": self.name, "events": self.events, "violations": self.violations,
                "severe": self.severe, "escalations": self.escalations}


def _one_of(value: Any, allowed: tuple[str, ...]) -> str:
    """A value from a fixed set, or `other`: counters and filters never grow with hostile values."""
    return value if value in allowed else "other"


_RULES = (*RULE_IDS, "D3")


# Control characters (but tab and new line) show as nothing and take six bytes of JSON each: a run
# of them is shown as one U+FFFD.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]+")


def _clip(value: str | None, limit: int = DISPLAY_CHARS) -> str | None:
    if value is None:
        return None
    value = _CONTROLS.sub("\ufffd", value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _shown(member: dict | None) -> dict:
    member = member or {}
    return {"id": _clip(member.get("id"), ID_SHOWN), "name": _clip(member.get("name"), NAME_CHARS)}


def _who(entry: dict) -> str | None:
    for key in ("responsible", "poster", "reporter", "missing", "member", "issued_by"):
        value = entry.get(key)
        if isinstance(value, dict):
            return _clip(value.get("name") or value.get("id"), NAME_CHARS)
        if isinstance(value, list) and value:
            return _clip("、".join(n for n in (m.get("name") or m.get("id") for m in value[:20]) if n))
    return None


def _report_item_detail(entry: dict) -> str | None:
    if entry.get("title"):
        return f"{entry['title']}: {_or(entry.get('acknowledged'))}/{_or(entry.get('audience'))} read"
    if entry.get("owner_responded") is not None:
        return "owner responded, not resolved" if entry["owner_responded"] else "no owner response yet"
    if entry.get("rule"):
        return f"{entry['rule']} follow-up pending"
    return None


def _or(value: Any) -> str:
    return "?" if value is None else str(value)


def _recipients(roles: dict[str, list[str]]) -> str | None:
    parts = [f"{role}: {', '.join(ids[:20])}" + (f" (+{len(ids) - 20})" if len(ids) > 20 else "")
             for role, ids in list(roles.items())[:10] if ids]
    return _clip("; ".join(parts)) or None


class DashboardState:
    def __init__(self, bounds: Bounds | None = None):
        b = self.bounds = bounds or Bounds()
        self.version = 0                       # bumped on every change, for the live push
        self.records = 0                       # records received, bad ones included
        self.bad: Counter = Counter()          # bad records by reason (records.BAD_REASONS)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._arrivals = 0
        self.kinds: Counter = Counter()
        self.severities: Counter = Counter()
        self.levels: Counter = Counter()
        self.labels: Counter = Counter()
        self.rules: Counter = Counter()        # violations and escalations by rule
        self.dlq_reasons: Counter = Counter()
        self.deliveries: Counter = Counter()   # notifier outcomes (moderation.deliveries) by status
        self.latest: tuple[float, str] | None = None
        self.groups = Ranked(b.groups, GroupStats.rank)
        # Every store a view lists from is kept by group too (a view of a few groups reads only
        # theirs) and, where a view shows its first entries, in that order (stores.py).
        self.feed = TimeOrdered(b.feed, group_of=_group_of, tally_of=_kind_of)     # every violation and escalation
        self.severe = TimeOrdered(b.severe, group_of=_group_of, tally_of=_kind_of)  # the severe ones, apart
        self.followups = Ranked(b.followups, _followup_rank, group_of=_group_of, orders={"since": _since})
        self._report_items: dict[str, set[tuple]] = {}   # group → keys of its report's open items still kept
        self._escalation_keys: dict[str, tuple] = {}     # escalation id → its follow-up key
        self.responsiveness = Ranked(b.responsiveness, lambda row: (row["window_seconds"], row["arrival"]),
                                     group_of=_group_of)
        self.reports = Ranked(b.reports, _age, orders={"newest": _age})
        # Review (R1-R2): the queue of violations waiting for a reviewer, oldest first; every
        # decision seen on the reviews topic; the content violations a decision may name.
        self.queue = Ranked(b.reviews, _age, group_of=_group_of, orders={"oldest": _age}, tally_of=_label_of)
        self.decided: OrderedDict[str, dict] = OrderedDict()      # violation id → its recorded decision
        self.decidable: OrderedDict[str, Decidable] = OrderedDict()
        self.awaiting: OrderedDict[str, dict] = OrderedDict()     # decisions sent from here, not yet recorded
        self.retracted: OrderedDict[str, dict] = OrderedDict()    # escalation id → the retraction withdrawing it
        self.review_scores: OrderedDict[tuple, dict] = OrderedDict()   # (group, message id) → class scores
        self.history = Ranked(b.members, lambda h: h["last"])    # (group, member id) → their violations there

    # ------------------------------------------------------------------ input
    def receive(self, value: bytes | None) -> str:
        """One record's bytes as read from a topic: `applied`, `repeat`, `counted` (a kind that is
        only counted) or the reason it is bad (records.BAD_REASONS). Never raises for bad input."""
        self.records += 1
        try:
            if not value:
                raise BadRecord("not_json", "empty record")
            if len(value) > MAX_RECORD_BYTES:
                raise BadRecord("too_large", f"record of {len(value)} bytes")
            try:
                event = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise BadRecord("not_json", f"not JSON: {exc}") from None
            return self.apply(event)
        except BadRecord as exc:
            self.bad[exc.reason] += 1
            self.version += 1
            return exc.reason

    def count_failed(self) -> None:
        """A record whose handling raised something unexpected (a bug): counted, never fatal."""
        self.bad["failed"] += 1
        self.version += 1

    def apply(self, event: Any) -> str:
        """Fold one decoded output record in; raises `BadRecord` if it is not one."""
        record = read(event)
        record_id = record["id"]
        if record_id is not None:
            if record_id in self._seen:
                return "repeat"
            self._seen[record_id] = None
            if len(self._seen) > self.bounds.seen:
                self._seen.popitem(last=False)
        self._arrivals += 1
        record["arrival"] = self._arrivals
        kind = record["kind"]
        self.kinds[_one_of(kind, KINDS)] += 1
        if record["ts_seconds"] is not None and (self.latest is None or record["ts_seconds"] > self.latest[0]):
            self.latest = (record["ts_seconds"], record["ts"])
        handler = getattr(self, f"_apply_{kind}", None) if kind in KINDS else None
        if handler:
            handler(record)
        self.version += 1
        return "applied" if handler else "counted"

    def _group(self, record: dict) -> GroupStats | None:
        group_id = record.get("group_id")
        if not group_id:
            return None
        stats = self.groups.get(group_id)
        if stats is None:
            stats = GroupStats(group_id)
            self.groups.put(group_id, stats)
        stats.events += 1
        stats.last_seen = record["arrival"]
        return stats

    def _apply_verdict(self, r: dict) -> None:
        label = _one_of(r["label"], LABELS)
        self.labels[label] += 1
        if stats := self._group(r):
            stats.labels[label] += 1
        if r["band"] == "review" and r["scores"] and r["group_id"] and r["message_id"]:
            key = (r["group_id"], r["message_id"])
            self.review_scores[key] = {k: round(v, 4) for k, v in r["scores"].items() if k in LABELS and v is not None}
            if len(self.review_scores) > self.bounds.review_scores:
                self.review_scores.popitem(last=False)

    def _apply_violation(self, r: dict) -> None:
        rule, severity = _one_of(r["rule"], _RULES), _one_of(r["severity"], SEVERITIES)
        self.severities[severity] += 1
        self.rules[rule] += 1
        stats = self._group(r)
        if stats:
            stats.violations += 1
            stats.severe += severity == "severe"
            stats.severities[severity] += 1
            stats.rules[rule] += 1
            if stats.name is None and r["group_name"]:
                stats.name = _clip(r["group_name"], NAME_CHARS)
            if r["ts"] is not None:
                self._count_hour(stats, r["ts"], r["ts_seconds"], rule)
        label = r["label"] if r["label"] in LABELS else None
        item = {
            "id": r["id"], "kind": "violation", "ts": r["ts"], "group_id": r["group_id"] or "-", "rule": rule,
            "severity": severity, "member": _shown(r["member"]),
            "excerpt": _clip(r["excerpt"]), "detail": _clip(r["detail"]),
            "label": label, "review": r["review"],
        }
        self._add_to_feed(item, r["ts_seconds"])
        member_id = (r["member"] or {}).get("id")
        if r["group_id"] and member_id:
            self._remember_history(r["group_id"], member_id, item, r["arrival"])
        # A content violation (it has a label) can be decided; a decision is checked against its group.
        if r["id"] is None or label is None or not r["group_id"]:
            return
        self.decidable[r["id"]] = Decidable(r["group_id"], label, r["review"] or "none", rule)
        self.decidable.move_to_end(r["id"])
        if len(self.decidable) > self.bounds.decidable:
            self.decidable.popitem(last=False)
        if r["review"] == "required" and self._decision(r["id"], r["group_id"]) is None:
            self.queue.put(r["id"], {
                **item, "group_name": _clip(r["group_name"], NAME_CHARS), "member_id": member_id,
                "score": r["score"], "reasons": [_clip(x, 300) for x in r["reasons"][:10]],
                "message_id": r["message_id"], "ts_seconds": NO_TIME if r["ts_seconds"] is None else r["ts_seconds"],
                "arrival": r["arrival"]})

    def _remember_history(self, group_id: str, member_id: str, item: dict, arrival: int) -> None:
        key = (group_id, member_id)
        entry = self.history.get(key)
        if entry is None:
            entry = {"rules": Counter(), "escalations": 0, "recent": deque(maxlen=HISTORY_RECENT), "last": arrival}
            self.history.put(key, entry)
            if key not in self.history:
                return
        entry["last"] = arrival
        entry["rules"][item["rule"]] += 1
        entry["recent"].append({k: item[k] for k in ("id", "ts", "rule", "label", "severity")})

    def _apply_review(self, r: dict) -> None:
        violation_id = r["violation_id"]
        reviewer = _shown(r["reviewer"])
        self.decided[violation_id] = {
            "decision": r["decision"], "old_label": _one_of(r["old_label"], LABELS) if r["old_label"] else None,
            "new_label": _one_of(r["new_label"], LABELS) if r["new_label"] else None,
            "reviewer": reviewer["name"] or reviewer["id"], "ts": r["ts"], "note": _clip(r["note"], 300),
            "outcome": r["outcome"], "group_id": r["group_id"] or "-"}
        self.decided.move_to_end(violation_id)
        if len(self.decided) > self.bounds.seen:
            self.decided.popitem(last=False)
        # A decision counts for the violation of the group it names only (anything with access to
        # the broker can write a review record naming another group's violation).
        waiting = self.queue.get(violation_id)
        if waiting is not None and waiting["group_id"] == self.decided[violation_id]["group_id"]:
            self.queue.pop(violation_id)
        self.awaiting.pop(violation_id, None)

    def note_sent(self, violation_id: str, decision: str, reviewer: str, ts: str) -> None:
        """A decision this dashboard produced (the broker acknowledged it) whose `review` record has not
        arrived yet: the queue shows it as waiting for the worker."""
        if violation_id in self.decided:
            return
        self.awaiting[violation_id] = {"decision": decision, "reviewer": reviewer, "ts": ts}
        while len(self.awaiting) > AWAITING:
            self.awaiting.popitem(last=False)
        self.version += 1

    @staticmethod
    def _count_hour(stats: GroupStats, ts: str, seconds: float, rule: str) -> None:
        # The hour, in the record's own offset (the reader has checked that the time parses).
        bucket = datetime.fromisoformat(ts).replace(minute=0, second=0, microsecond=0).isoformat()
        if bucket not in stats.hours:
            stats.hours[bucket] = (seconds - seconds % 3600, Counter())
            if len(stats.hours) > CHART_HOURS:
                oldest = min(stats.hours, key=lambda b: stats.hours[b][0])
                del stats.hours[oldest]
                if oldest == bucket:
                    return
        stats.hours[bucket][1][rule] += 1

    def _apply_escalation(self, r: dict) -> None:
        rule, level = _one_of(r["rule"], _RULES), _one_of(r["level"], LEVELS)
        severity = _one_of(r["severity"], SEVERITIES) if r["severity"] is not None else None
        self.levels[level] += 1
        self.rules[rule] += 1
        if stats := self._group(r):
            stats.escalations += 1
            stats.levels[level] += 1
        member = _shown(r["member"])
        history = self.history.get((r["group_id"], (r["member"] or {}).get("id")))
        if history is not None:
            history["escalations"] += 1
        item = {
            "id": r["id"], "kind": "escalation", "ts": r["ts"], "group_id": r["group_id"] or "-", "rule": rule,
            "severity": severity, "level": level, "member": member, "excerpt": _clip(r["excerpt"]),
            "detail": _clip(r["detail"]), "recipients": _recipients(r["recipients"]), "due": r["due"],
        }
        self._add_to_feed(item, r["ts_seconds"])
        key = ("escalation", item["group_id"], (r["member"] or {}).get("id"), rule)
        current = self.followups.get(key)
        # The latest step of the ladder per member and rule is what someone still has to act on.
        seconds = NO_TIME if r["ts_seconds"] is None else r["ts_seconds"]
        if current is None or seconds >= current["since_seconds"]:
            if current is not None:
                self._escalation_keys.pop(current["escalation_id"], None)
            self.followups.put(key, {
                "source": "escalation", "group_id": item["group_id"], "what": f"{level.replace('_', ' ')} · {rule}",
                "who": member["name"] or member["id"], "since": r["ts"], "since_seconds": seconds, "due": r["due"],
                "overdue": False, "detail": item["detail"], "recipients": item["recipients"],
                "priority": _LEVEL_RANK[level] if level in _LEVEL_RANK else 0, "arrival": r["arrival"],
                "escalation_id": r["id"]}, self._forget_followup)
            if r["id"] is not None and key in self.followups:
                self._escalation_keys[r["id"]] = key

    def _apply_retraction(self, r: dict) -> None:
        group = r["group_id"] or "-"
        for escalation_id in r["retracts"]:
            self.retracted[escalation_id] = {"ts": r["ts"], "reason": _clip(r["reason"], 300),
                                             "violation_id": r["violation_id"], "group_id": group}
            self.retracted.move_to_end(escalation_id)
            if len(self.retracted) > self.bounds.seen:
                self.retracted.popitem(last=False)
            key = self._escalation_keys.get(escalation_id)
            if key is not None and key[1] == group:     # a retraction withdraws its own group's escalations only
                del self._escalation_keys[escalation_id]
                self.followups.pop(key)

    def _forget_followup(self, key: tuple, item: dict) -> None:
        """Called for each follow-up the store lets go: its index entries go with it."""
        if item.get("escalation_id") is not None:
            self._escalation_keys.pop(item["escalation_id"], None)
        elif item["source"] == "report":
            keys = self._report_items.get(item["group_id"])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._report_items[item["group_id"]]

    def _add_to_feed(self, item: dict, seconds: float | None) -> None:
        self.feed.add(seconds, item)
        if item["severity"] == "severe":
            self.severe.add(seconds, item)

    def _apply_responsiveness(self, r: dict) -> None:
        self._group(r)
        member_id = r["member"]["id"] if r["scope"] == "member" else "*"
        key = (r["group_id"], member_id, r["window"]["kind"])
        reply_rate = r["reply_rate"]
        if reply_rate is None and r["addressed"]:
            reply_rate = round(min(r["replied"] or 0, r["addressed"]) / r["addressed"], 4)
        row = {k: r[k] for k in ("group_id", "scope", "window", "addressed", "replied", "acknowledged",
                                 "overdue", "unanswered", "median_reply_seconds", "p90_reply_seconds")}
        row["member"] = _shown(r["member"])
        row.update(reply_rate=reply_rate, arrival=r["arrival"],
                   window_seconds=NO_TIME if r["window_seconds"] is None else r["window_seconds"])
        current = self.responsiveness.get(key)
        # Keep the latest window per member and window kind (a newer day replaces the older one).
        if current is None or row["window_seconds"] >= current["window_seconds"]:
            self.responsiveness.put(key, row)

    def _apply_group_report(self, r: dict) -> None:
        group = r["group_id"]
        stats = self._group(r)
        r["ts_seconds"] = NO_TIME if r["ts_seconds"] is None else r["ts_seconds"]
        current = self.reports.get(group)
        if current is not None and r["ts_seconds"] < current["ts_seconds"]:
            return
        r["group_name"] = _clip(r["group_name"], NAME_CHARS)
        if r["group_name"] and stats:
            stats.name = r["group_name"]
        self.reports.put(group, _report_view(r))
        for key in self._report_items.pop(group, ()):
            self.followups.pop(key)
        keys = self._report_items[group] = set()
        for section, label in _REPORT_FOLLOWUPS.items():
            value = r.get(section)
            entries = value["open"] if isinstance(value, dict) else value or []
            for i, entry in enumerate(entries):
                if entry["open"] is False:
                    continue
                key = ("report", group, section, i)
                self.followups.put(key, {
                    "source": "report", "group_id": group, "what": label, "who": _who(entry),
                    "since": entry["opened"] or entry["issued_at"] or entry["posted"],
                    "since_seconds": NO_TIME if entry["since_seconds"] is None else entry["since_seconds"],
                    "due": entry["due"], "overdue": bool(entry["overdue"]), "detail": _report_item_detail(entry),
                    "priority": 2, "arrival": r["arrival"]}, self._forget_followup)
                if key in self.followups:
                    keys.add(key)
        if not keys:
            del self._report_items[group]

    def _apply_delivery(self, r: dict) -> None:
        self.deliveries[_one_of(r["status"], DELIVERY_STATUSES)] += 1

    def _apply_rejected(self, r: dict) -> None:
        self.dlq_reasons[reason_bucket(r["reason"])] += 1

    # ------------------------------------------------------------------ views
    def snapshot(self) -> dict:
        """The default view (no filters, first page)."""
        return self.view(View())

    def view(self, view: View, now: float | None = None) -> dict:
        """What one page shows. With `view.scope` (a group admin's or owner's groups) every part is
        cut to those groups: lists, counts, charts, reports, the review queue; nothing of another
        group is in the answer, whatever the filters name. `now` (seconds) is for the queue's age filter."""
        b = self.bounds
        scope = view.scope
        if scope is None:
            top = self.groups.top(b.top_groups)
        else:
            top = heapq.nlargest(b.top_groups, (g for g in map(self.groups.get, scope) if g is not None),
                                 key=GroupStats.rank)
        if view.group and view.group in self.groups and _sees(scope, view.group) \
                and all(g.id != view.group for g in top):
            top.append(self.groups.get(view.group))
        return {
            # The version counts every record of every group: how busy the others are is not a group admin's to see.
            "version": self.version if scope is None else None,
            "latest_ts": (self.latest[1] if self.latest else None) if scope is None else None,
            "totals": self._totals() if scope is None else self._scoped_totals(scope),
            "bounds": {"groups": b.groups, "feed": b.feed, "severe": b.severe, "followups": b.followups,
                       "responsiveness": b.responsiveness, "reports": b.reports, "top_groups": b.top_groups,
                       "reviews": b.reviews},
            "groups": [g.summary() for g in top],
            "rules": sorted(self.rules) if scope is None else sorted(
                {r for g in map(self.groups.get, scope) if g is not None for r in g.rules}),
            "feed": self._feed_view(view),
            "charts": self._charts_view(view),
            "responsiveness": self._responsiveness_view(view),
            "followups": self._followups_view(view),
            "reviews": self._reviews_view(view, now),
            **self._report_panel(view),
        }

    def _totals(self) -> dict:
        return {"kinds": dict(self.kinds), "severities": dict(self.severities), "levels": dict(self.levels),
                "labels": dict(self.labels), "dlq_reasons": dict(self.dlq_reasons),
                "deliveries": dict(self.deliveries),
                "records": self.records, "bad_records": dict(self.bad),
                "groups": len(self.groups), "groups_dropped": self.groups.dropped}

    def _scoped_totals(self, scope: frozenset) -> dict:
        """The same counts over the user's own groups (as far as the group store keeps them); input
        rejected to the DLQ and bad records belong to no group and are not shown."""
        kinds, severities, levels, labels = Counter(), Counter(), Counter(), Counter()
        present = [g for g in map(self.groups.get, scope) if g is not None]
        for g in present:
            kinds.update(violation=g.violations, escalation=g.escalations, verdict=sum(g.labels.values()))
            severities.update(g.severities)
            levels.update(g.levels)
            labels.update(g.labels)
        return {"kinds": {k: n for k, n in kinds.items() if n}, "severities": dict(severities),
                "levels": dict(levels), "labels": dict(labels), "dlq_reasons": {}, "deliveries": {}, "records": None,
                "bad_records": {}, "groups": len(present), "groups_dropped": 0}

    def decidable_in(self, violation_id: str, scope: frozenset | None) -> Decidable | None:
        """The content violation a decision names, if this dashboard knows it and the user may see its
        group; None alike for unknown ids and for another group's (a guess learns nothing)."""
        found = self.decidable.get(violation_id)
        return found if found is not None and _sees(scope, found.group_id) else None

    def _reviews_view(self, view: View, now: float | None) -> dict:
        scope, queue, oldest = view.scope, self.queue, self.queue.order("oldest")
        newest_ts = None if view.review_age == 0 or now is None else now - view.review_age * 3600
        if scope is None:
            waiting, labels = len(queue), dict(queue.tally)
            groups = queue.largest_groups(self.bounds.top_groups)
        else:
            present = [(g, queue.groups().get(g)) for g in scope]
            sizes = [(g, len(keys)) for g, keys in present if keys]
            waiting = sum(n for _, n in sizes)
            labels = Counter(item["label"] for _, item in queue.in_groups(scope))
            groups = heapq.nlargest(self.bounds.top_groups, sizes, key=lambda gn: gn[1])

        def matches(item: dict) -> bool:
            return (not view.review_label or item["label"] == view.review_label) \
                and (newest_ts is None or item["ts_seconds"] <= newest_ts)

        if scope is None and not view.review_group:
            if not view.review_label:          # the oldest of them all, or of those past the age
                total = len(oldest) if newest_ts is None else oldest.count_before((newest_ts, math.inf))
                keys = oldest.first(min(view.limit, total))
            else:
                matching = (k for k in oldest.ascending() if matches(queue.data[k]))
                if newest_ts is None:
                    total = queue.tally.get(view.review_label, 0)
                    keys = list(islice(matching, view.limit))
                else:
                    keys = list(matching)
                    total = len(keys)
                    del keys[view.limit:]
        else:
            chosen = scope if not view.review_group else \
                [view.review_group] if _sees(scope, view.review_group) else []
            found = sorted((oldest.place_of(k), k) for k, item in queue.in_groups(chosen) if matches(item))
            total, keys = len(found), [k for _, k in found[: view.limit]]
        hidden = ("ts_seconds", "arrival", "member_id", "message_id")
        items = []
        for item in map(queue.data.__getitem__, keys):
            shown = {k: v for k, v in item.items() if k not in hidden}
            shown["scores"] = self.review_scores.get((item["group_id"], item["message_id"]))
            shown["awaiting"] = self.awaiting.get(item["id"])
            shown["history"] = self._history_view(item["group_id"], item["member_id"], item["id"])
            items.append(shown)
        return {"items": items, "total": total, "waiting": waiting, "groups": dict(groups), "labels": labels,
                "kept": queue.cap, "dropped": queue.dropped if scope is None else None}

    def _history_view(self, group_id: str, member_id: str | None, leave_out: str) -> dict | None:
        entry = self.history.get((group_id, member_id)) if member_id else None
        if entry is None:
            return None
        return {"rules": dict(entry["rules"]), "escalations": entry["escalations"],
                "recent": [{**v, "decision": (self._decision(v["id"], group_id) or {}).get("decision")}
                           for v in reversed(entry["recent"]) if v["id"] != leave_out]}

    def _feed_view(self, view: View) -> dict:
        severe_only = view.severity == "severe"
        store = self.severe if severe_only else self.feed
        needle, scope = view.member, view.scope
        shown = {"offset": view.offset, "limit": view.limit, "source": "severe" if severe_only else "recent",
                 "kept": store.cap, "dropped": store.dropped if scope is None else None}
        if scope is None and not (view.group or view.rule or needle or not view.escalations) \
                and view.severity in ("", "severe"):
            # Every item of the store matches (the severe store holds severe ones only).
            page = islice(store.newest_first(), view.offset, view.offset + view.limit)
            return {"items": [self._annotated(item) for item in page], "total": len(store),
                    "by_kind": dict(store.tally), **shown}
        groups = ([view.group] if _sees(scope, view.group) else []) if view.group else scope
        items, by_kind, total = [], Counter(), 0
        for item in store.newest_first(groups):
            if (view.rule and item["rule"] != view.rule) or (view.severity and item["severity"] != view.severity) \
                    or (not view.escalations and item["kind"] == "escalation"):
                continue
            if needle and not any(needle in v.lower() for v in (item["member"]["name"], item["member"]["id"]) if v):
                continue
            if view.offset <= total < view.offset + view.limit:
                items.append(self._annotated(item))
            total += 1
            by_kind[item["kind"]] += 1
        return {"items": items, "total": total, "by_kind": dict(by_kind), **shown}

    def _annotated(self, item: dict) -> dict:
        """A feed item with what was decided about it since: a violation's review, an escalation's retraction."""
        if item["kind"] == "violation" and (decision := self._decision(item["id"], item["group_id"])):
            return {**item, "decision": decision}
        retraction = self.retracted.get(item["id"]) if item["kind"] == "escalation" else None
        if retraction is not None and retraction["group_id"] == item["group_id"]:
            return {**item, "retracted": retraction}
        return item

    def _decision(self, violation_id: str | None, group_id: str) -> dict | None:
        """The decision recorded on a violation of this group (one naming another group is not its)."""
        decision = self.decided.get(violation_id)
        return decision if decision is not None and decision["group_id"] == group_id else None

    def _charts_view(self, view: View) -> list[dict]:
        scope = view.scope
        if view.group:
            chosen = [self.groups.get(view.group)] if view.group in self.groups and _sees(scope, view.group) else []
        elif scope is None:
            chosen = self.groups.top(self.bounds.chart_groups, key=lambda g: (g.violations, g.last_seen))
        else:
            chosen = heapq.nlargest(self.bounds.chart_groups, (g for g in map(self.groups.get, scope) if g is not None),
                                    key=lambda g: (g.violations, g.last_seen))
        charts = []
        for stats in chosen:
            if not stats or not stats.violations:
                continue
            hours = sorted(stats.hours.items(), key=lambda kv: kv[1][0])
            span = "day" if len(hours) > CHART_DAY_AFTER else "hour"
            buckets: dict[str, Counter] = {}
            for bucket, (_, counts) in hours:
                into = buckets.setdefault(bucket[:10] if span == "day" else bucket, Counter())
                into.update({r: n for r, n in counts.items() if not view.rule or r == view.rule})
            totals = {r: n for r, n in stats.rules.items() if not view.rule or r == view.rule}
            charts.append({"group_id": stats.id, "name": stats.name, "span": span, "totals": totals,
                           "buckets": [[b, dict(c)] for b, c in buckets.items()]})
        return charts

    def _responsiveness_view(self, view: View) -> dict:
        store, needle, scope = self.responsiveness, view.member, view.scope
        shown = {"kept": store.cap, "dropped": store.dropped if scope is None else None}
        if scope is None and not view.group and not needle:
            # The window's rows in the chosen order (kept from the first time someone chose it):
            # those with a value, then those without one, whatever the direction.
            order = store.order(f"{view.window}:{view.sort}", _responsiveness_place(view.window, view.sort))
            valued = order.count_before((True,))
            if view.descending:
                keys = order.between(valued - view.limit, valued)[::-1]
            else:
                keys = order.between(0, min(valued, view.limit))
            keys += order.between(valued, valued + view.limit - len(keys))
            return {"rows": [_row_view(store.data[k]) for k in keys], "total": len(order), **shown}
        rows = [row for _, row in store.in_groups([view.group] if view.group and _sees(scope, view.group) else
                                                  [] if view.group else scope)] \
            if scope is not None or view.group else list(store.data.values())
        rows = [row for row in rows if row["window"]["kind"] == view.window
                and (not needle or any(needle in v.lower() for v in (row["member"]["name"], row["member"]["id"]) if v))]
        value = _SORT_VALUES[view.sort]
        present = [r for r in rows if value(r) is not None]
        blank = [r for r in rows if value(r) is None]   # blanks last whatever the direction
        pick = heapq.nlargest if view.descending else heapq.nsmallest
        chosen = pick(view.limit, present, key=lambda r: (value(r), *_row_tie(r)))
        chosen += heapq.nsmallest(view.limit - len(chosen), blank, key=_row_tie)
        return {"rows": [_row_view(r) for r in chosen], "total": len(rows), **shown}

    def _followups_view(self, view: View) -> dict:
        store, scope = self.followups, view.scope
        order = store.order("since")
        if scope is None and not view.group:
            keys, total = order.last(view.limit), len(store)
        else:
            chosen = ([view.group] if _sees(scope, view.group) else []) if view.group else scope
            found = [(order.place_of(k), k) for k, _ in store.in_groups(chosen)]
            keys, total = [k for _, k in heapq.nlargest(view.limit, found)], len(found)
        hidden = ("since_seconds", "arrival", "priority", "escalation_id")
        return {"items": [{k: v for k, v in store.data[key].items() if k not in hidden} for key in keys],
                "total": total, "kept": store.cap, "dropped": store.dropped if scope is None else None}

    def _report_panel(self, view: View) -> dict:
        scope = view.scope
        if scope is None:
            newest = [self.reports.data[k] for k in self.reports.order("newest").last(self.bounds.top_groups)]
        else:
            newest = heapq.nlargest(self.bounds.top_groups, (r for r in map(self.reports.get, scope) if r is not None),
                                    key=self.reports.rank)
        chosen = view.report or view.group
        report = self.reports.get(chosen) if chosen and _sees(scope, chosen) else (newest[0] if newest else None)
        if report is not None and all(r is not report for r in newest):
            newest.append(report)
        return {"report": None if report is None else {k: v for k, v in report.items() if k not in ("arrival",)},
                "report_groups": [{"id": r["group_id"], "name": r["group_name"]} for r in newest]}


def _sees(scope: frozenset | None, group_id: str | None) -> bool:
    return scope is None or (group_id is not None and group_id in scope)


# How the stores key and order their entries (the indexes of stores.py).

def _group_of(entry: dict) -> str | None:
    return entry["group_id"]


def _kind_of(item: dict) -> str:
    return item["kind"]


def _label_of(item: dict) -> str:
    return item["label"]


def _age(entry: dict) -> tuple:
    return entry["ts_seconds"], entry["arrival"]


def _since(item: dict) -> tuple:
    return item["since_seconds"], item["arrival"]


def _row_tie(row: dict) -> tuple:
    """After the sorted value: the group, the group's own row first, then the earlier arrival."""
    return str(row["group_id"]), row["scope"] != "group", row["arrival"]


# What the responsiveness table sorts by, per sort key of the page.
_SORT_VALUES = {key: (lambda row, key=key: row[key]) for key in RESPONSIVENESS_KEYS}
_SORT_VALUES["member"] = lambda row: "" if row["scope"] == "group" else (row["member"]["name"] or row["member"]["id"] or "")
_SORT_VALUES["start"] = lambda row: row["window"]["start"]


def _responsiveness_place(kind: str, sort: str):
    """The table's order for one window kind and sort key: rows with a value by it (then
    `_row_tie`), then the rows without one."""
    value = _SORT_VALUES[sort]

    def place(row: dict) -> tuple | None:
        if row["window"]["kind"] != kind:
            return None
        found = value(row)
        return (False, found, *_row_tie(row)) if found is not None else (True, 0, *_row_tie(row))
    return place


def _row_view(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("arrival", "window_seconds")}


def _followup_rank(item: dict) -> tuple:
    # Past the cap, reminders go first, then the oldest; supervisor and removal steps and report items last.
    return item["priority"] > 1, item["since_seconds"], item["arrival"]


def _report_view(r: dict) -> dict:
    """What the report panel shows of one report: its numbers, and the first entries of each list."""
    view = {k: r[k] for k in ("group_id", "group_name", "ts", "period", "violations", "responsiveness")}
    view["ts_seconds"], view["arrival"] = r["ts_seconds"], r["arrival"]
    if r["activity"] is not None:
        owners = r["activity"]["owners"]
        view["activity"] = {**r["activity"], "owners": dict(list(owners.items())[:REPORT_LIST]),
                            "owners_total": len(owners)}
    else:
        view["activity"] = None
    for section in ("problems", "rectifications", "urgent_posts"):
        value = r[section]
        view[section] = None if value is None else {**value["counts"], "open": len(value["open"])}
    for section in ("announcements", "inactive_members"):
        entries = r[section]
        view[section] = None if entries is None else {
            "total": len(entries),
            "first": [{k: _clip(v, 200) if isinstance(v, str) else v for k, v in e.items()
                       if k in ("id", "name", "title", "announcement_id", "acknowledged", "audience", "open",
                                "silent_days")} for e in entries[:REPORT_LIST]]}
    return view
