"""`moderation tail TOPIC`: a readable, coloured view of an output topic (or JSON lines)."""
from __future__ import annotations

import sys

import orjson
from rich.console import Console
from rich.markup import escape

from pipeline.config import load_settings
from pipeline.kafka.admin import consumer, wait_for_broker

STYLES = {"severe": "bold red", "warning": "yellow", "info": "cyan",
          "reminder": "yellow", "removal_recommended": "bold red", "supervisor": "bold magenta"}


def describe(e: dict) -> str:
    """One line of Rich markup for a person, whatever the kind of output event. Every value from
    the event is escaped: chat text may hold brackets that Rich would read as markup."""
    kind = e.get("kind")
    member = e.get("member") if isinstance(e.get("member"), dict) else {}
    who = escape(str(member.get("name") or member.get("id") or ""))
    head = f"[dim]{escape(str(e.get('ts') or '')[:19])}[/] {escape(str(e.get('group_id') or '-')):<10}"
    if kind == "verdict":
        return f"{head} {escape(str(e.get('label'))):<12} {who:<12} {escape(e.get('excerpt') or '')}"
    if kind == "violation":
        severity = str(e.get("severity"))
        return (f"{head} [{STYLES.get(severity, 'default')}]{escape(str(e.get('rule'))):<3} {escape(severity):<7}[/] "
                f"{who:<12} {escape(e.get('excerpt') or e.get('action') or '')}")
    if kind == "escalation":
        level = str(e.get("level"))
        return (f"{head} [{STYLES.get(level, 'default')}]{escape(level):<19}[/] {escape(str(e.get('rule'))):<3} "
                f"{who} ← {escape(str(e.get('why') or ''))}")
    if kind == "rejected":
        src = e.get("source") or {}
        return (f"{head} [red]rejected[/] {escape(str(src.get('topic')))}/{src.get('partition')}@{src.get('offset')}: "
                f"{escape(str(e.get('reason')))}")
    if kind == "responsiveness":
        window = e.get("window") or {}
        scope = who if e.get("scope", "member") == "member" else "(whole group)"
        rate = e.get("reply_rate")
        return (f"{head} {scope:<12} {escape(str(window.get('kind', '?')))} of {escape(str(window.get('start') or ''))[:10]}: "
                f"replied {e.get('replied')}/{e.get('addressed')} ({'–' if rate is None else f'{rate:.0%}'}), "
                f"median {_duration(e.get('median_reply_seconds'))}, p90 {_duration(e.get('p90_reply_seconds'))}, "
                f"[{'red' if e.get('overdue') else 'dim'}]overdue {e.get('overdue')}[/]")
    if kind == "group_report":
        period = e.get("period") or {}
        violations = e.get("violations") or {}
        by_rule = ", ".join(f"{rule} {n}" for rule, n in (violations.get("by_rule") or {}).items()) or "none"
        name = (e.get("group") or {}).get("name") or ""
        return (f"{head} [bold]report[/] {escape(name)} {escape(str(period.get('kind', '')))} from "
                f"{escape(str(period.get('start') or ''))[:10]}: {violations.get('total', 0)} violations "
                f"({escape(by_rule)})")
    return f"{head} {escape(str(kind))}: {escape(orjson.dumps(e).decode()[:160])}"


def printer(file=None):
    """How a described line is shown: cut to the terminal's width on a terminal, whole when piped
    (a pipe once got every line cut to 80 columns, excerpts shrunk to `王五 …`)."""
    console = Console(highlight=False, file=file)
    if console.is_terminal:
        return lambda line: console.print(line, overflow="ellipsis", no_wrap=True)
    return lambda line: console.print(line, soft_wrap=True)


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s" if seconds < 3600 else \
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


async def tail(topic: str, as_json: bool = False, from_beginning: bool = False, limit: int = 0,
               idle_exit: float = 0, wait: float = 60.0) -> int:
    settings = load_settings()
    name = getattr(settings.topics, topic, None) if "." not in topic else topic
    if name is None:
        print(f"unknown topic or role {topic!r}", file=sys.stderr)
        return 2
    await wait_for_broker(settings, wait, "tail")
    show = printer()
    c = consumer(settings, name, group_id=None, auto_offset_reset="earliest" if from_beginning else "latest")
    await c.start()
    seen, idle = 0, 0.0
    try:
        while True:
            batch = await c.getmany(timeout_ms=500)
            idle = 0.0 if batch else idle + 0.5
            for messages in batch.values():
                for m in messages:
                    if as_json:
                        sys.stdout.write(m.value.decode("utf-8", "replace") + "\n")
                        sys.stdout.flush()
                    else:
                        show(describe(orjson.loads(m.value)))
                    seen += 1
                    if limit and seen >= limit:
                        return 0
            if idle_exit and idle >= idle_exit:
                return 0
    finally:
        await c.stop()
