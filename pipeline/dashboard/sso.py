"""Single sign-on with a company's OpenID Connect provider (optional; R4).

The authorization code flow with PKCE (RFC 7636), a `state` tied to the browser by a cookie, and a
`nonce` in the ID token. The provider's ID token is checked with joserfc: its signature against the
provider's published keys (JWKS), its issuer, audience (this client), nonce, and times. Who may log
in is still the users file: the provider's claim `dashboard.oidc_user_claim` (default
`preferred_username`) must name a user there, whose role and groups apply. The provider decides
who the person is; the dashboard decides what they may see.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from pipeline.config import Settings

PENDING_SECONDS = 600        # a login started at the provider must come back within this long
PENDING_CAP = 10_000         # logins under way (past it the oldest are forgotten)
METADATA_SECONDS = 3600      # the provider's metadata and keys are asked again after this long
HTTP_TIMEOUT = 10.0
MAX_ANSWER_BYTES = 1 << 20   # a provider's answer larger than this is refused
LEEWAY_SECONDS = 60          # clock difference allowed on the ID token's times
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class SSOError(Exception):
    """A single sign-on that did not succeed; the message is safe to show and to audit."""


@dataclass
class Pending:
    nonce: str
    verifier: str
    started: float


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class SSO:
    """One per dashboard: the logins under way, and the provider's metadata and keys."""

    def __init__(self, settings: Settings):
        d = settings.dashboard
        self.issuer, self.client_id, self.secret = d.oidc_issuer, d.oidc_client_id, d.oidc_client_secret
        self.redirect_url, self.claim, self.scopes = d.oidc_redirect_url, d.oidc_user_claim, d.oidc_scopes
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self._metadata: tuple[float, dict] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._http = None

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id and self.redirect_url)

    # ------------------------------------------------------------------ the provider
    async def _get_json(self, url: str, data: dict | None = None, headers: dict | None = None) -> dict:
        import aiohttp

        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        headers = {"Accept": "application/json", **(headers or {})}
        try:
            call = self._http.post(url, data=data, headers=headers) if data is not None else \
                self._http.get(url, headers=headers)
            async with call as response:
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
                if len(body) > MAX_ANSWER_BYTES:
                    raise SSOError(f"the provider's answer from {url} is larger than {MAX_ANSWER_BYTES} bytes")
                if response.status != 200:
                    raise SSOError(f"the provider answered {response.status} at {url}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SSOError(f"the provider did not answer at {url} ({type(exc).__name__})") from None
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SSOError(f"the provider's answer at {url} is not JSON") from None
        if not isinstance(answer, dict):
            raise SSOError(f"the provider's answer at {url} is not a JSON object")
        return answer

    async def metadata(self) -> dict:
        now = time.monotonic()
        if self._metadata is None or now - self._metadata[0] > METADATA_SECONDS:
            found = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if found.get("issuer") != self.issuer:
                raise SSOError(f"the provider's metadata names the issuer {str(found.get('issuer'))[:200]!r}, "
                               f"not {self.issuer!r} (MODERATION_DASHBOARD_OIDC_ISSUER)")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str) or not found[key].startswith(("https://", "http://")):
                    raise SSOError(f"the provider's metadata has no usable {key}")
            self._metadata = (now, found)
        return self._metadata[1]

    async def keys(self, refresh: bool = False) -> KeySet:
        now = time.monotonic()
        if refresh or self._keys is None or now - self._keys[0] > METADATA_SECONDS:
            jwks = await self._get_json((await self.metadata())["jwks_uri"])
            try:
                self._keys = (now, KeySet.import_key_set(jwks))
            except (JoseError, ValueError, TypeError, KeyError):
                raise SSOError("the provider's keys (JWKS) cannot be read") from None
        return self._keys[1]

    # ------------------------------------------------------------------ the flow
    async def begin(self, now: float) -> tuple[str, str]:
        """A new login: (state, the provider's URL to send the browser to)."""
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        self._forget_old(now)
        self.pending[state] = Pending(nonce, verifier, now)
        while len(self.pending) > PENDING_CAP:
            self.pending.popitem(last=False)
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_url,
                           "scope": self.scopes, "state": state, "nonce": nonce,
                           "code_challenge": _challenge(verifier), "code_challenge_method": "S256"})
        endpoint = (await self.metadata())["authorization_endpoint"]
        return state, f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def _forget_old(self, now: float) -> None:
        while self.pending and now - next(iter(self.pending.values())).started > PENDING_SECONDS:
            self.pending.popitem(last=False)

    async def finish(self, state: str, browser_state: str | None, code: str, now: float) -> dict:
        """The provider sent the browser back with `code`: the ID token's claims, checked. One use
        per state, and only in the browser that started it (its cookie)."""
        from pipeline.dashboard.auth import same

        if not same(state, browser_state):
            raise SSOError("this sign-on was not started in this browser")
        self._forget_old(now)
        pending = self.pending.pop(state, None)
        if pending is None:
            raise SSOError("this sign-on is unknown or was used already; start again")
        if not code or len(code) > 4096:
            raise SSOError("the provider sent no code")
        import aiohttp

        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_url,
                "code_verifier": pending.verifier, "client_id": self.client_id}
        # client_secret_basic: each part form-encoded before Basic (RFC 6749, 2.3.1)
        headers = {"Authorization": aiohttp.encode_basic_auth(quote_plus(self.client_id), quote_plus(self.secret))} \
            if self.secret else None
        tokens = await self._get_json((await self.metadata())["token_endpoint"], data=form, headers=headers)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > 64 * 1024:
            raise SSOError("the provider sent no ID token")
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), algorithms=ALGORITHMS)
            except JoseError:
                token = jwt.decode(id_token, await self.keys(refresh=True), algorithms=ALGORITHMS)  # keys rotated
            jwt.JWTClaimsRegistry(
                now=int(time.time()), leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer}, aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": pending.nonce}, sub={"essential": True},
                exp={"essential": True}).validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise SSOError(f"the ID token was refused ({type(exc).__name__}: {str(exc)[:120]})") from None
        claims = token.claims
        if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and claims.get("azp") != self.client_id:
            raise SSOError("the ID token is meant for several clients and not authorised for this one (azp)")
        return claims

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
