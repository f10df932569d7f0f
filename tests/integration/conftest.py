from __future__ import annotations

import pytest

from pipeline.kafka.local import LocalBroker
from tests.integration.harness import Deployment


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
