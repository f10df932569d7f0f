"""The sending shell: one runner per channel, each with its own queue, rate window, back-off and
digest windows, so a slow or failing channel never holds up another, and the intake never waits
for a send.

Every change of a delivery is written to the ledger before it counts: a delivery is `queued` (or
`held`) before the intake lets its record's offset be committed, `sending` before each attempt
(its start time is kept, so the rate windows survive a restart), then `sent`, `failed` or
`suppressed`. A `delivery` record goes to the sink (the `moderation.deliveries` topic, or the
terminal in a replay) for each `held` and each final outcome.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections import deque
from datetime import datetime
from typing import Awaitable, Callable

from pipeline.config import WorkHours
from pipeline.notify.config import NotifyConfig
from pipeline.notify.ledger import Ledger
from pipeline.notify.metrics import NotifyMetrics
from pipeline.notify.plan import (
    OUTSTANDING, RETRACTED, DigestWindows, Entry, RateWindow, backoff, delivery_record, digest_id, plan, retract,
    retracted_key, withdrawal,
)
from pipeline.notify.records import BadNotification, Notification, Retraction, parse
from pipeline.notify.render import (
    Message, digest_message, escalation_message, report_message, withdrawal_message,
)
from pipeline.text.redact import redact_output

log = logging.getLogger("pipeline.notify")
Sink = Callable[[dict], Awaitable[None]]
STOP_GRACE_SECONDS = 15.0


def compose(entries: list[Entry], config: NotifyConfig, dialect) -> Message:
    """The message for one job: a single delivery, or several to one recipient as a digest."""
    if len(entries) > 1:
        members = tuple(dict.fromkeys(m for e in entries for m in e.members))
        return digest_message([(e.notification_id, e.summary) for e in entries], members, config, dialect)
    e = entries[0]
    if e.kind == "withdrawal":
        reason = (e.event or {}).get("reason")
        return withdrawal_message(e.summary, e.notification_id, e.retraction_id or "", reason, e.members, config,
                                  dialect)
    n = parse(e.event or {})
    if not isinstance(n, Notification):
        raise BadNotification("the stored record is not a notification")
    if n.kind == "group_report":
        return report_message(n, e.members, config, dialect)
    return escalation_message(n, e.roles, e.members, config, dialect)


class Runner:
    """Sends one channel's deliveries, one attempt at a time, within the platform's limits."""

    def __init__(self, d: Dispatcher, name: str, client, limits: tuple[int | None, int | None],
                 pause_after_limited: float):
        self.d, self.name, self.client = d, name, client
        self.window = RateWindow(*limits)
        self.pause_after_limited = pause_after_limited
        self.digests = DigestWindows(d.config.digest.window_seconds)
        self.jobs: deque[list[str]] = deque()
        self.offered: set[str] = set()
        self.wake = asyncio.Event()
        self.paused_until = 0.0
        self.failures = 0
        self.busy = False
        self.task: asyncio.Task | None = None

    def push(self, key: str) -> None:
        self.jobs.append([key])
        self.wake.set()

    def waiting(self) -> int:
        return sum(len(keys) for keys in self.digests.waiting.values())

    async def run(self) -> None:
        d = self.d
        while not d.stopping:
            now = d.clock()
            for recipient, keys in self.digests.due(now):
                self.jobs.appendleft(keys)
            job = self._next(now)
            if job is None:
                close = self.digests.next_close()
                await self._sleep(None if close is None else max(0.0, close - now))
                continue
            wait = max(self.paused_until - now, self.window.wait(now))
            if wait > 0:
                self.jobs.appendleft(job)
                await self._sleep(wait)
                continue
            self.busy = True
            try:
                await self._attempt(job)
            except Exception:  # noqa: BLE001 - a bug must not stop the channel; the entries fail
                log.exception("notify: channel %s failed on a delivery", self.name)
                for key in job:
                    e = d.ledger.get(key)
                    if e is not None and e.status in OUTSTANDING:
                        await d.finish(e, "failed", "internal error")
            finally:
                self.busy = False

    async def _sleep(self, seconds: float | None) -> None:
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _next(self, now: float) -> list[str] | None:
        """The next job whose deliveries are still to be sent; single digestable deliveries are
        offered to the recipient's digest window first (it may keep them for the digest)."""
        d = self.d
        while self.jobs:
            job = self.jobs.popleft()
            live = [k for k in job if (e := d.ledger.get(k)) is not None and e.status in ("queued", "sending")]
            if not live:
                continue
            if len(live) == 1 and len(job) == 1:
                e = d.ledger.get(live[0])
                if e.digest and e.key not in self.offered and d.digests:
                    self.offered.add(e.key)
                    if not self.digests.offer(e.recipient, e.key, now):
                        continue
            return live
        return None

    async def _attempt(self, job: list[str]) -> None:
        d = self.d
        now = d.clock()
        entries = []
        for key in job:
            e = d.ledger.get(key)
            if now > e.due + d.config.delivery.give_up_seconds:
                await d.finish(e, "failed", e.code or "gave up")
            else:
                entries.append(e)
        if not entries:
            return
        try:
            message = compose(entries, d.config, self.client.dialect)
        except BadNotification as exc:
            log.warning("notify: cannot render a delivery on %s: %s", self.name, exc)
            for e in entries:
                await d.finish(e, "failed", "unreadable")
            return
        for e in entries:
            e.status, e.attempts, e.at = "sending", e.attempts + 1, now
            e.tries = (e.tries + [now])[-50:]
            await d.store.write(e)
        self.window.record(now)
        outcome = await self.client.send(message, entries[0].recipient)
        d.metrics.attempt(self.name, outcome.status)
        after = d.clock()
        if outcome.status == "sent":
            self.failures = 0
            group = digest_id([e.key for e in entries]) if len(entries) > 1 else None
            if group:
                d.metrics.digests.labels(channel=self.name).inc()
            for e in entries:
                e.digest_id = group
                d.metrics.latency.labels(channel=self.name).observe(max(0.0, after - e.due))
                await d.finish(e, "sent", outcome.code)
            return
        if outcome.status == "rejected":
            log.warning("notify: %s refused a delivery (%s%s)", self.name, outcome.code,
                        f": {outcome.detail}" if outcome.detail else "")
            for e in entries:
                await d.finish(e, "failed", outcome.code)
            return
        self.failures += 1
        if outcome.status == "limited":
            delay = outcome.retry_after if outcome.retry_after is not None else self.pause_after_limited
        else:
            cfg = d.config.delivery
            delay = backoff(self.failures, cfg.backoff_base_seconds, cfg.backoff_max_seconds, d.rng())
        self.paused_until = after + delay
        log.info("notify: %s answered %s (%s); trying again in %.1fs", self.name, outcome.status, outcome.code, delay)
        retry = []
        for e in entries:
            e.code = outcome.code
            if after + delay > e.due + d.config.delivery.give_up_seconds:
                await d.finish(e, "failed", outcome.code)
            else:
                e.status, e.at = "queued", after
                await d.store.write(e)
                retry.append(e.key)
        if retry:
            self.jobs.appendleft(retry)


class Dispatcher:
    def __init__(self, config: NotifyConfig, clients: dict, store, sink: Sink, metrics: NotifyMetrics | None = None,
                 work_hours: WorkHours | None = None, digests: bool = True, clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random):
        """`work_hours`: hold deliveries outside them (quiet hours), None: never hold; `digests`: fold
        reminders to one recipient into digests (live; a replay sends each at once)."""
        self.config, self.store, self.sink = config, store, sink
        self.metrics = metrics or NotifyMetrics()
        self.work_hours = work_hours
        self.digests, self.clock, self.rng = digests, clock, rng
        self.ledger = Ledger()
        self.stopping = False
        self.channel_types = {name: c.type for name, c in config.channels.items()}
        self.runners = {name: Runner(self, name, clients[name], config.channels[name].limits(),
                                     config.channels[name].pause_after_limited()) for name in clients}
        self._held: list[tuple[float, str]] = []
        self._held_changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.counts: dict[str, int] = dict.fromkeys(self.runners, 0)

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        for runner in self.runners.values():
            runner.task = asyncio.create_task(runner.run(), name=f"notify-{runner.name}")
            self._tasks.append(runner.task)
        self._tasks.append(asyncio.create_task(self._release_held(), name="notify-held"))

    async def adopt(self, entries: list[Entry]) -> int:
        """Take over entries loaded from the store: resume what was outstanding, remember the rest.
        Returns how many were found in flight (they are sent again)."""
        now = self.clock()
        in_flight = 0
        recent: dict[str, list[float]] = {}
        for e in sorted(entries, key=lambda e: (e.due, e.key)):
            if e.status != RETRACTED and e.channel not in self.runners:
                continue   # a channel no longer configured: remembered nowhere, sent nowhere
            self.ledger.put(e)
            if e.status == RETRACTED:
                continue
            runner = self.runners[e.channel]
            recent.setdefault(e.channel, []).extend(t for t in e.tries if t > now - 120)
            if e.status == "sending":
                in_flight += 1
                self.metrics.resumed.inc()
                e.status = "queued"
            if e.status == "held" and (e.hold_until or 0.0) <= now:
                e.status, e.due = "queued", now   # work has resumed since it was held
                await self.store.write(e)
            if e.status == "queued":
                runner.push(e.key)
            elif e.status == "held":
                self._hold(e)
        for channel, starts in recent.items():
            # The attempts of the last minutes, in order, so the platform's limits hold across a restart.
            self.runners[channel].window.seed(starts)
        for gone in self.ledger.expire(now, self.config.delivery.ledger_days):
            await self.store.forget(gone.key, gone.partition)
        self._recount()
        return in_flight

    async def quiesce(self, timeout: float) -> None:
        """Wait (up to `timeout`) until no attempt is in flight: before partitions move to another
        notifier, so what was just sent is in the ledger it will read."""
        deadline = self.clock() + timeout
        while any(r.busy for r in self.runners.values()) and self.clock() < deadline:
            await asyncio.sleep(0.02)

    def forget_partitions(self, partitions) -> None:
        """Partitions another notifier now owns: their deliveries are its to send."""
        self.ledger.drop_partitions(partitions)
        self._recount()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop after the attempts in flight (up to `grace` seconds), so a clean stop repeats nothing."""
        self.stopping = True
        for runner in self.runners.values():
            runner.wake.set()
        deadline = self.clock() + grace
        while any(r.busy for r in self.runners.values()) and self.clock() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runner in self.runners.values():
            close = getattr(runner.client, "close", None)
            if close:
                await close()

    def outstanding(self, include_held: bool = False) -> int:
        states = OUTSTANDING if include_held else ("queued", "sending")
        return sum(1 for e in self.ledger.entries.values() if e.status in states)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or in flight (held deliveries may stay); False on timeout."""
        deadline = None if timeout is None else self.clock() + timeout
        while self.outstanding():
            if deadline is not None and self.clock() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # ------------------------------------------------------------------ intake
    async def accept(self, record: Notification | Retraction, raw: dict, partition: int = 0) -> list[Entry]:
        """Plan one notification (or act on a retraction) and write what it needs to the ledger;
        returns once that is durable. Sends happen in the runners."""
        if isinstance(record, Retraction):
            return await self._retract(record, partition)
        now = self.clock()
        entries, unrouted = plan(record, raw, self.config, self.channel_types, self.work_hours,
                                 datetime.fromtimestamp(now).astimezone(), partition)
        for role in unrouted:
            self.metrics.unrouted.labels(role=role).inc()
        withdrawn = self.ledger.retracted(record.id)
        added = []
        for e in entries:
            if e.key in self.ledger or e.channel not in self.runners:
                continue
            if withdrawn:
                e.status, e.code, e.event = "suppressed", "retracted", None
            elif self.counts[e.channel] >= self.config.delivery.max_queue:
                e.status, e.code, e.event = "failed", "queue full", None
            self.ledger.put(e)
            if e.status in OUTSTANDING:
                self._count(e.channel, +1)
            added.append(e)
        # All of the notification's entries at once (pipelined to the broker), durable before any goes.
        await asyncio.gather(*(self.store.write(e) for e in added))
        for e in added:
            runner = self.runners[e.channel]
            if e.status == "queued":
                runner.push(e.key)
            elif e.status == "held":
                self._hold(e)
                await self._record(e, "held")
            else:
                await self._record(e, e.status)
        return added

    async def _retract(self, r: Retraction, partition: int) -> list[Entry]:
        now = self.clock()
        added = []
        for escalation_id in r.retracts:
            entries = self.ledger.of(escalation_id)
            if not entries:
                marker = Entry(key=retracted_key(escalation_id), notification_id=escalation_id, kind="escalation",
                               purpose="", group_id=r.group_id, channel="", recipient="", roles=(), members=(),
                               status=RETRACTED, due=now, ts=r.ts.isoformat(), summary={}, partition=partition,
                               retraction_id=r.id, at=now)
                self.ledger.put(marker)
                await self.store.write(marker)
                continue
            suppress, withdraw = retract(r, escalation_id, entries, now)
            for e in suppress:
                e.event = None
                await self.finish(e, "suppressed", "retracted")
            for e in entries:
                if e.withdraw_after == r.id and e.status == "sending":
                    await self.store.write(e)
            for w in withdraw:
                if w.key in self.ledger or w.channel not in self.runners:
                    continue
                await self._enqueue(w)
                added.append(w)
        return added

    # ------------------------------------------------------------------ outcomes
    async def finish(self, e: Entry, status: str, code: str | None) -> None:
        if e.status in OUTSTANDING:
            self._count(e.channel, -1)
        e.status, e.code, e.at = status, code, self.clock()
        e.event = None   # what was sent is remembered by its key and summary, not its text
        await self.store.write(e)
        await self._record(e, status)
        if status == "sent" and e.withdraw_after:
            r = Retraction(id=e.withdraw_after, group_id=e.group_id, ts=datetime.fromtimestamp(e.at).astimezone(),
                           retracts=(e.notification_id,))
            w = withdrawal(r, e.notification_id, e, e.at)
            if w.key not in self.ledger:
                await self._enqueue(w)

    async def _enqueue(self, e: Entry) -> None:
        self.ledger.put(e)
        self._count(e.channel, +1)
        await self.store.write(e)
        self.runners[e.channel].push(e.key)

    async def _record(self, e: Entry, status: str) -> None:
        self.metrics.delivery(e.channel, status)
        await self.sink(redact_output(delivery_record(e, self.channel_types.get(e.channel, ""), self.clock())))

    def _count(self, channel: str, delta: int) -> None:
        self.counts[channel] += delta
        self.metrics.queued.labels(channel=channel).set(self.counts[channel])

    def _recount(self) -> None:
        self.counts = dict.fromkeys(self.runners, 0)
        for e in self.ledger.entries.values():
            if e.status in OUTSTANDING and e.channel in self.counts:
                self.counts[e.channel] += 1
        for name, n in self.counts.items():
            self.metrics.queued.labels(channel=name).set(n)

    # ------------------------------------------------------------------ quiet hours
    def _hold(self, e: Entry) -> None:
        heapq.heappush(self._held, (e.hold_until or 0.0, e.key))
        self._held_changed.set()

    async def _release_held(self) -> None:
        while not self.stopping:
            now = self.clock()
            while self._held and self._held[0][0] <= now:
                _, key = heapq.heappop(self._held)
                e = self.ledger.get(key)
                if e is None or e.status != "held":
                    continue
                e.status, e.due, e.at = "queued", now, now
                await self.store.write(e)
                self.runners[e.channel].push(e.key)
            self._held_changed.clear()
            wait = None if not self._held else max(0.0, self._held[0][0] - now)
            try:
                await asyncio.wait_for(self._held_changed.wait(), min(wait, 60.0) if wait is not None else 60.0)
            except asyncio.TimeoutError:
                pass

