"""Feishu / Lark event subscription, schema 2.0 (飞书 事件订阅 v2.0), decrypted → input events.

`im.message.receive_v1` becomes `message.posted` (text and rich-text "post" messages; `@_user_N`
placeholders replaced by the mentioned names); `im.chat.member.user.added_v1` / `deleted_v1`
become one `member.joined` / `member.left` per member; `im.chat.updated_v1` with a new name
becomes a `clock.tick` carrying `group_name`. Members are identified by `user_id` (the tenant's
employee id) when the app may read it, else by `open_id`. Message events do not carry the
sender's name: it comes from the roster (`--names`), else the id stands for it.

Encrypted bodies (`{"encrypt": …}`) are decrypted by the gateway before they get here; `ingest`
takes decrypted bodies.
"""
from __future__ import annotations

import orjson

from pipeline.connectors.base import (Broken, Options, Skipped, expect_object, from_epoch_ms, message_event,
                                      optional, require, show, source_id, with_group_name)

SOURCE = "feishu"
# Event types a subscription may deliver that carry nothing to moderate: acknowledged and skipped.
_SKIPPED_TYPES = {
    "im.message.message_read_v1": "read receipt",
    "im.message.recalled_v1": "recall of an earlier message (the contract has no delete event)",
    "im.message.reaction.created_v1": "reaction added", "im.message.reaction.deleted_v1": "reaction removed",
    "im.chat.member.bot.added_v1": "robot added to a group", "im.chat.member.bot.deleted_v1": "robot removed",
    "im.chat.member.user.withdrawn_v1": "invitation withdrawn before the member joined",
    "im.chat.disbanded_v1": "group disbanded",
}
_CONVERTED_TYPES = ("im.message.receive_v1", "im.chat.member.user.added_v1", "im.chat.member.user.deleted_v1",
                    "im.chat.updated_v1")
# Every event type this connector knows (converts or skips); any other is an error.
EVENT_TYPES = frozenset((*_CONVERTED_TYPES, *_SKIPPED_TYPES))
_NO_TEXT_TYPES = {"image", "file", "audio", "media", "sticker", "interactive", "share_chat", "share_user", "system",
                  "merge_forward", "location", "video_chat", "todo", "folder", "hongbao", "share_calendar_event",
                  "calendar", "general_calendar", "vote"}
_POST_TEXT_TAGS = ("text", "a", "md", "code_block")
_MAX_CONTENT_CHARS = 1_000_000   # the content string of one message; Feishu's own limit is far lower


def _member_id(ids, where: str) -> str:
    """`user_id` (the tenant's employee id) when present, else `open_id` (the app's id for the user)."""
    if not isinstance(ids, dict):
        raise Broken(f"field '{where}' should be an object, got {show(ids)}")
    member = optional(ids, "user_id", at=where) or optional(ids, "open_id", at=where)
    if member is None:
        raise Broken(f"field '{where}' has neither 'user_id' nor 'open_id'")
    return member


def _content(record: dict) -> dict:
    raw = require(record, "event.message.content")
    if len(raw) > _MAX_CONTENT_CHARS:
        raise Broken(f"field 'event.message.content' is over {_MAX_CONTENT_CHARS:,} characters")
    try:
        content = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Broken("field 'event.message.content' is not a JSON string") from None
    if not isinstance(content, dict):
        raise Broken(f"field 'event.message.content' should hold a JSON object, got {show(content)}")
    return content


def _post_text(content: dict) -> str:
    """A rich-text post: its title and the text of its text, link, @ and code elements, one line per
    paragraph; pictures, emoji and media are dropped. Received posts hold `content` directly; a post
    stored with a language wrapper (`zh_cn`, `en_us`) is read through its first language."""
    if "content" not in content and len(content) == 1 and isinstance(next(iter(content.values())), dict):
        content = next(iter(content.values()))
    title = optional(content, "title", at="content") or ""
    paragraphs = optional(content, "content", list, at="content") or []
    lines = [title] if title.strip() else []
    for i, paragraph in enumerate(paragraphs):
        if not isinstance(paragraph, list):
            raise Broken(f"field 'content.content[{i}]' should be a list, got {show(paragraph)}")
        parts = []
        for j, element in enumerate(paragraph):
            where = f"content.content[{i}][{j}]"
            if not isinstance(element, dict):
                raise Broken(f"field '{where}' should be an object, got {show(element)}")
            tag = optional(element, "tag", at=where)
            if tag in _POST_TEXT_TAGS:
                parts.append(optional(element, "text", at=where) or "")
                if tag == "a" and (href := optional(element, "href", at=where)):
                    parts.append(f" {href}")
            elif tag == "at":
                parts.append("@" + (optional(element, "user_name", at=where) or optional(element, "user_id", at=where)
                                    or ""))
        lines.append("".join(parts))
    return "\n".join(lines).strip()


def _mentions(record: dict) -> tuple[dict[str, str], list[str]]:
    """(placeholder → "@name", mentioned member ids) from `event.message.mentions`."""
    labels: dict[str, str] = {}
    ids: list[str] = []
    for i, mention in enumerate(optional(record, "event.message.mentions", list) or []):
        where = f"event.message.mentions[{i}]"
        if not isinstance(mention, dict):
            raise Broken(f"field '{where}' should be an object, got {show(mention)}")
        key = require(mention, "key", at=where)
        name = optional(mention, "name", at=where)
        ids_field = mention.get("id")
        member = _member_id(ids_field, f"{where}.id") if ids_field is not None else None
        labels[key] = "@" + (name or member or key.lstrip("@"))
        if member is not None and optional(mention, "mentioned_type", at=where) in (None, "user"):
            ids.append(member)
    return labels, ids


def _replace_placeholders(text: str, labels: dict[str, str]) -> str:
    # Longest first: "@_user_1" must not eat the start of "@_user_10".
    for key in sorted(labels, key=len, reverse=True):
        text = text.replace(key, labels[key])
    return text.replace("@_all", "@所有人")


def _message(record: dict, options: Options) -> list[dict]:
    require(record, "event.message", dict)
    if optional(record, "event.message.chat_type") == "p2p":
        raise Skipped("one-to-one chat: only group chats are moderated")
    sender_type = optional(record, "event.sender.sender_type")
    if sender_type not in (None, "user"):
        raise Skipped(f"message sent by {show(sender_type)}, not a member")
    sender = _member_id(require(record, "event.sender.sender_id", dict), "event.sender.sender_id")
    message_id = require(record, "event.message.message_id")
    chat = require(record, "event.message.chat_id")
    msgtype = require(record, "event.message.message_type")
    ts = from_epoch_ms(require(record, "event.message.create_time", (str, int)), "event.message.create_time", options)
    if msgtype in _NO_TEXT_TYPES:
        raise Skipped(f"{msgtype} message carries no text to moderate")
    labels, mentions = _mentions(record)
    content = _content(record)
    if msgtype == "text":
        text = _replace_placeholders(require(content, "text", at="content"), labels)
    elif msgtype == "post":
        text = _replace_placeholders(_post_text(content), labels)
    else:
        raise Broken(f"unknown message_type {show(msgtype)}")
    if not text.strip():
        raise Skipped("message without text")
    parent = optional(record, "event.message.parent_id")
    event_id = source_id(SOURCE, message_id)
    return [message_event(event_id=event_id, ts=ts, group_id=chat, actor_id=sender,
                          actor_name=options.name_of(sender), message_id=event_id, text=text.strip(),
                          mentions=mentions, reply_to=source_id(SOURCE, parent) if parent else None,
                          source=SOURCE)]


def _operator(record: dict) -> str | None:
    ids = record["event"].get("operator_id")
    return _member_id(ids, "event.operator_id") if ids is not None else None


def _members(record: dict, event_type: str, options: Options) -> list[dict]:
    """One `member.joined` / `member.left` per user of `event.users`; the operator invited or removed
    them (a member who left by themself is their own operator)."""
    chat = require(record, "event.chat_id")
    header_id = require(record, "header.event_id")
    ts = from_epoch_ms(require(record, "header.create_time", (str, int)), "header.create_time", options)
    operator = _operator(record)
    users = require(record, "event.users", list)
    if not users:
        raise Broken("field 'event.users' is empty")
    joined = event_type == "im.chat.member.user.added_v1"
    events = []
    for i, user in enumerate(users):
        where = f"event.users[{i}]"
        if not isinstance(user, dict):
            raise Broken(f"field '{where}' should be an object, got {show(user)}")
        member = _member_id(user.get("user_id"), f"{where}.user_id")
        name = options.name_of(member, optional(user, "name", at=where))
        actor_id = operator or member
        common = {"event_id": source_id(SOURCE, f"{header_id}-{member}"), "ts": ts, "group_id": chat,
                  "actor": {"id": actor_id, "name": options.name_of(actor_id)}, "source": SOURCE}
        if joined:
            event = {**common, "type": "member.joined", "member": {"id": member, "name": name},
                     "approved_by": operator if operator not in (None, member) else None}
        else:
            event = {**common, "type": "member.left", "member": {"id": member, "name": name},
                     "removed_by": operator if operator not in (None, member) else None}
        events.append(with_group_name(event, optional(record, "event.name")))
    return events


def _renamed(record: dict, options: Options) -> list[dict]:
    chat = require(record, "event.chat_id")
    after = optional(record, "event.after_change", dict) or {}
    before = optional(record, "event.before_change", dict) or {}
    name = optional(after, "name", at="event.after_change")
    if name is None or name == optional(before, "name", at="event.before_change"):
        raise Skipped("group settings changed, not its name")
    header_id = require(record, "header.event_id")
    ts = from_epoch_ms(require(record, "header.create_time", (str, int)), "header.create_time", options)
    operator = _operator(record)
    actor = {"id": operator, "name": options.name_of(operator)} if operator else {"id": "feishu", "name": "Feishu"}
    return [with_group_name({"event_id": source_id(SOURCE, header_id), "type": "clock.tick", "ts": ts,
                             "group_id": chat, "actor": actor, "source": SOURCE}, name)]


def convert(record: dict, options: Options) -> list[dict]:
    record = expect_object(record)
    if "encrypt" in record:
        raise Broken("encrypted event: decrypt it with the app's Encrypt Key first (the gateway does)")
    if record.get("type") == "url_verification":
        raise Skipped("url_verification handshake")
    if record.get("schema") != "2.0":
        found = "no 'schema' (version 1.0)" if "schema" not in record else f"schema {show(record['schema'])}"
        raise Broken(f"an event with {found}: set the app's event subscription to version 2.0")
    require(record, "header", dict)
    event_type = require(record, "header.event_type")
    if event_type in _SKIPPED_TYPES:
        raise Skipped(_SKIPPED_TYPES[event_type])
    require(record, "event", dict)
    if event_type == "im.message.receive_v1":
        return _message(record, options)
    if event_type in ("im.chat.member.user.added_v1", "im.chat.member.user.deleted_v1"):
        return _members(record, event_type, options)
    if event_type == "im.chat.updated_v1":
        return _renamed(record, options)
    raise Broken(f"unknown event type {show(event_type)}")
