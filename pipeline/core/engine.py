"""The pure core: input events + group state + time → output events.

No Kafka here. The Faust shell and `moderation check` both call `Engine.process` with events in
partition order and the group states, and send (topic, event) pairs in the order returned.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, MutableMapping, Sequence, cast

from pipeline.classify import Classifier, Verdict
from pipeline.config import Policy
from pipeline.core.escalation import escalate
from pipeline.core.events import (
    SCHEMA_VERSION, GroupConfigured, InputEvent, MemberDeparted, MemberJoined, MemberLeft, MemberRenamed,
    MessagePosted, Rejected, ReviewDecided, stable_id,
)
from pipeline.core import responsiveness, review
from pipeline.core.rules import discipline, files, members, publishing
from pipeline.core.rules.base import Context, Emit, Violation
from pipeline.core.state import GroupState
from pipeline.text.normalize import visible
from pipeline.text.redact import known_redacted, redact_output

# responsiveness (C1/C5/P7/P10/P11/D3/D4 follow-ups) comes last: it sees the others' state
RULE_MODULES = (members, publishing, files, discipline, responsiveness)
SCHEDULED_MODULES = tuple(module for module in RULE_MODULES if hasattr(module, "next_due"))
Output = tuple[str, dict]   # (output topic role: verdicts|violations|escalations|..., event)
Position = tuple[str, int]  # (source: the topic partition an event was first written to, its offset there)


@dataclass
class Engine:
    policy: Policy
    classifier: Classifier

    def process(self, events: Sequence[InputEvent], states: MutableMapping[str, dict],
                positions: Sequence[Position] | None = None) -> list[Output]:
        """Outputs for a batch of events, in input order. `states` maps group_id → state dict and is
        updated in place (the shell writes back what changed).

        `positions` are where each event was first written: (source, offset), a topic partition
        and the offset in it (offline: the file and the line number). An event at or below the
        offset its group's state has already applied from that source is a redelivery after a
        restart and is skipped, as is a repeated event id: its outputs were sent before the state
        was saved.
        """
        fresh: list[tuple[InputEvent, GroupState]] = []
        loaded: dict[str, GroupState] = {}
        for i, event in enumerate(events):
            state = loaded.get(event.group_id)
            if state is None:
                state = loaded[event.group_id] = GroupState(states.get(event.group_id))
            if state.already_applied(event.event_id, positions[i] if positions is not None else None):
                continue
            fresh.append((event, state))
        limit = self.policy.content.max_text_chars
        judged = [judged_text(e.message.text, limit) for e, _ in fresh if isinstance(e, MessagePosted)]
        verdicts = iter(self.classifier.classify([text for text, _ in judged]) if judged else ())
        truncated = iter([cut for _, cut in judged])
        outputs: list[Output] = []
        for event, state in fresh:
            verdict = next(verdicts) if isinstance(event, MessagePosted) else None
            if verdict is not None:
                known_redacted(verdict.excerpt)
            outputs.extend(self.handle(event, state, verdict, next(truncated) if verdict is not None else False))
        for group_id, state in loaded.items():
            states[group_id] = state.data
        for _, output in outputs:
            redact_output(output)
        return outputs

    def process_setting_aside(self, events: Sequence[InputEvent], states: MutableMapping[str, dict],
                              positions: Sequence[Position] | None, stored_state: Callable[[str], dict | None],
                              ) -> tuple[list[Output], list[tuple[int, str]]]:
        """`process`, and if the batch raises, its events one at a time: an event the core cannot
        process is set aside (returned with the reason, for the dead-letter topic) and leaves its
        group's state as it was, instead of stopping the partition on it for good.

        The batch may have changed `states` before it failed, so each group starts again from
        `stored_state(group_id)`, a fresh copy of what is stored; `states` ends up as after the
        events that went through."""
        try:
            return self.process(events, states, positions), []
        except Exception:  # noqa: BLE001 - any failure of the core is isolated to its event below
            pass
        outputs: list[Output] = []
        set_aside: list[tuple[int, str]] = []
        fresh: dict[str, dict | None] = {}
        for i, event in enumerate(events):
            group_id = event.group_id
            if group_id not in fresh:
                fresh[group_id] = stored_state(group_id)
            stored = fresh[group_id]
            trial: dict[str, dict] = {group_id: copy.deepcopy(stored)} if stored is not None else {}
            try:
                outputs.extend(self.process([event], trial, [positions[i]] if positions is not None else None))
            except Rejected as exc:  # the core judged it invalid in its group's state (R2: an unknown violation)
                set_aside.append((i, exc.reason))
                continue
            except Exception as exc:  # noqa: BLE001
                set_aside.append((i, f"internal error while processing this event ({type(exc).__name__}: "
                                     f"{str(exc)[:300]}); it was set aside and its group's state left as it was"))
                continue
            fresh[group_id] = trial.get(group_id)
        for group_id, data in fresh.items():
            if data is not None:
                states[group_id] = data
            else:
                states.pop(group_id, None)
        return outputs, set_aside

    def handle(self, event: InputEvent, state: GroupState, verdict: Verdict | None,
               truncated: bool = False) -> list[Output]:
        now = event.ts
        stamp = now.isoformat()
        watermark = state.advance(now, stamp)
        ctx = Context(event=event, state=state, now=now, policy=self.policy, verdict=verdict)
        outputs: list[Output] = []
        if verdict is not None:
            outputs.append(("verdicts", verdict_event(cast(MessagePosted, event), verdict, stamp, truncated)))
        found: list[Violation | Emit] = []
        for module in RULE_MODULES:
            found.extend(module.on_event(ctx))
        outputs.extend(self._report(found, event.group_id, now, state))
        if isinstance(event, ReviewDecided):
            outputs.extend(review.decide(event, state, self.policy))
        apply_membership(event, state, stamp)
        outputs.extend(self.scheduled(state, event.group_id, watermark))
        return named(outputs, state)

    def scheduled(self, state: GroupState, group_id: str, now: datetime) -> list[Output]:
        """Scheduled checks that are due at the group's watermark."""
        found: list[Violation | Emit] = []
        for module in SCHEDULED_MODULES:
            if (when := module.next_due(state, self.policy)) is not None and when <= now:
                found.extend(module.on_schedule(Context(event=None, state=state, now=now, policy=self.policy)))
        return named(self._report(found, group_id, now, state), state) if found else []

    def _report(self, found: Iterable[Violation | Emit], group_id: str, now: datetime,
                state: GroupState) -> list[Output]:
        outputs: list[Output] = []
        for v in found:
            if isinstance(v, Emit):
                outputs.append((v.role, v.event))
                continue
            event = v.to_event(group_id, now)
            counts = state.section("violation_counts")
            counts[v.rule] = counts.get(v.rule, 0) + 1
            outputs.append(("violations", event))
            escalations = [] if v.review_required else escalate(v, event, state, now, self.policy)
            if v.reviewable:
                review.remember(state, v, event, escalations, self.policy)
            outputs.extend(("escalations", e) for e in escalations)
        return outputs


def named(outputs: list[Output], state: GroupState) -> list[Output]:
    """Violations and escalations carry the group's name, when it is known, for the people they reach."""
    name = state.roles.get("name")
    if name:
        for role, event in outputs:
            if role in ("violations", "escalations"):
                event["group_name"] = name
    return outputs


def apply_membership(event: InputEvent, state: GroupState, stamp: str) -> None:
    """Roles, membership and activity, after the rules have seen the state as it was. `stamp` is
    the event's time as ISO-8601."""
    if event.group_name is not None and event.group_name != state.roles.get("name"):
        state.roles["name"] = event.group_name
    if isinstance(event, MessagePosted):  # most events: only the sender's activity changes
        state.touch(event.actor.id, event.actor.name, event.ts, stamp)
        return
    if isinstance(event, GroupConfigured):
        g = event.group
        state.set_roles(g.name, g.kind, g.admins, g.owners)
    elif isinstance(event, (MemberJoined, MemberRenamed)):
        state.ensure_member(event.member.id, event.member.name, stamp)
    elif isinstance(event, MemberLeft):
        state.remove_member(event.member.id)
    elif isinstance(event, MemberDeparted):
        record = state.member(event.member.id)
        if record is not None and "departed" not in record:
            record["departed"] = stamp
    if getattr(event, "type", "").startswith(("announcement.", "file.")):
        state.touch(event.actor.id, event.actor.name, event.ts, stamp)


def judged_text(text: str, limit: int) -> tuple[str, bool]:
    """The part of a message the classifier judges, and whether it is only a part. Fillers do not
    count (`visible`); a text still over `limit` characters is judged on its first `limit`, after
    runs of white space are folded to one, so padding cannot push an offer out of sight."""
    if len(text) <= limit:
        return text, False
    seen = visible(text)
    if len(seen) <= limit:
        return seen, False
    seen = _SPACE_RUNS.sub(" ", seen)
    return seen[:limit], len(seen) > limit


_SPACE_RUNS = re.compile(r"\s{2,}")


def verdict_event(event: MessagePosted, verdict: Verdict, stamp: str, truncated: bool = False) -> dict:
    return {
        "kind": "verdict",
        "id": stable_id("ver", event.event_id),
        "group_id": event.group_id,
        "ts": stamp,
        "event_id": event.event_id,
        "message_id": event.message.id,
        "member": {"id": event.actor.id, "name": event.actor.name},
        **verdict.to_dict(),
        "excerpt": verdict.excerpt,
        "truncated": truncated,
        "schema": SCHEMA_VERSION,
    }
