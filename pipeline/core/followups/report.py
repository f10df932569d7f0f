"""D3: the periodic inspection report of one group, to the supervisors.

A period is a calendar day or week (Monday 00:00) in the work-hours timezone. The report for a
period is written once the watermark passes its end. Its counts are of what happened in the period
(by the event time at which each was seen): violations by rule, items addressed, replies and reply
times, deadlines missed, messages per member (owners' activity, C4); and what is still open at the
end: announcements, problems, urgent posts, rectifications, and members silent for
`members.inactive_days`. Unlike the responsiveness windows, a reply counts in the period in which
it came, so the report is final at the period's end. Violations count as they stand after review:
a reviewer's dismissal takes one out of its rule's count, a relabelling moves it to the new rule's
(`recount`), in the period it was found in while that period's report is still to come.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from pipeline.config import Policy
from pipeline.core.events import SCHEMA_VERSION, stable_id
from pipeline.core.followups.common import add_duration, admins, at, listed, percentile_summary
from pipeline.core.rules.base import Emit, Finding
from pipeline.core.state import GroupState
from pipeline.core.worktime import local

SECTION = "report"


def _section(state: GroupState) -> dict:
    return state.section(SECTION)


def _current(state: GroupState) -> dict:
    section = _section(state)
    current = section.get("current")
    if current is None:  # not setdefault: this runs per message, and _fresh() builds four dicts
        current = section["current"] = _fresh()
    return current


def _fresh() -> dict:
    return {"replies": {"group": _zero(), "members": {}}, "messages": {}, "tally": {}}


def _zero() -> dict:
    return {"addressed": 0, "replied": 0, "overdue": 0, "seconds": []}


def count(state: GroupState, name: str, member: str | None, seconds: int | None = None) -> None:
    """A C1 count for the period: `addressed`, `replied` (with its reply seconds) or `overdue`."""
    replies = _current(state)["replies"]
    targets = [replies["group"]] + ([replies["members"].setdefault(member, _zero())] if member else [])
    for t in targets:
        t[name] += 1
        if seconds is not None:
            add_duration(t, seconds)


def count_message(state: GroupState, member: str) -> None:
    messages = _current(state)["messages"]
    messages[member] = messages.get(member, 0) + 1


def tally(state: GroupState, name: str, n: int = 1) -> None:
    """A follow-up tracker's count for the period (e.g. `problems_opened`)."""
    counts = _current(state)["tally"]
    counts[name] = counts.get(name, 0) + n


def period_of(ts: datetime, policy: Policy) -> tuple[datetime, datetime]:
    t = local(ts, policy.work_hours)
    day = t.date()
    if policy.responsiveness.report_period == "week":
        day -= timedelta(days=day.weekday())
    start = datetime.combine(day, time(0), t.tzinfo)
    days = 7 if policy.responsiveness.report_period == "week" else 1
    return start, datetime.combine(day + timedelta(days=days), time(0), t.tzinfo)


def next_due(state: GroupState) -> str | None:
    return _section(state).get("end") if _enabled_flag(state) else None


def _enabled_flag(state: GroupState) -> bool:
    return _section(state).get("enabled", False)


def due_reports(state: GroupState, policy: Policy, now: datetime, group_id: str, trackers) -> list[Finding]:
    section = _section(state)
    section["enabled"] = policy.enabled("D3")
    if "end" not in section:
        start, end = period_of(now, policy)
        section.update(start=start.isoformat(), end=end.isoformat(),
                       violations_at_start=dict(state.section("violation_counts")))
        return []
    if at(section["end"]) > now:
        return []
    found: list[Finding] = []
    if section["enabled"]:
        found.append(Emit("reports", group_report(state, policy, now, group_id, trackers)))
    # The next period is the one `now` falls in: the periods between, if time jumped over some,
    # saw nothing of this group, and one report stands for them all (a group's clock that leaps
    # a year, or a replay whose first event is years old, gives one report, not one per week).
    start, end = period_of(now, policy)
    section.update(start=start.isoformat(), end=end.isoformat(), current=_fresh(),
                   violations_at_start=dict(state.section("violation_counts")))
    return found


def recount(state: GroupState, found_at: datetime, old_rule: str | None, new_rule: str | None) -> None:
    """A reviewer moved a violation found at `found_at` from `old_rule`'s count to `new_rule`'s (None:
    not counted). One of a period already reported changes no later period's count."""
    if old_rule == new_rule:
        return
    counts, section = state.section("violation_counts"), _section(state)
    reported = "start" in section and found_at < at(section["start"])
    for rule, step in ((old_rule, -1), (new_rule, 1)):
        if rule is not None:
            counts[rule] = counts.get(rule, 0) + step
            if reported:
                before = section["violations_at_start"]
                before[rule] = before.get(rule, 0) + step


def group_report(state: GroupState, policy: Policy, now: datetime, group_id: str, trackers) -> dict:
    section = _section(state)
    start, end = at(section["start"]), at(section["end"])
    current = _current(state)
    counts, before = state.section("violation_counts"), section["violations_at_start"]
    by_rule = {rule: counts[rule] - before.get(rule, 0) for rule in sorted(counts)
               if counts[rule] - before.get(rule, 0) > 0}
    replies = current["replies"]
    messages = current["messages"]
    roles = state.roles
    return {
        "kind": "group_report",
        "id": stable_id("rep", group_id, section["start"]),
        "group_id": group_id,
        "ts": now.isoformat(),
        "rule": "D3",
        "period": {"kind": policy.responsiveness.report_period, "start": section["start"], "end": section["end"]},
        "group": {"name": roles.get("name"), "kind": roles.get("kind"), "admins": sorted(roles.get("admins", [])),
                  "owners": sorted(roles.get("owners", []))},
        "recipients": {"supervisors": sorted(policy.groups.supervisors), "admins": admins(state)},
        "violations": {"total": sum(by_rule.values()), "by_rule": by_rule},
        "responsiveness": {
            **_summary(replies["group"]),
            **listed("by_member", [{"member": _ref(state, m), **_summary(replies["members"][m])}
                                   for m in sorted(replies["members"])]),
        },
        "activity": {
            "messages": sum(messages.values()),
            "active_members": len(messages),
            "owners": {owner: messages.get(owner, 0) for owner in sorted(roles.get("owners", []))},
        },
        **{tracker.NAME: tracker.summary(state, policy, start, end) for tracker in trackers},
        **listed("inactive_members", inactive_members(state, policy, end)),
        "schema": SCHEMA_VERSION,
    }


def _summary(counts: dict) -> dict:
    median, p90 = percentile_summary(counts["seconds"])
    return {"addressed": counts["addressed"], "replied": counts["replied"], "overdue": counts["overdue"],
            "median_reply_seconds": median, "p90_reply_seconds": p90}


def _ref(state: GroupState, member_id: str) -> dict:
    return {"id": member_id, "name": (state.member(member_id) or {}).get("name")}


def inactive_members(state: GroupState, policy: Policy, end: datetime) -> list[dict]:
    horizon = end - timedelta(days=policy.members.inactive_days)
    out = []
    for member_id, record in sorted(state.members.items()):
        last = at(record["last_active"])
        if "departed" not in record and last < horizon:
            out.append({**_ref(state, member_id), "last_active": record["last_active"],
                        "silent_days": (end - last).days})
    return out
