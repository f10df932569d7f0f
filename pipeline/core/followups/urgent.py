"""P10 / P11: an urgent post is followed up in detail later (及时跟进).

A `message.posted` flagged urgent, or holding one of `publishing.urgent_markers`, opens a follow-up
for its poster: P10 when posted off hours, P11 in work hours. The poster's later message that
replies to it, matches a `followup` pattern (进展, 详细, 处理结果) or has at least
`followup_min_chars` characters, or a file or announcement from the poster, closes every open
follow-up of that poster. None within `urgent_followup_seconds` of work time (for an off-hours post
that counts from the next working morning) → one `reminder` to the poster and the admins, and the
item is settled as overdue. `rules.P11` switches every urgent follow-up; `rules.P10` only the
off-hours advisory (pipeline/core/rules/publishing.py).
"""
from __future__ import annotations

from datetime import datetime

from pipeline.config import Policy
from pipeline.core.events import REMINDER, AnnouncementPosted, FileShared, MessagePosted
from pipeline.core.followups.common import (
    admins, at, cached_due, due_after, due_changed, escalation, listed, matches, member_ref, stamp,
)
from pipeline.core.followups.report import tally
from pipeline.core.rules.base import Context, Finding, is_urgent
from pipeline.core.state import GroupState
from pipeline.core.worktime import is_work_time

NAME = "urgent_posts"


def _section(state: GroupState) -> dict:
    return state.section("urgent_followups", lambda: {"open": {}})


def on_event(ctx: Context) -> list[Finding]:
    event, state, policy = ctx.event, ctx.state, ctx.policy
    section = _section(state)
    open_ = section["open"]
    actor = event.actor.id
    if isinstance(event, (MessagePosted, FileShared, AnnouncementPosted)) and open_:
        if _is_followup(event, policy, open_):
            due_changed(state, section)
            for key in sorted(k for k, item in open_.items() if item["poster"] == actor and k != _message_id(event)):
                del open_[key]
                tally(state, "urgent_followed_up")
    if isinstance(event, MessagePosted) and is_urgent(event.message, policy):
        # An off-hours post's follow-up carries P10 (POLICY.md), but rules.P10 switches the off-hours
        # advisory: every urgent follow-up is switched by rules.P11.
        rule = "P11" if is_work_time(event.ts, policy.work_hours) else "P10"
        if policy.enabled("P11") and event.message.id not in open_:
            due_changed(state, section)
            open_[event.message.id] = {
                "rule": rule, "event_id": event.event_id, "poster": actor, "opened": stamp(event.ts, policy),
                "due": stamp(due_after(event.ts, policy.responsiveness.urgent_followup_seconds, policy), policy),
                "excerpt": ctx.verdict.excerpt if ctx.verdict else None,
            }
            tally(state, "urgent_opened")
    return []


def _message_id(event) -> str | None:
    return event.message.id if isinstance(event, MessagePosted) else None


def _is_followup(event, policy: Policy, open_: dict) -> bool:
    if not isinstance(event, MessagePosted):
        return True
    msg = event.message
    return (msg.reply_to in open_ or matches(policy, "followup", msg.text)
            or len(msg.text.strip()) >= policy.responsiveness.followup_min_chars)


def next_due(state: GroupState) -> str | None:
    return cached_due(_section(state), _earliest)


def _earliest(open_: dict) -> str | None:
    return min((item["due"] for item in open_.values()), default=None)  # stamps of one policy sort as text (common.stamp)


def deadlines(state: GroupState, policy: Policy, now: datetime, group_id: str) -> list[Finding]:
    section = _section(state)
    due_changed(state, section)
    open_ = section["open"]
    found: list[Finding] = []
    for key in sorted(open_, key=lambda k: (open_[k]["due"], k)):
        item = open_[key]
        if at(item["due"]) > now:
            continue
        del open_[key]
        tally(state, "urgent_overdue")
        found.append(escalation(
            rule=item["rule"], level=REMINDER, key=key, group_id=group_id, now=now,
            member=member_ref(state, item["poster"]),
            recipients={"member": item["poster"], "admins": admins(state)},
            evidence={"event_ids": [item["event_id"]], "message_id": key, "posted": item["opened"],
                      "excerpt": item["excerpt"]},
            due=item["due"], why="no detailed follow-up to the urgent post by its deadline"))
    return found


def summary(state: GroupState, policy: Policy, start: datetime, end: datetime) -> dict:
    counts = state.section("report").get("current", {}).get("tally", {})
    return {
        "opened": counts.get("urgent_opened", 0),
        "followed_up": counts.get("urgent_followed_up", 0),
        "overdue": counts.get("urgent_overdue", 0),
        **listed("open", [{"message_id": k, "rule": item["rule"], "poster": member_ref(state, item["poster"]),
                  "posted": item["opened"], "due": item["due"]}
                 for k, item in sorted(_section(state)["open"].items())]),
    }
