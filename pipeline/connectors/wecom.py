"""WeCom conversation archive (企业微信 会话内容存档): one decrypted chat message → input events.

The archive SDK yields one JSON object per message after decryption, e.g.
`{"msgid": "...", "action": "send", "from": "zhangsan", "tolist": ["lisi"], "roomid": "wr...",
"msgtime": 1772414100000, "msgtype": "text", "text": {"content": "..."}}`. Only group messages
(non-empty `roomid`) are moderated; the archive names senders by user id only, so display names
come from the optional roster (`--names`).
"""
from __future__ import annotations

import json
import re

from pipeline.connectors.base import Broken, Options, Skipped, from_epoch_ms, message_event, require, source_id

SOURCE = "wecom"
# Types that carry no text the policy reads; reported as skipped, not as errors.
_NO_TEXT_TYPES = {
    "image", "voice", "video", "emotion", "card", "location", "weapp", "redpacket", "external_redpacket",
    "meeting_voice_call", "voip_doc_share", "sphfeed", "voiptext", "qydiskfile", "agree", "disagree",
    "collect", "vote", "meeting", "calendar", "chatrecord", "todo", "docmsg", "news",
}


def _text_of(record: dict, msgtype: str) -> str:
    if msgtype == "text":
        return require(record, "text.content")
    if msgtype == "markdown":
        return require(record, "markdown.content")
    if msgtype == "link":
        link = require(record, "link", dict)
        parts = [link.get("title"), link.get("description"), link.get("link_url")]
        text = " ".join(p for p in parts if isinstance(p, str) and p.strip())
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
    raise Broken(f"unknown msgtype {msgtype[:40]!r}")


def _mixed_text(items: list) -> str:
    # Each text item's `content` is itself a JSON string: {"content": "..."}.
    texts = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "text":
            continue
        content = item.get("content")
        if isinstance(content, str):
            try:
                inner = json.loads(content)
                content = inner.get("content", "") if isinstance(inner, dict) else content
            except ValueError:
                pass
            if content:
                texts.append(content)
    if not texts:
        raise Skipped("mixed message without text parts")
    return "\n".join(texts)


def _mentions(text: str, options: Options) -> list[str]:
    # The archive has no structured @-list: resolve "@显示名" against the roster when one is given.
    if not options.names:
        return []
    by_name = {name: member_id for member_id, name in options.names.items()}
    found = []
    for match in re.finditer(r"@([^\s@，,：:]+)", text):
        label = match.group(1)
        for name, member_id in by_name.items():
            if label == name or name.endswith(label) and len(label) >= 2:
                found.append(member_id)
                break
    return found


def convert(record: dict, options: Options) -> list[dict]:
    if not isinstance(record, dict):
        raise Broken(f"expected a JSON object, got {type(record).__name__}")
    action = record.get("action", "send")
    if action == "switch":
        raise Skipped("switch record (the user changed enterprise), not a message")
    msgid = require(record, "msgid")
    if action == "recall":
        raise Skipped("recall of an earlier message (no recall event in the contract)")
    if action != "send":
        raise Broken(f"unknown action {str(action)[:40]!r}")
    room = record.get("roomid")
    if not room:
        raise Skipped("one-to-one chat (no roomid): only group chats are moderated")
    if not isinstance(room, str):
        raise Broken("field 'roomid' should be a string")
    sender = require(record, "from")
    msgtype = require(record, "msgtype")
    ts = from_epoch_ms(record.get("msgtime"), "msgtime", options)
    text = _text_of(record, msgtype)
    event_id = source_id(SOURCE, msgid)
    return [message_event(event_id=event_id, ts=ts, group_id=room, actor_id=sender,
                          actor_name=options.name_of(sender), message_id=event_id, text=text,
                          mentions=_mentions(text, options), source=SOURCE)]
