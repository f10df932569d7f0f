"""`moderation demo` keeps to its own topics and to this machine unless told (issue 24, item 2).
The demo on a broker with a user's topics: tests/integration/test_demo.py."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import TOPIC_NAMES, load_settings
from pipeline.devtools.demo import namespace, remote_hosts, topic_env, worker_env


@pytest.mark.parametrize("bootstrap, remote", [
    ("127.0.0.1:9092", []), ("localhost:9092", []), ("[::1]:9092", []), ("127.0.0.2:19092", []),
    ("LOCALHOST:9092,127.0.0.1:9093", []),
    ("10.0.0.5:9092", ["10.0.0.5:9092"]), ("kafka:9092", ["kafka:9092"]),
    ("127.0.0.1:9092, kafka.example.com:9093", ["kafka.example.com:9093"]),
    ("[2001:db8::1]:9092", ["[2001:db8::1]:9092"]), ("localhost.evil.com:9092", ["localhost.evil.com:9092"]),
])
def test_remote_servers_are_told_apart_from_this_machine(bootstrap, remote):
    assert remote_hosts(bootstrap) == remote


@pytest.fixture
def no_broker(monkeypatch):
    """The demo must not get as far as a broker (nor, on older code, touch the shared one)."""
    import pipeline.devtools.demo as demo

    def refuse(*args, **kwargs):
        raise AssertionError("the demo went on to a broker")

    monkeypatch.setattr(demo.LocalBroker, "up", refuse)
    monkeypatch.setattr(demo, "delete_topics", refuse)


def test_a_remote_broker_is_refused_without_allow_remote(capsys, monkeypatch, no_broker):
    monkeypatch.delenv("MODERATION_BOOTSTRAP", raising=False)
    started = time.monotonic()
    assert main(["demo", "--bootstrap", "10.20.30.40:9092"]) == 2
    err = capsys.readouterr().err
    assert "10.20.30.40:9092" in err and "--allow-remote" in err and namespace() in err
    assert time.monotonic() - started < 5  # refused before any connection


def test_a_remote_broker_in_the_environment_is_refused_too(capsys, monkeypatch, no_broker):
    monkeypatch.setenv("MODERATION_BOOTSTRAP", "kafka.example.com:9092")
    assert main(["demo"]) == 2
    assert "unset MODERATION_BOOTSTRAP" in capsys.readouterr().err


def test_everything_the_demo_creates_is_under_its_own_prefix_and_its_worker_is_event_time_only():
    env = worker_env("127.0.0.1:9092", "20261206120000")
    settings = load_settings(env=env)
    prefix = namespace()
    assert prefix.startswith("demo-") and prefix.endswith(".")
    names = list(settings.topics.model_dump().values())  # inputs, outputs and internal topics alike
    assert len(names) == len(TOPIC_NAMES) and all(name.startswith(prefix) for name in names)
    assert settings.app_id.startswith(prefix)  # Faust's changelog and assignor topics start with it
    assert settings.live_tick_seconds == 0
    assert topic_env() == {k: v for k, v in env.items() if k.startswith("MODERATION_TOPIC_")}
    # Another checkout has another prefix: two checkouts' demos on one broker keep apart.
    assert namespace(Path("/elsewhere/moderation")) != prefix
