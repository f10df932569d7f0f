"""WeCom (企业微信) group robot: `POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`.

The message is a `markdown` message (content at most 4096 bytes, UTF-8); people are @-mentioned
with `<@userid>` inside it. The answer is `{"errcode": 0, "errmsg": "ok"}`; 45009 means the robot's
limit (20 messages a minute) was exceeded, -1 that the system is busy. Other codes (93000 invalid
webhook URL, 40008 invalid message type, 44004 empty content, 45002 content too long) will not get
better by retrying.
"""
from __future__ import annotations

from pipeline.notify.channels.base import MarkdownDialect, Outcome, Robot, clip_utf8, http_outcome, json_body
from pipeline.notify.render import Message

MAX_CONTENT_BYTES = 4096
RATE_LIMITED = {45009}
BUSY = {-1}


class WeComDialect(MarkdownDialect):
    contact_field = "wecom"

    def mention(self, platform_id: str) -> str:
        return f"<@{platform_id}>"


class WeCom(Robot):
    type = "wecom"
    dialect = WeComDialect()

    def payload(self, message: Message) -> dict:
        return {"msgtype": "markdown", "markdown": {"content": clip_utf8(message.body, MAX_CONTENT_BYTES)}}

    def read(self, status: int, body: bytes, headers) -> Outcome:
        decided = http_outcome(status, headers.get("Retry-After"))
        if decided:
            return decided
        answer = json_body(body)
        code = answer.get("errcode") if answer else None
        if not isinstance(code, int):
            return Outcome("retry", f"http {status} without errcode")
        if code == 0:
            return Outcome("sent", "0")
        if code in RATE_LIMITED:
            return Outcome("limited", str(code))
        if code in BUSY:
            return Outcome("retry", str(code))
        return Outcome("rejected", str(code), detail=str(answer.get("errmsg", ""))[:200])
