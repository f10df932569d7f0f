"""Content classification: text → `Verdict`.

`load_classifier(policy)` returns the classifier the worker and `moderation check` share.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from pipeline.classify.verdict import LABELS, Finding, Verdict

__all__ = ["LABELS", "Finding", "Verdict", "Classifier", "load_classifier"]


class Classifier(Protocol):
    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text, in order. Deterministic: the same text gives the same verdict."""


def load_classifier(policy) -> Classifier:
    from pipeline.classify.keywords import KeywordClassifier

    return KeywordClassifier(policy)
