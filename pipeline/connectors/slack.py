"""Slack Events API: an `event_callback` envelope with a `message` event → input events.

Plain messages become `message.posted` (`<@U123>` mentions resolved, thread replies linked by
`thread_ts`); `channel_join` / `channel_leave` become `member.joined` / `member.left`. Slack
identifies a message by channel and `ts`, so that pair is the stable id. Slack's message events do
not carry the channel's name; its rename and creation events do (`channel_rename`,
`channel_created`, the `channel_name` message): they become a `clock.tick` carrying `group_name`.
"""
from __future__ import annotations

import html
import re

from pipeline.connectors.base import (Broken, Options, Skipped, expect_object, from_epoch_seconds, message_event,
                                      optional, require, show, source_id, with_group_name)

SOURCE = "slack"
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_IGNORED_SUBTYPES = {
    "message_changed": "edit of an earlier message (the contract has no edit event)",
    "message_deleted": "deletion of an earlier message (the contract has no delete event)",
    "bot_message": "message posted by a bot",
    "channel_topic": "channel topic change", "channel_purpose": "channel purpose change",
    "pinned_item": "pinned item", "unpinned_item": "unpinned item",
    "channel_archive": "channel archived", "channel_unarchive": "channel unarchived",
    "ekm_access_denied": "message hidden by key management",
}
_NAME_EVENTS = ("channel_rename", "channel_created")
# Who renamed or created a channel when Slack does not say: the platform itself.
_PLATFORM_ACTOR = {"id": "slack", "name": "Slack"}


def _plain_text(text: str, options: Options) -> tuple[str, list[str]]:
    mentions: list[str] = []

    def mention(match: re.Match) -> str:
        mentions.append(match.group(1))
        return "@" + options.name_of(match.group(1), match.group(2))

    text = _MENTION.sub(mention, text)
    text = _LINK.sub(lambda m: f"{m.group(2)} {m.group(1)}" if m.group(2) else m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    return html.unescape(text), mentions


def _actor_name(record: dict, user: str, options: Options) -> str:
    optional(record, "event.user_profile", dict)
    display = optional(record, "event.user_profile.display_name")
    real = optional(record, "event.user_profile.real_name")
    return options.name_of(user, display or real)


def _renamed(record: dict, event_type: str, options: Options) -> list[dict]:
    """`channel_rename` / `channel_created`: `event.channel` = {id, name, created}; the time is the
    envelope's `event_time` (creation: `channel.created`)."""
    channel = require(record, "event.channel.id")
    name = require(record, "event.channel.name")
    when_field = "event.channel.created" if event_type == "channel_created" else "event_time"
    when = require(record, when_field, (int, str))
    ts = from_epoch_seconds(when, when_field, options)
    creator = optional(record, "event.channel.creator")
    actor = {"id": creator, "name": options.name_of(creator)} if creator else dict(_PLATFORM_ACTOR)
    event_id = source_id(SOURCE, f"{channel}-{event_type}-{when}")
    return [with_group_name({"event_id": event_id, "type": "clock.tick", "ts": ts, "group_id": channel,
                             "actor": actor, "source": SOURCE}, name)]


def convert(record: dict, options: Options) -> list[dict]:
    record = expect_object(record)
    envelope = require(record, "type")
    if envelope == "url_verification":
        raise Skipped("url_verification handshake")
    if envelope == "app_rate_limited":
        raise Skipped("rate-limit notice from Slack (events in that minute were not sent)")
    if envelope != "event_callback":
        raise Broken(f"envelope type {show(envelope)} is not 'event_callback'")
    require(record, "event", dict)
    event_type = require(record, "event.type")
    if event_type in _NAME_EVENTS:
        return _renamed(record, event_type, options)
    if event_type != "message":
        raise Skipped(f"{show(event_type)} event, not a message")
    subtype = optional(record, "event.subtype")
    if subtype in _IGNORED_SUBTYPES:
        raise Skipped(_IGNORED_SUBTYPES[subtype])
    if optional(record, "event.channel_type") == "im":
        raise Skipped("direct message: only channels are moderated")
    channel = require(record, "event.channel")
    ts_raw = require(record, "event.ts")
    user = require(record, "event.user")
    ts = from_epoch_seconds(ts_raw, "event.ts", options)
    event_id = source_id(SOURCE, f"{channel}-{ts_raw}")
    actor = {"id": user, "name": _actor_name(record, user, options)}
    common = {"event_id": event_id, "ts": ts, "group_id": channel, "actor": actor, "source": SOURCE}

    if subtype == "channel_join":
        inviter = optional(record, "event.inviter")
        return [{**common, "type": "member.joined", "member": dict(actor), "approved_by": inviter}]
    if subtype == "channel_leave":
        return [{**common, "type": "member.left", "member": {"id": user}, "removed_by": None}]
    if subtype == "channel_name":
        return [with_group_name({**common, "type": "clock.tick"}, require(record, "event.name"))]
    if subtype not in (None, "thread_broadcast", "file_share", "me_message"):
        raise Broken(f"unknown message subtype {show(subtype)}")

    raw_text = optional(record, "event.text")
    if raw_text is None or not raw_text.strip():
        raise Skipped("message without text (files or attachments only)")
    text, mentions = _plain_text(raw_text, options)
    thread = optional(record, "event.thread_ts")
    reply_to = source_id(SOURCE, f"{channel}-{thread}") if thread and thread != ts_raw else None
    return [message_event(event_id=event_id, ts=ts, group_id=channel, actor_id=user, actor_name=actor["name"],
                          message_id=event_id, text=text, mentions=mentions, reply_to=reply_to, source=SOURCE)]
