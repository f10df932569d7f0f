"""P7: members must read group announcements; the admin reminds those who have not.

`announcement.posted` opens an acknowledgement window for the members of the group at that time
(but the poster) until its `ack_deadline`, or `announcement_ack_seconds` of work time. A member
acknowledges with `announcement.read` or a message replying to the announcement (reply_to its id).
At the deadline, if some members (still in the group) have not, one `reminder` goes to the admins
listing them. The report shows each announcement's read rate.
"""
from __future__ import annotations

from datetime import datetime

from pipeline.config import Policy
from pipeline.core.events import REMINDER, AnnouncementPosted, AnnouncementRead, MessagePosted
from pipeline.core.followups.common import (
    admins, at, cached_due, due_after, due_changed, escalation, listed, member_ref, stamp,
)
from pipeline.core.rules.base import Context, Finding
from pipeline.core.state import GroupState

NAME = "announcements"
RULE = "P7"
KEEP_CLOSED = 50


def _section(state: GroupState) -> dict:
    return state.section("announcements", lambda: {"open": {}, "closed": []})


def on_event(ctx: Context) -> list[Finding]:
    event, state, policy = ctx.event, ctx.state, ctx.policy
    if not policy.enabled(RULE):
        return []
    section = _section(state)
    open_ = section["open"]
    if isinstance(event, AnnouncementPosted):
        a = event.announcement
        if a.id in open_:
            return []
        due_changed(state, section)
        deadline = a.ack_deadline or due_after(event.ts, policy.responsiveness.announcement_ack_seconds, policy)
        open_[a.id] = {
            "event_id": event.event_id, "title": a.title, "poster": event.actor.id, "posted": stamp(event.ts, policy),
            "due": stamp(deadline, policy),
            "audience": sorted(m for m, r in state.members.items() if m != event.actor.id and "departed" not in r),
            "acknowledged": {},
        }
    elif isinstance(event, AnnouncementRead):
        _acknowledge(open_.get(event.announcement.id), event.actor.id, event.ts, policy)
    elif isinstance(event, MessagePosted) and event.message.reply_to in open_:
        _acknowledge(open_[event.message.reply_to], event.actor.id, event.ts, policy)
    return []


def _acknowledge(announcement: dict | None, member: str, ts: datetime, policy: Policy) -> None:
    if announcement is not None and member in announcement["audience"]:
        announcement["acknowledged"].setdefault(member, stamp(ts, policy))


def next_due(state: GroupState) -> str | None:
    return cached_due(_section(state), _earliest)


def _earliest(open_: dict) -> str | None:
    return min((a["due"] for a in open_.values()), default=None)  # stamps of one policy sort as text (common.stamp)


def deadlines(state: GroupState, policy: Policy, now: datetime, group_id: str) -> list[Finding]:
    section = _section(state)
    due_changed(state, section)
    found: list[Finding] = []
    for key in sorted(section["open"], key=lambda k: (section["open"][k]["due"], k)):
        a = section["open"][key]
        if at(a["due"]) > now:
            continue
        del section["open"][key]
        result = _public(state, key, a)
        section["closed"] = (section["closed"] + [{**result, "closed": a["due"]}])[-KEEP_CLOSED:]
        missing = result.get("missing_total", len(result["missing"]))
        if missing:
            found.append(escalation(
                rule=RULE, level=REMINDER, key=key, group_id=group_id, now=now, member=member_ref(state, a["poster"]),
                recipients={"admins": admins(state)},
                evidence={"event_ids": [a["event_id"]], "announcement_id": key, "title": a["title"],
                          "posted": a["posted"]},
                due=a["due"], why=f"{missing} of {result['audience']} members have not acknowledged "
                                  f"the announcement by its deadline",
                **listed("members", result["missing"], total=missing)))
    return found


def _public(state: GroupState, key: str, a: dict) -> dict:
    # Members who left before the deadline are no longer asked to read it.
    audience = [m for m in a["audience"] if m in state.members or m in a["acknowledged"]]
    acknowledged = [m for m in audience if m in a["acknowledged"]]
    return {
        "announcement_id": key, "title": a["title"], "posted": a["posted"], "due": a["due"],
        "audience": len(audience), "acknowledged": len(acknowledged),
        "read_rate": round(len(acknowledged) / len(audience), 4) if audience else None,
        **listed("missing", [member_ref(state, m) for m in audience if m not in a["acknowledged"]]),
    }


def summary(state: GroupState, policy: Policy, start: datetime, end: datetime) -> list[dict]:
    section = _section(state)
    section["closed"] = [a for a in section["closed"] if at(a["closed"]) >= start]
    closed = [{**{k: v for k, v in a.items() if k != "closed"}, "open": False}
              for a in section["closed"] if at(a["closed"]) < end]
    still_open = [{**_public(state, k, a), "open": True} for k, a in sorted(section["open"].items())]
    return closed + still_open
