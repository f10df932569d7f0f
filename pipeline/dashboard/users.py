"""The dashboard's users: who may log in, with which role, for which groups (R4).

One JSON file (the setting `dashboard.users_file`, MODERATION_DASHBOARD_USERS) holds every user
with an Argon2id hash of their password (argon2-cffi), never the password. `moderation users`
manages it; the dashboard reads it again whenever it changes, so removing a user or changing a
password ends their sessions at once. Written whole to a temporary file and renamed (readers never
see half a file), readable by its owner only, changes serialised by a lock file.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Who may see and decide (POLICY.md R4).
ROLES = ("admin", "owner", "supervisor", "compliance", "auditor")
GROUP_ROLES = ("admin", "owner")            # see and decide for their own groups only
DECIDING_ROLES = ("admin", "owner", "supervisor", "compliance")   # auditors read only
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
DISPLAY_CHARS = 128
GROUP_CHARS = 256
MAX_GROUPS = 1_000
MIN_PASSWORD = 10
MAX_PASSWORD = 1_024     # a longer one is refused before hashing (hashing cost grows with it)
FILE_VERSION = 1

_hasher = PasswordHasher()   # Argon2id with argon2-cffi's recommended parameters (RFC 9106, low memory)
# Verified when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UsersError(ValueError):
    """A users file or a request to change it that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    groups: tuple[str, ...]          # the groups of an admin or owner; empty for the other roles
    display_name: str
    password_hash: str | None        # None: logs in by single sign-on only
    created: str

    @property
    def all_groups(self) -> bool:
        return self.role not in GROUP_ROLES

    @property
    def can_decide(self) -> bool:
        return self.role in DECIDING_ROLES

    def public(self) -> dict:
        """What `users list` and the page may show: no hash."""
        return {"name": self.name, "role": self.role, "groups": list(self.groups),
                "display_name": self.display_name, "created": self.created}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsersError(f"user name {name[:80]!r} is not allowed: 1-64 letters, digits, '.', '_', '@' or '-', "
                         f"starting with a letter or digit")
    return name


def check_groups(role: str, groups: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if role not in ROLES:
        raise UsersError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    cleaned = tuple(dict.fromkeys(g.strip() for g in groups if g.strip()))
    if role in GROUP_ROLES and not cleaned:
        raise UsersError(f"a group {role} needs --groups (the group ids they see and decide for)")
    if role not in GROUP_ROLES and cleaned:
        raise UsersError(f"a {role} sees every group; --groups is only for admin and owner")
    if len(cleaned) > MAX_GROUPS:
        raise UsersError(f"at most {MAX_GROUPS} groups per user")
    for group in cleaned:
        if len(group) > GROUP_CHARS or any(ord(c) < 32 for c in group):
            raise UsersError(f"group id {group[:80]!r} is not allowed (at most {GROUP_CHARS} characters, no control characters)")
    return cleaned


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UsersError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify_password(user: User | None, password: str) -> bool:
    """True if `password` is the user's. Takes as long for an unknown user (None), or one without a
    password, as for a known one."""
    if len(password) > MAX_PASSWORD:
        return False
    known = user is not None and user.password_hash is not None
    try:
        return _hasher.verify(user.password_hash if known else _DUMMY_HASH, password) and known
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _user(name: str, entry: object, where: str) -> User:
    if not isinstance(entry, dict):
        raise UsersError(f"{where}: the entry of user {name!r} is not an object")
    try:
        check_name(name)
        role = entry.get("role")
        groups = entry.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise UsersError("groups must be a list of group ids")
        password_hash = entry.get("password_hash")
        if password_hash is not None and (not isinstance(password_hash, str) or not password_hash.startswith("$argon2")):
            raise UsersError("the password hash is not an Argon2 hash (a single sign-on user has null)")
        display = entry.get("display_name") or name
        if not isinstance(display, str):
            raise UsersError("display_name must be text")
        return User(name, role, check_groups(role, groups), display[:DISPLAY_CHARS], password_hash,
                    str(entry.get("created") or ""))
    except UsersError as exc:
        raise UsersError(f"{where}: user {name[:80]!r}: {exc}") from None


class UserFile:
    """The users file: read whole, changed under a lock, written by rename."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> dict[str, User]:
        """Every user; an absent file is no users yet. Raises UsersError for a file it cannot use."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UsersError(f"{self.path}: cannot read the users file: {exc.strerror}") from None
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UsersError(f"{self.path}: not JSON ({exc}); restore it from a backup or remove it and add the users again") from None
        if not isinstance(doc, dict) or doc.get("version") != FILE_VERSION or not isinstance(doc.get("users"), dict):
            raise UsersError(f"{self.path}: not a users file of version {FILE_VERSION}")
        return {name: _user(name, entry, str(self.path)) for name, entry in doc["users"].items()}

    def stamp(self) -> tuple | None:
        """Changes whenever the file does (for the dashboard's re-read)."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _save(self, users: dict[str, User]) -> None:
        doc = {"version": FILE_VERSION, "users": {
            u.name: {"role": u.role, "groups": list(u.groups), "display_name": u.display_name,
                     "password_hash": u.password_hash, "created": u.created} for u in users.values()}}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def add(self, name: str, role: str, groups: list[str], password: str | None,
            display_name: str | None = None) -> User:
        """A new user; `password` None makes one who logs in by single sign-on only."""
        check_name(name)
        groups_ = check_groups(role, groups)
        display = (display_name or name).strip()[:DISPLAY_CHARS] or name
        password_hash = None if password is None else hash_password(password)
        with self._locked():
            users = self.load()
            if name in users:
                raise UsersError(f"user {name!r} exists; `moderation users passwd {name}` changes the password, "
                                 f"`moderation users remove {name}` removes it")
            user = User(name, role, groups_, display, password_hash,
                        datetime.now(timezone.utc).isoformat(timespec="seconds"))
            users[name] = user
            self._save(users)
        return user

    def remove(self, name: str) -> None:
        with self._locked():
            users = self.load()
            if name not in users:
                raise UsersError(f"no user {name!r} (`moderation users list` shows them)")
            del users[name]
            self._save(users)

    def passwd(self, name: str, password: str) -> None:
        password_hash = hash_password(password)
        with self._locked():
            users = self.load()
            if name not in users:
                raise UsersError(f"no user {name!r} (`moderation users list` shows them)")
            old = users[name]
            users[name] = User(old.name, old.role, old.groups, old.display_name, password_hash, old.created)
            self._save(users)
