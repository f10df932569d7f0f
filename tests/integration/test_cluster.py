"""A 3-node cluster (`moderation kafka up --nodes 3`): topics replicated three ways, and the worker
through the loss of a broker, of the active controller, and of itself.

The cluster is the test's own (ports from MODERATION_CLUSTER_PORT, default 19400: 19400, 19402,
19404 and their controllers one above), so killing its nodes disturbs no one. Events flow at a
steady rate while a node is killed with SIGKILL and brought back; what the worker wrote is compared
with what the offline core computes for the same events (tests/integration/test_reliability.py):
every input with its verdict, every output id one the core gives, every copy of it byte-identical.
The pause in output is printed (docs/RELIABILITY.md has the measured figures).
"""
from __future__ import annotations

import asyncio
import threading
import time

import orjson
import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.devtools.loadgen import generate
from pipeline.kafka.admin import partition_leaders, producer, read_to_end, topic_replication
from pipeline.kafka.local import LocalCluster
from tests.integration.harness import Deployment
from tests.integration.test_reliability import check_complete, expected_outputs, wait_for_outputs
from tests.integration.conftest import own_port

RATE = 150          # events per second, steady
EVENTS = 3000       # 20 s of traffic


@pytest.fixture(scope="module")
def cluster(broker):
    port = own_port("MODERATION_CLUSTER_PORT", 19400)
    # Under var/ rather than pytest's temporary folders, which other pytest sessions on the machine
    # may clean up; started clean, and left for reading after the run.
    local = LocalCluster(nodes=3, port=port, home=PROJECT_ROOT / "var" / f"test-cluster-{port}", cache=broker.cache)
    local.wipe()
    local.up(quiet=True)
    yield local
    local.down()


def rejoined(cluster: LocalCluster, node_id: int, timeout: float = 120.0) -> None:
    if not cluster.formed(timeout):
        node = cluster.node(node_id)
        log = "\n".join(node.log_file.read_text(errors="replace").splitlines()[-30:]) if node.log_file.exists() else ""
        raise AssertionError(f"node {node_id} did not rejoin within {timeout:.0f}s:\n{cluster.status()}\n{log}")


@pytest.fixture
def on_cluster(cluster, tmp_path):
    deployment = Deployment(bootstrap=cluster.bootstrap, workdir=tmp_path)
    deployment.create_topics()
    yield deployment
    deployment.stop_all()
    deployment.delete_topics()


class SteadyProducer(threading.Thread):
    """Produces the events at a fixed rate (acks=all) from its own thread and event loop, so the
    test can kill and start nodes meanwhile."""

    def __init__(self, deployment: Deployment, events: list[dict], rate: float):
        super().__init__(daemon=True)
        self.settings, self.events, self.rate = deployment.settings, events, rate
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    async def _produce(self) -> None:
        p = producer(self.settings, linger_ms=0, request_timeout_ms=60_000)
        await p.start()
        try:
            start, pending = time.monotonic(), []
            for i, event in enumerate(self.events):
                delay = start + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(await p.send(self.settings.topics.input, key=event["group_id"].encode(),
                                            value=orjson.dumps(event)))
            await asyncio.gather(*pending)
        finally:
            await p.stop()


def output_pause(deployment: Deployment, role: str = "verdicts") -> tuple[float, float]:
    """(the longest gap between consecutive outputs, the longest input→output delay), in seconds,
    from the record timestamps of the input and of the outputs."""
    stamps = asyncio.run(_stamps(deployment.settings, [role, "input"]))
    outputs = sorted(stamps[role].values())
    gaps = [b - a for a, b in zip(outputs, outputs[1:])]
    delays = [stamps[role][event_id] - stamps["input"][event_id] for event_id in stamps[role]
              if event_id in stamps["input"]]
    return max(gaps, default=0) / 1000, max(delays, default=0) / 1000


async def _stamps(settings, roles) -> dict[str, dict[str, int]]:
    """For each role's topic: its records' timestamps by event id (the first copy of each)."""
    out: dict[str, dict[str, int]] = {}
    for role in roles:
        seen: dict[str, int] = out.setdefault(role, {})
        await read_to_end(settings, getattr(settings.topics, role),
                          lambda m, seen=seen: seen.setdefault(orjson.loads(m.value).get("event_id"), m.timestamp))
    return out


def most_leading(deployment: Deployment, cluster: LocalCluster) -> int:
    s = deployment.settings
    topics = [s.topics.input, s.topics.verdicts, s.topics.violations, s.topics.escalations, changelog(deployment)]
    counts: dict[int, int] = {}
    for leader in asyncio.run(partition_leaders(s, topics)).values():
        counts[leader] = counts.get(leader, 0) + 1
    return max(sorted(counts), key=counts.get)


def changelog(deployment: Deployment) -> str:
    return f"{deployment.name}-group-state-changelog"


def test_topics_and_the_changelog_are_replicated_three_ways_with_two_in_sync(on_cluster):
    worker = on_cluster.start_worker()
    s = on_cluster.settings
    names = [s.topics.input, s.topics.repartition, *s.topics.outputs().values(), changelog(on_cluster)]
    replication = asyncio.run(topic_replication(s, names))
    assert replication == {name: (3, 2) for name in names}
    assert worker.poll() is None


@pytest.mark.parametrize("lost", ["the broker leading most partitions", "the active controller"])
def test_losing_a_node_while_events_flow_loses_nothing(cluster, on_cluster, engine, lost):
    events = list(generate(EVENTS, groups=30, seed=31))
    expected = expected_outputs(engine, events)
    worker = on_cluster.start_worker()
    steady = SteadyProducer(on_cluster, events, RATE)
    steady.start()
    wait_for_outputs(on_cluster, "verdicts", 300)
    victim = most_leading(on_cluster, cluster) if lost.startswith("the broker") else cluster.controller()
    controller_before = cluster.controller()
    cluster.node(victim).kill()
    killed_at = time.monotonic()
    time.sleep(12)   # longer than the controller's wait for a node's heartbeat (broker.session.timeout.ms, 9 s)
    assert worker.poll() is None, "the worker stopped when a node was lost"
    cluster.node(victim).launch(quiet=True)
    steady.join(timeout=120)
    assert not steady.is_alive() and steady.error is None, f"the producer failed: {steady.error!r}"
    got = on_cluster.collect_ids({r: set(v) for r, v in expected.items()}, timeout=120)
    duplicates = check_complete(got, expected)
    assert worker.poll() is None, "the worker stopped"
    gap, delay = output_pause(on_cluster)
    rejoined(cluster, victim)
    print(f"\nkilled node {victim} ({lost}; controller before {controller_before}, after {cluster.controller()}): "
          f"{len(events)} events at {RATE}/s, all outputs {time.monotonic() - killed_at:.0f}s after the kill; "
          f"longest pause in verdicts {gap:.1f}s, longest input→verdict delay {delay:.1f}s; duplicates {duplicates}")


def test_kill_9_the_worker_on_the_cluster_and_restart(on_cluster, engine):
    events = list(generate(EVENTS, groups=30, seed=32))
    expected = expected_outputs(engine, events)
    first = on_cluster.start_worker()
    steady = SteadyProducer(on_cluster, events, RATE)
    steady.start()
    wait_for_outputs(on_cluster, "verdicts", 300)
    on_cluster.stop_worker(first, kill=True)
    killed_at = time.monotonic()
    on_cluster.start_worker()
    ready = time.monotonic() - killed_at
    steady.join(timeout=120)
    assert steady.error is None, f"the producer failed: {steady.error!r}"
    got = on_cluster.collect_ids({r: set(v) for r, v in expected.items()}, timeout=120)
    duplicates = check_complete(got, expected)
    gap, delay = output_pause(on_cluster)
    print(f"\nworker kill -9 on the cluster: restarted and ready in {ready:.1f}s; longest pause in verdicts "
          f"{gap:.1f}s, longest input→verdict delay {delay:.1f}s; duplicates {duplicates}")


def test_a_node_that_exits_in_start_up_stops_the_others_and_says_why(broker, tmp_path):
    """A node's folder holding another node's data (here, a single node's folder reused as node 3's)
    makes it exit at start: `up` says so with the reason from its log, and the nodes it started are
    stopped (before, nodes 1 and 2 were left running, a quorum that never forms)."""
    from pipeline.kafka.local import BrokerError

    port = own_port("MODERATION_CLUSTER_PORT", 19400) + 10
    local = LocalCluster(nodes=3, port=port, home=tmp_path / "cluster", cache=broker.cache)
    data = local.node(3).home / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("node.id=1\nversion=1\ncluster.id=cO6vfIMyRhq271thY5hZpg\n"
                                          "directory.id=blbY-jFbOfskAb-cQrTNlw\n")
    try:
        with pytest.raises(BrokerError, match="node 3 exited during start-up .*node id 1"):
            local.up(timeout=60, quiet=True)
        assert local.running() == []
    finally:
        local.down()
