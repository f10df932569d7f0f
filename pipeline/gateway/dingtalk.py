"""`POST /dingtalk/events`: DingTalk robot callbacks (企业内部机器人 消息接收, HTTP mode).

DingTalk posts a message to the robot's callback when someone @-mentions the robot in a group, with
two headers: `timestamp` (epoch milliseconds) and `sign`, the Base64 of HMAC-SHA256 keyed by the
app's AppSecret over `timestamp + "\\n" + AppSecret`. DingTalk's documentation says to refuse a
timestamp more than an hour from the clock, and a sign that differs. There is no official Python
verifier for it, so this is the documented computation, compared in constant time.

The signature covers the timestamp, not the body: anyone who captures one request can send other
bodies with its headers until its hour is out. TLS to the callback URL is what keeps the headers
from being captured; docs/CONNECTORS.md says so.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

from pipeline.connectors import Options
from pipeline.gateway.platform import Accept, Answer, Ignore, Refused, Request, convert, epoch_header, json_object, \
    required_header, within

NAME = "dingtalk"
PATH = "/dingtalk/events"
TIMESTAMP_HEADER, SIGN_HEADER = "timestamp", "sign"
_SIGN = re.compile(r"[A-Za-z0-9+/]{43}=")   # the Base64 of 32 bytes


def sign(timestamp: str, app_secret: str) -> str:
    digest = hmac.new(app_secret.encode("utf-8"), f"{timestamp}\n{app_secret}".encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


class DingTalk:
    name, path, refusal_headers = NAME, PATH, {}
    setting_names = ("MODERATION_DINGTALK_APP_SECRET",)

    def __init__(self, app_secret: str | None, options: Options, window_seconds: float = 3600.0):
        self.secret, self.options, self.window = app_secret, options, window_seconds

    @property
    def configured(self) -> bool:
        return bool(self.secret)

    def is_retry(self, request: Request) -> bool:
        return False

    def handle(self, request: Request) -> Accept | Answer | Ignore:
        headers = request.headers
        when = epoch_header(headers, TIMESTAMP_HEADER, unit=1000)
        given = required_header(headers, SIGN_HEADER, _SIGN, "the Base64 of an HMAC-SHA256")
        within(when, request.now, self.window, f"the {TIMESTAMP_HEADER} header")
        if not hmac.compare_digest(sign(headers[TIMESTAMP_HEADER], self.secret), given):
            raise Refused(401, "bad_signature", "the sign header does not match the timestamp and the AppSecret")
        return convert(NAME, json_object(request.body), self.options)
