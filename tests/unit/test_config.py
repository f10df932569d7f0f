"""The policy file: the shipped one loads; a wrong type, an unknown key or an impossible value is a
ConfigError naming the key and the line of the file."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import CONFIG_DIR, ConfigError, Policy, load_policy, parse_model

SHIPPED = (CONFIG_DIR / "policy.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def error_for(old: str, new: str) -> tuple[str, str]:
    assert old in SHIPPED, old
    text = SHIPPED.replace(old, new, 1)
    with pytest.raises(ConfigError) as info:
        parse_model(Policy, text, "policy.yaml")
    return str(info.value), text


def test_shipped_policy_loads_with_every_key_the_rules_use():
    policy = load_policy()
    assert policy.members.inactive_days > 0 and policy.members.departed_grace_hours >= 0
    assert "pdf" in policy.files.allowed_extensions and policy.files.blocked_sha256
    assert policy.publishing.flooding.window_seconds > 0 and policy.publishing.max_message_chars > 0
    assert policy.escalation.window_days > 0 and policy.escalation.repeat_grace_minutes >= 0
    assert policy.work_hours.use_holiday_calendar and policy.directory.departments
    assert policy.severity("D1") == policy.severity("D2") == "severe"


@pytest.mark.parametrize("old,new,key,needle", [
    ("inactive_days: 30", "inactive_days: thirty", "members.inactive_days", "inactive_days:"),
    ("require_folder: true", "require_folder: [yes]", "files.require_folder", "require_folder:"),
    ("window_days: 30", "window_days: 1.5", "escalation.window_days", "window_days:"),
])
def test_wrong_type_names_key_and_line(old, new, key, needle):
    message, text = error_for(old, new)
    assert f"'{key}'" in message and f"policy.yaml:{line_of(text, needle)}:" in message


@pytest.mark.parametrize("old,new,key,needle", [
    ("  backup_grace_days: 7", "  backup_grace_days: 7\n  retention_years: 3", "files.retention_years",
     "retention_years"),
    ("members:\n", "members:\n  inactive_weeks: 4\n", "members.inactive_weeks", "inactive_weeks"),
    ("  P10: {severity: info}", "  P12: {severity: info}", "rules.P12", "P12:"),
])
def test_unknown_key_names_key_and_line(old, new, key, needle):
    message, text = error_for(old, new)
    assert key in message and f"policy.yaml:{line_of(text, needle)}:" in message


@pytest.mark.parametrize("old,new,key,needle", [
    ("inactive_days: 30", "inactive_days: 0", "members.inactive_days", "inactive_days:"),
    ("departed_grace_hours: 24", "departed_grace_hours: -1", "members.departed_grace_hours", "departed_grace_hours"),
    ("retention_days: 365", "retention_days: -5", "files.retention_days", "retention_days:"),
    ("similarity: 0.85", "similarity: 1.5", "publishing.flooding.similarity", "flooding: {"),
    ("  D1: {severity: severe}", "  D1: {severity: warning}", "rules.D1.severity", "D1:"),
    ("  P2: {severity: warning}", "  P2: {severity: fatal}", "rules.P2.severity", "P2:"),
    ("end: \"18:00\"", "end: \"08:00\"", "work_hours", "work_hours:"),
    ("allowed_extensions: [pdf,", "allowed_extensions: [.pdf,", "files.allowed_extensions", "allowed_extensions"),
    ("    - 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
     "    - not-a-hash", "files.blocked_sha256", "blocked_sha256"),
    ("removals_before_supervisor: 2", "removals_before_supervisor: 0", "escalation.removals_before_supervisor",
     "removals_before_supervisor:"),
])
def test_impossible_value_names_key_and_line(old, new, key, needle):
    message, text = error_for(old, new)
    assert f"'{key}'" in message and f"policy.yaml:{line_of(text, needle)}:" in message


def test_bad_regex_in_file_name_pattern():
    message, _ = error_for("name_pattern: '^.+", "name_pattern: '(^.+")
    assert "files.name_pattern" in message


def test_load_policy_names_the_file(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text(SHIPPED.replace("inactive_days: 30", "inactive_days: -1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: key 'members.inactive_days'"):
        load_policy(path)


def test_not_yaml_names_the_line():
    with pytest.raises(ConfigError, match=r"policy.yaml:\d+: not valid YAML"):
        parse_model(Policy, "version: 1\nrules: {M1: [\n", "policy.yaml")


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    """YAML keeps the last of two equal keys without a word: a merge once left two `review:` sections
    in the policy, and the first (the chosen thresholds) was silently ignored."""
    from pipeline.config import PROJECT_ROOT, ConfigError, load_policy

    text = (PROJECT_ROOT / "config" / "policy.yaml").read_text()
    doubled = tmp_path / "policy.yaml"
    doubled.write_text(text.replace("  warning_notices: true", "  warning_notices: true\n  warning_notices: false"))
    with pytest.raises(ConfigError, match=r"policy.yaml:\d+: key 'content.warning_notices' is given twice \(also on line \d+\)"):
        load_policy(doubled)
