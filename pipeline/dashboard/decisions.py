"""A reviewer's decision, from the page to `chat.events`, and the audit trail (R2-R4).

`POST /api/decisions` takes `{"violation_id", "decision", "label"?, "note"?}`. The server checks
everything again whatever the page showed: the user may decide (auditors may not), the violation
is a content violation this dashboard knows and its group is one the user sees (an unknown id
and another group's answer alike: 404), the decision makes sense for it. Then it produces a
`review.decided` event (EVENTS.md) to the input topic, keyed by group, with acks=all, and answers
only after the broker acknowledged it. The event id is derived from the user, the violation, the
decision and the decision last recorded for it, so a double click (or a retry after a lost answer)
makes one decision, not two.

Every login, logout and decision goes to the audit topic (`moderation.audit`) as
`{"kind": "audit", "id", "ts", "user", "action", "outcome", "client", "detail"}`: never a password.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from datetime import datetime

import orjson
from aiohttp import web

from pipeline.config import LABELS, Settings
from pipeline.dashboard.auth import Principal
from pipeline.dashboard.records import REVIEW_DECISIONS
from pipeline.dashboard.state import DashboardState, Decidable

log = logging.getLogger("pipeline.dashboard")
DECISION_BYTES = 8192           # a decision request larger than this is refused unread
NOTE_CHARS = 1000
SEND_TIMEOUT = 15.0             # seconds the broker has to acknowledge a decision
AUDIT_QUEUE = 10_000            # audit records waiting for the broker; past it they are counted as lost


class Refused(ValueError):
    """A decision the server will not produce; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def now_iso() -> str:
    """Now, as ISO-8601 with this machine's offset (what EVENTS.md asks of `ts`)."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def parse_decision(body: object) -> tuple[str, str, str | None, str | None]:
    """(violation id, decision, label, note) from a request body; raises Refused(400) naming the field."""
    if not isinstance(body, dict):
        raise Refused(400, "expected a JSON object with violation_id and decision")
    violation_id, decision = body.get("violation_id"), body.get("decision")
    label, note = body.get("label"), body.get("note")
    if not isinstance(violation_id, str) or not 0 < len(violation_id) <= 256:
        raise Refused(400, "violation_id: expected the violation's id")
    if decision not in REVIEW_DECISIONS:
        raise Refused(400, f"decision: expected one of {', '.join(REVIEW_DECISIONS)}")
    if decision == "relabelled":
        if label not in LABELS:
            raise Refused(400, f"label: a relabelling needs the new label, one of {', '.join(LABELS)}")
    elif label is not None:
        raise Refused(400, "label: only a relabelling takes a label")
    if note is not None:
        if not isinstance(note, str):
            raise Refused(400, "note: expected text")
        note = "".join(c for c in note if c >= " " or c in "\n\t").strip()
        if len(note) > NOTE_CHARS:
            raise Refused(400, f"note: at most {NOTE_CHARS} characters")
    return violation_id, decision, label, note or None


def check_decision(found: Decidable | None, decision: str, label: str | None, recorded: dict | None) -> None:
    """Whether this decision may be made on this violation (its group already checked); raises Refused."""
    if found is None:
        raise Refused(404, "This violation is not one the dashboard knows for your groups (it may be older than "
                           "what the dashboard keeps, or not a content violation).")
    current = (recorded or {}).get("new_label") or found.label
    if decision == "relabelled" and label == current:
        raise Refused(400, f"The violation is labelled {label} already; choose another label, or confirm it.")
    if decision == "confirmed" and found.review != "required" and recorded is None:
        raise Refused(409, "This violation acted at once (it was not waiting for review); dismiss or relabel it "
                           "if it was wrong.")
    if recorded is not None and recorded.get("decision") == decision and (
            decision != "relabelled" or recorded.get("new_label") == label):
        raise Refused(409, f"This violation was {decision} already (by {recorded.get('reviewer') or 'a reviewer'}).")


def decision_event(principal: Principal, found: Decidable, violation_id: str, decision: str, label: str | None,
                   note: str | None, basis: str, ts: str) -> dict:
    """The `review.decided` input event (EVENTS.md). `basis` is what was recorded for the violation
    when the user decided (empty if nothing): the same decision on the same basis has the same id."""
    digest = hashlib.sha256("\0".join((principal.name, violation_id, decision, label or "", basis)).encode())
    review: dict = {"violation_id": violation_id, "decision": decision}
    if label is not None:
        review["label"] = label
    if note:
        review["note"] = note
    return {"event_id": f"rev-{digest.hexdigest()[:32]}", "type": "review.decided", "ts": ts,
            "group_id": found.group_id, "actor": {"id": principal.name, "name": principal.display_name},
            "review": review}


# --------------------------------------------------------------------------- the Kafka side


class Outbox:
    """The dashboard's one producer (acks=all), started when first needed and again after a failure,
    and the audit writer: a bounded queue drained to the audit topic in the background."""

    def __init__(self, settings: Settings, kafka: bool = True):
        self.settings, self.kafka = settings, kafka
        self._producer = None
        self._lock = asyncio.Lock()
        self.audit_queue: asyncio.Queue = asyncio.Queue(AUDIT_QUEUE)
        self.audit_lost = 0
        self.audit_written = 0
        self._writer: asyncio.Task | None = None

    async def _started(self):
        async with self._lock:
            if self._producer is None:
                from pipeline.kafka.admin import producer

                p = producer(self.settings, enable_idempotence=True, request_timeout_ms=int(SEND_TIMEOUT * 1000))
                try:
                    await asyncio.wait_for(p.start(), SEND_TIMEOUT)
                except BaseException:
                    await _quietly_stop(p)
                    raise
                self._producer = p
            return self._producer

    async def send(self, topic: str, key: str, value: bytes) -> None:
        """Produce one record and wait for the broker's acknowledgement (raises on failure or timeout)."""
        if not self.kafka:
            raise ConnectionError("this dashboard serves a fixed state without Kafka")
        try:
            p = await self._started()
            await asyncio.wait_for(p.send_and_wait(topic, key=key.encode(), value=value), SEND_TIMEOUT)
        except BaseException:
            await self._reset()
            raise

    async def _reset(self) -> None:
        async with self._lock:
            p, self._producer = self._producer, None
        if p is not None:
            await _quietly_stop(p)

    def record(self, action: str, user: str, outcome: str, client: str, detail: dict | None = None) -> None:
        """Queue one audit record (never blocks a request; past AUDIT_QUEUE waiting ones it is counted as lost)."""
        event = {"kind": "audit", "id": f"aud-{uuid.uuid4().hex}", "ts": now_iso(), "user": user[:128],
                 "action": action, "outcome": outcome, "client": client}
        if detail:
            event["detail"] = detail
        try:
            self.audit_queue.put_nowait(event)
        except asyncio.QueueFull:
            self.audit_lost += 1
            if self.audit_lost == 1 or self.audit_lost % 1000 == 0:
                log.error("dashboard: %d audit records lost: the broker has not taken them (queue of %d full)",
                          self.audit_lost, AUDIT_QUEUE)

    async def write_audit(self) -> None:
        """The writer: each queued record to the audit topic, retried while the broker is away."""
        topic = self.settings.topics.audit
        while True:
            event = await self.audit_queue.get()
            while True:
                try:
                    await self.send(topic, event["user"], orjson.dumps(event))
                    self.audit_written += 1
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the broker away: wait and try again
                    log.warning("dashboard: audit record not written yet (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(2.0)

    async def start(self) -> None:
        """Without Kafka (a fixed state, in tests) the audit records stay in the queue, to be read there."""
        if self.kafka:
            self._writer = asyncio.create_task(self.write_audit())

    async def stop(self) -> None:
        # What is still queued gets a moment to reach the broker.
        deadline = time.monotonic() + 3.0
        while not self.audit_queue.empty() and time.monotonic() < deadline and self._writer and not self._writer.done():
            await asyncio.sleep(0.05)
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
        await self._reset()


async def _quietly_stop(p) -> None:
    try:
        await p.stop()
    except Exception:  # noqa: BLE001 - stopping a producer that never started
        pass


OUTBOX_KEY = web.AppKey("outbox", Outbox)


# --------------------------------------------------------------------------- the handler


async def decide(request: web.Request) -> web.Response:
    from pipeline.dashboard.login import AUTH_KEY, PRINCIPAL, client_address
    from pipeline.dashboard.server import STATE_KEY

    principal: Principal = request[PRINCIPAL]
    auth, outbox = request.app[AUTH_KEY], request.app[OUTBOX_KEY]
    state: DashboardState = request.app[STATE_KEY]
    client = client_address(request, auth.settings.dashboard.trusted_proxies)
    detail: dict = {}
    try:
        if (request.content_length or 0) > DECISION_BYTES:
            raise Refused(413, f"A decision is at most {DECISION_BYTES} bytes.")
        raw = await request.content.read(DECISION_BYTES + 1)
        if len(raw) > DECISION_BYTES:
            raise Refused(413, f"A decision is at most {DECISION_BYTES} bytes.")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Refused(400, "expected a JSON object with violation_id and decision") from None
        violation_id, decision, label, note = parse_decision(body)
        detail = {"violation_id": violation_id, "decision": decision, **({"label": label} if label else {})}
        if not principal.can_decide:
            raise Refused(403, f"A{'n' if principal.role[0] in 'aeiou' else ''} {principal.role} reads only; "
                               f"deciding needs the role admin, owner, supervisor or compliance.")
        found = state.decidable_in(violation_id, principal.scope)
        recorded = state.decided.get(violation_id)
        check_decision(found, decision, label, recorded)
        detail["group_id"] = found.group_id
        basis = "" if recorded is None else f"{recorded.get('ts')}|{recorded.get('decision')}|{recorded.get('new_label')}"
        event = decision_event(principal, found, violation_id, decision, label, note, basis, now_iso())
    except Refused as exc:
        outbox.record("decision", principal.name, "refused", client, {**detail, "why": str(exc)[:200]})
        return web.json_response({"error": str(exc)}, status=exc.status)
    try:
        await outbox.send(auth.settings.topics.input, found.group_id, orjson.dumps(event))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the broker did, the decision is not recorded
        outbox.record("decision", principal.name, "failed", client, {**detail, "why": type(exc).__name__})
        log.warning("dashboard: a decision could not be produced (%s: %s)", type(exc).__name__, exc)
        return web.json_response(
            {"error": "The broker did not acknowledge the decision, so it may not be recorded; try again "
                      "(a repeat of the same decision is recorded once)."}, status=503, headers={"Retry-After": "5"})
    state.note_sent(violation_id, decision, principal.display_name, event["ts"])
    outbox.record("decision", principal.name, "sent", client, {**detail, "event_id": event["event_id"]})
    return web.json_response({"status": "sent", "event_id": event["event_id"], "violation_id": violation_id,
                              "decision": decision})

