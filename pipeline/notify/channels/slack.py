"""Slack incoming webhook (and any Slack-compatible one: Mattermost, Rocket.Chat, a test server),
through slack_sdk's `AsyncWebhookClient` with its own retries off (the dispatcher retries).

The message is `text` (mrkdwn, also the notification's fallback) plus Block Kit blocks: a plain
header and a mrkdwn section. People are mentioned as `<@U…>`. Slack answers 200 `ok`; 429 with
`Retry-After` when a webhook posts more than about one message a second; 4xx with a short code
(`invalid_payload`, `no_text`, `channel_not_found`, `channel_is_archived`, `action_prohibited`,
`no_service`) that will not get better; 5xx (`rollup_error`) is worth retrying.
"""
from __future__ import annotations

import asyncio
import re

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from pipeline.notify.channels.base import Outcome, http_outcome, neutral, unanswered
from pipeline.notify.render import Message

MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150


class SlackDialect:
    contact_field = "slack"

    def escape(self, text: str) -> str:
        # Slack's own escaping (& < >), and a word joiner after @ so "@channel" in a member's text
        # notifies no one on Slack-compatible servers that read bare @-words.
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return neutral(text).replace("@", "@\u2060")

    def mention(self, platform_id: str) -> str:
        return f"<@{platform_id}>"

    def link(self, label: str, url: str) -> str:
        return f"<{url}|{label}>"

    def finish(self, body: str) -> str:
        lines = []
        for line in body.split("\n"):
            if line.startswith("#"):
                line = f"*{line.lstrip('#').strip()}*"
            lines.append(re.sub(r"\*\*(.+?)\*\*", r"*\1*", line))
        return "\n".join(lines)


class Slack:
    type = "slack"
    dialect = SlackDialect()

    def __init__(self, url: str, timeout: float = 10.0, session: aiohttp.ClientSession | None = None, **_):
        self.url, self.timeout = url, timeout
        self._session = session
        self._client: AsyncWebhookClient | None = None

    def payload(self, message: Message) -> dict:
        body = message.body if len(message.body) <= MAX_SECTION_CHARS else message.body[: MAX_SECTION_CHARS - 1] + "…"
        title = message.title[:MAX_HEADER_CHARS]
        return {"text": body, "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        ]}

    def client(self) -> AsyncWebhookClient:
        if self._client is None or self._client.session is None or self._client.session.closed:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._client = AsyncWebhookClient(self.url, timeout=int(max(1, self.timeout)), session=self._session,
                                              retry_handlers=[])
        return self._client

    async def send(self, message: Message, recipient: str | None = None) -> Outcome:
        try:
            response = await asyncio.wait_for(self.client().send_dict(self.payload(message)), self.timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            return unanswered(exc)
        return read(response.status_code, response.body or "", response.headers or {})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def read(status: int, body: str, headers) -> Outcome:
    code = body.strip()[:64] or f"http {status}"
    decided = http_outcome(status, headers.get("Retry-After") if hasattr(headers, "get") else None)
    if decided:
        return Outcome(decided.status, code if status != 429 else "http 429", decided.retry_after)
    return Outcome("sent", code) if 200 <= status < 300 else Outcome("rejected", f"http {status}")
