"""Users and logins for the dashboard's tests: a users file made with the real `UserFile` (real
Argon2 hashes) and clients that log in through the real login form."""
from __future__ import annotations

import http.cookiejar
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from functools import lru_cache
from pathlib import Path

import orjson

from pipeline.dashboard.users import UserFile

PASSWORD = "correct horse battery"
# name → (role, groups)
USERS = {
    "sup": ("supervisor", ()),
    "comp": ("compliance", ()),
    "aud": ("auditor", ()),
    "adm-fin": ("admin", ("g-fin",)),
    "own-apollo": ("owner", ("g-apollo",)),
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_kept = []


@lru_cache(maxsize=None)
def users_file() -> str:
    """One users file with USERS for the whole test session (hashing is deliberately slow)."""
    directory = tempfile.TemporaryDirectory(prefix="moderation-users-")
    _kept.append(directory)
    path = Path(directory.name) / "users.json"
    users = UserFile(path)
    for name, (role, groups) in USERS.items():
        users.add(name, role, list(groups), PASSWORD, display_name=f"名-{name}")
    return str(path)


def copy_users_file(into: Path) -> str:
    """The shared users file copied, for a test that changes users."""
    target = into / "users.json"
    target.write_bytes(Path(users_file()).read_bytes())
    target.chmod(0o600)
    return str(target)


def csrf_of(page: str) -> str:
    return _CSRF.search(page).group(1)


async def log_in(client, url: str, name: str, password: str = PASSWORD) -> dict:
    """Log in through the form with an aiohttp client (its cookie jar must accept IP hosts);
    returns /api/me (which carries the CSRF token)."""
    page = await (await client.get(url + "login")).text()
    response = await client.post(url + "login", data={"username": name, "password": password, "csrf": csrf_of(page)},
                                 allow_redirects=False)
    assert response.status == 303, (response.status, await response.text())
    me = await client.get(url + "api/me")
    assert me.status == 200
    return await me.json()


class HttpClient:
    """A blocking HTTP client with its own cookies (for tests against a dashboard process)."""

    def __init__(self, url: str):
        self.url = url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.csrf: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30.0) -> tuple[int, bytes, dict]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def get_json(self, path: str) -> tuple[int, dict]:
        status, body, _ = self.request("GET", path)
        return status, orjson.loads(body) if body.startswith(b"{") else {}

    def log_in(self, name: str, password: str = PASSWORD) -> dict:
        _, page, _ = self.request("GET", "login")
        form = urllib.parse.urlencode({"username": name, "password": password, "csrf": csrf_of(page.decode())})
        status, _, _ = self.request("POST", "login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, status          # the 303 to the page is followed
        status, me = self.get_json("api/me")
        assert status == 200, status
        self.csrf = me["csrf"]
        return me

    def decide(self, violation_id: str, decision: str, label: str | None = None, note: str | None = None,
               timeout: float = 30.0) -> tuple[int, dict]:
        body = {"violation_id": violation_id, "decision": decision}
        if label:
            body["label"] = label
        if note:
            body["note"] = note
        status, answer, _ = self.request("POST", "api/decisions", orjson.dumps(body),
                                         {"Content-Type": "application/json", "X-CSRF-Token": self.csrf or ""},
                                         timeout=timeout)
        return status, orjson.loads(answer) if answer.startswith(b"{") else {}
