"""DingTalk group robot callback (钉钉 企业内部机器人 消息接收): the HTTP body DingTalk posts to the
robot when someone @-mentions it in a group → input events.

Fields used: `msgId`, `conversationId`, `conversationType` ("2" = group), `senderStaffId`
(or `senderId`), `senderNick`, `createAt` (epoch ms), `msgtype`, `text.content`, `atUsers`
(`staffId` or `dingtalkId`), `chatbotUserId` (the robot itself, not a mention to track).
"""
from __future__ import annotations

from pipeline.connectors.base import Broken, Options, Skipped, from_epoch_ms, message_event, require, source_id

SOURCE = "dingtalk"
_NO_TEXT_TYPES = {"picture", "audio", "video", "file", "interactiveCard", "chatRecord"}


def _text_of(record: dict, msgtype: str) -> str:
    if msgtype == "text":
        return require(record, "text.content").strip()
    if msgtype == "richText":
        parts = require(record, "content.richText", list)
        texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
        if not any(t.strip() for t in texts):
            raise Skipped("richText message with pictures only")
        return "".join(texts).strip()
    if msgtype in _NO_TEXT_TYPES:
        raise Skipped(f"{msgtype} message carries no text to moderate")
    raise Broken(f"unknown msgtype {msgtype[:40]!r}")


def convert(record: dict, options: Options) -> list[dict]:
    if not isinstance(record, dict):
        raise Broken(f"expected a JSON object, got {type(record).__name__}")
    msg_id = require(record, "msgId")
    conversation = require(record, "conversationId")
    if str(record.get("conversationType", "2")) == "1":
        raise Skipped("one-to-one chat with the robot: only group chats are moderated")
    sender = record.get("senderStaffId") or record.get("senderId")
    if not isinstance(sender, str) or not sender:
        raise Broken("missing field 'senderStaffId' (and 'senderId')")
    msgtype = require(record, "msgtype")
    ts = from_epoch_ms(record.get("createAt"), "createAt", options)
    text = _text_of(record, msgtype)
    robot = record.get("chatbotUserId")
    mentions = []
    for user in record.get("atUsers") or []:
        if not isinstance(user, dict) or user.get("dingtalkId") == robot:
            continue
        member = user.get("staffId") or user.get("dingtalkId")
        if isinstance(member, str) and member:
            mentions.append(member)
    event_id = source_id(SOURCE, msg_id)
    nick = record.get("senderNick") if isinstance(record.get("senderNick"), str) else None
    return [message_event(event_id=event_id, ts=ts, group_id=conversation, actor_id=sender,
                          actor_name=options.name_of(sender, nick), message_id=event_id, text=text,
                          mentions=mentions, source=SOURCE)]
