"""docker-compose.yml cannot run here (no Docker engine): check that it says what the code says."""
from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.config import TOPIC_NAMES, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_parses_and_has_broker_and_two_workers():
    compose = _compose()
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
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
