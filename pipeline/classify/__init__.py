"""Content classification: text → `Verdict`.

`load_classifier(policy)` returns the classifier the worker and `moderation check` share: the
trained model in `policy.content.model_path` (relative to the project root) combined with the
detectors and lexicons of pipeline.text. See docs/CLASSIFIER.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from pipeline.classify.verdict import LABELS, Finding, Verdict

__all__ = ["LABELS", "Finding", "Verdict", "Classifier", "load_classifier", "model_path"]


class Classifier(Protocol):
    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text, in order. Deterministic: the same text gives the same verdict."""


def model_path(policy=None) -> Path:
    from pipeline.config import PROJECT_ROOT

    rel = policy.content.model_path if policy is not None else "models/classifier.joblib"
    p = Path(rel)
    return p if p.is_absolute() else PROJECT_ROOT / p


def load_classifier(policy, path: Path | str | None = None) -> Classifier:
    """The trained classifier (the policy's artifact, or the one at `path`) with the policy's thresholds,
    warning-notice rule and decision bands. Raises ModelError naming the path if the artifact is missing."""
    from pipeline.classify.model import load

    path = model_path(policy) if path is None else path
    if policy is None:
        return load(path)
    review = policy.content.review
    return load(path, dict(policy.content.thresholds), warning_notices=policy.content.warning_notices,
                act=dict(review.act) if review.enabled else None)
