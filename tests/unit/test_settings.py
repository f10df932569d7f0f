from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load_settings


def test_environment_overrides_the_file():
    s = load_settings(env={"MODERATION_BOOTSTRAP": "10.1.2.3:9093", "MODERATION_PARTITIONS": "12",
                           "MODERATION_TOPIC_DLQ": "ops.dlq"})
    assert s.bootstrap == "10.1.2.3:9093" and s.partitions == 12 and s.topics.dlq == "ops.dlq"


def test_a_bad_value_names_the_setting():
    with pytest.raises(ConfigError, match="partitions"):
        load_settings(env={"MODERATION_PARTITIONS": "zero"})
    with pytest.raises(ConfigError, match="processing_guarantee"):
        load_settings(env={"MODERATION_PROCESSING_GUARANTEE": "maybe_once"})


def test_unknown_key_in_the_file_names_key_and_line(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("app_id: x\nbootstrap: 127.0.0.1:9092\npartitons: 4\n")
    with pytest.raises(ConfigError, match=r"pipeline.yaml:3: unknown key 'partitons'"):
        load_settings(path, env={})


def test_operations_md_lists_every_environment_variable():
    """OPERATIONS.md's table is where an operator looks: every MODERATION_* setting is in it."""
    from pipeline.config import PROJECT_ROOT, env_table

    text = (PROJECT_ROOT / "docs" / "OPERATIONS.md").read_text()
    missing = [var for var, _ in env_table() if var not in text and not var.startswith("MODERATION_TOPIC_")]
    assert missing == []
