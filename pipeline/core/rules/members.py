"""Members: M1 unapproved join, M2 display name not 部门+姓名, M3 inactive members (scheduled notice
to the admin), M4 departed member still in the group after a grace period (escalation to the admin).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from functools import lru_cache
from typing import cast

from pipeline.config import Directory, Policy
from pipeline.core.events import REMOVAL, MemberDeparted, MemberJoined, MemberRenamed
from pipeline.core.rules.base import Context, Finding, Violation, violation
from pipeline.core.state import GroupState, at

SECTION = "members_rule"


def on_event(ctx: Context) -> list[Finding]:
    event = ctx.event
    section = _section(ctx.state)
    section["group_id"] = event.group_id  # scheduled checks have no event to take it from
    found: list[Finding] = []
    if isinstance(event, MemberDeparted) and event.member.id in ctx.state.members:
        section["departed_pending"] = True
    if isinstance(event, MemberJoined):
        found += unapproved_join(ctx)
    if isinstance(event, (MemberJoined, MemberRenamed)) and event.member.name is not None:
        found += name_form(ctx)
    if isinstance(event, (MemberJoined, MemberRenamed)):
        member_id = event.member.id
    elif event.type.startswith(("message.posted", "announcement.", "file.")):
        member_id = event.actor.id
    else:
        return found
    if member_id not in ctx.state.members or member_id in section.get("inactive_notified", {}):
        # Someone becomes a member, or a member already noticed starts a new stretch (apply_membership
        # runs after the rules): their silence counts from now, which may come before the cached M3
        # due time. Lowered, not recomputed: a scan of every member per join was quadratic in an
        # all-hands group.
        _lower_inactive_due(section, event.ts + timedelta(days=ctx.policy.members.inactive_days))
    return found


def _lower_inactive_due(section: dict, due: datetime) -> None:
    if "inactive_due" not in section:
        return  # not worked out yet: next_due scans once
    cached = section["inactive_due"]
    if cached is None or due < at(cached):
        section["inactive_due"] = due.isoformat()


# --------------------------------------------------------------------------- M1


def approvers(ctx: Context) -> set[str]:
    extra = ctx.policy.groups.extra_approvers.get(ctx.event.group_id, ())
    return set(ctx.state.owners) | set(extra)


def unapproved_join(ctx: Context) -> list[Violation]:
    event = cast(MemberJoined, ctx.event)
    allowed = approvers(ctx)
    approver = event.approved_by
    if approver is None:
        why = "joined without an approver"
    elif allowed and approver not in allowed:
        why = f"approved by {approver}, who is not an owner of the group or an allowed approver"
    else:
        # Approved by an owner; or the group's owners are unknown (never configured) and nobody is
        # configured for it, so there is nothing to judge the approver against.
        return []
    return violation(
        ctx, "M1", member_id=event.member.id, member_name=event.member.name,
        evidence={"event_ids": [event.event_id], "approved_by": approver, "invited_by": event.actor.id,
                  "allowed_approvers": sorted(allowed), "why": why},
        action="入群须经群负责人审核同意后邀请；请负责人确认该成员，或将其移出。")


# --------------------------------------------------------------------------- M2


@lru_cache(maxsize=64)
def _name_parser(departments: tuple[str, ...], separators: tuple[str, ...], name_pattern: str):
    # Longest departments first so 研发中心 wins over a shorter 研发 prefix.
    depts = "|".join(re.escape(d) for d in sorted(departments, key=len, reverse=True))
    seps = "".join(re.escape(s) for s in separators)
    return (re.compile(rf"^(?P<dept>{depts})[{seps}]*(?P<name>.+)$"), re.compile(name_pattern),
            re.compile(rf"[{seps}]+") if seps else None)


def check_name(display: str, directory: Directory, group_name: str | None = None) -> tuple[bool, str | None]:
    """(valid, suggested fix). Valid is 部门+姓名: a directory department, an optional separator, and a
    personal name. The fix is `部门-姓名` when the department can be guessed: from a department-like
    part of the name (a near miss such as 财务-张三, or the order 张三-财务部), else from the group's
    name (财务部工作群)."""
    display = display.strip()
    whole, personal, splitter = _name_parser(directory.departments, directory.separators, directory.name_pattern)
    found = whole.match(display)
    if found and personal.match(found["name"].strip()):
        return True, None
    parts = [p for p in (splitter.split(display) if splitter else [display]) if p]
    if len(parts) == 2:
        for dept_part, name_part in (parts, parts[::-1]):
            dept = guess_department(dept_part, directory)
            if dept and personal.match(name_part):
                return False, f"{dept}-{name_part}"
    if len(parts) == 1 and personal.match(display):
        dept = department_in(group_name or "", directory)
        if dept:
            return False, f"{dept}-{display}"
    return False, None


def guess_department(text: str, directory: Directory) -> str | None:
    """The directory department `text` most likely means, or None."""
    if text in directory.departments:
        return text
    best, best_score = None, 0.0
    for dept in directory.departments:
        score = SequenceMatcher(None, text, dept, autojunk=False).ratio()
        if dept.startswith(text) and len(text) >= 2:
            score = max(score, 0.9)  # 财务 for 财务部
        if score > best_score:
            best, best_score = dept, score
    return best if best_score >= directory.guess_min_similarity else None


def department_in(text: str, directory: Directory) -> str | None:
    """The longest directory department named inside `text` (e.g. a group called 财务部工作群)."""
    hits = [d for d in directory.departments if d in text]
    return max(hits, key=len) if hits else None


def name_form(ctx: Context) -> list[Violation]:
    event = cast(MemberJoined | MemberRenamed, ctx.event)
    display = event.member.name or ""
    valid, fix = check_name(display, ctx.policy.directory, ctx.state.roles.get("name"))
    if valid:
        return []
    action = "群昵称请使用“部门+姓名”格式（如 财务部-张三）" + (f"，建议改为“{fix}”。" if fix else "。")
    return violation(
        ctx, "M2", member_id=event.member.id, member_name=display,
        evidence={"event_ids": [event.event_id], "display_name": display, "on": event.type},
        action=action, suggested_name=fix)


# --------------------------------------------------------------------------- M3 and M4 (scheduled)


def _section(state: GroupState) -> dict:
    return state.section(SECTION)


def _inactive_due(state: GroupState, policy: Policy) -> datetime | None:
    notified = _section(state).get("inactive_notified", {})
    silence = timedelta(days=policy.members.inactive_days)
    due = [at(record["last_active"]) + silence for member_id, record in state.members.items()
           if "departed" not in record and notified.get(member_id) != record["last_active"]]
    return min(due, default=None)


def _departed_due(state: GroupState, policy: Policy) -> datetime | None:
    escalated = _section(state).get("departed_escalated", {})
    grace = timedelta(hours=policy.members.departed_grace_hours)
    due = [at(record["departed"]) + grace for member_id, record in state.members.items()
           if "departed" in record and escalated.get(member_id) != record["departed"]]
    return min(due, default=None)


def next_due(state: GroupState, policy: Policy) -> datetime | None:
    section = _section(state)
    if "inactive_due" not in section:
        # Cached because this runs after every event: it only moves later as members speak, and
        # is dropped when someone may join (on_event) and recomputed after each check.
        due = _inactive_due(state, policy)
        section["inactive_due"] = due.isoformat() if due else None
    inactive = at(section["inactive_due"]) if section["inactive_due"] else None
    departed = _departed_due(state, policy) if section.get("departed_pending") else None
    if inactive is None or departed is None:
        return departed if inactive is None else inactive
    return min(inactive, departed)


def on_schedule(ctx: Context) -> list[Finding]:
    found = inactive_members(ctx) + departed_members(ctx)
    section = _section(ctx.state)
    due = _inactive_due(ctx.state, ctx.policy)
    section["inactive_due"] = due.isoformat() if due else None
    return found


def inactive_members(ctx: Context) -> list[Finding]:
    state, policy = ctx.state, ctx.policy
    notified = _section(state).setdefault("inactive_notified", {})
    for member_id in [m for m in notified if m not in state.members]:
        del notified[member_id]
    silence = timedelta(days=policy.members.inactive_days)
    found: list[Finding] = []
    for member_id, record in sorted(state.members.items()):
        last = record["last_active"]
        if "departed" in record or notified.get(member_id) == last or at(last) + silence > ctx.now:
            continue
        notified[member_id] = last  # once per silent stretch: a new message starts a new stretch
        days = (ctx.now - at(last)).days
        found += violation(
            ctx, "M3", member_id=member_id, member_name=record.get("name"), escalate=False,
            source_id=f"inactive:{member_id}:{last}",
            evidence={"last_active": last, "silent_days": days, "inactive_days": policy.members.inactive_days},
            action=f"该成员已 {days} 天未在群内发言，请管理员确认是否仍需留在群内。",
            notice="inactive_member", recipients={"admins": list(state.admins) or list(state.owners)})
    return found


def departed_members(ctx: Context) -> list[Finding]:
    state, policy = ctx.state, ctx.policy
    section = _section(state)
    escalated = section.setdefault("departed_escalated", {})
    for member_id in [m for m in escalated if m not in state.members]:
        del escalated[member_id]
    grace = timedelta(hours=policy.members.departed_grace_hours)
    found: list[Finding] = []
    for member_id, record in sorted(state.members.items()):
        departed = record.get("departed")
        if departed is None or escalated.get(member_id) == departed or at(departed) + grace > ctx.now:
            continue
        escalated[member_id] = departed
        found += violation(
            ctx, "M4", member_id=member_id, member_name=record.get("name"), escalate=False,
            source_id=f"departed:{member_id}:{departed}",
            evidence={"departed": departed, "grace_hours": policy.members.departed_grace_hours},
            action="该成员已离职或调动，请管理员将其移出群聊。",
            direct=(REMOVAL, f"departed at {departed} and still in the group after "
                             f"{policy.members.departed_grace_hours} hours"))
    section["departed_pending"] = any("departed" in r and escalated.get(m) != r["departed"]
                                      for m, r in state.members.items())
    return found
