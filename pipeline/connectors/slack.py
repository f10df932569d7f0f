"""Slack Events API: an `event_callback` envelope with a `message` event → input events.

Plain messages become `message.posted` (`<@U123>` mentions resolved, thread replies linked by
`thread_ts`); `channel_join` / `channel_leave` become `member.joined` / `member.left`. Slack
identifies a message by channel and `ts`, so that pair is the stable id.
"""
from __future__ import annotations

import html
import re

from pipeline.connectors.base import Broken, Options, Skipped, from_epoch_seconds, message_event, require, source_id

SOURCE = "slack"
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_IGNORED_SUBTYPES = {
    "message_changed": "edit of an earlier message (the contract has no edit event)",
    "message_deleted": "deletion of an earlier message (the contract has no delete event)",
    "bot_message": "message posted by a bot",
    "channel_topic": "channel topic change", "channel_purpose": "channel purpose change",
    "channel_name": "channel rename", "pinned_item": "pinned item", "unpinned_item": "unpinned item",
    "channel_archive": "channel archived", "channel_unarchive": "channel unarchived",
    "ekm_access_denied": "message hidden by key management",
}


def _plain_text(text: str, options: Options) -> tuple[str, list[str]]:
    mentions: list[str] = []

    def mention(match: re.Match) -> str:
        mentions.append(match.group(1))
        return "@" + options.name_of(match.group(1), match.group(2))

    text = _MENTION.sub(mention, text)
    text = _LINK.sub(lambda m: f"{m.group(2)} {m.group(1)}" if m.group(2) else m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    return html.unescape(text), mentions


def _actor_name(event: dict, user: str, options: Options) -> str:
    profile = event.get("user_profile") if isinstance(event.get("user_profile"), dict) else {}
    fallback = profile.get("display_name") or profile.get("real_name") or None
    return options.name_of(user, fallback)


def convert(record: dict, options: Options) -> list[dict]:
    if not isinstance(record, dict):
        raise Broken(f"expected a JSON object, got {type(record).__name__}")
    envelope = record.get("type")
    if envelope == "url_verification":
        raise Skipped("url_verification handshake")
    if envelope == "app_rate_limited":
        raise Skipped("rate-limit notice from Slack (events in that minute were not sent)")
    if envelope != "event_callback":
        raise Broken(f"envelope type {str(envelope)[:40]!r} is not 'event_callback'")
    event = require(record, "event", dict)
    if event.get("type") != "message":
        raise Skipped(f"{str(event.get('type'))[:40]} event, not a message")
    subtype = event.get("subtype")
    if subtype in _IGNORED_SUBTYPES:
        raise Skipped(_IGNORED_SUBTYPES[subtype])
    if event.get("channel_type") == "im":
        raise Skipped("direct message: only channels are moderated")
    channel = require(record, "event.channel")
    ts_raw = require(record, "event.ts")
    user = require(record, "event.user")
    ts = from_epoch_seconds(ts_raw, "event.ts", options)
    event_id = source_id(SOURCE, f"{channel}-{ts_raw}")
    actor = {"id": user, "name": _actor_name(event, user, options)}
    common = {"event_id": event_id, "ts": ts, "group_id": channel, "actor": actor, "source": SOURCE}

    if subtype == "channel_join":
        inviter = event.get("inviter")
        return [{**common, "type": "member.joined", "member": dict(actor),
                 "approved_by": inviter if isinstance(inviter, str) and inviter else None}]
    if subtype == "channel_leave":
        return [{**common, "type": "member.left", "member": {"id": user}, "removed_by": None}]
    if subtype not in (None, "thread_broadcast", "file_share", "me_message"):
        raise Broken(f"unknown message subtype {str(subtype)[:40]!r}")

    raw_text = event.get("text")
    if not isinstance(raw_text, str) or not raw_text.strip():
        raise Skipped("message without text (files or attachments only)")
    text, mentions = _plain_text(raw_text, options)
    thread = event.get("thread_ts")
    reply_to = source_id(SOURCE, f"{channel}-{thread}") if thread and thread != ts_raw else None
    return [message_event(event_id=event_id, ts=ts, group_id=channel, actor_id=user, actor_name=actor["name"],
                          message_id=event_id, text=text, mentions=mentions, reply_to=reply_to, source=SOURCE)]
