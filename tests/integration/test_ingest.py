"""`ingest` on the real broker: platform records in, the worker's verdicts out for each converted message."""
from __future__ import annotations

import subprocess
import sys

from tests.integration.harness import ROOT

DATA = ROOT / "tests" / "data" / "connectors"


def test_ingest_produces_converted_records_keyed_by_group(deployment):
    deployment.start_worker()
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", "--from", "slack",
                             str(DATA / "slack_events.jsonl")], cwd=ROOT, env=deployment.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr          # the file has one broken record on purpose
    assert "line 7: error: missing field 'event.user'" in result.stderr
    assert f"3 events written to {deployment.settings.topics.input} (acknowledged by the broker)" in result.stderr

    got = deployment.collect(expect=2, roles=("verdicts", "dlq"), settle=2.0)
    assert got["dlq"] == []
    verdicts = {v["message_id"]: v for v in got["verdicts"]}
    assert set(verdicts) == {"slack-C0FIN01-1772414100.000200", "slack-C0FIN01-1772414700.000300"}
    assert all(v["group_id"] == "C0FIN01" for v in verdicts.values())
