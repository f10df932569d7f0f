"""DingTalk group robot callback (钉钉 企业内部机器人 消息接收): the HTTP body DingTalk posts to the
robot when someone @-mentions it in a group → input events.

Fields used: `msgId`, `conversationId`, `conversationType` ("2" = group), `conversationTitle` (the
group's name), `senderStaffId` (or `senderId`), `senderNick`, `createAt` (epoch ms), `msgtype`,
`text.content`, `content.richText`, `atUsers` (`staffId` or `dingtalkId`), `chatbotUserId` (the
robot itself, not a mention to track).
"""
from __future__ import annotations

from pipeline.connectors.base import (Broken, Options, Skipped, expect_object, from_epoch_ms, message_event,
                                      optional, require, show, source_id)

SOURCE = "dingtalk"
_NO_TEXT_TYPES = {"picture", "audio", "video", "file", "interactiveCard", "chatRecord"}


def _text_of(record: dict, msgtype: str) -> str:
    if msgtype == "text":
        return require(record, "text.content").strip()
    if msgtype == "richText":
        parts = require(record, "content.richText", list)
        texts = []
        for i, part in enumerate(parts):
            if not isinstance(part, dict):
                raise Broken(f"field 'content.richText[{i}]' should be an object, got {show(part)}")
            if (text := optional(part, "text", at=f"content.richText[{i}]")) is not None:
                texts.append(text)
        if not any(t.strip() for t in texts):
            raise Skipped("richText message with pictures only")
        return "".join(texts).strip()
    if msgtype in _NO_TEXT_TYPES:
        raise Skipped(f"{msgtype} message carries no text to moderate")
    raise Broken(f"unknown msgtype {show(msgtype)}")


def _mentions(record: dict) -> list[str]:
    robot = optional(record, "chatbotUserId")
    mentions = []
    for i, user in enumerate(optional(record, "atUsers", list) or []):
        if not isinstance(user, dict):
            raise Broken(f"field 'atUsers[{i}]' should be an object, got {show(user)}")
        where = f"atUsers[{i}]"
        staff, dingtalk_id = optional(user, "staffId", at=where), optional(user, "dingtalkId", at=where)
        if staff is None and dingtalk_id is None:
            raise Broken(f"field 'atUsers[{i}]' has neither 'staffId' nor 'dingtalkId'")
        if dingtalk_id is not None and dingtalk_id == robot:
            continue
        mentions.append(staff or dingtalk_id)
    return mentions


def convert(record: dict, options: Options) -> list[dict]:
    record = expect_object(record)
    msg_id = require(record, "msgId")
    conversation = require(record, "conversationId")
    conversation_type = optional(record, "conversationType", (str, int))
    if conversation_type is not None and str(conversation_type) not in ("1", "2"):
        raise Broken(f"field 'conversationType' should be \"1\" (one-to-one) or \"2\" (group), "
                     f"got {show(conversation_type)}")
    if str(conversation_type) == "1":
        raise Skipped("one-to-one chat with the robot: only group chats are moderated")
    sender = optional(record, "senderStaffId") or optional(record, "senderId")
    if sender is None:
        raise Broken("missing field 'senderStaffId' (and 'senderId')")
    msgtype = require(record, "msgtype")
    ts = from_epoch_ms(record.get("createAt"), "createAt", options)
    text = _text_of(record, msgtype)
    mentions = _mentions(record)
    nick = optional(record, "senderNick")
    title = optional(record, "conversationTitle")
    event_id = source_id(SOURCE, msg_id)
    return [message_event(event_id=event_id, ts=ts, group_id=conversation, actor_id=sender,
                          actor_name=options.name_of(sender, nick), message_id=event_id, text=text,
                          mentions=mentions, group_name=title, source=SOURCE)]
