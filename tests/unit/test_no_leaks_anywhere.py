"""Property: personal data hidden in any free-text field of any input event, with any filler,
separator or spelling the redaction sees through, is not recoverable from any output the core
writes (verdicts, violations, escalations, aggregates, reports, DLQ).

Before, only message excerpts were masked: a member named 负责人<mobile> was shown as is, a file
named 身份证_<id>_<card>.exe came back whole in P9, and so did forward destinations,
announcement titles and group names in reports.

What "recoverable" means is the redaction property's (tests/unit/test_redact_property.py): in
each free-text string of an output (ids, times and enums are not text from the input), folded as a
reader sees it, the value's digits do not appear in order, nor an e-mail's local part or a secret.
"""
from __future__ import annotations

import base64
import re

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.offline import run
from pipeline.text.normalize import fold
from tests.factory import at, configured, event, joined, message, tick
from tests.unit.test_redact_property import _is_subsequence, sample, surrounding

FIELDS = ("actor.name", "member.name on join", "member.name on rename", "message.text", "file.name",
          "file.folder", "announcement.title", "announcement.text", "destination", "group.name",
          "group_name", "rejected record")


def events_with(field: str, hidden: str) -> list[bytes]:
    name = hidden if field == "group.name" else "研发中心项目群"
    group = configured(admins=("u-admin",), owners=("u-admin",))
    group["group"]["name"] = name
    who = hidden if field == "actor.name" else "研发中心-王五"
    text = hidden if field == "message.text" else "@李四 报表今天下班前发我一下"
    chat = message(text, actor="u-2", mentions=["u-3"], actor_name=who)
    if field == "group_name":
        chat["group_name"] = hidden
    events = [
        group,
        joined("u-3", hidden if field == "member.name on join" else "研发中心-李四"),
        event("member.renamed", actor="u-3", member={"id": "u-3", "name": hidden}) if field == "member.name on rename"
        else tick(),
        chat,
        event("file.shared", actor="u-2", file={
            "id": "f-1", "name": hidden + ".exe" if field == "file.name" else "季度预算_20260302_张三.exe",
            "size": 10, "folder": hidden if field == "file.folder" else None, "sha256": "ab" * 32}),
        event("announcement.posted", actor="u-admin", announcement={
            "id": "a-1", "title": hidden if field == "announcement.title" else "关于体检的通知",
            "text": hidden if field == "announcement.text" else "请按时参加"}),
        event("message.forwarded", actor="u-2", message={"id": chat["message"]["id"]},
              destination={"id": hidden[:120] if field == "destination" else "ext-1", "external": True}, approved_by=None),
        tick(ts=at(days=8)),  # deadlines, aggregates and the weekly report
    ]
    lines = [orjson.dumps(e) for e in events]
    if field == "rejected record":
        lines.append(orjson.dumps({**message("x"), "ts": hidden}))  # the reason quotes the bad value
    return lines


# What the test counts as not text from the input, on its own (not the redaction's list, which it
# checks): ids, enums, times, and the subtrees of ids and numbers.
ENUMS = {"kind", "id", "rule", "level", "ladder", "severity", "label", "sub_label", "scope", "clock", "notice", "on",
         "original", "group_id", "asker", "addressee", "approved_by", "invited_by", "reporter", "poster", "issued_by",
         "sha256", "original_sha256", "admins", "owners", "supervisors", "allowed_approvers", "violations"}
ID_TREES = {"recipients", "scores", "source", "by_rule"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def free_text(node, key=None):
    """Every string of an output that is text (the DLQ's original bytes decoded), not an id,
    enum or time."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "original_b64":
                kept = base64.b64decode(v)
                try:
                    yield from free_text(orjson.loads(kept))  # each field of the record on its own
                except orjson.JSONDecodeError:
                    yield kept.decode("utf-8", "replace")
            elif k in ENUMS or k in ID_TREES or k.endswith(("_id", "_ids")):
                continue
            elif isinstance(v, str) and not TIME.match(v):
                yield v
            elif isinstance(v, (dict, list)):
                yield from free_text(v, k)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, str) and not TIME.match(v):
                yield v
            elif isinstance(v, (dict, list)):
                yield from free_text(v, key)


@given(field=st.sampled_from(FIELDS), item=sample(), before=surrounding(), after=surrounding())
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_output_field_carries_hidden_personal_data(engine, field, item, before, after):
    shown, value, read, _ = item
    hidden = (before + " " if before else "") + shown + (" " + after if after else "")
    outputs = [e for _, e in run(engine, events_with(field, hidden))]
    assert outputs
    for output in outputs:
        for text in free_text(output):
            seen = fold(text).text
            if read == "digits":
                assert not _is_subsequence(value.lower(), re.sub(r"[^0-9x]", "", seen)), (field, hidden, text)
            else:
                assert value.lower() not in re.sub(r"[\W_]", "", seen).lower(), (field, hidden, text)


def test_names_stay_readable_with_only_the_personal_data_masked(engine):
    lines = events_with("actor.name", "负责人13812345678")
    names = {e["member"]["name"] for role, e in run(engine, lines) if role == "verdicts"}
    assert names == {"负责人138****5678"}
    p9 = [e for _, e in run(engine, events_with("file.name", "身份证_110101199003074573_6222021234567890123"))
          if e.get("rule") == "P9"]
    assert p9 and all("110101199003074573" not in orjson.dumps(e).decode() for e in p9)
    assert "身份证_" in p9[0]["evidence"]["file_name"] and p9[0]["evidence"]["file_name"].endswith(".exe")
