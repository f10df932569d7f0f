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
MAX_LOG = 500       # ladder steps remembered per member, for reviewers' dismissals (R2)


def escalate(violation: Violation, violation_event: dict, state: GroupState, now: datetime,
             policy: Policy, id_parts: tuple[str, ...] = ()) -> list[dict]:
    """Escalations for one violation; updates the member's rung on the ladder in `state`.

    The steps that move the ladder are also kept in the member's log, so that a reviewer's
    dismissal can take one out and the ladder be worked out again without it (R2)."""
    if violation.direct is not None:
        level, why = violation.direct
        return [escalation_event(level, violation.rule, violation, violation_event, state, policy, why=why)]
    if not violation.escalate:
        return []
    ladder = member_ladder(state, violation.member_id)
    if violation.severity == "severe":
        _forget_older_than(ladder, now - timedelta(days=policy.escalation.window_days))
        return [escalation_event(SUPERVISOR, "E3", violation, violation_event, state, policy, id_parts=id_parts,
                                 why=f"severe {violation.rule} violation goes to the supervisor at once")]
    entry = {"id": violation_event["id"], "rule": violation.rule, "ts": now.isoformat(), "origin": _origin(violation)}
    steps = _step(ladder, entry, policy)
    _log(ladder, entry)
    return [escalation_event(level, ladder_rule, violation, violation_event, state, policy, why=why,
                             reminded_at=reminded, id_parts=id_parts)
            for level, ladder_rule, why, reminded in steps]


def _log(ladder: dict, entry: dict) -> None:
    """Keep the step, and only the steps that can still matter: those of the rungs the member is
    on now, from each rung's first reminder (a dismissal cannot bring back a forgotten rung)."""
    kinds = ladder["kinds"]
    log = [e for e in ladder.get("log", ()) if e["rule"] in kinds and e["ts"] >= kinds[e["rule"]]["reminded"]]
    log.append(entry)
    ladder["log"] = log[-MAX_LOG:]


def member_ladder(state: GroupState, member_id: str) -> dict:
    return state.section("ladder").setdefault(member_id, {"kinds": {}, "removals": []})


def _step(ladder: dict, entry: dict, policy: Policy) -> list[tuple[str, str, str, str | None]]:
    """One violation on the ladder at its time: (level, ladder rule, why, reminded at) of each
    escalation it gets; moves the member's rung."""
    now = datetime.fromisoformat(entry["ts"])
    rule, origin = entry["rule"], entry["origin"]
    _forget_older_than(ladder, now - timedelta(days=policy.escalation.window_days))
    rung = ladder["kinds"].get(rule)
    if rung is None:
        ladder["kinds"][rule] = {"reminded": entry["ts"], "last": entry["ts"], "origin": origin}
        return [(REMINDER, "E1", f"first {rule} violation within {policy.escalation.window_days} days", None)]
    if rung["origin"] == origin:
        # One input event found twice for the same kind (e.g. chit-chat that is also a flood):
        # that is not a repeat after a reminder.
        return []
    if now < datetime.fromisoformat(rung["last"]) + timedelta(minutes=policy.escalation.repeat_grace_minutes):
        # Too soon after the last step for the member to have read it and corrected themselves
        # (拒不改正 needs a chance to correct): the same episode, no new step.
        return []
    rung["last"] = entry["ts"]
    rung["origin"] = origin
    ladder["removals"].append(entry["ts"])
    if len(ladder["removals"]) > MAX_REMOVALS:  # only whether there are enough counts (config: at most 100)
        del ladder["removals"][: len(ladder["removals"]) - MAX_REMOVALS]
    out = [(REMOVAL, "E2", f"another {rule} violation after the reminder of {rung['reminded']}", rung["reminded"])]
    count = len(ladder["removals"])
    if count >= policy.escalation.removals_before_supervisor:
        out.append((SUPERVISOR, "E3", f"{count} removal recommendations within {policy.escalation.window_days} days",
                    None))
    return out


def escalate_as_of(violation: Violation, violation_event: dict, state: GroupState, policy: Policy,
                   id_parts: tuple[str, ...] = ()) -> list[dict]:
    """Escalations for a violation a reviewer confirmed: what the ladder would have given it at its
    own time (R2), the member's ladder worked out again with it."""
    if violation.direct is not None or not violation.escalate or violation.severity == "severe":
        return escalate(violation, violation_event, state, datetime.fromisoformat(violation_event["ts"]), policy,
                        id_parts)
    entry = {"id": violation_event["id"], "rule": violation.rule, "ts": violation_event["ts"],
             "origin": _origin(violation)}
    return [escalation_event(level, ladder_rule, violation, violation_event, state, policy, why=why,
                             reminded_at=reminded, id_parts=id_parts)
            for level, ladder_rule, why, reminded in refold(state, violation.member_id, policy, insert=entry)]


def refold(state: GroupState, member_id: str, policy: Policy, without: str | None = None,
           insert: dict | None = None) -> list[tuple[str, str, str, str | None]]:
    """The member's ladder worked out again from their log: `without` a violation (a reviewer
    dismissed it), or with one `insert`ed at its time (a reviewer confirmed it); returns the
    escalations the inserted one gets there. Escalations already sent for the others stand; the
    member's next violation climbs from where the ladder now is."""
    ladder = member_ladder(state, member_id)
    log = [e for e in ladder.get("log", []) if e["id"] != without]
    if insert is not None:
        at = next((i for i, e in enumerate(log) if e["ts"] > insert["ts"]), len(log))
        log.insert(at, insert)
    ladder["kinds"], ladder["removals"], ladder["log"] = {}, [], log
    got: list[tuple[str, str, str, str | None]] = []
    for entry in log:
        steps = _step(ladder, entry, policy)
        if entry is insert:
            got = steps
    return got


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
                     state: GroupState, policy: Policy, why: str, reminded_at: str | None = None,
                     id_parts: tuple[str, ...] = ()) -> dict:
    """The escalation event of EVENTS.md for one violation at one level. Also used by rules whose
    policy text is itself an escalation to the admin (M4)."""
    recipients = {
        REMINDER: {"member": violation.member_id, "admins": _admins(state)},
        REMOVAL: {"admins": _admins(state), "owners": list(state.owners)},
        SUPERVISOR: {"supervisors": list(policy.groups.supervisors), "admins": _admins(state)},
    }[level]
    event = {
        "kind": "escalation",
        "id": stable_id("esc", level, violation_event["id"], *id_parts),
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
