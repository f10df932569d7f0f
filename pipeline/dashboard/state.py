"""What the dashboard shows, built from output events alone: pure, no Kafka, no web.

`DashboardState.apply(event)` takes one output event (any kind) and updates the views;
`snapshot()` returns them as plain JSON-able data for the page. Outputs may be redelivered, so
everything is keyed by the events' stable ids and a repeat changes nothing. Only fields that
the outputs already carry in redacted form are kept (excerpts, names, ids, counts); DLQ records
are counted by reason bucket, and their original bytes are never kept.
"""
from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from datetime import datetime, timezone
from typing import Any

from pipeline.metrics import reason_bucket

FEED_LIMIT = 1000          # newest violations and escalations kept for the stream
SEEN_LIMIT = 200_000       # ids remembered for de-duplication
_LEVEL_ORDER = {"reminder": 1, "removal_recommended": 2, "supervisor": 3}
# Sections of a group report that list open follow-ups, and how to name their items.
_REPORT_FOLLOWUPS = {"problems": "problem (C5)", "rectifications": "rectification (D4)",
                     "urgent_posts": "urgent post (P10/P11)", "announcements": "announcement (P7)"}


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else None


def _hour_bucket(value: Any) -> str | None:
    ts = _parse_ts(value)
    return ts.replace(minute=0, second=0, microsecond=0).isoformat() if ts else None


def _member(event: dict) -> dict:
    member = event.get("member")
    if isinstance(member, dict):
        return {"id": member.get("id"), "name": member.get("name")}
    return {"id": None, "name": None}


def _text(value: Any, limit: int = 500) -> str | None:
    return value[:limit] if isinstance(value, str) else None


class DashboardState:
    def __init__(self, feed_limit: int = FEED_LIMIT):
        self.feed_limit = feed_limit
        self.version = 0                       # bumped on every change, for the live push
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.feed: list[dict] = []             # newest last
        self.kinds: Counter = Counter()
        self.severities: Counter = Counter()
        self.levels: Counter = Counter()
        self.labels: dict[str, Counter] = defaultdict(Counter)        # group → verdict label counts
        self.rule_counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))  # group → hour → rule
        self.rule_totals: dict[str, Counter] = defaultdict(Counter)   # group → rule
        self.responsiveness: dict[tuple, dict] = {}
        self.reports: dict[str, dict] = {}
        self.pending_actions: dict[tuple, dict] = {}  # (group, member, rule) → latest escalation
        self.dlq_reasons: Counter = Counter()
        self.group_names: dict[str, str] = {}
        self.latest_ts: str | None = None

    # ------------------------------------------------------------------ input
    def apply(self, event: Any) -> bool:
        """Fold one output event in; returns False if it was a repeat or not an output event."""
        if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
            return False
        event_id = event.get("id")
        if isinstance(event_id, str):
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        kind = event["kind"]
        self.kinds[kind] += 1
        ts = event.get("ts")
        if isinstance(ts, str) and (self.latest_ts is None or (_parse_ts(ts) or datetime.min) >
                                    (_parse_ts(self.latest_ts) or datetime.min)):
            self.latest_ts = ts
        handler = getattr(self, f"_apply_{kind}", None)
        if handler:
            handler(event)
        self.version += 1
        return True

    def _apply_verdict(self, e: dict) -> None:
        group = e.get("group_id")
        if isinstance(group, str):
            self.labels[group][str(e.get("label"))] += 1

    def _apply_violation(self, e: dict) -> None:
        group, rule = str(e.get("group_id") or "-"), str(e.get("rule") or "?")
        self.severities[str(e.get("severity"))] += 1
        self.rule_totals[group][rule] += 1
        bucket = _hour_bucket(e.get("ts"))
        if bucket:
            self.rule_counts[group][bucket][rule] += 1
        self._add_to_feed({
            "id": e.get("id"), "kind": "violation", "ts": e.get("ts"), "group_id": group, "rule": rule,
            "severity": e.get("severity"), "member": _member(e), "excerpt": _text(e.get("excerpt")),
            "detail": _text(e.get("action")),
        })

    def _apply_escalation(self, e: dict) -> None:
        group, rule, level = str(e.get("group_id") or "-"), str(e.get("rule") or "?"), str(e.get("level"))
        self.levels[level] += 1
        member = _member(e)
        evidence = e.get("evidence") if isinstance(e.get("evidence"), dict) else {}
        item = {
            "id": e.get("id"), "kind": "escalation", "ts": e.get("ts"), "group_id": group, "rule": rule,
            "severity": e.get("severity"), "level": level, "member": member,
            "excerpt": _text(evidence.get("excerpt")), "detail": _text(e.get("why")),
            "recipients": e.get("recipients") if isinstance(e.get("recipients"), dict) else {},
            "due": e.get("due"),
        }
        self._add_to_feed(item)
        key = (group, member["id"], rule)
        current = self.pending_actions.get(key)
        # The latest step of the ladder per member and rule is what someone still has to act on.
        if current is None or (_parse_ts(item["ts"]) or datetime.min) >= (_parse_ts(current["ts"]) or datetime.min):
            self.pending_actions[key] = item

    def _apply_responsiveness(self, e: dict) -> None:
        window = e.get("window") if isinstance(e.get("window"), dict) else {}
        scope = e.get("scope") or ("member" if _member(e)["id"] else "group")
        member = _member(e)
        key = (e.get("group_id"), member["id"] if scope == "member" else "*", window.get("kind"))
        row = {
            "group_id": e.get("group_id"), "scope": scope, "member": member,
            "window": {"kind": window.get("kind"), "start": window.get("start"), "end": window.get("end")},
            **{k: e.get(k) for k in ("addressed", "replied", "acknowledged", "overdue", "unanswered",
                                     "reply_rate", "median_reply_seconds", "p90_reply_seconds")},
        }
        if row["reply_rate"] is None and isinstance(row["addressed"], int) and row["addressed"]:
            row["reply_rate"] = round((row["replied"] or 0) / row["addressed"], 4)
        current = self.responsiveness.get(key)
        # Keep the latest window per member and window kind (a newer day replaces the older one).
        if current is None or str(row["window"]["start"] or "") >= str(current["window"]["start"] or ""):
            self.responsiveness[key] = row

    def _apply_group_report(self, e: dict) -> None:
        group = e.get("group_id")
        if not isinstance(group, str):
            return
        current = self.reports.get(group)
        if current is None or str(e.get("ts") or "") >= str(current.get("ts") or ""):
            self.reports[group] = e
        name = (e.get("group") or {}).get("name") if isinstance(e.get("group"), dict) else None
        if isinstance(name, str) and name:
            self.group_names[group] = name

    def _apply_rejected(self, e: dict) -> None:
        self.dlq_reasons[reason_bucket(e.get("reason"))] += 1

    def _add_to_feed(self, item: dict) -> None:
        self.feed.append(item)
        if len(self.feed) > self.feed_limit:
            del self.feed[: len(self.feed) - self.feed_limit]

    # ------------------------------------------------------------------ views
    def open_followups(self) -> list[dict]:
        """Open items listed by each group's latest report, then the latest ladder step per
        member and rule (removal and supervisor steps first)."""
        items = []
        for group, report in sorted(self.reports.items()):
            for section, label in _REPORT_FOLLOWUPS.items():
                value = report.get(section)
                entries = value.get("open", []) if isinstance(value, dict) else value if isinstance(value, list) else []
                for entry in entries:
                    if not isinstance(entry, dict) or entry.get("open") is False:
                        continue
                    items.append({"source": "report", "group_id": group, "what": label,
                                  "who": _who(entry), "since": _since(entry), "due": entry.get("due"),
                                  "overdue": bool(entry.get("overdue")), "detail": _report_item_detail(entry)})
        actions = sorted(self.pending_actions.values(),
                         key=lambda i: (-_LEVEL_ORDER.get(i["level"], 0), str(i["ts"] or "")))
        for item in actions:
            items.append({"source": "escalation", "group_id": item["group_id"],
                          "what": f"{item['level'].replace('_', ' ')} · {item['rule']}",
                          "who": item["member"].get("name") or item["member"].get("id"), "since": item["ts"],
                          "due": item.get("due"), "overdue": False, "detail": item.get("detail"),
                          "recipients": _recipients(item.get("recipients"))})
        return items

    def snapshot(self) -> dict:
        groups = sorted(set(self.rule_totals) | set(self.labels) | set(self.reports)
                        | {g for g, _, _ in self.responsiveness if isinstance(g, str)})
        return {
            "version": self.version,
            "latest_ts": self.latest_ts,
            "totals": {"kinds": dict(self.kinds), "severities": dict(self.severities), "levels": dict(self.levels),
                       "dlq_reasons": dict(self.dlq_reasons)},
            "groups": [{"id": g, "name": self.group_names.get(g)} for g in groups],
            "feed": _newest_first(self.feed),
            "charts": {g: {"buckets": {b: dict(c) for b, c in sorted(self.rule_counts[g].items(),
                                                                       key=lambda kv: _parse_ts(kv[0]))},
                           "totals": dict(self.rule_totals[g])}
                       for g in sorted(self.rule_totals)},
            "labels": {g: dict(c) for g, c in sorted(self.labels.items())},
            "responsiveness": sorted(self.responsiveness.values(),
                                     key=lambda r: (str(r["group_id"]), r["scope"] != "group",
                                                    str(r["member"].get("name") or r["member"].get("id") or ""),
                                                    str(r["window"]["kind"]))),
            "followups": self.open_followups(),
            "reports": {g: _report_view(r) for g, r in sorted(self.reports.items())},
        }


def _newest_first(items: list[dict]) -> list[dict]:
    # Arrival order interleaves partitions; event time is what a reader expects. Ties: newest arrival first.
    far_past = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(reversed(items), key=lambda i: _parse_ts(i.get("ts")) or far_past, reverse=True)


def _who(entry: dict) -> str | None:
    for key in ("responsible", "poster", "reporter", "missing", "member", "issued_by"):
        value = entry.get(key)
        if isinstance(value, dict):
            return value.get("name") or value.get("id")
        if isinstance(value, list) and value:
            names = [(v.get("name") or v.get("id")) if isinstance(v, dict) else str(v) for v in value]
            return "、".join(n for n in names if n)
        if isinstance(value, str):
            return value
    return None


def _since(entry: dict) -> str | None:
    for key in ("opened", "issued_at", "posted"):
        if isinstance(entry.get(key), str):
            return entry[key]
    return None


def _report_item_detail(entry: dict) -> str | None:
    if entry.get("title"):
        return f"{entry['title']}: {entry.get('acknowledged', '?')}/{entry.get('audience', '?')} read"
    if "owner_responded" in entry:
        return "owner responded, not resolved" if entry["owner_responded"] else "no owner response yet"
    if entry.get("rule"):
        return f"{entry['rule']} follow-up pending"
    return None


def _recipients(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    parts = []
    for role, who in value.items():
        ids = who if isinstance(who, list) else [who]
        ids = [str(i) for i in ids if i]
        if ids:
            parts.append(f"{role}: {', '.join(ids)}")
    return "; ".join(parts) or None


def _report_view(report: dict) -> dict:
    """The parts of a report the page shows, leaving out nothing but the envelope."""
    hidden = {"kind", "id", "schema"}
    return {k: v for k, v in report.items() if k not in hidden}

