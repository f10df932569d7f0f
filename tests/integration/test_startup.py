"""A broker that is down when a command starts: the worker waits for it, one-shot commands give up
after `--wait` seconds with a message that says what to do (they exited within a second with a
traceback)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factory import configured, message
from tests.integration.harness import Deployment
from tests.integration.conftest import broker_of_its_own

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [["topics"], ["tail", "violations"]])
def test_one_shot_commands_wait_then_say_what_to_do(command):
    env = {**os.environ, "MODERATION_BOOTSTRAP": f"127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", *command, "--wait", "3"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "did not answer within 3s" in done.stderr and "moderation kafka up" in done.stderr
    assert "Traceback" not in done.stderr
    assert "waiting for the Kafka broker" in done.stderr
    print(f"\n{' '.join(command)}: gave up after {took:.1f}s")


def test_a_worker_started_before_its_broker_waits_for_it(broker, tmp_path):
    late = broker_of_its_own(tmp_path, broker, "MODERATION_STARTUP_PORT", 19492)
    deployment = Deployment(bootstrap=late.bootstrap, workdir=tmp_path)
    worker = deployment.start_worker(wait=False)
    try:
        time.sleep(6)
        assert worker.poll() is None, deployment.worker_log()[-2000:]
        assert "waiting for the Kafka broker" in deployment.worker_log()
        late.up(quiet=True)
        deployment.wait_ready(worker, timeout=120)
        deployment.produce([configured(), message("报表今天下班前发我一下")])
        got = deployment.collect(expect=1, roles=("verdicts",), timeout=60)
        assert [v["label"] for v in got["verdicts"]] == ["work"]
    finally:
        deployment.stop_all()
        late.down()
