from __future__ import annotations

from typing import Sequence

import orjson
import pytest

from pipeline.classify import LABELS, Verdict, load_classifier
from pipeline.config import load_policy
from pipeline.core.engine import Engine
from pipeline.core.offline import run
from pipeline.text.redact import excerpt


class FixedClassifier:
    """Calls every text `work` unless told otherwise: for rule tests that are not about content."""

    def __init__(self, labels: dict[str, str] | None = None):
        self.labels = labels or {}

    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        out = []
        for text in texts:
            label = self.labels.get(text, "work")
            scores = {k: (0.94 if k == label else 0.01) for k in LABELS}
            out.append(Verdict(label, scores, (f"fixed label {label}",), excerpt(text),
                               band="pass" if label == "work" else "act"))
        return out


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture(scope="session")
def classifier(policy):
    return load_classifier(policy)


@pytest.fixture(scope="session")
def engine(policy, classifier):
    """The real core: policy from config/, the shipped classifier."""
    return Engine(policy, classifier)


@pytest.fixture
def work_engine(policy):
    """The core with a classifier that calls everything `work`."""
    return Engine(policy, FixedClassifier())


def outputs(engine: Engine, *events: dict, role: str | None = None) -> list[dict]:
    """Run events through the offline core; return the output events (of one role if given)."""
    result = run(engine, [orjson.dumps(e) for e in events])
    return [e for r, e in result if role is None or r == role]


def rules_fired(engine: Engine, *events: dict) -> list[str]:
    return [v["rule"] for v in outputs(engine, *events, role="violations")]
