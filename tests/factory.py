"""Builders for input events in tests: short to write, valid by default."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import orjson

CST = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=CST)  # a working Monday, inside work hours
_ids = itertools.count(1)


def at(base: datetime = MONDAY, **delta) -> str:
    return (base + timedelta(**delta)).isoformat()


def event(type_: str, group: str = "g-1", actor: str = "u-1", ts: str | None = None,
          actor_name: str | None = None, event_id: str | None = None, body: dict | None = None,
          **fields) -> dict:
    """`fields` are the type's own fields; `body` is for a field named like a parameter (`group`)."""
    n = next(_ids)
    return {"event_id": event_id or f"t-{n}", "type": type_, "ts": ts or MONDAY.isoformat(), "group_id": group,
            "actor": {"id": actor, "name": actor_name or f"研发中心-成员{actor}"}, **(body or {}), **fields}


def message(text: str, group: str = "g-1", actor: str = "u-1", ts: str | None = None, **extra) -> dict:
    n = next(_ids)
    msg = {"id": extra.pop("message_id", f"m-{n}"), "text": text}
    for key in ("mentions", "reply_to", "urgent"):
        if key in extra:
            msg[key] = extra.pop(key)
    return event("message.posted", group, actor, ts, message=msg, **extra)


def configured(group: str = "g-1", admins=("u-admin",), owners=("u-admin",), kind="department",
               ts: str | None = None) -> dict:
    return event("group.configured", group, admins[0] if admins else "u-admin", ts,
                 body={"group": {"name": f"{group} 工作群", "kind": kind, "admins": list(admins),
                                 "owners": list(owners)}})


def joined(member: str, name: str, approved_by: str | None = "u-admin", group: str = "g-1",
           actor: str = "u-admin", ts: str | None = None) -> dict:
    return event("member.joined", group, actor, ts, member={"id": member, "name": name}, approved_by=approved_by)


def tick(group: str = "g-1", ts: str | None = None) -> dict:
    return event("clock.tick", group, "system", ts)


def lines(*events: dict) -> list[bytes]:
    return [orjson.dumps(e) for e in events]
