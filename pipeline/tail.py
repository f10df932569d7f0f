"""`moderation tail TOPIC`: a readable, coloured view of an output topic (or JSON lines)."""
from __future__ import annotations

import asyncio
import sys

import orjson
from rich.console import Console

from pipeline.config import load_settings
from pipeline.kafka.admin import consumer

STYLES = {"severe": "bold red", "warning": "yellow", "info": "cyan",
          "reminder": "yellow", "removal_recommended": "bold red", "supervisor": "bold magenta"}


def describe(e: dict) -> str:
    """One line for a person, whatever the kind of output event."""
    kind = e.get("kind")
    who = (e.get("member") or {}).get("name") or (e.get("member") or {}).get("id") or ""
    head = f"[dim]{(e.get('ts') or '')[:19]}[/] {e.get('group_id') or '-':<10}"
    if kind == "verdict":
        return f"{head} {e['label']:<12} {who:<12} {e.get('excerpt', '')}"
    if kind == "violation":
        style = STYLES.get(e["severity"], "")
        return f"{head} [{style}]{e['rule']:<3} {e['severity']:<7}[/] {who:<12} {e.get('excerpt') or e.get('action', '')}"
    if kind == "escalation":
        style = STYLES.get(e["level"], "")
        return f"{head} [{style}]{e['level']:<19}[/] {e['rule']:<3} {who} ← {e.get('why', '')}"
    if kind == "rejected":
        src = e.get("source", {})
        return f"{head} [red]rejected[/] {src.get('topic')}/{src.get('partition')}@{src.get('offset')}: {e['reason']}"
    if kind == "responsiveness":
        return (f"{head} {who:<12} {e.get('window', {})} replied {e.get('replied')}/{e.get('addressed')} "
                f"overdue {e.get('overdue')}")
    return f"{head} {kind}: {orjson.dumps(e).decode()[:160]}"


async def tail(topic: str, as_json: bool = False, from_beginning: bool = False, limit: int = 0,
               idle_exit: float = 0) -> int:
    settings = load_settings()
    name = getattr(settings.topics, topic, None) if "." not in topic else topic
    if name is None:
        print(f"unknown topic or role {topic!r}", file=sys.stderr)
        return 2
    console = Console(highlight=False)
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
                        console.print(describe(orjson.loads(m.value)), overflow="ellipsis", no_wrap=True)
                    seen += 1
                    if limit and seen >= limit:
                        return 0
            if idle_exit and idle >= idle_exit:
                return 0
    finally:
        await c.stop()
