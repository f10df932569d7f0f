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
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import orjson

from pipeline.config import LABELS, RULE_IDS, SEVERITIES
from pipeline.dashboard.records import BAD_REASONS, DELIVERY_STATUSES, KINDS, BadRecord, read
from pipeline.dashboard.stores import NO_TIME, Ranked, TimeOrdered
from pipeline.worker.metrics import reason_bucket

MAX_RECORD_BYTES = 1 << 20      # a record larger than this is counted as too large, not decoded
DISPLAY_CHARS = 500             # excerpts and details kept per item (the page truncates further)
NAME_CHARS = 256                # names kept per item; ids shown are cut at ID_SHOWN (filters use whole ids)
ID_SHOWN = 128
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

    def __post_init__(self):
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"bound {f.name} must be at least 1")


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
                   limit=number("limit", min(100, page), 1, page))

    def query(self) -> dict[str, str]:
        """The query string that parses back to this view (defaults left out)."""
        default = View()
        out = {}
        for name, value in asdict(self).items():
            if value == getattr(default, name):
                continue
            if name == "escalations":
                out[name] = "1" if value else "0"
            elif name == "descending":
                out["dir"] = "desc" if value else "asc"
            else:
                out[name] = str(value)
        return out


class GroupStats:
    __slots__ = ("id", "name", "events", "violations", "severe", "escalations", "last_seen", "labels", "rules",
                 "hours")

    def __init__(self, group_id: str):
        self.id, self.name = group_id, None
        self.events = self.violations = self.severe = self.escalations = self.last_seen = 0
        self.labels: Counter = Counter()
        self.rules: Counter = Counter()
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


def _clip(value: str | None, limit: int = DISPLAY_CHARS) -> str | None:
    return value if value is None or len(value) <= limit else value[: limit - 1] + "…"


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
        self.feed = TimeOrdered(b.feed)                 # every violation and escalation
        self.severe = TimeOrdered(b.severe)              # the severe ones, apart
        self.followups = Ranked(b.followups, _followup_rank)
        self._report_items: dict[str, set[tuple]] = {}   # group → keys of its report's open items still kept
        self._escalation_keys: dict[str, tuple] = {}     # escalation id → its follow-up key
        self.responsiveness = Ranked(b.responsiveness, lambda row: (row["window_seconds"], row["arrival"]))
        self.reports = Ranked(b.reports, lambda r: (r["ts_seconds"], r["arrival"]))

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

    def _apply_violation(self, r: dict) -> None:
        rule, severity = _one_of(r["rule"], _RULES), _one_of(r["severity"], SEVERITIES)
        self.severities[severity] += 1
        self.rules[rule] += 1
        stats = self._group(r)
        if stats:
            stats.violations += 1
            stats.severe += severity == "severe"
            stats.rules[rule] += 1
            if r["ts"] is not None:
                self._count_hour(stats, r["ts"], r["ts_seconds"], rule)
        self._add_to_feed({
            "id": r["id"], "kind": "violation", "ts": r["ts"], "group_id": r["group_id"] or "-", "rule": rule,
            "severity": severity, "member": _shown(r["member"]),
            "excerpt": _clip(r["excerpt"]), "detail": _clip(r["detail"]),
        }, r["ts_seconds"])

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
        member = _shown(r["member"])
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
        for escalation_id in r["retracts"]:
            key = self._escalation_keys.pop(escalation_id, None)
            if key is not None:
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

    def view(self, view: View) -> dict:
        b = self.bounds
        top = self.groups.top(b.top_groups)
        if view.group and view.group in self.groups and all(g.id != view.group for g in top):
            top.append(self.groups.get(view.group))
        return {
            "version": self.version,
            "latest_ts": self.latest[1] if self.latest else None,
            "totals": {"kinds": dict(self.kinds), "severities": dict(self.severities), "levels": dict(self.levels),
                       "labels": dict(self.labels), "dlq_reasons": dict(self.dlq_reasons),
                       "deliveries": dict(self.deliveries),
                       "records": self.records, "bad_records": dict(self.bad),
                       "groups": len(self.groups), "groups_dropped": self.groups.dropped},
            "bounds": {"groups": b.groups, "feed": b.feed, "severe": b.severe, "followups": b.followups,
                       "responsiveness": b.responsiveness, "reports": b.reports, "top_groups": b.top_groups},
            "groups": [g.summary() for g in top],
            "rules": sorted(self.rules),
            "feed": self._feed_view(view),
            "charts": self._charts_view(view),
            "responsiveness": self._responsiveness_view(view),
            "followups": self._followups_view(view),
            **self._report_panel(view),
        }

    def _feed_view(self, view: View) -> dict:
        severe_only = view.severity == "severe"
        store = self.severe if severe_only else self.feed
        items, by_kind, total = [], Counter(), 0
        needle = view.member
        for item in store.newest_first():
            if (view.group and item["group_id"] != view.group) or (view.rule and item["rule"] != view.rule) \
                    or (view.severity and item["severity"] != view.severity) \
                    or (not view.escalations and item["kind"] == "escalation"):
                continue
            if needle and not any(needle in v.lower() for v in (item["member"]["name"], item["member"]["id"]) if v):
                continue
            if view.offset <= total < view.offset + view.limit:
                items.append(item)
            total += 1
            by_kind[item["kind"]] += 1
        return {"items": items, "total": total, "by_kind": dict(by_kind), "offset": view.offset, "limit": view.limit,
                "source": "severe" if severe_only else "recent", "kept": store.cap, "dropped": store.dropped}

    def _charts_view(self, view: View) -> list[dict]:
        if view.group:
            chosen = [self.groups.get(view.group)] if view.group in self.groups else []
        else:
            chosen = self.groups.top(self.bounds.chart_groups, key=lambda g: (g.violations, g.last_seen))
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
        needle = view.member
        rows = [row for row in self.responsiveness.data.values()
                if row["window"]["kind"] == view.window and (not view.group or row["group_id"] == view.group)
                and (not needle or any(needle in v.lower() for v in (row["member"]["name"], row["member"]["id"]) if v))]

        def value(row):
            if view.sort == "member":
                return "" if row["scope"] == "group" else (row["member"]["name"] or row["member"]["id"] or "")
            if view.sort == "start":
                return row["window"]["start"]
            return row[view.sort]

        present = [r for r in rows if value(r) is not None]
        blank = [r for r in rows if value(r) is None]   # blanks last whatever the direction
        pick = heapq.nlargest if view.descending else heapq.nsmallest
        chosen = pick(view.limit, present, key=lambda r: (value(r), str(r["group_id"]), r["scope"] != "group"))
        chosen += blank[: view.limit - len(chosen)]
        return {"rows": [{k: v for k, v in r.items() if k not in ("arrival", "window_seconds")} for r in chosen],
                "total": len(rows), "kept": self.responsiveness.cap, "dropped": self.responsiveness.dropped}

    def _followups_view(self, view: View) -> dict:
        items = [i for i in self.followups.data.values() if not view.group or i["group_id"] == view.group]
        newest = heapq.nlargest(view.limit, items, key=lambda i: (i["since_seconds"], i["arrival"]))
        hidden = ("since_seconds", "arrival", "priority", "escalation_id")
        return {"items": [{k: v for k, v in i.items() if k not in hidden} for i in newest],
                "total": len(items), "kept": self.followups.cap, "dropped": self.followups.dropped}

    def _report_panel(self, view: View) -> dict:
        newest = self.reports.top(self.bounds.top_groups)
        chosen = view.report or view.group
        report = self.reports.get(chosen) if chosen else (newest[0] if newest else None)
        if report is not None and all(r is not report for r in newest):
            newest.append(report)
        return {"report": None if report is None else {k: v for k, v in report.items() if k not in ("arrival",)},
                "report_groups": [{"id": r["group_id"], "name": r["group_name"]} for r in newest]}


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
