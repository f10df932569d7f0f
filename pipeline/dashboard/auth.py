"""Sessions and login limits of the dashboard: plain classes taking the time, no I/O.

A session is a random 256-bit token in an HttpOnly cookie; the server keeps what it stands for
(user, CSRF token, when it started and was last used). A new login always gets a new token (a
token set before login is never promoted), and a session ends after `lifetime` seconds, after
`idle` seconds without a request, at logout, or when its user is removed or their password changes.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

from pipeline.dashboard.users import User


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def credential_stamp(user: User) -> str:
    """Changes when the user's password or rights change: a session made before that ends."""
    return hashlib.sha256(f"{user.password_hash or ''}\0{user.role}\0{','.join(user.groups)}".encode()).hexdigest()


@dataclass
class Session:
    token: str
    user: str
    stamp: str
    csrf: str
    started: float
    last_used: float
    client: str = ""


@dataclass(frozen=True)
class Principal:
    """Who is asking: their role decides what they see (`scope`) and whether they may decide."""
    name: str
    display_name: str
    role: str
    groups: tuple[str, ...]
    can_decide: bool

    @property
    def scope(self) -> frozenset[str] | None:
        """The groups this user may see, or None for every group."""
        return frozenset(self.groups) if self.role in ("admin", "owner") else None

    def sees(self, group_id: str | None) -> bool:
        scope = self.scope
        return scope is None or (group_id is not None and group_id in scope)

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.name, user.display_name, user.role, user.groups, user.can_decide)


class Sessions:
    """At most `cap` sessions (past it the least recently used ends)."""

    def __init__(self, lifetime: float, idle: float, cap: int):
        self.lifetime, self.idle, self.cap = lifetime, idle, cap
        self._by_token: OrderedDict[str, Session] = OrderedDict()
        self.ended = 0

    def __len__(self) -> int:
        return len(self._by_token)

    def start(self, user: User, now: float, client: str = "") -> Session:
        session = Session(new_token(), user.name, credential_stamp(user), new_token(), now, now, client)
        self._by_token[session.token] = session
        while len(self._by_token) > self.cap:
            self._by_token.popitem(last=False)
            self.ended += 1
        return session

    def get(self, token: str | None, users: dict[str, User], now: float, touch: bool = True) -> tuple[Session, User] | None:
        """The live session of `token` and its user, or None (and the session ends) if it expired,
        went idle, or its user is gone or changed. `touch=False` (a live stream) does not count as use."""
        if not token or len(token) > 100:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        user = users.get(session.user)
        if (user is None or not same(credential_stamp(user), session.stamp)
                or now - session.started > self.lifetime or now - session.last_used > self.idle):
            self.end(token)
            return None
        if touch:
            session.last_used = now
            self._by_token.move_to_end(token)
        return session, user

    def end(self, token: str | None) -> Session | None:
        return self._by_token.pop(token, None) if token else None


class Limiter:
    """Failed attempts per key (a user name, a client address) within a sliding `window`; past
    `limit` the key must wait until its oldest failure leaves the window. At most `cap` keys are
    remembered (past it the least recently failed are forgotten)."""

    def __init__(self, limit: int, window: float, cap: int = 10_000):
        self.limit, self.window, self.cap = limit, window, cap
        self._keys: OrderedDict[str, deque] = OrderedDict()

    def _times(self, key: str, now: float) -> deque | None:
        times = self._keys.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._keys[key]
            return None
        return times

    def wait(self, key: str, now: float) -> float:
        """Seconds `key` must wait before it may try again (0: it may try now)."""
        times = self._times(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[-self.limit] + self.window - now)

    def fail(self, key: str, now: float) -> None:
        times = self._times(key, now)
        if times is None:
            times = self._keys[key] = deque(maxlen=self.limit)
        times.append(now)
        self._keys.move_to_end(key)
        while len(self._keys) > self.cap:
            self._keys.popitem(last=False)

    def forgive(self, key: str) -> None:
        """Take back the newest failure of `key` (an attempt counted before it was checked, that succeeded)."""
        times = self._keys.get(key)
        if times:
            times.pop()
            if not times:
                del self._keys[key]

    def clear(self, key: str) -> None:
        self._keys.pop(key, None)
