"""The worker's log: what an operator needs, and none of the libraries' chatter.

At the default level (`moderation worker` without `--loglevel`) the log shows the pipeline's own
lines (the rules core it runs, the live clock, the partitions assigned to it, a partition read from
the log start, ...), Faust's worker lines (starting, ready, the signal that stops it, stopping), and
every warning and error from anywhere. The libraries' progress lines at info (Faust's services
starting and stopping one by one, its recovery tables, aiokafka's group protocol) come with
`--loglevel info`; `debug` shows everything, known noise included.

Known noise is filtered at the logger that writes it, by its exact message, at every level but
debug:
- aiokafka logs `Group Coordinator Request failed: ...` at ERROR each time it retries finding the
  consumer group's coordinator (every 100 ms or so), and `Marking the coordinator dead` when it
  lost it. A freshly started broker, or one creating its offsets topic for the first group, has
  none for a few seconds, so the first line of a new deployment's log was an error. These are only
  shown, as one warning, once the coordinator has been missing for COORDINATOR_GRACE_SECONDS, and
  then once per that time.
- aiokafka's `Heartbeat failed for group ... because it is rebalancing` (a warning) comes with every
  worker that joins or leaves: the worker's own `partitions assigned` line says what changed.

Faust's progress spinner writes cursor codes to stdout; it is off when stdout is not a terminal
(a file, a pipe, a container's log), whatever the level.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from faust.worker import Worker as FaustWorker

LIBRARIES = ("faust", "mode", "aiokafka")
# Loggers named after our modules that only carry Faust's service lines ("[^-App]: Starting..."):
# the App and Consumer classes are defined there, and mode names a service's logger after its module.
FAUST_SERVICES_HERE = ("pipeline.worker.app", "pipeline.worker.transport")
# Faust's worker lines an operator does not need (the worker also says Starting, Ready, Stopping).
WORKER_CHATTER = frozenset({"[^Worker]: Gathering service tasks...", "[^Worker]: Gathering all futures...",
                            "[^Worker]: Closing event loop"})
COORDINATOR_GRACE_SECONDS = 30.0


class WorkerChatter(logging.Filter):
    """Drops Faust's worker lines listed in WORKER_CHATTER."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in WORKER_CHATTER


class CoordinatorRetries(logging.Filter):
    """aiokafka's lines while it looks for the consumer group's coordinator (`Group Coordinator
    Request failed` with a retriable error, `Marking the coordinator dead`): dropped while the
    coordinator has been missing for less than `grace` seconds; after that one warning per `grace`
    seconds saying for how long. Other records pass as they are."""

    FAILED = "Group Coordinator Request failed: %s"
    DEAD = "Marking the coordinator dead (node %s)for group %s."

    def __init__(self, grace: float = COORDINATOR_GRACE_SECONDS, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.grace = grace
        self.clock = clock
        self.first: float | None = None   # the first line of the current stretch without a coordinator
        self.last: float | None = None    # the latest
        self.shown: float | None = None   # when the stretch was last reported
        self.why: object = None

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == self.FAILED and args and getattr(args[0], "retriable", False):
            self.why = args[0]
        elif record.msg != self.DEAD:
            return True
        now = self.clock()
        if self.last is None or now - self.last > self.grace:
            self.first, self.shown = now, None  # after a quiet stretch: a new one
        self.last = now
        assert self.first is not None
        if now - self.first < self.grace or (self.shown is not None and now - self.shown < self.grace):
            return False
        self.shown = now
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.msg = "no Kafka group coordinator for %.0fs (%s); still trying"
        record.args = (now - self.first, self.why or "marked dead")
        return True


class RebalanceHeartbeats(logging.Filter):
    """aiokafka's warning that a heartbeat met a rebalance: the group protocol at work whenever a
    worker joins or leaves (the worker logs the partitions it is assigned after each rebalance)."""

    MESSAGE = "Heartbeat failed for group %s because it is rebalancing"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self.MESSAGE


def configure(level: int, operator_view: bool) -> None:
    """Levels and filters of the worker's loggers, once Faust has set up the root logger."""
    if level > logging.DEBUG:
        coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
        _add_once(coordinator, CoordinatorRetries())
        _add_once(coordinator, RebalanceHeartbeats())
    if operator_view:
        for name in (*LIBRARIES, *FAUST_SERVICES_HERE):
            logging.getLogger(name).setLevel(logging.WARNING)
        worker = logging.getLogger("faust.worker")
        worker.setLevel(logging.INFO)
        _add_once(worker, WorkerChatter())


def _add_once(logger: logging.Logger, new: logging.Filter) -> None:
    if not any(type(f) is type(new) for f in logger.filters):
        logger.addFilter(new)


class Worker(FaustWorker):
    """Faust's worker with the log above: `loglevel=None` is the operator's default view."""

    def __init__(self, app, loglevel: str | None = None, **kwargs):
        self.operator_view = loglevel is None
        super().__init__(app, loglevel="info" if loglevel is None else loglevel, **kwargs)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        if not _is_terminal(self.stdout):
            self.spinner = None
        super().on_setup_root_logger(logger, level)
        configure(level, self.operator_view)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def partitions_line(partitions, topics) -> str:
    """`chat.events 0-3, moderation.repartition 0,2` for the partitions of `topics` among `partitions`
    (topic partitions), or `none`."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        if tp.topic in topics:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{topic} {_ranges(sorted(by_topic[topic]))}" for topic in topics if topic in by_topic) or "none"


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
