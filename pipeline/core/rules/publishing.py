"""Publishing rules: P2–P6 and C3 from the content verdict, P6 flooding, P8 length, P10 off-hours."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from difflib import SequenceMatcher

from pipeline.core.events import MessagePosted
from pipeline.core.rules.base import Context, Violation, is_urgent, violation
from pipeline.text.normalize import visible
from pipeline.text.redact import excerpt, redact
from pipeline.core.worktime import add_business_seconds, is_work_time

CONTENT_RULES = {
    "ad": ("P2", "未经授权的商业广告或推销，请撤回。"),
    "rumour": ("P3", "疑似谣言或虚假信息，请核实来源后撤回。"),
    "abuse": ("P4", "低俗、暴力或恐怖内容，请立即撤回。"),
    "confidential": ("P5", "含个人隐私或公司机密，请立即撤回，改用受控渠道传递。"),
    "chitchat": ("P6", "工作群请勿闲聊，请移步其他群。"),
}
ATTACK = ("C3", "请尊重他人，勿人身攻击或恶意诋毁。")


def on_event(ctx: Context) -> list[Violation]:
    event = ctx.event
    if not isinstance(event, MessagePosted):
        return []
    found = content(ctx)
    flood = flooding(ctx)
    if flood and any(v.rule == "P6" for v in found):
        # Chit-chat that also completes a flood is one P6 finding (one step on the ladder).
        found = [_with_flooding(v, flood[0]) if v.rule == "P6" else v for v in found]
    else:
        found += flood
    return found + over_long(ctx) + off_hours(ctx)


def _with_flooding(chitchat: Violation, flood: Violation) -> Violation:
    return replace(chitchat, evidence={**chitchat.evidence, "flooding": flood.evidence["flooding"]})


def _message_violation(ctx: Context, rule: str, action: str, **kw) -> list[Violation]:
    event = ctx.event
    evidence = {"event_ids": [event.event_id], "message_id": event.message.id, **kw.pop("evidence", {})}
    return violation(ctx, rule, member_id=event.actor.id, member_name=event.actor.name, evidence=evidence,
                     action=action, excerpt=ctx.verdict.excerpt if ctx.verdict else excerpt(event.message.text),
                     **kw)


def content(ctx: Context) -> list[Violation]:
    verdict, event = ctx.verdict, ctx.event
    if verdict is None or verdict.label not in CONTENT_RULES:
        return []
    rule, action = CONTENT_RULES[verdict.label]
    if verdict.label == "abuse" and verdict.sub_label == "attack":
        rule, action = ATTACK
    allow = ctx.policy.content
    if rule == "P2" and (event.actor.id in allow.ad_allowlist_senders or event.group_id in allow.ad_allowlist_groups):
        return []
    severity = None
    if rule == "P5" and verdict.sensitive_items >= allow.large_leak_items:
        severity = "severe"
    evidence = {"label": verdict.label, "sub_label": verdict.sub_label,
                "score": verdict.scores.get(verdict.label), "reasons": list(verdict.reasons)}
    return _message_violation(ctx, rule, action, severity=severity, evidence=evidence, reviewable=True,
                              review_required=verdict.band == "review")


def flooding(ctx: Context) -> list[Violation]:
    """P6 flooding: a burst of messages, or of near-duplicates, by one member within the window."""
    cfg = ctx.policy.publishing.flooding
    event = ctx.event
    members = ctx.state.section("flood")
    now = ctx.now.timestamp()
    since = now - cfg.window_seconds
    if len(members) > 8 and ctx.state.once_per_batch("flood"):  # keeps the section to the members posting now
        for member_id in [m for m, items in members.items() if m != event.actor.id and not _any_since(items, since)]:
            del members[member_id]
    recent = members.setdefault(event.actor.id, [])
    recent[:] = [item for item in recent if _epoch(item[0]) > since]
    # Only redacted text is kept in state (it is stored in a changelog topic); the verdict's
    # excerpt is the message already redacted.
    text = ctx.verdict.excerpt.strip() if ctx.verdict is not None else redact(event.message.text.strip()[:200])
    alike = _count_alike([prior for _, prior in recent], text, cfg.similarity)
    recent.append([now, text])
    burst = len(recent) > cfg.max_messages
    duplicates = alike + 1 >= cfg.max_near_duplicates
    if not (burst or duplicates):
        return []
    # One violation per flood: reset the window so the next one needs a new burst.
    recent.clear()
    what = (f"{alike + 1} near-duplicate messages" if duplicates else f"{cfg.max_messages + 1} messages") \
        + f" within {cfg.window_seconds}s"
    return _message_violation(ctx, "P6", "请勿刷屏灌水。", evidence={"flooding": what},
                              source_id=f"{event.event_id}:flood")


def _any_since(items: list, since: float) -> bool:
    return bool(items) and _epoch(items[-1][0]) > since


def _epoch(stamp: float | str) -> float:
    # Posting times are kept as epoch seconds; states saved before that hold ISO strings.
    return stamp if isinstance(stamp, float) else datetime.fromisoformat(stamp).timestamp()


def _count_alike(priors: list[str], text: str, threshold: float) -> int:
    """How many of `priors` are near-duplicates of `text` (difflib ratio at least `threshold`)."""
    count, matcher = 0, None
    for prior in priors:
        if prior == text:
            count += 1
            continue
        if not prior or not text or min(len(prior), len(text)) / max(len(prior), len(text)) < threshold:
            continue
        if matcher is None:
            # The matcher indexes its second sequence once; the priors are compared against it in turn.
            matcher = SequenceMatcher(None, b=text, autojunk=False)
        matcher.set_seq1(prior)
        # The quick ratios are upper bounds of ratio(): most pairs are told apart without the full match.
        if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold \
                and matcher.ratio() >= threshold:
            count += 1
    return count


def over_long(ctx: Context) -> list[Violation]:
    limit = ctx.policy.publishing.max_message_chars
    length = len(ctx.event.message.text)
    if length > limit:
        length = len(visible(ctx.event.message.text))  # padding with invisible characters is not length
    if length <= limit:
        return []
    return _message_violation(ctx, "P8", f"消息较长（{length} 字，建议不超过 {limit} 字），请改用群文件或群公告。",
                              evidence={"length": length, "limit": limit}, source_id=f"{ctx.event.event_id}:long")


def off_hours(ctx: Context) -> list[Violation]:
    """P10: a non-urgent post outside work hours (evenings, weekends, statutory holidays, but not
    adjusted working days) → advisory; at most one per member per off-hours stretch if configured.
    Urgent off-hours posts open a follow-up window in the responsiveness tracker instead."""
    hours = ctx.policy.work_hours
    if is_work_time(ctx.event.ts, hours) or is_urgent(ctx.event.message, ctx.policy):
        return []
    # The stretch is named by the moment work starts again.
    stretch = add_business_seconds(ctx.event.ts, 0, hours).isoformat()
    if ctx.policy.publishing.off_hours_once_per_stretch:
        advised = ctx.state.section("off_hours")
        if advised.get(ctx.event.actor.id) == stretch:
            return []
        if ctx.state.once_per_batch("off_hours"):  # bounded: the stretches that are over go
            for member_id in [m for m, s in advised.items() if datetime.fromisoformat(s) <= ctx.now]:
                del advised[member_id]
        advised[ctx.event.actor.id] = stretch
    return _message_violation(ctx, "P10", "非工作时间请尽量不发消息；如确属紧急，请简要说明情况并标注紧急。",
                              evidence={"work_resumes": stretch}, source_id=f"{ctx.event.event_id}:offhours")
