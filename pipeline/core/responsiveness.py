"""C1 reply tracking and the per-member responsiveness aggregates; the rule module that also drives
the other follow-up trackers (C5, P7, P10/P11, D4) and the D3 report.

What opens a pending reply (one per addressee, keyed by message id and addressee):
- a `message.posted` that mentions members (each mention except the sender), unless it matches a
  `not_addressing` pattern (谢谢, 辛苦了);
- a reply request (`reply_request`: 收到请回复) without mentions: every member but the sender;
- a question or task (`question`, `task`) to the group without mentions and not itself a reply:
  one item for the group (addressee null), answered by anyone but the asker.

What settles it, in the addressee's (or, for a group item, anyone else's) next messages:
- a `reply_to` of the item's message: a reply (even a question back);
- a message that mentions the asker, or a plain message (no reply_to, no mentions), that is not
  itself a question: an answer to every open item of that addressee (from that asker, if mentioned);
- of those, a short acknowledgement without an expected time (`ack`, at most `ack_max_chars`,
  no `expected_time`, e.g. 收到 / 在开会) is noted on the item and keeps it open, except for a
  reply request, which 收到 answers; an acknowledgement with an expected time (在开会，下午三点前回复你,
  明早给你) closes it as `acknowledged` (counted as replied).
Deadlines count work time: `reply_sla_seconds` after the message → `reminder` to the addressee
and the admins (the item is overdue); `owner_escalation_after_seconds` later → `supervisor` escalation
to the owners, the admins and the configured supervisors, and the item is settled as unanswered. A member who leaves settles their items as
unanswered. A reply at or after the deadline is late (overdue), and reply seconds are work seconds.

Aggregates: an item counts in the day and week windows (work-hours timezone) of the time it was
opened. A window is written to `responsiveness` once the watermark has passed its end and every
item opened in it is settled, so its numbers are final: per member addressed, replied (including
acknowledged), acknowledged, overdue, unanswered, reply rate, median and p90 reply seconds; and the
same for the whole group (member null, scope `group`).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Sequence, cast

from pipeline.config import Policy
from pipeline.core.events import REMINDER, SCHEMA_VERSION, SUPERVISOR, MemberLeft, MessagePosted, stable_id
from pipeline.core.followups import announcements, problems, rectification, report, urgent
from pipeline.core.followups.common import (
    SCHEDULE_SECTION, add_duration, admins, at, cached_due, due_after, due_changed, escalation, matches,
    member_ref, owners, percentile_summary, stamp, work_seconds,
)
from pipeline.core.rules.base import Context, Emit, Finding
from pipeline.core.state import GroupState
from pipeline.core.worktime import local

SECTION = SCHEDULE_SECTION
TRACKERS = (problems, announcements, urgent, rectification)
COUNTS = ("addressed", "replied", "acknowledged", "overdue", "unanswered")
MAX_ACKS = 10  # acknowledgements kept per open item


# --------------------------------------------------------------------------- the rule module


def on_event(ctx: Context) -> list[Finding]:
    state, policy, event = ctx.state, ctx.policy, ctx.event
    section = _section(state)
    section["group_id"] = event.group_id
    now = state.watermark
    assert now is not None  # the engine advanced it to this event
    # Deadlines that passed before this event fire first: a reply that comes after its deadline
    # without a tick in between is still late. The cached next due time says whether any did
    # (None: nothing cached yet, so advance sets the trackers up).
    due = next_due(state, policy)
    found = advance(ctx, now) if due is None or due <= now else []
    if isinstance(event, MessagePosted):
        report.count_message(state, event.actor.id)
        if policy.enabled("C1"):
            found += answer(ctx)
            found += open_items(ctx)
    elif isinstance(event, MemberLeft):
        _settle_departed(ctx, event.member.id)
    for tracker in TRACKERS:
        found += tracker.on_event(ctx)
    _cache_due(state, policy)
    return found


def next_due(state: GroupState, policy: Policy) -> datetime | None:
    due = _section(state).get("next_due")
    return at(due) if due else None


def on_schedule(ctx: Context) -> list[Finding]:
    found = advance(ctx, ctx.now)
    _cache_due(ctx.state, ctx.policy)
    return found


def advance(ctx: Context, now: datetime) -> list[Finding]:
    """Everything due at or before `now`, in a fixed order: reply deadlines, the other trackers'
    deadlines, finished windows, then the report (which sees the results of all of them)."""
    state, policy = ctx.state, ctx.policy
    _section(state).pop("next_due", None)  # whatever falls due here moves the next deadline
    if "group_id" not in _section(state):
        return []
    found = reply_deadlines(state, policy, now)
    for tracker in TRACKERS:
        found += tracker.deadlines(state, policy, now, _group(state))
    found += finished_windows(state, policy, now)
    found += report.due_reports(state, policy, now, _group(state), TRACKERS)
    return found


def _cache_due(state: GroupState, policy: Policy) -> None:
    # next_due runs after every event of the group: keep the answer instead of scanning each time.
    # It stays until a deadline changes (due_changed) or some fall due (advance).
    if "next_due" in _section(state):
        return
    candidates = [d] if (d := _items_due(state)) is not None else []
    candidates += [w["end"] for w in _windows(state).values() if w["pending"] == 0]
    candidates += [d for tracker in TRACKERS if (d := tracker.next_due(state)) is not None]
    if (d := report.next_due(state)) is not None:
        candidates.append(d)
    _section(state)["next_due"] = min(candidates) if candidates else None  # stamps of one policy sort as text (common.stamp)


def _items_due(state: GroupState) -> str | None:
    return cached_due(_section(state), _earliest, items="items", key="items_due")


def _earliest(items: dict) -> str | None:
    # stamps of one policy sort as text (common.stamp)
    return min((item["final"] if item["overdue"] else item["due"] for item in items.values()), default=None)


def _items_changed(state: GroupState) -> None:
    due_changed(state, _section(state), key="items_due")


def _section(state: GroupState) -> dict:
    return state.section(SECTION)


def _group(state: GroupState) -> str:
    return _section(state)["group_id"]


def _items(state: GroupState) -> dict:
    return _section(state).setdefault("items", {})


def _windows(state: GroupState) -> dict:
    return _section(state).setdefault("windows", {})


# --------------------------------------------------------------------------- opening


def addressees(ctx: Context) -> tuple[str, Sequence[str | None]]:
    """(kind, addressees) of a message: member ids, or [None] for a question to the whole group."""
    event = cast(MessagePosted, ctx.event)
    msg, policy, sender = event.message, ctx.policy, event.actor.id
    text = msg.text
    # Each pattern is searched at most once, and most messages (no mentions, no request, question
    # or task) need only the first few.
    mentioned = sorted(set(msg.mentions) - {sender})
    if mentioned:
        if matches(policy, "not_addressing", text):
            return "none", []
        kind = next((k for k in ("reply_request", "task", "question") if matches(policy, k, text)), "mention")
        return kind, mentioned
    if matches(policy, "reply_request", text):
        if matches(policy, "not_addressing", text):
            return "none", []
        return "reply_request", sorted(m for m, r in ctx.state.members.items() if m != sender and "departed" not in r)
    if msg.reply_to is None:
        to_group = next((k for k in ("task", "question") if matches(policy, k, text)), None)
        if to_group is not None and not matches(policy, "not_addressing", text):
            return to_group, [None]
    return "none", []


def open_items(ctx: Context) -> list[Finding]:
    event = cast(MessagePosted, ctx.event)
    state, policy = ctx.state, ctx.policy
    kind, targets = addressees(ctx)
    if not targets:
        return []
    items, windows = _items(state), _windows(state)
    # The window is the watermark's (the event's own time unless it arrived late), so an item never
    # lands in a window that was already written.
    watermark = state.watermark
    assert watermark is not None  # the engine advanced it to this event
    keys = [_window(watermark, "day", policy, windows), _window(watermark, "week", policy, windows)]
    due = due_after(event.ts, policy.responsiveness.reply_sla_seconds, policy)
    final = due_after(due, policy.responsiveness.owner_escalation_after_seconds, policy)
    opened_at, due_at, final_at = stamp(event.ts, policy), stamp(due, policy), stamp(final, policy)
    excerpt = ctx.verdict.excerpt if ctx.verdict else None
    # New items can only bring the next deadline forward: lowered, not recomputed over all items.
    _lower(_section(state), "items_due", due_at)
    _lower(_section(state), "next_due", due_at)
    index = _by_addressee(state)
    for addressee in targets:
        key = f"{event.message.id}|{addressee or '*'}"
        if key in items:
            continue
        index.setdefault(addressee, set()).add(key)
        items[key] = {
            "message_id": event.message.id, "event_id": event.event_id, "asker": event.actor.id,
            "addressee": addressee, "kind": kind, "opened": opened_at, "due": due_at, "final": final_at,
            "overdue": False, "acks": [], "windows": keys, "excerpt": excerpt,
        }
        for wkey in keys:
            windows[wkey]["pending"] += 1
            _bump(windows[wkey], addressee, "addressed")
        report.count(state, "addressed", addressee)
    return _bound(state, policy)


def _bound(state: GroupState, policy: Policy) -> list[Finding]:
    items = _items(state)
    excess = len(items) - policy.responsiveness.max_open_items
    if excess <= 0:
        return []
    for key in sorted(items, key=lambda k: (items[k]["opened"], k))[:excess]:
        _settle(state, key, "unanswered")
    return []


def _window(ts: datetime, kind: str, policy: Policy, windows: dict) -> str:
    when = local(ts, policy.work_hours)
    day = when.date()
    start_day = day if kind == "day" else day - timedelta(days=day.weekday())
    key = f"{kind}|{start_day.isoformat()}"
    if key not in windows:
        start = datetime.combine(start_day, time(0), when.tzinfo)
        end = datetime.combine(start_day + timedelta(days=1 if kind == "day" else 7), time(0), when.tzinfo)
        windows[key] = {"kind": kind, "start": start.isoformat(), "end": end.isoformat(), "pending": 0,
                        "members": {}, "group": _zero()}
    return key


def _zero() -> dict:
    return {**{c: 0 for c in COUNTS}, "seconds": []}


def _bump(window: dict, member: str | None, count: str, seconds: int | None = None) -> None:
    targets = [window["group"]]
    if member is not None:
        targets.append(window["members"].setdefault(member, _zero()))
    for t in targets:
        t[count] += 1
        if seconds is not None:
            add_duration(t, seconds)


# --------------------------------------------------------------------------- answering


def answer(ctx: Context) -> list[Finding]:
    """Settle or note the open items this message answers (see the module docstring)."""
    event = cast(MessagePosted, ctx.event)
    state, policy = ctx.state, ctx.policy
    msg, actor = event.message, event.actor.id
    items = _items(state)
    # Most messages answer nothing: pick the sender's items (by the index, not a scan of every open
    # item: in an all-hands group that was quadratic) before reading the text.
    index = _by_addressee(state)
    mine = [key for key in index.get(actor, ()) if items[key]["message_id"] != msg.id]
    mine += [key for key in index.get(None, ()) if items[key]["asker"] != actor and items[key]["message_id"] != msg.id]
    if not mine:
        return []
    text = msg.text
    is_question = matches(policy, "question", text)
    has_ack = matches(policy, "ack", text)
    with_time = has_ack and matches(policy, "expected_time", text)
    ack_only = has_ack and not with_time and len(text.strip()) <= policy.responsiveness.ack_max_chars
    for key in sorted(mine, key=lambda k: (items[k]["opened"], k)):
        item = items[key]
        if msg.reply_to is not None:
            if msg.reply_to != item["message_id"]:
                continue
        elif is_question or (msg.mentions and item["asker"] not in msg.mentions):
            continue
        if ack_only and item["kind"] != "reply_request":
            acks = item["acks"]
            acks.append(stamp(event.ts, policy))
            if len(acks) > MAX_ACKS:  # the latest are what a reminder shows
                del acks[: len(acks) - MAX_ACKS]
            continue
        _settle(state, key, "acknowledged" if with_time else "replied", event.ts, policy)
    return []


def _settle(state: GroupState, key: str, outcome: str, ts: datetime | None = None,
            policy: Policy | None = None) -> None:
    """Take an item out of the open set and count its outcome in its windows (and the report).

    The cached next deadline stays: without this item it can only be later, and a deadline that
    finds nothing due is worked out again (reply_deadlines). A window that this item completes
    can be written at its end: that may be sooner."""
    item = _items(state).pop(key)
    _by_addressee(state).get(item["addressee"], set()).discard(key)
    windows = _windows(state)
    seconds = work_seconds(at(item["opened"]), ts, policy) if ts is not None and policy is not None else None
    for wkey in item["windows"]:
        window = windows[wkey]
        window["pending"] -= 1
        if window["pending"] == 0:
            _lower(_section(state), "next_due", window["end"])
        if outcome in ("replied", "acknowledged"):
            _bump(window, item["addressee"], "replied", seconds)
            if outcome == "acknowledged":
                _bump(window, item["addressee"], "acknowledged")
        else:
            _bump(window, item["addressee"], "unanswered")
    if outcome in ("replied", "acknowledged"):
        report.count(state, "replied", item["addressee"], seconds)


def _settle_departed(ctx: Context, member_id: str) -> None:
    for key in sorted(_by_addressee(ctx.state).get(member_id, ())):
        _settle(ctx.state, key, "unanswered")


def _by_addressee(state: GroupState) -> dict[str | None, set[str]]:
    """The open items of each addressee (None: questions to the whole group), for this batch."""
    index = state.transient.get("items_by_addressee")
    if index is None:
        index = state.transient["items_by_addressee"] = {}
        for key, item in _items(state).items():
            index.setdefault(item["addressee"], set()).add(key)
    return index


def _lower(section: dict, key: str, due: str) -> None:
    """Bring a cached deadline forward to `due` (stamps of one policy sort as text); a deadline
    not worked out yet stays so."""
    if key in section and (section[key] is None or due < section[key]):
        section[key] = due


# --------------------------------------------------------------------------- deadlines and windows


def reply_deadlines(state: GroupState, policy: Policy, now: datetime) -> list[Finding]:
    _items_changed(state)  # the cached earliest deadline may belong to items settled since
    items = _items(state)
    found: list[Finding] = []
    group_id = _group(state)
    for key in sorted(items, key=lambda k: (items[k]["due"], k)):
        item = items[key]
        addressee = item["addressee"]
        evidence = {"event_ids": [item["event_id"]], "message_id": item["message_id"], "kind": item["kind"],
                    "asker": item["asker"], "addressed_at": item["opened"], "acknowledgements": item["acks"],
                    "excerpt": item["excerpt"]}
        if not item["overdue"] and at(item["due"]) <= now:
            _items_changed(state)
            item["overdue"] = True
            for wkey in item["windows"]:
                _bump(_windows(state)[wkey], addressee, "overdue")
            report.count(state, "overdue", addressee)
            found.append(escalation(
                rule="C1", level=REMINDER, key=key, group_id=group_id, now=now, member=member_ref(state, addressee),
                recipients={"member": addressee, "admins": admins(state)} if addressee else {"admins": admins(state)},
                evidence=evidence, due=item["due"],
                why=f"no reply within {policy.responsiveness.reply_sla_seconds} work seconds"
                    + (" (acknowledged without an expected time)" if item["acks"] else "")))
        if item["overdue"] and at(item["final"]) <= now:
            found.append(escalation(
                rule="C1", level=SUPERVISOR, key=key, group_id=group_id, now=now, member=member_ref(state, addressee),
                recipients={"owners": owners(state), "admins": admins(state),
                            "supervisors": sorted(policy.groups.supervisors)},
                evidence=evidence, due=item["final"],
                why=f"still no reply {policy.responsiveness.owner_escalation_after_seconds} work seconds "
                    f"after the reminder"))
            _settle(state, key, "unanswered")
    return found


def finished_windows(state: GroupState, policy: Policy, now: datetime) -> list[Finding]:
    windows = _windows(state)
    found: list[Finding] = []
    for key in sorted(windows, key=lambda k: (windows[k]["end"], k)):
        window = windows[key]
        if window["pending"] or at(window["end"]) > now:
            continue
        for member_id in sorted(window["members"]):
            found.append(Emit("responsiveness", aggregate_event(
                state, window, member_id, window["members"][member_id], now)))
        found.append(Emit("responsiveness", aggregate_event(state, window, None, window["group"], now)))
        del windows[key]
    return found


def aggregate_event(state: GroupState, window: dict, member_id: str | None, counts: dict, now: datetime) -> dict:
    return {
        "kind": "responsiveness",
        "id": stable_id("rsp", _group(state), window["kind"], window["start"], member_id or "*"),
        "group_id": _group(state),
        "ts": now.isoformat(),
        "scope": "member" if member_id else "group",
        "member": member_ref(state, member_id),
        "window": {"kind": window["kind"], "start": window["start"], "end": window["end"]},
        **summary(counts),
        "clock": "work_time",
        "schema": SCHEMA_VERSION,
    }


def summary(counts: dict) -> dict:
    median, p90 = percentile_summary(counts["seconds"])
    return {
        **{c: counts[c] for c in COUNTS},
        "reply_rate": round(counts["replied"] / counts["addressed"], 4) if counts["addressed"] else None,
        "median_reply_seconds": median,
        "p90_reply_seconds": p90,
    }
