"""The classifier's answer for one message."""
from __future__ import annotations

from dataclasses import dataclass, field

LABELS = ("work", "chitchat", "ad", "rumour", "abuse", "confidential", "illegal")
BANDS = ("pass", "review", "act")


# An act threshold at this value lets no model score act: the label acts on detector decisions only
# (scores are rounded to four decimals, so a model score of 0.99996 would otherwise read 1.0 and act).
DETECTORS_ONLY = 1.0


def band_of(label: str, score: float, act: dict[str, float] | None, decided_by_detector: bool = False) -> str:
    """The decision band of a verdict (R1): `pass` for work; `act` for a detector's decision or a
    score at or above the label's act threshold below 1.0 (or when bands are off: `act` None);
    else `review`."""
    if label == "work":
        return "pass"
    if act is None or decided_by_detector:
        return "act"
    threshold = act.get(label, 0.0)
    return "act" if threshold < DETECTORS_ONLY and score >= threshold else "review"

# How the reason of a verdict the warning-notice rule decided begins (counted by the worker's metrics).
WARNING_NOTICE_REASON = "warning notice"


@dataclass(frozen=True)
class Finding:
    """One thing a detector found: what kind (e.g. 'mobile', 'resident_id', 'lexicon:gambling'),
    a human-readable reason, and how many items."""

    detector: str
    reason: str
    count: int = 1


@dataclass(frozen=True)
class Verdict:
    label: str                      # one of LABELS
    scores: dict[str, float]        # per class, rounded, summing to ~1
    reasons: tuple[str, ...]        # readable: which detector, which words
    excerpt: str                    # redacted: no PII or secret survives
    sub_label: str | None = None    # abuse: vulgar|violent|terror|attack; illegal: gambling|fraud|other
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    # R1: pass (work: no violation), review (a person decides first) or act (escalates at once)
    band: str = "pass"

    @property
    def sensitive_items(self) -> int:
        """Count of personal-data and secret items, for "large leak" severity."""
        return sum(f.count for f in self.findings if f.detector.startswith(("pii:", "secret:")))

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "sub_label": self.sub_label,
            "scores": self.scores,
            "reasons": list(self.reasons),
            "band": self.band,
        }
