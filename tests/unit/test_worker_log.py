"""The worker log's filters (issue 24, item 6). The real worker's log: tests/integration/test_worker_log.py."""
from __future__ import annotations

import logging
from collections import namedtuple

from aiokafka.errors import GroupCoordinatorNotAvailableError, GroupAuthorizationFailedError

from pipeline.worker.log import CoordinatorRetries, RebalanceHeartbeats, partitions_line

TP = namedtuple("TP", "topic partition")


def record(msg: str, *args, level=logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.group_coordinator", level, __file__, 1, msg, args, None)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_coordinator_missing_for_seconds_is_not_logged_one_missing_for_long_is_one_warning_per_grace():
    clock = Clock()
    f = CoordinatorRetries(grace=30, clock=clock)
    failed = lambda: record(CoordinatorRetries.FAILED, GroupCoordinatorNotAvailableError())  # noqa: E731
    shown = []
    for _ in range(900):          # a retry every 0.1 s for 90 s
        r = failed()
        if f.filter(r):
            shown.append((clock.now, r))
        clock.now += 0.1
    assert [round(at - 1000) for at, _ in shown] == [30, 60]
    first = shown[0][1]
    assert first.levelno == logging.WARNING and first.levelname == "WARNING"
    assert first.getMessage().startswith("no Kafka group coordinator for 30s (")
    # A minute later, a failure or two while the broker restarts: dropped again.
    clock.now += 60
    assert not f.filter(failed())
    assert not f.filter(record(CoordinatorRetries.DEAD, 1, "moderation", level=logging.WARNING))


def test_other_coordinator_lines_pass_untouched():
    f = CoordinatorRetries(grace=30, clock=Clock())
    fatal = record(CoordinatorRetries.FAILED, GroupAuthorizationFailedError())
    assert f.filter(fatal) and fatal.levelno == logging.ERROR
    other = record("Heartbeat session expired - marking coordinator dead")
    assert f.filter(other) and other.getMessage() == "Heartbeat session expired - marking coordinator dead"
    assert not RebalanceHeartbeats().filter(record(RebalanceHeartbeats.MESSAGE, "moderation", level=logging.WARNING))
    assert RebalanceHeartbeats().filter(record("Heartbeat failed: %r", "x"))


def test_partitions_are_named_by_topic_in_ranges():
    tps = [TP("chat.events", p) for p in (0, 1, 2, 5)] + [TP("x-changelog", 1), TP("moderation.repartition", 3)]
    assert partitions_line(tps, ("chat.events", "moderation.repartition")) == \
        "chat.events 0-2,5, moderation.repartition 3"
    assert partitions_line([TP("x-changelog", 1)], ("chat.events",)) == "none"
