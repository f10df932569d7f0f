"""WeCom (企业微信) group robot: `POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`.

The message is a `markdown` message (content at most 4096 bytes, UTF-8); people are @-mentioned
with `<@userid>` inside it. The answer is `{"errcode": 0, "errmsg": "ok"}`; 45009 means the robot's
limit (20 messages a minute) was exceeded, -1 that the system is busy. Other codes (93000 invalid
webhook URL, 40008 invalid message type, 44004 empty content, 45002 content too long) will not get
better by retrying.
"""
from __future__ import annotations

from pipeline.notify.channels.base import MarkdownDialect, Outcome, Robot, clip_utf8, errcode_outcome
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
        return errcode_outcome(status, body, headers, RATE_LIMITED, BUSY)
