"""WeCom conversation archive (企业微信 会话内容存档): one decrypted chat message → input events.

The archive SDK yields one JSON object per message after decryption, e.g.
`{"msgid": "...", "action": "send", "from": "zhangsan", "tolist": ["lisi"], "roomid": "wr...",
"msgtime": 1772414100000, "msgtype": "text", "text": {"content": "..."}}`. Only group messages
(non-empty `roomid`) are moderated; the archive names senders by user id only, so display names
come from the optional roster (`--names`).
"""
from __future__ import annotations

import re

import orjson

from pipeline.connectors.base import (Broken, Options, Skipped, expect_object, from_epoch_ms, message_event,
                                      optional, require, show, source_id)

SOURCE = "wecom"
# Types that carry no text the policy reads; reported as skipped, not as errors.
_NO_TEXT_TYPES = {
    "image", "voice", "video", "emotion", "card", "location", "weapp", "redpacket", "external_redpacket",
    "meeting_voice_call", "voip_doc_share", "sphfeed", "voiptext", "qydiskfile", "agree", "disagree",
    "collect", "vote", "meeting", "calendar", "chatrecord", "todo", "docmsg", "news",
}
_LABEL = re.compile(r"@([^\s@，,：:]+)")


def _text_of(record: dict, msgtype: str) -> str:
    if msgtype == "text":
        return require(record, "text.content")
    if msgtype == "markdown":
        return require(record, "markdown.content")
    if msgtype == "link":
        require(record, "link", dict)
        parts = [optional(record, f"link.{part}") for part in ("title", "description", "link_url")]
        text = " ".join(p for p in parts if p is not None and p.strip())
        if not text:
            raise Broken("link message without title, description or link_url")
        return text
    if msgtype == "mixed":
        return _mixed_text(require(record, "mixed.item", list))
    if msgtype == "file":
        raise Skipped("file message: the archive has md5sum but file.shared needs the sha256 of the "
                      "content; fetch the media by sdkfileid and send file.shared instead")
    if msgtype in _NO_TEXT_TYPES:
        raise Skipped(f"{msgtype} message carries no text to moderate")
    raise Broken(f"unknown msgtype {show(msgtype)}")


def _mixed_text(items: list) -> str:
    # Each text item's `content` is itself a JSON string: {"content": "..."}; a content that is not
    # such a string is taken as the text itself, so nothing the member wrote goes unread.
    texts = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise Broken(f"field 'mixed.item[{i}]' should be an object, got {show(item)}")
        if optional(item, "type", at=f"mixed.item[{i}]") != "text":
            continue
        content = optional(item, "content", at=f"mixed.item[{i}]")
        if content is None:
            continue
        try:
            inner = orjson.loads(content)   # bounded nesting, no lone surrogates
        except orjson.JSONDecodeError:
            inner = None
        if isinstance(inner, dict):
            content = inner.get("content", "")
            if not isinstance(content, str):
                raise Broken(f"field 'mixed.item[{i}].content' holds a 'content' that is {show(content)}, "
                             "not a string")
        if content.strip():
            texts.append(content)
    if not texts:
        raise Skipped("mixed message without text parts")
    return "\n".join(texts)


def _mentions(text: str, options: Options) -> list[str]:
    # The archive has no structured @-list: resolve "@显示名" against the roster when one is given,
    # a full name first, else the first roster name that ends with the label (2 characters or more).
    if not options.names:
        return []
    exact, suffixes = options.members_by_label
    found = []
    for match in _LABEL.finditer(text):
        label = match.group(1)
        member_id = exact.get(label) or suffixes.get(label)
        if member_id is not None:
            found.append(member_id)
    return found


def convert(record: dict, options: Options) -> list[dict]:
    record = expect_object(record)
    action = optional(record, "action") or "send"
    if action == "switch":
        raise Skipped("switch record (the user changed enterprise), not a message")
    msgid = require(record, "msgid")
    if action == "recall":
        raise Skipped("recall of an earlier message (no recall event in the contract)")
    if action != "send":
        raise Broken(f"unknown action {show(action)}")
    room = optional(record, "roomid")
    if room is None:
        raise Skipped("one-to-one chat (no roomid): only group chats are moderated")
    sender = require(record, "from")
    msgtype = require(record, "msgtype")
    ts = from_epoch_ms(record.get("msgtime"), "msgtime", options)
    text = _text_of(record, msgtype)
    event_id = source_id(SOURCE, msgid)
    return [message_event(event_id=event_id, ts=ts, group_id=room, actor_id=sender,
                          actor_name=options.name_of(sender), message_id=event_id, text=text,
                          mentions=_mentions(text, options), source=SOURCE)]
