"""Feishu / Lark (飞书) custom bot: `POST https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN`.

With signature verification on (签名校验), the body carries `timestamp` (seconds, within an hour)
and `sign`: Base64 of HMAC-SHA256 keyed with "{timestamp}\\n{secret}" over an empty message. The
message is an `interactive` card: a coloured header (red for severe cases) and one `lark_md` block;
people are @-mentioned with `<at id=ID></at>`. The body must stay under 20 KB. The answer is
`{"code": 0, "msg": "success"}` (older bots: `StatusCode`). A custom bot takes 100 requests a
minute and 5 a second; over that: code 11232 or HTTP 429. 19021 (signature or timestamp), 19022
(IP not allowed), 19024 (keyword missing) and 9499 (bad request) will not get better by retrying.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from pipeline.notify.channels.base import MarkdownDialect, Outcome, Robot, clip_utf8, http_outcome, json_body
from pipeline.notify.render import Message

MAX_CONTENT_BYTES = 16_000
RATE_LIMITED = {11232, 230020}


def sign(timestamp: int, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class FeishuDialect(MarkdownDialect):
    contact_field = "feishu"

    def mention(self, platform_id: str) -> str:
        return f"<at id={platform_id}></at>"

    def finish(self, body: str) -> str:
        # lark_md has no headings: a heading line becomes a bold one.
        return "\n".join(f"**{line.lstrip('#').strip()}**" if line.startswith("#") else line
                         for line in body.split("\n"))


class Feishu(Robot):
    type = "feishu"
    dialect = FeishuDialect()

    def payload(self, message: Message) -> dict:
        return {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": message.title},
                       "template": "red" if message.severe else "orange"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": clip_utf8(message.body, MAX_CONTENT_BYTES)}}],
        }}

    def target(self, payload: dict) -> tuple[str, dict]:
        if not self.secret:
            return self.url, payload
        timestamp = int(self.clock())
        return self.url, {"timestamp": str(timestamp), "sign": sign(timestamp, self.secret), **payload}

    def read(self, status: int, body: bytes, headers) -> Outcome:
        if status == 429:
            return Outcome("limited", "http 429", _reset(headers.get("x-ogw-ratelimit-reset")))
        answer = json_body(body)
        code = answer.get("code", answer.get("StatusCode")) if answer else None
        if isinstance(code, int) and code in RATE_LIMITED:
            return Outcome("limited", str(code))
        decided = http_outcome(status)
        if decided:
            return Outcome(decided.status, str(code) if isinstance(code, int) else decided.code)
        if not isinstance(code, int):
            return Outcome("retry", f"http {status} without code")
        if code == 0:
            return Outcome("sent", "0")
        return Outcome("rejected", str(code), detail=str(answer.get("msg", ""))[:200])


def _reset(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None
