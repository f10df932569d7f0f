"""The core's contract with the shell: order, determinism, redelivery."""
from __future__ import annotations

import subprocess
import sys

import orjson

from pipeline.core.offline import run
from pipeline.devtools.sample import conversation
from tests.conftest import FixedClassifier, outputs
from tests.factory import configured, message


def test_same_events_give_the_same_bytes(engine):
    lines = [orjson.dumps(e) for e in conversation()]
    first = [orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for _, e in run(engine, lines)]
    second = [orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for _, e in run(engine, lines, batch_size=3)]
    assert first == second and len(first) > 40


def test_every_message_gets_exactly_one_verdict(engine):
    events = conversation()
    verdicts = outputs(engine, *events, role="verdicts")
    posted = [e["event_id"] for e in events if e["type"] == "message.posted"]
    assert [v["event_id"] for v in verdicts] == posted
    assert len({v["id"] for v in verdicts}) == len(posted)


def test_a_redelivered_event_is_not_processed_twice(policy):
    from pipeline.core.engine import Engine
    from pipeline.core.events import decode

    engine = Engine(policy, FixedClassifier({"买彩票": "illegal"}))
    events = [decode(orjson.dumps(e)) for e in (configured(), message("买彩票"), message("好的"))]
    states: dict = {}
    first = engine.process(events, states, at("p0", 0, 1, 2))
    assert [r for r, _ in first].count("verdicts") == 2
    # After a restart, Kafka redelivers from the last committed offset: the state already took them in.
    assert engine.process(events[1:], states, at("p0", 1, 2)) == []
    # The same event id again at a new offset (a producer retry) is a duplicate too.
    assert engine.process(events[1:2], states, at("p0", 3)) == []


def at(source: str, *offsets: int) -> list[tuple[str, int]]:
    return [(source, offset) for offset in offsets]


def test_events_of_one_group_from_several_partitions_are_all_processed(policy):
    """A producer that does not key by group spreads a group's events over partitions: offsets of
    one partition say nothing about another's (40 messages once gave 12 verdicts)."""
    from pipeline.core.engine import Engine
    from pipeline.core.events import decode

    engine = Engine(policy, FixedClassifier({}))
    events = [decode(orjson.dumps(message(f"第{i}条"))) for i in range(40)]
    positions = [(f"chat.events/{i % 4}", 100 + i // 4) for i in range(40)]  # round robin over 4 partitions
    states: dict = {}
    out = engine.process(events, states, positions)
    assert [r for r, _ in out].count("verdicts") == 40
    assert states["g-1"]["applied"] == {f"chat.events/{p}": 109 for p in range(4)}
    # a redelivery of any of them, whichever partition it comes from, is known
    assert engine.process(events[5:9], states, positions[5:9]) == []


def test_a_record_re_keyed_to_its_group_keeps_the_position_it_was_first_written_at(policy):
    from pipeline.core.engine import Engine
    from pipeline.core.events import decode

    engine = Engine(policy, FixedClassifier({}))
    events = [decode(orjson.dumps(message(f"第{i}条"))) for i in range(3)]
    states: dict = {}
    engine.process(events[:2], states, [("chat.events/3", 7), ("chat.events/0", 50)])
    # after a restart, the re-keyed copies of both come again (the forwarder re-sends from its
    # committed offset), and a new event from partition 3 follows
    out = engine.process(events, states, [("chat.events/3", 7), ("chat.events/0", 50), ("chat.events/3", 8)])
    assert [e["event_id"] for r, e in out if r == "verdicts"] == [events[2].event_id]


def test_offline_outputs_keep_input_order_and_reject_bad_lines(engine):
    lines = [orjson.dumps(message("第一条")), b"{broken", orjson.dumps(message("第二条"))]
    result = [(r, e) for r, e in run(engine, lines, source="x.jsonl") if r in ("verdicts", "dlq")]
    assert [r for r, _ in result] == ["verdicts", "dlq", "verdicts"]
    assert [e.get("message_id") for _, e in result] == [lines and orjson.loads(lines[0])["message"]["id"], None,
                                                         orjson.loads(lines[2])["message"]["id"]]
    assert result[1][1]["source"] == {"topic": "x.jsonl", "partition": None, "offset": 2}


def test_check_command_prints_jsonl(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in conversation()[:12]) + b"\n")
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "check", str(path)], capture_output=True, check=True)
    lines = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert lines and {e["kind"] for e in lines} <= {"verdict", "violation", "escalation", "rejected"}
    assert all(e["schema"] == 1 for e in lines)


def test_an_empty_message_at_the_end_of_a_batch_gets_its_verdict(engine):
    # the shipped classifier once failed a whole batch whose last message had no text
    verdicts = outputs(engine, configured(), message("周五前提交报告"), message(""), role="verdicts")
    assert [v["label"] for v in verdicts] == ["work", "work"]
    assert verdicts[1]["excerpt"] == ""


class _FailsOn(FixedClassifier):
    """A classifier with a bug that one text triggers."""

    def classify(self, texts):
        if "触发缺陷" in texts:
            raise RuntimeError("bug triggered")
        return super().classify(texts)


def test_an_event_the_core_fails_on_is_set_aside_and_the_rest_go_through(policy):
    from pipeline.core.engine import Engine
    from pipeline.core.events import decode

    engine = Engine(policy, _FailsOn())
    raw = [configured(), message("早上好"), message("触发缺陷"), message("报表发我"), message("收到", group="g-2")]
    events = [decode(orjson.dumps(e)) for e in raw]
    states: dict = {}
    outputs, set_aside = engine.process_setting_aside(events, states, at("p", *range(5)), lambda group_id: None)
    assert [i for i, _ in set_aside] == [2]
    assert set_aside[0][1].startswith("internal error while processing this event (RuntimeError: bug triggered)")
    assert [e["event_id"] for role, e in outputs if role == "verdicts"] == [raw[i]["event_id"] for i in (1, 3, 4)]
    # the group's state is what it would be had the failing event never come
    without: dict = {}
    engine.process([events[i] for i in (0, 1, 3, 4)], without, at("p", 0, 1, 3, 4))
    assert orjson.dumps(states, option=orjson.OPT_SORT_KEYS) == orjson.dumps(without, option=orjson.OPT_SORT_KEYS)


def test_a_batch_that_fails_starts_again_from_the_stored_state(policy):
    from pipeline.core.engine import Engine
    from pipeline.core.events import decode

    engine = Engine(policy, _FailsOn())
    first = [decode(orjson.dumps(e)) for e in (configured(), message("早上好"))]
    stored: dict = {}
    engine.process(first, stored, at("p", 0, 1))
    snapshot = orjson.dumps(stored["g-1"])
    states = {"g-1": stored["g-1"]}  # the batch below changes this dict before it fails
    later = [decode(orjson.dumps(e)) for e in (message("报表发我"), message("触发缺陷"))]
    outputs, set_aside = engine.process_setting_aside(later, states, at("p", 2, 3), lambda group_id: orjson.loads(snapshot))
    assert [i for i, _ in set_aside] == [1]
    assert [e["event_id"] for role, e in outputs if role == "verdicts"] == [later[0].event_id]
    assert states["g-1"]["applied"] == {"p": 2} and later[0].event_id in states["g-1"]["recent_ids"]


def test_check_puts_an_event_the_core_fails_on_in_the_dlq(policy):
    from pipeline.core.engine import Engine

    engine = Engine(policy, _FailsOn())
    lines = [orjson.dumps(e) for e in (configured(), message("触发缺陷"), message("报表发我"))]
    out = list(run(engine, lines))
    dlq = [e for role, e in out if role == "dlq"]
    assert len(dlq) == 1 and dlq[0]["reason"].startswith("internal error") and dlq[0]["source"]["offset"] == 2
    assert [e["kind"] for role, e in out if role == "verdicts"] == ["verdict"]


def test_a_group_name_from_the_platform_names_the_group_and_changes_nothing_else(policy):
    from pipeline.core.engine import Engine

    engine = Engine(policy, FixedClassifier({"加微信买彩票": "illegal"}))
    events = [configured(admins=("u-admin",), owners=("u-owner",)),
              {**message("报表发我"), "group_name": "阿波罗项目组"}, message("加微信买彩票")]
    out = outputs(engine, *events)
    escalation = next(e for e in out if e["kind"] == "escalation")
    violation = next(e for e in out if e["kind"] == "violation")
    assert escalation["group_name"] == violation["group_name"] == "阿波罗项目组"
    assert escalation["recipients"]["admins"] == ["u-admin"]
    # without a name from anywhere, outputs carry none
    unnamed = outputs(engine, message("加微信买彩票", group="g-x"))
    assert all("group_name" not in e for e in unnamed)


def _check(*args: str, env: dict | None = None, stdin: bytes = b"") -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pipeline.cli", "check", *args], input=stdin, capture_output=True,
                          env={**os.environ, **(env or {})})


def test_check_reads_the_policy_of_moderation_policy_as_the_worker_does(tmp_path):
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: 1\nrules: {X9: {}}\n")
    done = _check("-", env={"MODERATION_POLICY": str(broken)})
    assert done.returncode == 2 and b"unknown rule id 'X9'" in done.stderr and str(broken).encode() in done.stderr


def test_check_says_how_many_lines_it_rejected_and_fails_with_strict():
    lines = b"{broken\n" + orjson.dumps(message("报表发我")) + b"\n" + b"[1]\n"
    done = _check("-", stdin=lines)
    assert done.returncode == 0 and b"2 input line(s) rejected" in done.stderr and b"first at line 1" in done.stderr
    assert _check("-", "--strict", stdin=lines).returncode == 3
    assert _check("-", "--strict", stdin=orjson.dumps(message("好的"))).returncode == 0


def test_a_damaged_model_file_is_a_clear_error_not_a_traceback(tmp_path):
    from pipeline.config import PROJECT_ROOT

    model = tmp_path / "classifier.joblib"
    data = (PROJECT_ROOT / "models" / "classifier.joblib").read_bytes()
    model.write_bytes(data[:100] + b"\x17" * 300 + data[400:])
    policy = tmp_path / "policy.yaml"
    policy.write_text((PROJECT_ROOT / "config" / "policy.yaml").read_text().replace("models/classifier.joblib", str(model)))
    done = _check("-", "--policy", str(policy))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"cannot be read as a classifier artifact" in done.stderr and b"moderation train" in done.stderr
