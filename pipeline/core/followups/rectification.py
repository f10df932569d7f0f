"""D4: rectification notices (整改意见) are tracked until the responsible person reports them done.

How an item opens: a `message.posted` from a supervisor (`groups.supervisors`), an admin or an
owner of the group that matches a `rectification` pattern (整改) and not a `rectification_done`
one. The responsible people are the members it mentions (the group's owners when it mentions
nobody). The deadline is read from the text: a date (2026-03-10, 2026年3月10日, 3月10日: the end of
that working day), `N个工作日` (N working days of work time), `N天内` (N calendar days); otherwise
`rectification_default_workdays` working days. Severe violations do not open items by themselves:
the supervisor decides what needs rectifying and says so in the group.
How it closes: a message from a responsible person that matches `rectification_done` (整改完成,
已整改) and replies to the notice, or stands alone (no reply_to): it closes that person's open items.
Still open at the deadline → one `supervisor` escalation to the supervisors and admins; the item
stays open (and in the report) until it closes.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from pipeline.config import Policy
from pipeline.core.events import SUPERVISOR, MessagePosted
from pipeline.core.followups.common import (
    admins, at, cached_due, due_after, due_changed, escalation, listed, matches, member_ref, owners, stamp,
)
from pipeline.core.followups.report import tally
from pipeline.core.rules.base import Context, Finding
from pipeline.core.state import GroupState
from pipeline.core.worktime import local

NAME = "rectifications"
RULE = "D4"
_NUMERALS = {c: i for i, c in enumerate("零一二三四五六七八九十", start=0)} | {"两": 2}
_FULL_DATE = re.compile(r"(20\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_MONTH_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_WORKDAYS = re.compile(r"(\d+|[一二两三四五六七八九十]+)\s*个?\s*工作日")
_DAYS = re.compile(r"(\d+|[一二两三四五六七八九十]+)\s*[天日]内")


def _section(state: GroupState) -> dict:
    return state.section("rectifications", lambda: {"open": {}})


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _NUMERALS[text[1]]
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _NUMERALS[tens] * 10 + (_NUMERALS[ones] if ones else 0)
    return _NUMERALS[text]


def deadline_from_text(text: str, posted: datetime, policy: Policy) -> datetime:
    hours = policy.work_hours
    workday = (datetime.combine(date.min, hours.end) - datetime.combine(date.min, hours.start)).total_seconds()
    tz = local(posted, hours).tzinfo
    end_of = lambda day: datetime.combine(day, hours.end, tz)  # noqa: E731 - the end of that working day
    if found := _FULL_DATE.search(text):
        try:
            return end_of(date(int(found[1]), int(found[2]), int(found[3])))
        except ValueError:
            pass
    if found := _MONTH_DAY.search(text):
        today = local(posted, hours).date()
        try:
            day = date(today.year, int(found[1]), int(found[2]))
            if day < today:
                day = date(today.year + 1, day.month, day.day)
            return end_of(day)
        except ValueError:
            pass
    if found := _WORKDAYS.search(text):
        return due_after(posted, _number(found[1]) * workday, policy)
    if found := _DAYS.search(text):
        return posted + timedelta(days=_number(found[1]))
    return due_after(posted, policy.responsiveness.rectification_default_workdays * workday, policy)


def on_event(ctx: Context) -> list[Finding]:
    event, state, policy = ctx.event, ctx.state, ctx.policy
    if not isinstance(event, MessagePosted) or not policy.enabled(RULE):
        return []
    section = _section(state)
    open_ = section["open"]
    msg, actor = event.message, event.actor.id
    # A "done" message (整改完成) never opens a rectification, though it contains 整改.
    done = bool(open_) and matches(policy, "rectification_done", msg.text)
    if done:
        due_changed(state, section)
        for key in sorted(open_):
            item = open_[key]
            if actor in item["responsible"] and (msg.reply_to is None or msg.reply_to == key):
                del open_[key]
                tally(state, "rectifications_closed")
    may_issue = actor in state.admins or actor in state.owners or actor in policy.groups.supervisors
    if not done and may_issue and matches(policy, "rectification", msg.text) and msg.id not in open_ \
            and not matches(policy, "rectification_done", msg.text):
        responsible = sorted(set(msg.mentions) - {actor}) or owners(state)
        deadline = deadline_from_text(msg.text, event.ts, policy)
        due_changed(state, section)
        open_[msg.id] = {
            "event_id": event.event_id, "issuer": actor, "responsible": responsible,
            "opened": stamp(event.ts, policy), "due": stamp(deadline, policy), "escalated": False,
            "excerpt": ctx.verdict.excerpt if ctx.verdict else None,
        }
        tally(state, "rectifications_opened")
    return []


def next_due(state: GroupState) -> str | None:
    return cached_due(_section(state), _earliest)


def _earliest(open_: dict) -> str | None:
    # stamps of one policy sort as text (common.stamp)
    return min((item["due"] for item in open_.values() if not item["escalated"]), default=None)


def deadlines(state: GroupState, policy: Policy, now: datetime, group_id: str) -> list[Finding]:
    found: list[Finding] = []
    due_changed(state, _section(state))
    for key, item in sorted(_section(state)["open"].items()):
        if item["escalated"] or at(item["due"]) > now:
            continue
        item["escalated"] = True
        tally(state, "rectifications_escalated")
        found.append(escalation(
            rule=RULE, level=SUPERVISOR, key=key, group_id=group_id, now=now,
            member=member_ref(state, item["responsible"][0]) if item["responsible"] else None,
            recipients={"supervisors": sorted(policy.groups.supervisors), "admins": admins(state)},
            evidence={"event_ids": [item["event_id"]], "message_id": key, "issued_by": item["issuer"],
                      "issued_at": item["opened"], "excerpt": item["excerpt"]},
            due=item["due"], why="the rectification is not reported done by its deadline",
            **listed("responsible", [member_ref(state, m) for m in item["responsible"]])))
    return found


def summary(state: GroupState, policy: Policy, start: datetime, end: datetime) -> dict:
    counts = state.section("report").get("current", {}).get("tally", {})
    return {
        "opened": counts.get("rectifications_opened", 0),
        "closed": counts.get("rectifications_closed", 0),
        "escalated": counts.get("rectifications_escalated", 0),
        **listed("open", [{"message_id": k, "issued_by": item["issuer"],
                           **listed("responsible", [member_ref(state, m) for m in item["responsible"]]),
                           "issued_at": item["opened"], "due": item["due"], "overdue": item["escalated"]}
                          for k, item in sorted(_section(state)["open"].items())]),
    }
