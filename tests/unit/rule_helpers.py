"""Shared by the rule tests: a classifier whose verdicts (label, sub-label, findings) are chosen per
text, and short ways to run events through the offline core."""
from __future__ import annotations

from typing import Sequence

from pipeline.classify import LABELS, Finding, Verdict
from pipeline.core.engine import Engine
from pipeline.text.redact import excerpt
from tests.conftest import outputs


class ChosenClassifier:
    """`{text: label}` or `{text: (label, sub_label, sensitive_items)}`; anything else is `work`.
    Verdicts are in the act band, but those of the texts in `held`: in the review band."""

    def __init__(self, chosen: dict[str, str | tuple], held: frozenset[str] = frozenset()):
        self.chosen = chosen
        self.held = held

    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        out = []
        for text in texts:
            label, sub, items = (self.chosen.get(text, "work"), None, 0)
            if isinstance(label, tuple):
                label, sub, items = (*label, 0)[:3]
            scores = {k: (0.94 if k == label else 0.01) for k in LABELS}
            findings = (Finding("pii:mobile", "mobile number", items),) if items else ()
            out.append(Verdict(label, scores, (f"chosen {label}",), excerpt(text), sub, findings,
                               "pass" if label == "work" else "review" if text in self.held else "act"))
        return out


def engine_for(policy, chosen: dict | None = None, held: set[str] | frozenset[str] = frozenset()) -> Engine:
    return Engine(policy, ChosenClassifier(chosen or {}, frozenset(held)))


def violations(engine: Engine, *events: dict, rule: str | None = None) -> list[dict]:
    return [v for v in outputs(engine, *events, role="violations") if rule is None or v["rule"] == rule]


def escalations(engine: Engine, *events: dict) -> list[dict]:
    return outputs(engine, *events, role="escalations")


def levels(engine: Engine, *events: dict) -> list[tuple[str, str]]:
    return [(e["rule"], e["level"]) for e in escalations(engine, *events)]
