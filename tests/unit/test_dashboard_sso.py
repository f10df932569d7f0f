"""Single sign-on (OpenID Connect) against a small real provider on loopback (tests/unit/oidc_provider.py):
the dashboard and the provider are both real servers; the client follows the redirects between them."""
from __future__ import annotations

import re

import aiohttp
import pytest

from pipeline.config import ConfigError, load_settings
from pipeline.dashboard.decisions import OUTBOX_KEY
from pipeline.dashboard.server import start
from pipeline.dashboard.state import DashboardState
from pipeline.dashboard.users import UserFile
from tests.unit.dashboard_helpers import PASSWORD, copy_users_file, csrf_of
from tests.unit.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider


@pytest.fixture
async def provider():
    p = Provider()
    await p.start()
    yield p
    await p.stop()


async def _serve(provider: Provider, users_file: str, port_holder: list | None = None):
    """The dashboard with single sign-on at `provider`; its redirect URL needs its own port, so it
    is started once to learn a free port and the provider is told."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    provider.redirect_url = url + "login/sso/callback"
    settings = load_settings(env={
        "MODERATION_DASHBOARD_USERS_FILE": users_file, "MODERATION_DASHBOARD_OIDC_ISSUER": provider.issuer,
        "MODERATION_DASHBOARD_OIDC_CLIENT_ID": CLIENT_ID, "MODERATION_DASHBOARD_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "MODERATION_DASHBOARD_OIDC_REDIRECT_URL": provider.redirect_url})
    runner, url = await start("127.0.0.1", port, settings, state=DashboardState(), consume=False)
    return runner, url


def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _sign_on(client, url) -> aiohttp.ClientResponse:
    """Start at the login page's link and follow the redirects through the provider and back."""
    page = await (await client.get(url + "login")).text()
    assert 'href="/login/sso"' in page
    response = await client.get(url + "login/sso", allow_redirects=True)
    await response.read()
    return response


def _audit(runner) -> list[dict]:
    queue = runner.app[OUTBOX_KEY].audit_queue
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_user_of_the_users_file_signs_on_at_the_provider(provider, tmp_path):
    users = copy_users_file(tmp_path)
    UserFile(users).add("lee.sso", "admin", ["g-fin"], None, display_name="财务部-李")
    runner, url = await _serve(provider, users)
    try:
        async with _client() as client:
            provider.user = "lee.sso"
            response = await _sign_on(client, url)
            assert response.status == 200 and 'http-equiv="refresh" content="0;url=/"' in await response.text()
            cookie = response.cookies["moderation_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            me = await (await client.get(url + "api/me")).json()
            assert (me["name"], me["role"], me["groups"]) == ("lee.sso", "admin", ["g-fin"])
            assert (await client.get(url + "api/state")).status == 200
        # the provider saw a PKCE verifier and the client's own secret; the dashboard never sent a password
        (sent,) = provider.token_requests
        assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43
        # a single sign-on user has no password to guess
        async with _client() as client:
            page = await (await client.get(url + "login")).text()
            response = await client.post(url + "login", allow_redirects=False,
                                         data={"username": "lee.sso", "password": "", "csrf": csrf_of(page)})
            assert response.status == 401
        (login, failure) = [a for a in _audit(runner) if a["action"] == "login"]
        assert (login["user"], login["outcome"], login["detail"]["method"]) == ("lee.sso", "success", "sso")
        assert failure["outcome"] == "failure"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("tamper", ["other key", "audience", "nonce", "expired", "issuer", "alg none"])
async def test_a_wrong_id_token_signs_nobody_on(provider, tmp_path, tamper):
    runner, url = await _serve(provider, copy_users_file(tmp_path))
    try:
        async with _client() as client:
            provider.tamper = tamper
            response = await _sign_on(client, url)
            assert response.status == 403 and "Single sign-on failed" in await response.text()
            assert (await client.get(url + "api/me")).status == 401
        (failure,) = [a for a in _audit(runner) if a["action"] == "login"]
        assert failure["outcome"] == "failure" and "ID token was refused" in failure["detail"]["why"]
    finally:
        await runner.cleanup()


async def test_a_provider_whose_metadata_names_another_issuer_is_not_used(provider, tmp_path):
    runner, url = await _serve(provider, copy_users_file(tmp_path))
    try:
        async with _client() as client:
            provider.tamper = "issuer in metadata"
            response = await client.get(url + "login/sso", allow_redirects=False)
            assert response.status == 502 and "not available" in await response.text()
    finally:
        await runner.cleanup()


async def test_someone_the_provider_knows_but_the_users_file_does_not_gets_nothing(provider, tmp_path):
    runner, url = await _serve(provider, copy_users_file(tmp_path))
    try:
        async with _client() as client:
            provider.user = "stranger"
            response = await _sign_on(client, url)
            text = await response.text()
            assert response.status == 403 and "not a user of this dashboard" in text
            assert "moderation users add stranger --role ROLE --sso" in text
            assert (await client.get(url + "api/me")).status == 401
    finally:
        await runner.cleanup()


async def test_the_return_from_the_provider_is_one_use_and_only_in_the_browser_that_started_it(provider, tmp_path):
    runner, url = await _serve(provider, copy_users_file(tmp_path))
    try:
        async with _client() as victim, _client() as attacker:
            # the attacker starts a sign-on and gets the provider's answer, but does not use it ...
            to_provider = await attacker.get(url + "login/sso", allow_redirects=False)
            back = await attacker.get(to_provider.headers["Location"], allow_redirects=False)
            callback = back.headers["Location"]
            assert re.search(r"code=.+&state=.+", callback)
            # ... and makes the victim's browser open it (login CSRF): no cookie of that sign-on, refused
            response = await victim.get(callback)
            assert response.status == 403 and (await victim.get(url + "api/me")).status == 401
            # the browser that started it can, once
            response = await attacker.get(callback)
            assert response.status == 200 and (await attacker.get(url + "api/me")).status == 200
            again = await attacker.get(callback)
            assert again.status == 403
            assert (await attacker.get(url + "login/sso/callback?state=made-up&code=x")).status == 403
            assert (await attacker.get(url + "login/sso/callback?error=access_denied")).status == 403
    finally:
        await runner.cleanup()


async def test_without_the_settings_there_is_no_single_sign_on(tmp_path):
    settings = load_settings(env={"MODERATION_DASHBOARD_USERS_FILE": copy_users_file(tmp_path)})
    runner, url = await start("127.0.0.1", 0, settings, state=DashboardState(), consume=False)
    try:
        async with _client() as client:
            assert "single sign-on" not in await (await client.get(url + "login")).text()
            assert (await client.get(url + "login/sso", allow_redirects=False)).status == 404
            assert (await client.get(url + "login/sso/callback?state=x&code=y")).status == 404
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("env, message", [
    ({"MODERATION_DASHBOARD_OIDC_ISSUER": "https://idp.example"}, "needs"),
    ({"MODERATION_DASHBOARD_OIDC_ISSUER": "http://idp.example", "MODERATION_DASHBOARD_OIDC_CLIENT_ID": "c",
      "MODERATION_DASHBOARD_OIDC_REDIRECT_URL": "https://dash.example/login/sso/callback"}, "https"),
])
def test_single_sign_on_settings_are_checked(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_the_password_is_the_helpers(tmp_path):
    assert PASSWORD and UserFile(copy_users_file(tmp_path)).load()["sup"].password_hash
