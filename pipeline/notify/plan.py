"""What to deliver, where and when: plain functions and small classes over notifications, the
ledger's entries, the config and the time given. No I/O and no clock: the shells (dispatch,
service, replay) pass `now`.

- `plan` routes a notification to its channels: a group robot gets one message per notification
  that @-mentions every routed recipient it can; e-mail gets one message per person. Outside work
  hours (live, not severe) a delivery is `held` until work resumes.
- `retract` decides, for each delivery of a withdrawn escalation, whether it is suppressed (not sent
  yet) or followed by a withdrawal (sent).
- `RateWindow`, `backoff` and `DigestWindows` are the timing rules the dispatcher follows.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.config import WorkHours
from pipeline.core.events import stable_id
from pipeline.notify.config import ROBOT_TYPES, NotifyConfig
from pipeline.notify.records import Notification, Retraction
from pipeline.core.worktime import add_business_seconds, is_work_time

ROBOT = "robot"   # the recipient of a group robot's message: the group chat it posts in
# Statuses of a ledger entry. `sending` = an attempt may be in flight (a restart sends it again).
OUTSTANDING = ("queued", "held", "sending")
FINAL = ("sent", "failed", "suppressed")
RETRACTED = "retracted"   # marker entry: an escalation withdrawn before the notifier saw it


def delivery_key(notification_id: str, channel: str, recipient: str, purpose: str = "") -> str:
    return "|".join((notification_id, channel, recipient, purpose)) if purpose else \
        "|".join((notification_id, channel, recipient))


def retracted_key(escalation_id: str) -> str:
    return f"{escalation_id}|{RETRACTED}"


def summary(n: Notification) -> dict:
    """What a later withdrawal needs to say which message it withdraws (already masked)."""
    return {"rule": n.rule, "level": n.level, "member": n.member_name or n.member_id, "group": n.group_name or n.group_id,
            "ts": n.ts.isoformat()}


def route(n: Notification, config: NotifyConfig) -> dict[str, tuple[str, ...]]:
    """Channel name → the recipient roles it gets, from every route that matches."""
    out: dict[str, list[str]] = {}
    for r in config.routes:
        if (r.groups and n.group_id not in r.groups) or (r.rules and n.rule not in r.rules) \
                or (r.levels and n.level not in r.levels):
            continue
        roles = [role for role in r.roles if n.recipients.get(role)]
        for channel in r.channels:
            merged = out.setdefault(channel, [])
            merged.extend(role for role in roles if role not in merged)
    return {channel: tuple(roles) for channel, roles in out.items() if roles}


def next_work_start(now: datetime, hours: WorkHours) -> datetime:
    return add_business_seconds(now, 0, hours)


def hold_until(n: Notification, config: NotifyConfig, hours: WorkHours | None, now: datetime) -> datetime | None:
    """When a delivery of `n` may go if it is held by quiet hours, else None (it goes now)."""
    q = config.quiet_hours
    if hours is None or not q.enabled or n.severe or n.level not in q.hold or is_work_time(now, hours):
        return None
    return next_work_start(now, hours)


@dataclass
class Entry:
    """One delivery: a ledger record while the notifier works on it and after (what was sent)."""
    key: str
    notification_id: str
    kind: str                      # escalation | group_report | withdrawal
    purpose: str                   # a level, report or withdrawal (the template)
    group_id: str
    channel: str
    recipient: str                 # a member id, or ROBOT
    roles: tuple[str, ...]
    members: tuple[str, ...]       # the people it addresses (mentions, or the one e-mail recipient)
    status: str
    due: float                     # epoch seconds from which it may go (give-up counts from here)
    ts: str                        # event time of the notification
    summary: dict
    partition: int = 0
    attempts: int = 0
    code: str | None = None
    hold_until: float | None = None
    digest: bool = False           # may be folded into a digest
    digest_id: str | None = None
    event: dict | None = None      # the record to render from, kept while outstanding
    retraction_id: str | None = None
    withdraw_after: str | None = None   # a retraction arrived while an attempt was in flight
    tries: list = field(default_factory=list)   # start times of recent attempts (rate limits after a restart)
    at: float = 0.0                # last change

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> Entry:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for k in ("roles", "members"):
            known[k] = tuple(known.get(k) or ())
        known["tries"] = list(known.get("tries") or [])[-50:]
        return cls(**known)


def plan(n: Notification, raw: dict, config: NotifyConfig, channel_types: dict[str, str],
         hours: WorkHours | None, now: datetime, partition: int = 0) -> tuple[list[Entry], list[str]]:
    """The deliveries of one notification (status `queued` or `held`), and the roles that had
    recipients but no route (for a metric). `hours` is None when quiet hours do not apply (replay)."""
    routes = route(n, config)
    routed_roles = {role for roles in routes.values() for role in roles}
    unrouted = [role for role in n.recipients if role not in routed_roles]
    held = hold_until(n, config, hours, now)
    epoch = now.timestamp()
    digestable = config.digest.window_seconds > 0 and n.level in config.digest.levels and not n.severe
    entries: list[Entry] = []
    for channel, roles in routes.items():
        people = tuple(dict.fromkeys(m for role in roles for m in n.recipients[role]))
        targets = [(ROBOT, people)] if channel_types[channel] in ROBOT_TYPES else [(m, (m,)) for m in people]
        for recipient, members in targets:
            member_roles = tuple(role for role in roles if recipient == ROBOT or recipient in n.recipients[role])
            # A personal channel without an address for this person: recorded failed, not tried.
            unreachable = recipient != ROBOT and not getattr(config.directory.get(recipient), "email", None)
            entries.append(Entry(
                key=delivery_key(n.id, channel, recipient), notification_id=n.id, kind=n.kind, purpose=n.level,
                group_id=n.group_id, channel=channel, recipient=recipient, roles=member_roles, members=members,
                status="held" if held else "queued", due=held.timestamp() if held else epoch, ts=n.ts.isoformat(),
                summary=summary(n), partition=partition, hold_until=held.timestamp() if held else None,
                digest=digestable, event=raw, at=epoch))
            if unreachable:
                entries[-1].status, entries[-1].code, entries[-1].event = "failed", "no address", None
    return entries, unrouted


def retract(r: Retraction, escalation_id: str, entries: list[Entry], now: float) -> tuple[list[Entry], list[Entry]]:
    """For the deliveries of one withdrawn escalation: (those to suppress, the withdrawals to send).
    An attempt in flight is marked to be withdrawn once it has gone."""
    suppress, withdraw = [], []
    for e in entries:
        if e.kind == "withdrawal":
            continue
        if e.status in ("queued", "held"):
            suppress.append(e)
        elif e.status == "sending":
            e.withdraw_after = r.id
        elif e.status == "sent":
            withdraw.append(withdrawal(r, escalation_id, e, now))
    return suppress, withdraw


def withdrawal(r: Retraction, escalation_id: str, original: Entry, now: float) -> Entry:
    return Entry(
        key=delivery_key(escalation_id, original.channel, original.recipient, "withdrawal"),
        notification_id=escalation_id, kind="withdrawal", purpose="withdrawal", group_id=original.group_id,
        channel=original.channel, recipient=original.recipient, roles=original.roles, members=original.members,
        status="queued", due=now, ts=r.ts.isoformat(), summary=original.summary, partition=original.partition,
        event={"kind": "retraction", "id": r.id, "reason": r.reason}, retraction_id=r.id, at=now)


def backoff(attempt: int, base: float, cap: float, rnd: float) -> float:
    """Seconds before attempt `attempt + 1`: exponential, capped, with jitter in [½, 1] of it, so
    many notifiers retrying one platform spread out."""
    return min(cap, base * 2 ** max(0, attempt - 1)) * (0.5 + rnd / 2)


# The platform starts its window when a request arrives, we when we send: a request that took
# longer on the wire than a later one would count twice. The windows are kept this much longer.
RATE_MARGIN = 0.02


class RateWindow:
    """At most `per_minute` starts in any 60 s and `per_second` in any 1 s (sliding windows, kept
    2% longer so network jitter cannot make the platform count one more)."""

    def __init__(self, per_minute: int | None, per_second: int | None):
        self.limits = [(n, span * (1 + RATE_MARGIN)) for n, span in ((per_minute, 60.0), (per_second, 1.0)) if n]
        self.starts: deque[float] = deque(maxlen=max([n for n, _ in self.limits], default=1))

    def wait(self, now: float) -> float:
        """Seconds to wait before the next start is allowed."""
        longest = 0.0
        for n, span in self.limits:
            if len(self.starts) >= n:
                # The n-th most recent start must have left the window.
                oldest = self.starts[-n]
                longest = max(longest, oldest + span - now)
        return max(0.0, longest)

    def record(self, start: float) -> None:
        self.starts.append(start)

    def seed(self, starts) -> None:
        for s in sorted(starts):
            self.record(s)


class DigestWindows:
    """Per recipient of one channel: the first digestable delivery goes at once and opens a window;
    those that come while it is open wait, and go as one message when it closes (which opens the
    next window, so a steady flow becomes one digest per window)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.open_until: dict[str, float] = {}
        self.waiting: dict[str, list[str]] = {}

    def offer(self, recipient: str, key: str, now: float) -> bool:
        """True: send it now (and a window opens); False: it waits for the digest."""
        if self.open_until.get(recipient, 0.0) > now:
            self.waiting.setdefault(recipient, []).append(key)
            return False
        self.open_until[recipient] = now + self.seconds
        return True

    def next_close(self) -> float | None:
        return min((self.open_until[r] for r in self.waiting), default=None)

    def due(self, now: float) -> list[tuple[str, list[str]]]:
        """Windows closed by `now` with deliveries waiting: (recipient, keys); each reopens."""
        out = []
        for recipient in [r for r, until in self.open_until.items() if until <= now]:
            keys = self.waiting.pop(recipient, None)
            if keys:
                out.append((recipient, keys))
                self.open_until[recipient] = now + self.seconds
            else:
                del self.open_until[recipient]
        return out


def digest_id(keys: list[str]) -> str:
    return stable_id("dig", *sorted(keys))


def delivery_record(e: Entry, channel_type: str, now: float) -> dict:
    """The `delivery` output of EVENTS.md for an entry's current status."""
    record = {
        "kind": "delivery",
        "id": stable_id("dlv", e.key, e.status),
        "group_id": e.group_id,
        "ts": e.ts,
        "at": datetime.fromtimestamp(now).astimezone().isoformat(timespec="milliseconds"),
        "channel": e.channel,
        "channel_type": channel_type,
        "recipient": e.recipient,
        "roles": list(e.roles),
        "purpose": e.purpose,
        "status": e.status,
        "attempts": e.attempts,
        "code": e.code,
        "schema": 1,
    }
    record["report_id" if e.kind == "group_report" else "escalation_id"] = e.notification_id
    if e.retraction_id:
        record["retraction_id"] = e.retraction_id
    if e.digest_id:
        record["digest_id"] = e.digest_id
    if e.hold_until and e.status == "held":
        record["hold_until"] = datetime.fromtimestamp(e.hold_until).astimezone().isoformat(timespec="seconds")
    return record


def expired(e: Entry, now: float, days: int) -> bool:
    return e.status in (*FINAL, RETRACTED) and e.at < now - timedelta(days=days).total_seconds()
