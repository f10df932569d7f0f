"""`ingest`, `produce` and `roster` on the real broker: records in, the input topic holds exactly the
accepted events keyed by group, bad lines are reported and skipped, and the worker acts on them."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import orjson

from tests import factory
from tests.integration.harness import ROOT, Deployment, read_from_start

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


ROSTER = """\
groups:
  - group_id: g-fin
    name: 财务部工作群
    kind: department
    admins: [u-wang, u-li]
    owners: [u-zhang]
  - group_id: g-bad
    name: 坏的一行
    kind: dept
departed:
  - member_id: u-zhao
    groups: all
    reason: 离职
    date: 2026-03-01
"""


def forwarded(group: str, event_id: str) -> dict:
    """A message forwarded outside without approval: D2, severe, escalated to the supervisor and the
    group's admins at once (no classifier involved)."""
    return factory.event("message.forwarded", group, "u-7", factory.at(hours=1), event_id=event_id,
                         message={"id": f"m-{event_id}"}, destination={"id": "ext-1", "external": True},
                         approved_by=None)


def test_roster_import_lands_its_events_and_the_worker_escalates_to_the_imported_admins(deployment, tmp_path):
    roster = tmp_path / "roster.yaml"
    roster.write_text(ROSTER)
    deployment.start_worker()
    result = moderation(deployment, "roster", str(roster), "--at", "2026-03-02T09:00:00+08:00")
    stderr = result.stderr.decode()
    assert result.returncode == 3, stderr
    assert f"{roster}: line 7: error: field 'kind' (line 9): should be one of" in stderr
    assert f"2 events written to {deployment.settings.topics.input} (acknowledged by the broker)" in stderr

    records = input_records(deployment, expect=2)
    assert sorted((key, e["type"]) for key, e in records) == [(b"g-fin", "group.configured"),
                                                              (b"g-fin", "member.departed")]
    configured = next(e for _, e in records if e["type"] == "group.configured")
    assert configured["group"]["admins"] == ["u-wang", "u-li"]

    again = moderation(deployment, "roster", str(roster), "--at", "2026-03-05T09:00:00+08:00")
    assert again.returncode == 3
    ids = sorted(e["event_id"] for _, e in input_records(deployment, expect=4))
    assert ids[0::2] == ids[1::2]                     # the second import repeats the same ids

    # A group the roster configured, and one it did not: the same violation in each.
    deployment.produce([forwarded("g-fin", "fw-1"), forwarded("g-none", "fw-2")])
    got = deployment.collect(expect=4, roles=("violations", "escalations", "dlq"), settle=2.0)
    assert got["dlq"] == []
    escalations = {e["group_id"]: e for e in got["escalations"] if e.get("rule") == "D2"}
    assert escalations["g-fin"]["recipients"]["admins"] == ["u-wang", "u-li"]
    assert escalations["g-none"]["recipients"]["admins"] == []          # what every group got before


def test_the_broker_going_away_mid_import_is_status_1_with_what_was_acknowledged(own_broker, tmp_path):
    deployment = Deployment(bootstrap=own_broker.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    errors = open(tmp_path / "stderr", "w+b")   # not a pipe: a full pipe would block the command
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "produce", "-", "--wait", "10"], cwd=ROOT,
                            env=deployment.env, stdin=subprocess.PIPE, stderr=errors)
    first = [factory.message(f"第{i}条", group=f"g-{i % 5}", event_id=f"a-{i}") for i in range(50)]
    proc.stdin.write(b"".join(orjson.dumps(e) + b"\n" for e in first))
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while deployment.output_count("input") < 50 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert deployment.output_count("input") == 50
    own_broker.down()
    proc.stdin.write(b"".join(orjson.dumps(factory.message("之后", event_id=f"b-{i}")) + b"\n" for i in range(20)))
    proc.stdin.close()
    status = proc.wait(timeout=120)
    stderr = (tmp_path / "stderr").read_text()
    assert status == 1, stderr
    assert "produce: error: could not produce to" in stderr
    assert "70 records: 70 events, 0 skipped, 0 errors" in stderr
    acknowledged = int(stderr.split("produce: ")[-1].split(" of 70 events were acknowledged")[0])
    assert 50 <= acknowledged < 70
    assert "run the same command again" in stderr
    assert len(stderr.splitlines()) <= 5, stderr       # said once, not a reconnect log every 100 ms
