"""`moderation tail`: one readable line per output event, safe for any text."""
from __future__ import annotations

import io

import orjson
from rich.console import Console

from pipeline.core.offline import run
from pipeline.devtools.sample import conversation
from pipeline.kafka.tail import describe


def render(event: dict) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None, highlight=False).print(describe(event))
    return out.getvalue().strip()


def test_every_output_of_the_sample_renders_on_one_line(engine):
    for _, event in run(engine, [orjson.dumps(e) for e in conversation()]):
        line = render(event)
        assert "\n" not in line and event["group_id"] in line


def test_brackets_in_chat_text_are_shown_not_read_as_markup():
    line = render({"kind": "violation", "group_id": "g", "ts": "2026-03-02T09:00:00+08:00", "rule": "P6",
                   "severity": "warning", "member": {"id": "u"}, "excerpt": "[图片] see [/] and [bold]x[/bold]"})
    assert "[图片] see [/] and [bold]x[/bold]" in line


def test_responsiveness_and_report_lines():
    line = render({"kind": "responsiveness", "group_id": "g-fin", "ts": "2026-03-03T09:00:00+08:00", "scope": "member",
                   "member": {"id": "u-ls", "name": "财务部-李四"}, "window": {"kind": "day", "start": "2026-03-02T00:00:00+08:00"},
                   "addressed": 4, "replied": 3, "reply_rate": 0.75, "median_reply_seconds": 400,
                   "p90_reply_seconds": 4000, "overdue": 1})
    assert "财务部-李四" in line and "day of 2026-03-02" in line and "replied 3/4 (75%)" in line
    assert "median 6m40s, p90 1h06m, overdue 1" in line
    line = render({"kind": "group_report", "group_id": "g-fin", "ts": "2026-03-09T00:00:00+08:00",
                   "period": {"kind": "week", "start": "2026-03-02T00:00:00+08:00"}, "group": {"name": "财务部工作群"},
                   "violations": {"total": 3, "by_rule": {"P5": 2, "C3": 1}}})
    assert "report 财务部工作群 week from 2026-03-02: 3 violations (P5 2, C3 1)" in line


def test_piped_lines_are_whole_not_cut_to_80_columns():
    from pipeline.kafka.tail import printer

    out = io.StringIO()  # not a terminal, as a pipe is not
    excerpt = "王五 请在周五前提交第三季度的预算执行报告和下季度的采购计划，附上供应商比价表和合同草稿，谢谢配合"
    printer(out)(describe({"kind": "violation", "group_id": "g-fin", "ts": "2026-03-02T09:00:00+08:00", "rule": "P6",
                           "severity": "warning", "member": {"id": "u", "name": "财务部-张三"}, "excerpt": excerpt}))
    assert excerpt in out.getvalue() and out.getvalue().count("\n") == 1
