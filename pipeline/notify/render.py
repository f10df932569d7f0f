"""Messages from templates: the values a template may use, made safe for the channel they go to.

A template (config `templates:`) is light Markdown with `{field}` placeholders. Every value comes
from the record (masked by `records`) and is escaped by the channel's dialect, so a member name or
an excerpt cannot @-mention everyone, forge a link or break the layout. A line whose placeholders
all came out empty is left out (no "> " line when there is no excerpt).
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pipeline.notify.config import LEVEL_NAMES, SEVERITY_NAMES, NotifyConfig
from pipeline.notify.records import Notification

_FORMATTER = string.Formatter()
MAX_TITLE = 120


class Dialect(Protocol):
    contact_field: str | None          # the directory field holding this platform's user ids

    def escape(self, text: str) -> str: ...
    def mention(self, platform_id: str) -> str: ...
    def link(self, label: str, url: str) -> str: ...
    def finish(self, body: str) -> str: ...


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    mentions: tuple[str, ...] = ()     # platform user ids @-mentioned (robots that list them apart)
    severe: bool = False


def _plain(text: str, limit: int) -> str:
    """One line of plain text (titles, subjects): no control characters, bounded."""
    flat = "".join(" " if not ch.isprintable() else ch for ch in text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fill(template: str, values: dict[str, str]) -> str:
    lines = []
    for line in template.split("\n"):
        names = [name for _, name, _, _ in _FORMATTER.parse(line) if name is not None]
        if names and not any(values.get(name) for name in names):
            continue
        lines.append("".join(literal + (values.get(name) or "" if name is not None else "")
                             for literal, name, _, _ in _FORMATTER.parse(line)).rstrip())
    return "\n".join(lines).strip("\n")


def mentions(dialect: Dialect, config: NotifyConfig, members) -> tuple[str, tuple[str, ...]]:
    """The mention text for the people a robot's message addresses (those with an id on this
    platform in the directory), and their ids."""
    if dialect.contact_field is None:
        return "", ()
    ids = []
    for member_id in members:
        contact = config.directory.get(member_id)
        platform_id = getattr(contact, dialect.contact_field, None) if contact else None
        if platform_id and platform_id not in ids:
            ids.append(platform_id)
    return " ".join(dialect.mention(i) for i in ids), tuple(ids)


def _time(ts: str | datetime | None) -> str:
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d %H:%M")
    return (ts or "")[:16].replace("T", " ")


def escalation_message(n: Notification, roles, members, config: NotifyConfig, dialect: Dialect) -> Message:
    template = config.template(n.level)
    mention_text, ids = mentions(dialect, config, members)
    values = {
        "rule": n.rule, "rule_name": config.rule_name(n.rule), "level_name": LEVEL_NAMES.get(n.level, n.level),
        "severity_name": SEVERITY_NAMES.get(n.severity or "", ""), "member": n.member_name or n.member_id or "",
        "group": n.group_name or n.group_id, "excerpt": n.excerpt or "", "why": n.why or "",
        "action": config.action(n.level, roles), "id": n.id, "time": _time(n.ts),
        "link": _link(dialect, config), "mentions": mention_text,
    }
    return _message(template, values, dialect, ids, n.severe)


def report_message(n: Notification, members, config: NotifyConfig, dialect: Dialect) -> Message:
    r = n.report
    period = f"{(r.get('start') or '')[:10]} 至 {(r.get('end') or '')[:10]}" if r.get("start") else ""
    mention_text, ids = mentions(dialect, config, members)
    by_rule = "、".join(f"{rule} {count}" for rule, count in sorted(r.get("by_rule", {}).items())) or "无"
    values = {
        "group": n.group_name or n.group_id, "period": period,
        "total": str(r["total"]) if r.get("total") is not None else "—", "by_rule": by_rule,
        "open_problems": str(r["open_problems"]) if r.get("open_problems") is not None else "—",
        "id": n.id, "time": _time(n.ts), "link": _link(dialect, config), "mentions": mention_text,
    }
    return _message(config.template("report"), values, dialect, ids, False)


def withdrawal_message(summary: dict, escalation_id: str, retraction_id: str, reason: str | None, members,
                       config: NotifyConfig, dialect: Dialect) -> Message:
    mention_text, ids = mentions(dialect, config, members)
    rule = str(summary.get("rule") or "")
    values = {
        "rule": rule, "rule_name": config.rule_name(rule), "member": str(summary.get("member") or ""),
        "group": str(summary.get("group") or ""), "reason": reason or "经复核撤销", "id": retraction_id,
        "escalation_id": escalation_id, "time": _time(summary.get("ts")), "mentions": mention_text,
    }
    return _message(config.template("withdrawal"), values, dialect, ids, False)


def digest_message(items: list[tuple[str, dict]], members, config: NotifyConfig, dialect: Dialect) -> Message:
    """One message for many deliveries to one recipient: `items` are (notification id, summary)."""
    esc = dialect.escape
    shown = items[: config.digest.max_items]
    lines = [f"- {esc(s.get('rule') or '')} {esc(config.rule_name(s.get('rule') or ''))}｜{esc(str(s.get('member') or ''))}"
             f"｜{esc(str(s.get('group') or ''))}｜{_time(s.get('ts'))}｜编号 {esc(nid)}" for nid, s in shown]
    if len(items) > len(shown):
        lines.append(f"- 另有 {len(items) - len(shown)} 条，请在看板中查看")
    groups = {str(s.get("group") or "") for _, s in items}
    mention_text, ids = mentions(dialect, config, members)
    values = {"count": str(len(items)), "group": groups.pop() if len(groups) == 1 else "多个群聊",
              "items": "\n".join(lines), "link": _link(dialect, config), "mentions": mention_text}
    return _message(config.template("digest"), values, dialect, ids, False)


def _link(dialect: Dialect, config: NotifyConfig) -> str:
    return dialect.link("在看板中查看", config.dashboard_url) if config.dashboard_url else ""


# Values the dialect has already written in its own syntax (not escaped again).
_FORMATTED = ("mentions", "link", "items")


def _message(template, values: dict[str, str], dialect: Dialect, ids, severe: bool) -> Message:
    """`values` are plain text (masked); the title stays plain (it goes into plain-text fields: a
    card header, a subject, a preview), the body gets them escaped for the channel."""
    title = _plain(fill(template.title, {k: v for k, v in values.items() if k not in _FORMATTED}), MAX_TITLE)
    body_values = {k: (v if k in _FORMATTED else dialect.escape(v)) for k, v in values.items()}
    return Message(title=title, body=dialect.finish(fill(template.body, body_values)), mentions=tuple(ids),
                   severe=severe)
