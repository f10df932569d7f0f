"""C5: problems raised in the group are tracked until resolved.

A `message.posted` that matches a `problem` pattern (报错, 无法登录, 故障) and is neither a reply nor a
resolution opens a problem. An owner responds by replying to it or mentioning the reporter (or by
resolving it). A resolution (`resolution` pattern: 已解决, 已修复) by an owner or the reporter that
replies to it, mentions the reporter, or, when only one problem is open, stands alone, marks it
resolved. It closes when both an owner has responded and it is resolved.
No owner response within `problem_response_seconds` of work time → `reminder` to the owners and
admins; not closed within `problem_resolution_seconds` → `supervisor` escalation. Each fires once;
the problem stays open (and in the report) until it closes.
"""
from __future__ import annotations

from datetime import datetime

from pipeline.config import Policy
from pipeline.core.events import REMINDER, SUPERVISOR, MessagePosted
from pipeline.core.followups.common import (
    admins, at, cached_due, due_after, due_changed, escalation, listed, matches, member_ref, owners, stamp,
)
from pipeline.core.followups.report import tally
from pipeline.core.rules.base import Context, Finding
from pipeline.core.state import GroupState

NAME = "problems"
RULE = "C5"


def _section(state: GroupState) -> dict:
    return state.section("problems", lambda: {"open": {}})


def on_event(ctx: Context) -> list[Finding]:
    event = ctx.event
    if not isinstance(event, MessagePosted) or not ctx.policy.enabled(RULE):
        return []
    state, policy = ctx.state, ctx.policy
    section = _section(state)
    open_ = section["open"]
    msg, actor = event.message, event.actor.id
    resolution = matches(policy, "resolution", msg.text)
    is_owner = bool(open_) and actor in owners(state)
    # Only an owner's message or a resolution can change an open problem.
    if open_ and (is_owner or resolution):
        due_changed(state, section)
        for key in sorted(open_):
            problem = open_[key]
            if key == msg.id:
                continue
            linked = msg.reply_to == key or problem["reporter"] in msg.mentions
            alone = msg.reply_to is None and not msg.mentions and len(open_) == 1
            if is_owner and linked and problem["responded"] is None:
                problem["responded"] = stamp(event.ts, policy)
            if resolution and (linked or alone) and (is_owner or actor == problem["reporter"]):
                if is_owner and problem["responded"] is None:
                    problem["responded"] = stamp(event.ts, policy)
                problem["resolved"] = problem["resolved"] or stamp(event.ts, policy)
            if problem["responded"] and problem["resolved"]:
                del open_[key]
                tally(state, "problems_resolved")
    abuse = ctx.verdict is not None and ctx.verdict.label == "abuse"  # 你是不是脑子有问题 is an insult, not a report
    if msg.reply_to is None and not resolution and not abuse and matches(policy, "problem", msg.text) \
            and msg.id not in open_:
        rules = policy.responsiveness
        due_changed(state, section)
        open_[msg.id] = {
            "event_id": event.event_id, "reporter": actor, "opened": stamp(event.ts, policy),
            "response_due": stamp(due_after(event.ts, rules.problem_response_seconds, policy), policy),
            "resolution_due": stamp(due_after(event.ts, rules.problem_resolution_seconds, policy), policy),
            "responded": None, "resolved": None, "reminded": False, "escalated": False,
            "excerpt": ctx.verdict.excerpt if ctx.verdict else None,
        }
        tally(state, "problems_opened")
    return []


def next_due(state: GroupState) -> str | None:
    return cached_due(_section(state), _earliest)


def _earliest(open_: dict) -> str | None:
    due = []
    for problem in open_.values():
        if not problem["reminded"] and problem["responded"] is None:
            due.append(problem["response_due"])
        if not problem["escalated"]:
            due.append(problem["resolution_due"])
    return min(due) if due else None  # stamps of one policy sort as text (common.stamp)


def deadlines(state: GroupState, policy: Policy, now: datetime, group_id: str) -> list[Finding]:
    found: list[Finding] = []
    due_changed(state, _section(state))
    for key, problem in sorted(_section(state)["open"].items()):
        evidence = {"event_ids": [problem["event_id"]], "message_id": key, "reported_at": problem["opened"],
                    "owner_responded": problem["responded"], "resolved": problem["resolved"],
                    "excerpt": problem["excerpt"]}
        if not problem["reminded"] and problem["responded"] is None and at(problem["response_due"]) <= now:
            problem["reminded"] = True
            found.append(escalation(
                rule=RULE, level=REMINDER, key=key, group_id=group_id, now=now,
                member=member_ref(state, problem["reporter"]),
                recipients={"owners": owners(state), "admins": admins(state)}, evidence=evidence,
                due=problem["response_due"], why="no owner has responded to the problem report"))
        if not problem["escalated"] and at(problem["resolution_due"]) <= now:
            problem["escalated"] = True
            tally(state, "problems_escalated")
            found.append(escalation(
                rule=RULE, level=SUPERVISOR, key=key, group_id=group_id, now=now,
                member=member_ref(state, problem["reporter"]),
                recipients={"supervisors": sorted(policy.groups.supervisors), "owners": owners(state)},
                evidence=evidence, due=problem["resolution_due"], why="the problem is not resolved by its deadline"))
    return found


def _public(state: GroupState, key: str, problem: dict) -> dict:
    return {"message_id": key, "reporter": member_ref(state, problem["reporter"]), "opened": problem["opened"],
            "owner_responded": problem["responded"], "resolved": problem["resolved"],
            "overdue": problem["escalated"]}


def summary(state: GroupState, policy: Policy, start: datetime, end: datetime) -> dict:
    section = _section(state)
    counts = state.section("report").get("current", {}).get("tally", {})
    return {
        "opened": counts.get("problems_opened", 0),
        "resolved": counts.get("problems_resolved", 0),
        "escalated": counts.get("problems_escalated", 0),
        **listed("open", [_public(state, k, p) for k, p in sorted(section["open"].items())]),
    }
