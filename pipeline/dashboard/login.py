"""Login, logout and the gate in front of every route of the dashboard (R4).

Only the login page, its stylesheet (`/login-assets/`) and `/healthz` (up or down, nothing else)
answer a request without a session; any other route answers 401 (API, scripts, styles, anything
not a page) or sends a browser to the login page. Which routes are public is decided by the
route a request matched, never by its path text. Every request that changes something (a POST)
must come from the dashboard's own pages: its CSRF token (a form field at login, the
`X-CSRF-Token` header after it) must match, and an `Origin` header, when sent, must be the
dashboard's own.
"""
from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from pipeline.config import Settings
from pipeline.dashboard.auth import Limiter, Principal, Session, Sessions, new_token, same
from pipeline.dashboard.sso import PENDING_SECONDS, SSO, SSOError
from pipeline.dashboard.users import MAX_PASSWORD, NAME_RE, User, UserFile, UsersError, verify_password

log = logging.getLogger("pipeline.dashboard")
PUBLIC_STATIC = Path(__file__).resolve().parent / "static" / "login"
LOGIN_FORM_BYTES = 4096           # a login form larger than this is refused unread
VERIFY_AT_ONCE = 2                # password checks running at once (each is ~50 ms of CPU and 64 MiB)
VERIFY_QUEUE = 32                 # logins waiting for a check; one more gets 503 at once
USERS_RECHECK_SECONDS = 1.0       # how often the users file is looked at for changes
LOGIN_CSRF_COOKIE = "moderation_login"
SSO_COOKIE = "moderation_sso"     # the state of a single sign-on under way, tying it to this browser


@dataclass
class Users:
    """The users file as last read; read again when it changes (at most once a second)."""
    file: UserFile
    users: dict[str, User] = field(default_factory=dict)
    error: str | None = None
    _stamp: tuple | None = None
    _checked: float = float("-inf")

    def current(self) -> dict[str, User]:
        now = time.monotonic()
        if now - self._checked < USERS_RECHECK_SECONDS:
            return self.users
        self._checked = now
        stamp = self.file.stamp()
        if stamp != self._stamp or stamp is None:
            try:
                self.users, self.error = self.file.load(), None
            except UsersError as exc:
                # A broken file lets nobody in (not the old users either): fail closed, say why.
                if self.error != str(exc):
                    log.error("dashboard: %s; nobody can log in until it is fixed", exc)
                self.users, self.error = {}, str(exc)
            self._stamp = stamp
        return self.users


@dataclass
class LoginLimits:
    per_user: Limiter
    per_client: Limiter
    checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(VERIFY_AT_ONCE))
    waiting: int = 0
    refused: int = 0          # attempts refused by a limit (for /api/health)


@dataclass(frozen=True)
class Auth:
    """Everything the gate and the login handlers share (one per app)."""
    settings: Settings
    users: Users
    sessions: Sessions
    limits: LoginLimits
    sso: SSO

    @property
    def cookie(self) -> str:
        # The __Host- prefix (only with Secure) makes the browser refuse the cookie from any other
        # path or domain.
        return "__Host-moderation" if self.settings.dashboard.secure_cookies else "moderation_session"


AUTH_KEY = web.AppKey("auth", Auth)
PRINCIPAL = web.RequestKey("principal", Principal)     # set by the gate on every request it lets through
SESSION = web.RequestKey("session", Session)
# Names of the routes that answer without a session: the login page, its form, its stylesheet, the
# single sign-on start and return, /healthz.
PUBLIC_ROUTES = frozenset({"login_page", "login", "login_assets", "healthz", "sso_start", "sso_callback"})
_NO_TOUCH_ROUTES = {"stream"}           # a live stream does not count as use of the session


def create_auth(settings: Settings) -> Auth:
    d = settings.dashboard
    window = d.login_window_minutes * 60
    return Auth(settings, Users(UserFile(d.users_file)),
                Sessions(d.session_hours * 3600, d.session_idle_minutes * 60, d.max_sessions),
                LoginLimits(Limiter(d.login_failures_per_user, window), Limiter(d.login_failures_per_client, window)),
                SSO(settings))


def client_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    """The peer's address; behind a trusted proxy, the last address its X-Forwarded-For names."""
    peer = request.remote or ""
    if peer in trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return peer[:64]


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    return getattr(route, "name", None) or getattr(getattr(route, "resource", None), "name", None)


def _origin_ok(request: web.Request) -> bool:
    """A POST from a page of another site carries its own Origin (or says cross-site): refused."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = request.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}")


def _unauthenticated(request: web.Request) -> web.StreamResponse:
    wants_page = request.method == "GET" and _route_name(request) == "index"
    if wants_page:
        raise web.HTTPSeeOther("/login")
    raise web.HTTPUnauthorized(text="Log in first: open /login.\n", headers={"WWW-Authenticate": 'Cookie realm="dashboard"'})


@web.middleware
async def gate(request: web.Request, handler):
    """Nothing but the public routes without a live session; a POST needs the session's CSRF token."""
    if _route_name(request) in PUBLIC_ROUTES:
        return await handler(request)
    auth = request.app[AUTH_KEY]
    found = auth.sessions.get(request.cookies.get(auth.cookie), auth.users.current(), time.monotonic(),
                              touch=_route_name(request) not in _NO_TOUCH_ROUTES)
    if found is None:
        return _unauthenticated(request)
    session, user = found
    if request.method not in ("GET", "HEAD") and not (
            _origin_ok(request) and same(request.headers.get("X-CSRF-Token"), session.csrf)):
        from pipeline.dashboard.decisions import OUTBOX_KEY

        request.app[OUTBOX_KEY].record(_route_name(request) or "request", user.name, "refused",
                                       client_address(request, auth.settings.dashboard.trusted_proxies),
                                       {"why": "csrf token or origin missing or wrong"})
        raise web.HTTPForbidden(text="This request did not come from the dashboard's page (CSRF token or "
                                     "origin missing or wrong); reload the page and try again.\n")
    request[PRINCIPAL] = Principal.of(user)
    request[SESSION] = session
    return await handler(request)


# --------------------------------------------------------------------------- the login page


def _page(message: str = "", notice: str = "", username: str = "", csrf: str = "", status: int = 200,
          headers: dict | None = None, sso: bool = False) -> web.Response:
    e = html.escape
    sso_link = '<p class="sso"><a href="/login/sso" id="sso">Log in with single sign-on</a></p>' if sso else ""
    body = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Moderation dashboard</title><link rel="stylesheet" href="/login-assets/login.css"></head>
<body><main class="login">
<h1>Moderation dashboard <span class="sub">工作群合规看板</span></h1>
{f'<p class="notice" id="notice">{notice}</p>' if notice else ''}
{f'<p class="error" id="error" role="alert">{e(message)}</p>' if message else ''}
<form method="post" action="/login" id="login">
<input type="hidden" name="csrf" value="{e(csrf)}">
<label>User <input name="username" id="username" autocomplete="username" required maxlength="64" value="{e(username)}" autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required maxlength="{MAX_PASSWORD}"></label>
<button type="submit" id="submit">Log in</button>
</form>{sso_link}</main></body></html>
"""
    return web.Response(text=body, content_type="text/html", status=status, headers=headers)


def _no_users_notice(auth: Auth) -> str:
    users = auth.users.current()
    if auth.users.error:   # the details are in the dashboard's log, not on a page anyone can open
        return ("The users file cannot be read, so nobody can log in; the dashboard's log says why. Fix it, "
                "or move it away and add the users again.")
    if users:
        return ""
    path = html.escape(auth.settings.dashboard.users_file)
    return ("No users yet. Add the first one on the machine that runs the dashboard: "
            "<code>moderation users add NAME --role supervisor</code> (the password is read from standard "
            f"input; users are kept in <code>{path}</code>, the setting MODERATION_DASHBOARD_USERS_FILE). "
            "Roles: admin and owner (with <code>--groups g1,g2</code>) see and decide for their groups; "
            "supervisor and compliance for all; auditor reads only.")


def _login_form(request: web.Request, message: str = "", username: str = "", status: int = 200,
                headers: dict | None = None) -> web.Response:
    auth = request.app[AUTH_KEY]
    csrf = new_token()
    response = _page(message, _no_users_notice(auth), username, csrf, status, headers, sso=auth.sso.configured)
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/login",
                        secure=auth.settings.dashboard.secure_cookies)
    return response


async def login_page(request: web.Request) -> web.Response:
    return _login_form(request)


async def login(request: web.Request) -> web.StreamResponse:
    from pipeline.dashboard.decisions import OUTBOX_KEY

    auth, audit = request.app[AUTH_KEY], request.app[OUTBOX_KEY]
    client = client_address(request, auth.settings.dashboard.trusted_proxies)
    if (request.content_length or 0) > LOGIN_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(LOGIN_FORM_BYTES, request.content_length or 0)
    raw = await request.content.read(LOGIN_FORM_BYTES + 1)
    if len(raw) > LOGIN_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(LOGIN_FORM_BYTES, len(raw))
    from urllib.parse import parse_qs

    try:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=8).items()}
    except (UnicodeDecodeError, ValueError):
        form = {}
    username = form.get("username", "").strip()
    password = form.get("password", "")
    shown_name = username if NAME_RE.match(username) else ""
    if not _origin_ok(request) or not same(form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE)):
        audit.record("login", shown_name or "(invalid name)", "refused", client, {"why": "csrf"})
        return _login_form(request, "The login form had expired or did not come from this page; try again.",
                           shown_name, status=403)
    now = time.monotonic()
    key = username.lower()[:64]
    wait = max(auth.limits.per_user.wait(key, now), auth.limits.per_client.wait(client, now))
    if wait > 0:
        auth.limits.refused += 1
        audit.record("login", shown_name or "(invalid name)", "rate_limited", client, {"retry_after": round(wait)})
        return _login_form(request, f"Too many failed logins; try again in {int(wait // 60) + 1} minutes.",
                           shown_name, status=429, headers={"Retry-After": str(int(wait) + 1)})
    if auth.limits.waiting >= VERIFY_QUEUE:
        auth.limits.refused += 1
        return _login_form(request, "The dashboard is busy checking other logins; try again in a moment.",
                           shown_name, status=503, headers={"Retry-After": "5"})
    user = auth.users.current().get(username) if shown_name else None
    # Counted as a failure before it is checked, so a burst of attempts at once cannot pass the
    # limits while the first ones are still being checked; a success takes it back.
    auth.limits.per_user.fail(key, now)
    auth.limits.per_client.fail(client, now)
    auth.limits.waiting += 1
    try:
        async with auth.limits.checks:
            ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, user, password[:MAX_PASSWORD + 1])
    finally:
        auth.limits.waiting -= 1
    if not ok or user is None:
        audit.record("login", shown_name or "(invalid name)", "failure", client,
                     {"why": "unknown user" if user is None else "wrong password"})
        return _login_form(request, "Wrong user name or password.", shown_name, status=401)
    auth.limits.per_client.forgive(client)
    auth.limits.per_user.clear(key)
    session, cookie = _start_session(request, user, client)
    audit.record("login", user.name, "success", client, {"role": user.role})
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(cookie, session.token, httponly=True, samesite="Strict", path="/",
                        secure=auth.settings.dashboard.secure_cookies)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _start_session(request: web.Request, user: User, client: str) -> tuple[Session, str]:
    """A new session for `user`; whatever session cookie the browser brought ends here."""
    auth = request.app[AUTH_KEY]
    auth.sessions.end(request.cookies.get(auth.cookie))
    return auth.sessions.start(user, time.monotonic(), client), auth.cookie


async def sso_start(request: web.Request) -> web.StreamResponse:
    """Off to the company's provider, with a new state (in a cookie of this browser), nonce and PKCE."""
    auth = request.app[AUTH_KEY]
    if not auth.sso.configured:
        raise web.HTTPNotFound(text="Single sign-on is not configured (MODERATION_DASHBOARD_OIDC_ISSUER and the rest).\n")
    try:
        state, url = await auth.sso.begin(time.monotonic())
    except SSOError as exc:
        log.warning("dashboard: single sign-on cannot start: %s", exc)
        return _login_form(request, "Single sign-on is not available right now; try again, or log in with a password.",
                           status=502)
    response = web.Response(status=302, headers={"Location": url})
    # Lax, not Strict: the provider sends the browser back from another site, and this cookie must come along.
    response.set_cookie(SSO_COOKIE, state, httponly=True, samesite="Lax", path="/login/sso",
                        max_age=int(PENDING_SECONDS), secure=auth.settings.dashboard.secure_cookies)
    return response


async def sso_callback(request: web.Request) -> web.StreamResponse:
    from pipeline.dashboard.decisions import OUTBOX_KEY

    auth, audit = request.app[AUTH_KEY], request.app[OUTBOX_KEY]
    if not auth.sso.configured:
        raise web.HTTPNotFound(text="Single sign-on is not configured.\n")
    client = client_address(request, auth.settings.dashboard.trusted_proxies)
    now = time.monotonic()
    wait = auth.limits.per_client.wait(client, now)
    if wait > 0:
        auth.limits.refused += 1
        audit.record("login", "(single sign-on)", "rate_limited", client, {"method": "sso"})
        return _login_form(request, f"Too many failed logins; try again in {int(wait // 60) + 1} minutes.",
                           status=429, headers={"Retry-After": str(int(wait) + 1)})
    query = request.query
    try:
        if "error" in query:
            raise SSOError(f"the provider did not sign you in ({query.get('error', '')[:64]})")
        claims = await auth.sso.finish(query.get("state", ""), request.cookies.get(SSO_COOKIE), query.get("code", ""), now)
        name = claims.get(auth.sso.claim)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise SSOError(f"the provider's claim {auth.sso.claim!r} does not name a user")
        user = auth.users.current().get(name)
        if user is None:
            raise SSOError(f"{name} is signed in at the provider but is not a user of this dashboard; an "
                           f"administrator adds them with `moderation users add {name} --role ROLE --sso`")
    except SSOError as exc:
        auth.limits.per_client.fail(client, now)
        audit.record("login", "(single sign-on)", "failure", client, {"method": "sso", "why": str(exc)[:200]})
        response = _login_form(request, f"Single sign-on failed: {exc}.", status=403)
        response.del_cookie(SSO_COOKIE, path="/login/sso")
        return response
    session, cookie = _start_session(request, user, client)
    audit.record("login", user.name, "success", client, {"role": user.role, "method": "sso"})
    # A page of our own that moves on to the dashboard: the session cookie is SameSite=Strict, and a
    # browser coming straight from the provider's site would not send it on a redirect.
    response = web.Response(content_type="text/html", text=(
        '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/">'
        '<title>Signed in</title><link rel="stylesheet" href="/login-assets/login.css"></head>'
        '<body><main class="login"><p>Signed in. <a href="/" id="continue">Open the dashboard</a></p></main></body></html>'))
    response.set_cookie(cookie, session.token, httponly=True, samesite="Strict", path="/",
                        secure=auth.settings.dashboard.secure_cookies)
    response.del_cookie(SSO_COOKIE, path="/login/sso")
    return response


async def logout(request: web.Request) -> web.Response:
    from pipeline.dashboard.decisions import OUTBOX_KEY

    auth = request.app[AUTH_KEY]
    session: Session = request[SESSION]
    auth.sessions.end(session.token)
    request.app[OUTBOX_KEY].record("logout", session.user, "success",
                                  client_address(request, auth.settings.dashboard.trusted_proxies))
    response = web.json_response({"status": "logged out", "login": "/login"})
    response.del_cookie(auth.cookie, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    """Who is logged in, what they may do, and the CSRF token the page sends with each change."""
    principal: Principal = request[PRINCIPAL]
    session: Session = request[SESSION]
    auth = request.app[AUTH_KEY]
    return web.json_response({
        "name": principal.name, "display_name": principal.display_name, "role": principal.role,
        "groups": list(principal.groups) if principal.scope is not None else None,
        "can_decide": principal.can_decide, "csrf": session.csrf,
        "session_idle_minutes": auth.settings.dashboard.session_idle_minutes},
        headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    """The login routes; the public ones are named in PUBLIC_ROUTES."""
    app.router.add_get("/login", login_page, name="login_page")
    app.router.add_post("/login", login, name="login")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/api/me", me, name="me")
    app.router.add_static("/login-assets/", PUBLIC_STATIC, append_version=False, name="login_assets")
    app.router.add_get("/login/sso", sso_start, name="sso_start")
    app.router.add_get("/login/sso/callback", sso_callback, name="sso_callback")

    async def close_sso(app: web.Application) -> None:
        await app[AUTH_KEY].sso.close()

    app.on_cleanup.append(close_sso)
