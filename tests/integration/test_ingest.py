"""`ingest`, `produce` and `roster` on the real broker: records in, the input topic holds exactly the
accepted events keyed by group, bad lines are reported and skipped, and the worker acts on them."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import orjson

from tests import factory
from tests.integration.harness import ROOT, read_from_start

DATA = ROOT / "tests" / "data" / "connectors"


def moderation(deployment, *args: str, stdin: bytes | None = None, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, env=env or deployment.env,
                          input=stdin, capture_output=True, timeout=120)


def input_records(deployment, expect: int) -> list:
    """Every record of the deployment's input topic: (key, event)."""
    settings = deployment.settings
    got = asyncio.run(read_from_start(settings, settings.topics.input, range(deployment.partitions), expect,
                                      timeout=20))
    return [(m.key, orjson.loads(m.value)) for messages in got.values() for m in messages]


def test_ingest_produces_converted_records_keyed_by_group(deployment):
    deployment.start_worker()
    result = moderation(deployment, "ingest", "--from", "slack", str(DATA / "slack_events.jsonl"))
    stderr = result.stderr.decode()
    assert result.returncode == 3, stderr          # the file has one broken record on purpose
    assert "line 7: error: missing field 'event.user'" in stderr
    assert f"3 events written to {deployment.settings.topics.input} (acknowledged by the broker)" in stderr

    got = deployment.collect(expect=2, roles=("verdicts", "dlq"), settle=2.0)
    assert got["dlq"] == []
    verdicts = {v["message_id"]: v for v in got["verdicts"]}
    assert set(verdicts) == {"slack-C0FIN01-1772414100.000200", "slack-C0FIN01-1772414700.000300"}
    assert all(v["group_id"] == "C0FIN01" for v in verdicts.values())


def test_produce_lands_the_valid_events_keyed_by_group_and_reports_the_rest(deployment):
    events = [factory.configured("g-fin", admins=("u-admin",)), factory.message("报表今天发我", group="g-fin"),
              factory.message("收到", group="g-ops")]
    lines = [orjson.dumps(events[0]), b'{"event_id": "x", "type": "nope"}', orjson.dumps(events[1]),
             orjson.dumps({**events[2], "ts": "NaN"}), orjson.dumps(events[2])]
    result = moderation(deployment, "produce", "-", stdin=b"\n".join(lines))
    stderr = result.stderr.decode()
    assert result.returncode == 3, stderr
    assert "-: line 2: error: unknown event type 'nope'" in stderr
    assert "-: line 4: error: field 'ts': cannot parse 'NaN'" in stderr
    assert f"3 events written to {deployment.settings.topics.input} (acknowledged by the broker)" in stderr

    records = input_records(deployment, expect=3)
    assert sorted((key, event["event_id"]) for key, event in records) == sorted(
        (e["group_id"].encode(), e["event_id"]) for e in events)
    assert all(event == next(e for e in events if e["event_id"] == event["event_id"]) for _, event in records)


def test_produce_and_ingest_say_so_when_the_broker_does_not_answer(deployment):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**deployment.env, "MODERATION_BOOTSTRAP": f"127.0.0.1:{port}"}
    result = moderation(deployment, "produce", "-", "--wait", "1", stdin=orjson.dumps(factory.tick()), env=env)
    assert result.returncode == 1
    assert b"did not answer within 1s" in result.stderr and b"moderation kafka up" in result.stderr
    result = moderation(deployment, "ingest", "--from", "slack", "-", "--wait", "1",
                        stdin=(DATA / "slack_events.jsonl").read_bytes(), env=env)
    assert result.returncode == 1 and b"did not answer" in result.stderr
