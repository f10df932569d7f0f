"""The escalation ladder (E1–E3, M5): reminder → removal recommended → supervisor.

Per member and group, and per kind of violation (its rule id):
- E1: the first violation of a kind (or the first after a quiet `window_days`) → `reminder`, to the
  member and the admins.
- E2: another violation of that kind after the reminder (at least `repeat_grace_minutes` after the
  last step, so the member had a chance to correct), within `window_days` of the last step →
  `removal_recommended`, to the admins and owners (M5: 拒不改正 may be removed).
- E3: a severe violation → `supervisor` at once; and once a member collects
  `removals_before_supervisor` removal recommendations (of any kind) within the window, each
  further one also goes to the `supervisor`.

Everything is a function of the violation, the group state and event time, and every escalation id
is derived from the violation's id and the level, so a replay gives the same escalations.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.config import Policy
from pipeline.core.events import REMINDER, REMOVAL, SCHEMA_VERSION, SUPERVISOR, stable_id
from pipeline.core.rules.base import Violation
from pipeline.core.state import GroupState

MAX_REMOVALS = 100  # removal recommendations remembered per member (escalation.removals_before_supervisor ≤ 100)


def escalate(violation: Violation, violation_event: dict, state: GroupState, now: datetime,
             policy: Policy) -> list[dict]:
    """Escalations for one violation; updates the member's rung on the ladder in `state`."""
    if violation.direct is not None:
        level, why = violation.direct
        return [escalation_event(level, violation.rule, violation, violation_event, state, policy, why=why)]
    if not violation.escalate:
        return []
    window = timedelta(days=policy.escalation.window_days)
    ladder = state.section("ladder").setdefault(violation.member_id, {"kinds": {}, "removals": []})
    _forget_older_than(ladder, now - window)
    if violation.severity == "severe":
        return [escalation_event(SUPERVISOR, "E3", violation, violation_event, state, policy,
                                 why=f"severe {violation.rule} violation goes to the supervisor at once")]
    origin = _origin(violation)
    rung = ladder["kinds"].get(violation.rule)
    if rung is None:
        ladder["kinds"][violation.rule] = {"reminded": now.isoformat(), "last": now.isoformat(), "origin": origin}
        return [escalation_event(REMINDER, "E1", violation, violation_event, state, policy,
                                 why=f"first {violation.rule} violation within {policy.escalation.window_days} days")]
    if rung["origin"] == origin:
        # One input event found twice for the same kind (e.g. chit-chat that is also a flood):
        # that is not a repeat after a reminder.
        return []
    if now < datetime.fromisoformat(rung["last"]) + timedelta(minutes=policy.escalation.repeat_grace_minutes):
        # Too soon after the last step for the member to have read it and corrected themselves
        # (拒不改正 needs a chance to correct): the same episode, no new step.
        return []
    rung["last"] = now.isoformat()
    rung["origin"] = origin
    ladder["removals"].append(now.isoformat())
    if len(ladder["removals"]) > MAX_REMOVALS:  # only whether there are enough counts (config: at most 100)
        del ladder["removals"][: len(ladder["removals"]) - MAX_REMOVALS]
    out = [escalation_event(REMOVAL, "E2", violation, violation_event, state, policy,
                            why=f"another {violation.rule} violation after the reminder of {rung['reminded']}",
                            reminded_at=rung["reminded"])]
    count = len(ladder["removals"])
    if count >= policy.escalation.removals_before_supervisor:
        out.append(escalation_event(SUPERVISOR, "E3", violation, violation_event, state, policy,
                                    why=f"{count} removal recommendations within "
                                        f"{policy.escalation.window_days} days"))
    return out


def _origin(violation: Violation) -> str:
    return ",".join(violation.evidence.get("event_ids") or [violation.source_id])


def _forget_older_than(ladder: dict, horizon: datetime) -> None:
    """Drop rungs whose last step is outside the window, so state stays bounded and a member who
    kept the rules for a whole window starts again from a reminder."""
    kinds = ladder["kinds"]
    for rule in [r for r, rung in kinds.items() if datetime.fromisoformat(rung["last"]) < horizon]:
        del kinds[rule]
    ladder["removals"] = [ts for ts in ladder["removals"] if datetime.fromisoformat(ts) >= horizon]


def _admins(state: GroupState) -> list[str]:
    # A group without named admins still needs someone to tell: its owners stand in.
    return list(state.admins) or list(state.owners)


def escalation_event(level: str, ladder_rule: str, violation: Violation, violation_event: dict,
                     state: GroupState, policy: Policy, why: str, reminded_at: str | None = None) -> dict:
    """The escalation event of EVENTS.md for one violation at one level. Also used by rules whose
    policy text is itself an escalation to the admin (M4)."""
    recipients = {
        REMINDER: {"member": violation.member_id, "admins": _admins(state)},
        REMOVAL: {"admins": _admins(state), "owners": list(state.owners)},
        SUPERVISOR: {"supervisors": list(policy.groups.supervisors), "admins": _admins(state)},
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
        "severity": violation.severity,
        "recipients": recipients,
        "violations": [violation_event["id"]],
        "evidence": {**violation.evidence, "excerpt": violation.excerpt},
        "why": why,
        "schema": SCHEMA_VERSION,
    }
    if reminded_at:
        event["reminded_at"] = reminded_at
    return event
