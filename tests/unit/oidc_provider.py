"""A small OpenID Connect provider for tests, on loopback: discovery, an authorization endpoint that
signs in whoever the test says (no login form), a token endpoint that checks the client, the code,
the redirect URL and the PKCE verifier, and its keys. ID tokens are signed with joserfc. `tamper`
makes it send a wrong ID token, for the tests that the dashboard refuses one."""
from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from urllib.parse import quote_plus

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID, CLIENT_SECRET = "moderation-dashboard", "client secret of the test"


class Provider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)   # same kid, not published
        self.user = "sup"             # who the provider says signs in
        self.tamper: str | None = None
        self.codes: dict[str, dict] = {}
        self.redirect_url: str | None = None
        self.token_requests: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.issuer = ""
        self.consent_page = False     # answer /authorize with a page whose link goes back (as a person would click)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.issuer = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self.issuer

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def discovery(self, request):
        issuer = "http://evil.example" if self.tamper == "issuer in metadata" else self.issuer
        return web.json_response({"issuer": issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                                  "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                                  "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"],
                                  "code_challenge_methods_supported": ["S256"]})

    async def jwks(self, request):
        return web.json_response(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request):
        q = request.query
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code" and q["code_challenge_method"] == "S256"
        assert q["redirect_uri"] == self.redirect_url and "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
                            "user": self.user}
        back = f"{q['redirect_uri']}?code={code}&state={q['state']}"
        if self.consent_page:
            page = f'<!doctype html><title>Provider</title><a id="allow" href="{html.escape(back)}">Allow</a>'
            return web.Response(text=page, content_type="text/html")
        raise web.HTTPFound(back)

    async def token(self, request):
        form = await request.post()
        self.token_requests.append(dict(form))
        expected = "Basic " + base64.b64encode(f"{quote_plus(CLIENT_ID)}:{quote_plus(CLIENT_SECRET)}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": f"sub-{grant['user']}", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], "preferred_username": grant["user"], "name": f"SSO {grant['user']}"}
        key = self.key
        if self.tamper == "other key":
            key = self.other_key
        elif self.tamper == "audience":
            claims["aud"] = "another-client"
        elif self.tamper == "nonce":
            claims["nonce"] = "a nonce of another login"
        elif self.tamper == "expired":
            claims["exp"] = now - 3600
        elif self.tamper == "issuer":
            claims["iss"] = "http://evil.example"
        header = {"alg": "RS256", "kid": "k1"}
        if self.tamper == "alg none":      # the claims with no signature at all
            token = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + "." + \
                jwt.encode(header, claims, key).split(".")[1] + "."
        else:
            token = jwt.encode(header, claims, key)
        return web.json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": token})
