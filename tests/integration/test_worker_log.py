"""The worker's log at its default level reads well (issue 24, item 6).

Two real workers at their default level on a freshly started broker of their own (a new broker
has no consumer offsets topic yet, so aiokafka retries finding the group's coordinator: on main the
log's first line was `[ERROR] Group Coordinator Request failed`). The second joins while the first
runs (a rebalance), both process events, both stop. Each log, written to a file as a container's
log is: only log lines, no terminal escape codes, the rules core line, the partitions assigned,
ready, and no known-noise line or library chatter.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.native import stale
from tests.factory import configured, message
from tests.integration.harness import Deployment
from tests.integration.conftest import running_broker_of_its_own

LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[\d+\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ")
NOISE = ("Group Coordinator Request failed", "Marking the coordinator dead", "because it is rebalancing",
         "Stream has not started processing", "Gathering all futures", "Closing event loop")


@pytest.fixture
def fresh_broker(tmp_path, broker):
    yield from running_broker_of_its_own(tmp_path, broker, "MODERATION_FRESH_BROKER_PORT", 19412)


def test_the_default_log_says_what_an_operator_needs_and_nothing_else(fresh_broker, tmp_path):
    deployment = Deployment(bootstrap=fresh_broker.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    try:
        first = deployment.start_worker(loglevel=None)
        deployment.produce([configured("g-1"), message("报表今天下班前发我一下", group="g-1")])
        assert len(deployment.collect(expect=1, roles=("verdicts",), timeout=60)["verdicts"]) == 1
        second = deployment.start_worker(loglevel=None)
        deployment.produce([configured(f"g-{i}") for i in range(2, 20)] +
                           [message("明天的评审会改到下午三点", group=f"g-{i}") for i in range(2, 20)])
        assert len(deployment.collect(expect=19, roles=("verdicts",), timeout=60)["verdicts"]) == 19
        deployment.stop_worker(second)
        deployment.stop_worker(first)
    finally:
        deployment.stop_all()

    # A compiled core older than its source is the one thing to warn about here (pipeline/native.py
    # says so on import, before the worker's log is set up, and the worker again in its log).
    outdated = bool(stale())
    for proc in (first, second):
        raw = Path(proc.log_path).read_bytes()
        text = raw.decode()
        print(f"\n--- {Path(proc.log_path).name}\n{text}")
        assert b"\x1b" not in raw, "terminal escape codes in a log written to a file"
        lines = text.splitlines()
        if outdated:
            assert lines[0].startswith("compiled core was not built from the current ")
            lines = lines[1:]
        assert lines and all(LOG_LINE.match(line) for line in lines), \
            [line for line in lines if not LOG_LINE.match(line)]
        warnings = [line for line in lines if "[WARNING]" in line or "[ERROR]" in line]
        assert warnings == ([line for line in lines if "[WARNING] rules core: interpreted" in line] if outdated else [])
        for noise in NOISE:
            assert noise not in text
        # The libraries' progress lines: Faust's services below the worker, the recovery tables.
        assert not re.search(r"\[\^-", text) and "Topic Partition Set" not in text
        assert re.search(r"\[(INFO|WARNING)\] rules core: (compiled|interpreted) \(pipeline/native.py\)", text)
        assert re.search(r"\[INFO\] partitions assigned: \S+\.chat\.events [0-3]", text)
        assert "[INFO] [^Worker]: Ready" in text
        assert "[INFO] [^Worker]: Stopping..." in text
    # The first worker gave partitions to the second: it says so.
    assert len(re.findall(r"partitions assigned: ", Path(first.log_path).read_text())) >= 2


def test_info_still_shows_the_libraries_progress(deployment):
    worker = deployment.start_worker(loglevel="info")
    deployment.stop_worker(worker)
    text = Path(worker.log_path).read_text()
    assert "[^--Consumer]: Starting..." in text and "Setting newly assigned partitions" in text
    assert "rules core: " in text
