"""docker-compose.yml cannot run here (no Docker engine): check that it says what the code says."""
from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.config import TOPIC_NAMES, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


KAFKA_SERVICES = ("kafka-1", "kafka-2", "kafka-3")


def test_compose_parses_and_has_three_brokers_and_two_workers():
    compose = _compose()
    services = compose["services"]
    assert [name for name in services if name.startswith("kafka")] == list(KAFKA_SERVICES)
    for name in KAFKA_SERVICES:
        assert services[name]["image"].startswith("apache/kafka:3.9")
        assert services[name]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"][:2] == ["moderation", "worker"]
    assert "./config:/app/config:ro" in services["worker"]["volumes"]


def test_compose_names_the_same_topics_and_settings_as_the_code():
    env = _compose()["services"]["worker"]["environment"]
    settings = load_settings()
    for role, default in TOPIC_NAMES.items():
        assert env[f"MODERATION_TOPIC_{role.upper()}"] == default == getattr(settings.topics, role)
    assert int(env["MODERATION_PARTITIONS"]) == settings.partitions
    assert env["MODERATION_APP_ID"] == settings.app_id
    # Every variable the compose file sets is one the code reads.
    from pipeline.config import env_table

    known = {name for name, _ in env_table()} | {"MODERATION_CONFIG_DIR"}
    assert set(env) <= known, set(env) - known


def test_compose_dashboard_reads_the_same_topics_and_is_published_on_loopback_only():
    services = _compose()["services"]
    dashboard = services["dashboard"]
    assert dashboard["command"][:2] == ["moderation", "dashboard"]
    assert dashboard["environment"] == services["worker"]["environment"]
    assert all(port.startswith("127.0.0.1:") for port in dashboard["ports"])


def test_compose_cluster_is_the_shape_of_kafka_up_nodes_3():
    """Three voters, one cluster id, and the replication `moderation kafka up --nodes 3` configures
    (pipeline/kafka/local.py), service by service."""
    from pipeline.kafka.local import LocalCluster

    services = _compose()["services"]
    envs = [services[name]["environment"] for name in KAFKA_SERVICES]
    assert sorted(int(env["KAFKA_NODE_ID"]) for env in envs) == [1, 2, 3]
    assert len({env["CLUSTER_ID"] for env in envs}) == 1
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs}
    assert voters == {",".join(f"{i}@kafka-{i}:9093" for i in (1, 2, 3))}
    for env in envs:
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://kafka-{env['KAFKA_NODE_ID']}:9092"
    ours = LocalCluster(nodes=3, home=ROOT / "var" / "unused").members[0].properties()
    for key in ("default.replication.factor", "min.insync.replicas", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                "auto.create.topics.enable", "group.initial.rebalance.delay.ms"):
        compose_key = "KAFKA_" + key.upper().replace(".", "_")
        assert {str(env[compose_key]).lower() for env in envs} == {ours[key]}, key
    # The clients know every node, and the topics' replication comes from the cluster (3 brokers: 3).
    worker = services["worker"]["environment"]
    assert worker["MODERATION_BOOTSTRAP"].split(",") == [f"{name}:9092" for name in KAFKA_SERVICES]
    assert "MODERATION_REPLICATION_FACTOR" not in worker
    assert load_settings(env={}).replication_factor is None


def test_the_image_leaves_out_every_artifact_not_for_commercial_use():
    """The Dockerfile copies models/; a company runs the image, so an artifact whose card says it is
    not for commercial use must stay out of the build context (.dockerignore)."""
    from fnmatch import fnmatch

    ignore = ROOT / ".dockerignore"
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.startswith("#")] if ignore.exists() else []
    not_commercial = [card.name.removeprefix("MODEL_CARD-").removesuffix(".md") + ".joblib"
                      for card in (ROOT / "models").glob("MODEL_CARD-*.md")
                      if "not for commercial use" in card.read_text(encoding="utf-8")]
    assert not_commercial  # the research artifact is there to be left out
    for name in not_commercial:
        assert any(fnmatch(f"models/{name}", pattern) for pattern in patterns), name
    # and the default, commercially usable artifact goes in
    assert not any(fnmatch("models/classifier.joblib", pattern) for pattern in patterns)
