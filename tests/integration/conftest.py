from __future__ import annotations

import os

import pytest

from pipeline.kafka.local import LocalBroker
from tests.integration.harness import Deployment


def own_port(variable: str, default: int) -> int:
    """A port for a test's own broker: the variable's (or the default) plus 1000 for each pytest-xdist
    worker before this one, so that tests running side by side never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(os.environ.get(variable, str(default))) + 1000 * int(worker.removeprefix("gw") or 0)


def broker_of_its_own(tmp_path, broker: LocalBroker, variable: str, default: int) -> LocalBroker:
    """A broker only this test uses (its port from `own_port`), not started yet."""
    port = own_port(variable, default)
    return LocalBroker(port=port, controller_port=port + 1, home=tmp_path / "kafka", cache=broker.cache)


def running_broker_of_its_own(tmp_path, broker: LocalBroker, variable: str, default: int):
    """`broker_of_its_own`, started, and stopped when the test is done: a fixture's body (`yield from`)."""
    local = broker_of_its_own(tmp_path, broker, variable, default)
    local.up(quiet=True)
    yield local
    local.down()


@pytest.fixture
def own_broker(tmp_path, broker):
    """A broker of the test's own (MODERATION_OUTAGE_PORT), so stopping it disturbs no one."""
    yield from running_broker_of_its_own(tmp_path, broker, "MODERATION_OUTAGE_PORT", 19392)


@pytest.fixture(scope="session")
def broker():
    """The real local Apache Kafka broker; started if it is not up (left running for the next run)."""
    local = LocalBroker.from_env()
    local.up(quiet=True)
    return local


@pytest.fixture
def deployment(broker, tmp_path):
    """Fresh topics and app id on the real broker; workers started by the test are stopped, and its
    topics deleted, after it."""
    d = Deployment(bootstrap=broker.bootstrap, workdir=tmp_path)
    d.create_topics()
    yield d
    d.stop_all()
    d.delete_topics()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
