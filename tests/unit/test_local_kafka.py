"""The local broker and cluster helpers (pipeline/kafka/local.py) without starting Kafka."""
from __future__ import annotations

import os
import sys
import signal
import subprocess
import time

from pipeline.kafka.local import LocalBroker, LocalCluster, min_insync


def test_a_killed_node_that_its_parent_has_not_collected_counts_as_stopped(tmp_path):
    """A node this process started and then killed stays a zombie until collected: it must not
    count as running, or it would never be started again."""
    node = LocalBroker(port=19599, controller_port=19598, home=tmp_path)
    child = _fake_node(node)
    node.pid_file.write_text(str(child.pid))
    assert node.pid() == child.pid
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.3)
    assert node.pid() is None
    child.wait(1)


def test_cluster_nodes_take_every_other_port_from_the_first_and_share_one_quorum(tmp_path):
    cluster = LocalCluster(nodes=3, port=9092, home=tmp_path)
    members = cluster.members
    assert [m.port for m in members] == [9092, 9094, 9096]
    assert [m.controller_port for m in members] == [9093, 9095, 9097]
    assert cluster.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    voters = {m.properties()["controller.quorum.voters"] for m in members}
    assert voters == {"1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"}
    assert [m.properties()["node.id"] for m in members] == ["1", "2", "3"]
    assert {m.properties()["log.dirs"] for m in members} == {str(tmp_path / f"node-{i}" / "data") for i in (1, 2, 3)}
    props = members[0].properties()
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
    assert props["offsets.topic.replication.factor"] == "3" and props["transaction.state.log.min.isr"] == "2"
    # the single node keeps its own folder and one copy of everything
    single = LocalBroker.from_env().properties()
    assert single["controller.quorum.voters"] == f"1@127.0.0.1:{LocalBroker.from_env().controller_port}"
    assert single["offsets.topic.replication.factor"] == "1" and "cluster" not in single["log.dirs"]


def test_the_active_controller_is_the_leader_of_the_newest_epoch_a_running_node_saw(tmp_path):
    cluster = LocalCluster(nodes=3, port=19590, home=tmp_path)
    children = []
    for member, (leader, epoch) in zip(cluster.members, [(1, 3), (2, 5), (-1, 6)]):
        state = member.home / "data" / "__cluster_metadata-0"
        state.mkdir(parents=True)
        (state / "quorum-state").write_text(f'{{"leaderId":{leader},"leaderEpoch":{epoch},"votedId":-1}}')
        children.append(_fake_node(member))
        member.pid_file.write_text(str(children[-1].pid))
    try:
        assert cluster.controller() == 2
        children[1].kill()
        children[1].wait()
        assert cluster.controller() == 1   # node 2's record is not a running node's
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_writes_must_reach_all_but_one_copy_and_at_most_two():
    assert [min_insync(n) for n in (1, 2, 3, 5)] == [1, 1, 2, 2]


def test_replication_follows_the_cluster_unless_set():
    from pipeline.config import load_settings
    from pipeline.kafka.admin import replication_for

    auto = load_settings(env={})
    assert [(r.factor, r.min_insync) for r in (replication_for(auto, n) for n in (1, 2, 3, 5))] == \
        [(1, 1), (2, 1), (3, 2), (3, 2)]
    fixed = load_settings(env={"MODERATION_REPLICATION_FACTOR": "2"})
    assert (replication_for(fixed, 5).factor, replication_for(fixed, 5).min_insync) == (2, 1)
    assert load_settings(env={"MODERATION_REPLICATION_FACTOR": "auto"}).replication_factor is None


def test_topics_are_not_created_on_a_guess_when_the_cluster_does_not_answer():
    import asyncio

    import pytest

    from pipeline.config import load_settings
    from pipeline.kafka.admin import BrokerUnavailable, cluster_replication

    nowhere = load_settings(env={"MODERATION_BOOTSTRAP": "127.0.0.1:19599"})
    with pytest.raises(BrokerUnavailable, match="how many brokers"):
        asyncio.run(cluster_replication(nowhere))
    assert asyncio.run(cluster_replication(load_settings(env={"MODERATION_BOOTSTRAP": "127.0.0.1:19599",
                                                              "MODERATION_REPLICATION_FACTOR": "3"}))).factor == 3


def _fake_node(node: LocalBroker) -> subprocess.Popen:
    """A process that looks like the node's broker to `pid()`: its command line names kafka.Kafka
    and the node's properties file, as the node's java process does."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "kafka.Kafka",
                             str(node.home / "server.properties")])


def test_a_pid_file_left_behind_does_not_make_another_process_the_broker(tmp_path):
    """After a reboot (or a node killed with its pid file left), the pid in the file may belong to
    an unrelated process: the node must count as stopped, `up` must start it, and `down` must not
    signal that process."""
    node = LocalBroker(port=21590, controller_port=21591, home=tmp_path)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        node.pid_file.write_text(str(stranger.pid))
        assert node.pid() is None
        assert node.down() == "not running"
        time.sleep(0.2)
        assert stranger.poll() is None                       # not signalled
        assert "down" in node.status()
    finally:
        stranger.kill()
        stranger.wait()
    own = _fake_node(node)
    try:
        node.pid_file.write_text(str(own.pid))
        assert node.pid() == own.pid
    finally:
        own.kill()
        own.wait()


def test_a_cluster_whose_port_is_taken_starts_no_node_and_says_which_port(tmp_path):
    """Another process on a later node's port (client or controller): nothing starts (before, the
    first node was left running alone, and the next `kafka status` and `kafka up` took the folders
    made so far for a 1-node cluster)."""
    import socket

    import pytest

    from pipeline.kafka.local import BrokerError

    cluster = LocalCluster(nodes=3, port=21200, home=tmp_path)
    for taken in (21202, 21205):
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", taken))
            other.listen()
            try:
                with pytest.raises(BrokerError, match=f"{taken}"):
                    cluster.up(timeout=20)
                assert cluster.running() == []
            finally:
                cluster.down()
        assert sorted(p.name for p in tmp_path.glob("node-*")) == ["node-1", "node-2", "node-3"]


def test_status_and_down_say_so_when_another_process_answers_on_the_port(tmp_path):
    """A broker started from another checkout (its own pid file) answers on the port: status said
    'down' while `kafka up` said 'already up'."""
    import socket

    node = LocalBroker(port=21400, controller_port=21401, home=tmp_path)
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 21400))
        other.listen()
        for said in (node.status(), node.down()):
            assert "not started from" in said and str(tmp_path) in said and "127.0.0.1:21400" in said
    assert node.status().startswith("down")


def test_up_with_another_number_of_nodes_than_the_running_cluster_is_refused(tmp_path, monkeypatch):
    """A 3-node cluster runs; `kafka up --nodes 5` started nodes 4 and 5 with a 5-voter quorum the
    running three do not have, waited two minutes for a cluster that cannot form, and left five
    node folders, so `status` spoke of 5 nodes."""
    import pytest

    from pipeline.kafka import local
    from pipeline.kafka.local import BrokerError, command

    monkeypatch.setenv("MODERATION_KAFKA_PORT", "21500")
    monkeypatch.setenv("MODERATION_KAFKA_CLUSTER_HOME", str(tmp_path / "cluster"))
    monkeypatch.setenv("MODERATION_KAFKA_HOME", str(tmp_path / "single"))
    cluster = LocalCluster(nodes=3, port=21500, home=tmp_path / "cluster")
    running = []
    for member in cluster.members:
        member.home.mkdir(parents=True)
        running.append(_fake_node(member))
        member.pid_file.write_text(str(running[-1].pid))
    (cluster.home / "cluster.id").write_text("x")
    cluster.members[0]._write_config()              # as started: its quorum names the three
    (cluster.home / "node-4").mkdir()               # a folder left from a larger cluster once

    def launch(self, quiet=False):
        raise AssertionError(f"node {self.node_id} started")

    monkeypatch.setattr(local.LocalBroker, "launch", launch)
    try:
        with pytest.raises(BrokerError, match="a 3-node cluster runs"):
            command("up", nodes=5)
        assert not (cluster.home / "node-5").exists()
        assert LocalCluster.from_env().nodes == 3
    finally:
        for child in running:
            child.kill()
            child.wait()
