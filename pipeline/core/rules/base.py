"""What every rule module shares: the context it is called with and how it reports a violation."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from pipeline.classify import Verdict
from pipeline.config import Policy
from pipeline.core.events import SCHEMA_VERSION, InputEvent, stable_id
from pipeline.core.state import GroupState


@dataclass
class Context:
    event: InputEvent | None     # None for scheduled checks
    state: GroupState
    now: datetime                # event time (the group's watermark for scheduled checks)
    policy: Policy
    verdict: Verdict | None = None


@dataclass(frozen=True)
class Violation:
    rule: str
    member_id: str
    member_name: str | None
    severity: str
    evidence: dict
    excerpt: str | None
    action: str
    source_id: str               # what makes this violation unique (usually the input event id)
    escalate: bool = True        # advisories and notices to admins do not climb the ladder
    extra: dict = field(default_factory=dict)
    # (level, why): escalated at once at this level, outside the ladder (M4: removal, to the admin)
    direct: tuple[str, str] | None = None
    # R1/R2: a content violation (the classifier's decision) a reviewer may decide on, and whether
    # it waits for one (its verdict is in the review band) before anyone is reminded
    reviewable: bool = False
    review_required: bool = False

    def to_event(self, group_id: str, ts: datetime) -> dict:
        return {
            "kind": "violation",
            "id": stable_id("vio", self.rule, self.source_id, self.member_id),
            "group_id": group_id,
            "ts": ts.isoformat(),
            "rule": self.rule,
            "member": {"id": self.member_id, "name": self.member_name},
            "severity": self.severity,
            "evidence": self.evidence,
            "excerpt": self.excerpt,
            "action": self.action,
            "review": "required" if self.review_required else "none",
            **self.extra,
            "schema": SCHEMA_VERSION,
        }


@dataclass(frozen=True)
class Emit:
    """An output event that is not a violation (an aggregate, a report, a deadline escalation),
    for the output topic named by `role` (verdicts, escalations, responsiveness, reports)."""

    role: str
    event: dict


Finding = Violation | Emit


def violation(ctx: Context, rule: str, *, member_id: str, member_name: str | None, evidence: dict,
              action: str, excerpt: str | None = None, severity: str | None = None,
              source_id: str | None = None, escalate: bool | None = None, direct: tuple[str, str] | None = None,
              reviewable: bool = False, review_required: bool = False, **extra) -> list[Violation]:
    """A one-element list with the violation, or an empty list when the rule is switched off."""
    if not ctx.policy.enabled(rule):
        return []
    severity = severity or ctx.policy.severity(rule)
    return [Violation(
        rule=rule, member_id=member_id, member_name=member_name, severity=severity, evidence=evidence,
        excerpt=excerpt, action=action,
        source_id=source_id or (ctx.event.event_id if ctx.event else ctx.now.isoformat()),
        escalate=(severity != "info") if escalate is None else escalate, extra=extra, direct=direct,
        reviewable=reviewable, review_required=review_required,
    )]


def is_urgent(message, policy: Policy) -> bool:
    """A message flagged urgent by the platform, or holding one of `publishing.urgent_markers`
    (P10 spares it the off-hours advisory; P10/P11 follow it up)."""
    if message.urgent:
        return True
    markers = _markers(policy.publishing.urgent_markers)
    return markers is not None and markers.search(message.text) is not None


@lru_cache(maxsize=16)
def _markers(markers: tuple[str, ...]) -> re.Pattern | None:
    return re.compile("|".join(map(re.escape, markers))) if markers else None
