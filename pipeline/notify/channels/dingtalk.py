"""DingTalk (钉钉) custom robot: `POST https://oapi.dingtalk.com/robot/send?access_token=TOKEN`.

With signature verification on (加签), the URL also carries `timestamp` (milliseconds, within an
hour of DingTalk's clock) and `sign`: Base64 of HMAC-SHA256 over "{timestamp}\\n{secret}" keyed
with the secret, URL-encoded. The message is a `markdown` message (title and text); people are
@-mentioned by user id in `at.atUserIds` and with `@userid` in the text (isAtAll is never set).
The answer is `{"errcode": 0, "errmsg": "ok"}`. A robot takes 20 messages a minute; over that
it answers 130101 ("send too fast", older) or 410100 (发送速度太快而限流) and stays limited for
10 minutes. -1 is "system busy". 310000 (signature, keyword or IP check failed), 300001 (no such
token), 400xxx and 430xxx (content refused) are not worth retrying.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus, urlsplit

from pipeline.notify.channels.base import MarkdownDialect, Outcome, Robot, clip_utf8, errcode_outcome
from pipeline.notify.render import Message

MAX_TEXT_BYTES = 18_000
RATE_LIMITED = {130101, 410100}
BUSY = {-1}


def sign(timestamp_ms: int, secret: str) -> str:
    """The `sign` parameter (already URL-encoded) for a timestamp in milliseconds."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


class DingTalkDialect(MarkdownDialect):
    contact_field = "dingtalk"


class DingTalk(Robot):
    type = "dingtalk"
    dialect = DingTalkDialect()

    def payload(self, message: Message) -> dict:
        return {"msgtype": "markdown",
                "markdown": {"title": message.title, "text": clip_utf8(message.body, MAX_TEXT_BYTES)},
                "at": {"atUserIds": list(message.mentions), "isAtAll": False}}

    def target(self, payload: dict) -> tuple[str, dict]:
        if not self.secret:
            return self.url, payload
        timestamp = int(self.clock() * 1000)
        joiner = "&" if urlsplit(self.url).query else "?"
        return f"{self.url}{joiner}timestamp={timestamp}&sign={sign(timestamp, self.secret)}", payload

    def read(self, status: int, body: bytes, headers) -> Outcome:
        return errcode_outcome(status, body, headers, RATE_LIMITED, BUSY)
