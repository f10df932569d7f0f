"""The escalation ladder (E1–E3, M5): reminder → removal recommended → supervisor."""
from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.config import Policy
from pipeline.events import SCHEMA_VERSION, stable_id
from pipeline.rules.base import Violation
from pipeline.state import GroupState

REMINDER, REMOVAL, SUPERVISOR = "reminder", "removal_recommended", "supervisor"


def escalate(violation: Violation, violation_event: dict, state: GroupState, now: datetime,
             policy: Policy) -> list[dict]:
    """Escalations for one violation; updates the member's rung on the ladder in `state`."""
    if not violation.escalate:
        return []
    ladder = state.section("ladder").setdefault(violation.member_id, {})
    if violation.severity == "severe":
        ladder.setdefault("_supervisor", 0)
        ladder["_supervisor"] += 1
        return [_event(SUPERVISOR, "E3", violation, violation_event, state, policy,
                       why=f"severe {violation.rule} violation goes to the supervisor at once")]
    rung = ladder.get(violation.rule)
    window = timedelta(days=policy.escalation.window_days)
    if rung and datetime.fromisoformat(rung["reminded"]) + window >= now:
        rung["removals"] = rung.get("removals", 0) + 1
        out = [_event(REMOVAL, "E2", violation, violation_event, state, policy,
                      why=f"another {violation.rule} violation within {policy.escalation.window_days} days "
                          f"of the reminder of {rung['reminded']}", reminded=rung["reminded"])]
        if rung["removals"] >= policy.escalation.removals_before_supervisor:
            out.append(_event(SUPERVISOR, "E3", violation, violation_event, state, policy,
                              why=f"{rung['removals']} removal recommendations for {violation.rule}"))
        return out
    ladder[violation.rule] = {"reminded": now.isoformat(), "removals": 0}
    return [_event(REMINDER, "E1", violation, violation_event, state, policy,
                   why=f"first {violation.rule} violation in the window")]


def _event(level: str, ladder_rule: str, violation: Violation, violation_event: dict, state: GroupState,
           policy: Policy, why: str, reminded: str | None = None) -> dict:
    recipients = {
        REMINDER: {"member": violation.member_id, "admins": state.admins},
        REMOVAL: {"admins": state.admins, "owners": state.owners},
        SUPERVISOR: {"supervisors": list(policy.groups.supervisors), "admins": state.admins},
    }[level]
    event = {
        "kind": "escalation",
        "id": stable_id("esc", level, violation_event["id"]),
        "group_id": violation_event["group_id"],
        "ts": violation_event["ts"],
        "level": level,
        "ladder": ladder_rule,
        "rule": violation.rule,
        "member": violation_event["member"],
        "recipients": recipients,
        "violations": [violation_event["id"]],
        "evidence": {**violation.evidence, "excerpt": violation.excerpt},
        "why": why,
        "schema": SCHEMA_VERSION,
    }
    if reminded:
        event["reminded_at"] = reminded
    return event
