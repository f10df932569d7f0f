"""R1–R3: a person before a reminder.

A content violation (P2–P6, C3, D1: what the classifier decided) is remembered in its group's state
for `content.review.keep_days`: a violation of the review band is held (`review: required`, nothing
escalated), one of the act band has escalated at once. A reviewer's `review.decided`:

- `confirmed` (or `relabelled` to another violating label) on a held violation escalates it as the
  ladder would have at the violation's own time (recipients, level); on one that escalated already,
  relabelling withdraws its escalations and escalates it under the new label's rule;
- `dismissed` (or `relabelled` to work) on one that escalated emits one `retraction` naming the
  escalation ids it withdraws, and takes it out of the member's ladder, so their next violation
  climbs from where it would have without it; on a held one, nothing was sent and nothing is.

Either way the group's report counts the violation as it stands: not at all once dismissed, under
the new rule once relabelled (pipeline/core/followups/report.py, `recount`).

Every decision is recorded (`review` on moderation.reviews: the audit trail, and the labelled data
R3 exports). A decision repeated changes nothing; one for a violation the group does not hold
(unknown, not a content violation, or decided after keep_days) is rejected with the reason.
"""
from __future__ import annotations

from datetime import timedelta
from typing import cast

from pipeline.config import Policy
from pipeline.core.escalation import escalate_as_of, refold
from pipeline.core.events import SCHEMA_VERSION, Rejected, ReviewDecided, stable_id
from pipeline.core.followups import report
from pipeline.core.rules.base import Violation
from pipeline.core.state import GroupState, at

SECTION = "reviews"
MAX_HELD = 20_000  # decidable violations kept per group (the oldest go first)
# The rule a content label breaks (abuse: P4; an attack stays C3 unless relabelled)
RULE_OF_LABEL = {"chitchat": "P6", "ad": "P2", "rumour": "P3", "abuse": "P4", "confidential": "P5", "illegal": "D1"}
Output = tuple[str, dict]


def remember(state: GroupState, violation: Violation, event: dict, escalations: list[dict], policy: Policy) -> None:
    """Keep a content violation decidable: held for review, or with the escalations it got."""
    section = state.section(SECTION)
    section[event["id"]] = {
        "violation": event, "source_id": violation.source_id, "escalate": violation.escalate,
        "label": violation.evidence.get("label"), "held": violation.review_required,
        "escalations": [e["id"] for e in escalations], "decision": None, "round": 0,
    }
    if state.once_per_batch("reviews_kept"):
        _forget(section, state, policy)


def _forget(section: dict, state: GroupState, policy: Policy) -> None:
    horizon = state.watermark - timedelta(days=policy.content.review.keep_days) if state.watermark else None
    for key in [k for k, r in section.items() if horizon is not None and at(r["violation"]["ts"]) < horizon]:
        del section[key]
    for key in list(section)[: max(0, len(section) - MAX_HELD)]:
        del section[key]


def decide(event: ReviewDecided, state: GroupState, policy: Policy) -> list[Output]:
    """The outputs of one reviewer's decision (see the module docstring)."""
    decision = event.review
    section = state.section(SECTION)
    record = section.get(decision.violation_id)
    if record is not None and at(record["violation"]["ts"]) < event.ts - timedelta(days=policy.content.review.keep_days):
        del section[decision.violation_id]  # too old to decide: as if never held
        record = None
    if record is None:
        raise Rejected(f"review.decided for violation {decision.violation_id!r}, which group {event.group_id!r} does "
                       f"not hold: an unknown id, not a content violation, or more than "
                       f"{policy.content.review.keep_days} days old (content.review.keep_days)")
    old_label: str = record["label"]
    new_label: str = old_label
    if decision.decision == "relabelled" and decision.label is not None:
        new_label = decision.label
    elif decision.decision == "dismissed":
        new_label = "work"
    stamp = event.ts.isoformat()
    outputs: list[Output] = []
    if record["decision"] == [decision.decision, new_label]:
        outcome = "unchanged"  # the same decision again
    elif new_label == "work":
        outcome = "retracted" if record["escalations"] else "dismissed"
        if record["escalations"]:
            outputs += _withdraw(record, event, state, policy, stamp)
    elif record["escalations"] and new_label == record.get("escalated_as", old_label):
        outcome = "confirmed"  # it acted at once, or was confirmed before: it stands
    else:
        if record["escalations"]:
            outputs += _withdraw(record, event, state, policy, stamp)
        escalated = _escalate(record, new_label, event, state, policy)
        outputs += escalated
        outcome = "escalated" if escalated else "confirmed"
    record["decision"] = [decision.decision, new_label]
    record["held"] = False
    violation = record["violation"]
    standing = None if new_label == "work" else _rule_of(record, new_label)
    report.recount(state, at(violation["ts"]), record.get("counted", violation["rule"]), standing)
    record["counted"] = standing
    outputs.append(("reviews", {
        "kind": "review",
        "id": stable_id("rev", event.event_id),
        "group_id": event.group_id,
        "ts": stamp,
        "violation_id": decision.violation_id,
        "rule": violation["rule"],
        "member": violation["member"],
        "message_id": violation["evidence"].get("message_id"),
        "message_event_id": (violation["evidence"].get("event_ids") or [None])[0],
        "decision": decision.decision,
        "old_label": old_label,
        "new_label": new_label,
        "reviewer": {"id": event.actor.id, "name": event.actor.name},
        "note": decision.note,
        "outcome": outcome,
        "schema": SCHEMA_VERSION,
    }))
    return outputs


def _rule_of(record: dict, label: str) -> str:
    """The rule a violating label breaks: the violation's own for its own label."""
    return cast(str, record["violation"]["rule"]) if label == record["label"] else RULE_OF_LABEL[label]


def _withdraw(record: dict, event: ReviewDecided, state: GroupState, policy: Policy, stamp: str) -> list[Output]:
    """A retraction of the violation's escalations, and the ladder worked out again without it."""
    violation = record["violation"]
    refold(state, violation["member"]["id"], policy, without=violation["id"])
    retracts, record["escalations"] = record["escalations"], []
    record["round"] += 1  # a later confirmation escalates under new ids
    return [("escalations", {
        "kind": "retraction",
        "id": stable_id("ret", violation["id"], event.event_id),
        "group_id": event.group_id,
        "ts": stamp,
        "retracts": retracts,
        "violation_id": violation["id"],
        "rule": violation["rule"],
        "member": violation["member"],
        "reason": f"{event.review.decision} by a reviewer" + (
            f" (now {event.review.label})" if event.review.decision == "relabelled" else ""),
        "schema": SCHEMA_VERSION,
    })]


def _escalate(record: dict, label: str, event: ReviewDecided, state: GroupState, policy: Policy) -> list[Output]:
    """The escalations a confirmed (or relabelled) violation gets, as of its own time."""
    violation = record["violation"]
    rule = _rule_of(record, label)
    severity = violation["severity"] if rule == violation["rule"] else policy.severity(rule)
    as_violation = Violation(
        rule=rule, member_id=violation["member"]["id"], member_name=violation["member"].get("name"),
        severity=severity, evidence=violation["evidence"], excerpt=violation.get("excerpt"),
        action=violation.get("action", ""), source_id=record["source_id"],
        escalate=record["escalate"] if rule == violation["rule"] else severity != "info")
    # The first escalation has the id the act band would have given it; after a retraction, new ones.
    id_parts = (event.event_id,) if record["round"] else ()
    escalations = escalate_as_of(as_violation, {**violation, "rule": rule}, state, policy, id_parts)
    for escalation in escalations:
        # sent now, at the level the violation's own time gives it
        escalation["violation_ts"], escalation["ts"] = escalation["ts"], event.ts.isoformat()
        escalation["decided_by"] = cast(dict, {"id": event.actor.id, "name": event.actor.name})
    record["escalations"] = [e["id"] for e in escalations]
    record["escalated_as"] = label
    return [("escalations", e) for e in escalations]
