"""Discipline: D1 illegal content (gambling, fraud; always severe), D2 forwarding outside without approval."""
from __future__ import annotations

from pipeline.core.events import MessageForwarded, MessagePosted
from pipeline.core.rules.base import Context, Violation, violation


def on_event(ctx: Context) -> list[Violation]:
    event = ctx.event
    if isinstance(event, MessagePosted) and ctx.verdict is not None and ctx.verdict.label == "illegal":
        verdict = ctx.verdict
        return violation(
            ctx, "D1", member_id=event.actor.id, member_name=event.actor.name, severity="severe",
            evidence={"event_ids": [event.event_id], "message_id": event.message.id, "label": "illegal",
                      "sub_label": verdict.sub_label, "score": verdict.scores.get("illegal"),
                      "reasons": list(verdict.reasons)},
            excerpt=verdict.excerpt, action="涉嫌赌博、诈骗等违法内容，已报上级处理，请立即撤回。",
            reviewable=True, review_required=verdict.band == "review")
    if isinstance(event, MessageForwarded) and event.destination.external:
        approver = event.approved_by
        if approver and approver in _approvers(ctx):
            return []
        why = "without approval" if not approver else f"approved by {approver}, who is not an owner"
        return violation(
            ctx, "D2", member_id=event.actor.id, member_name=event.actor.name, severity="severe",
            evidence={"event_ids": [event.event_id], "message_id": event.message.id,
                      "destination": event.destination.id, "approved_by": approver, "why": why},
            action="未经负责人同意，不得将群内信息转发给外部人员。")
    return []


def _approvers(ctx: Context) -> set[str]:
    extra = ctx.policy.groups.extra_approvers.get(ctx.event.group_id, ())
    return set(ctx.state.owners) | set(extra)
