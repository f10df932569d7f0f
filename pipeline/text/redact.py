"""Masking of personal data and secrets in any text that leaves the pipeline.

The single redaction used everywhere: it is backed by the detectors of pipeline.text.detect, so
whatever the classifier counts as personal data or a secret is also masked, and more: masking goes
by shape (a resident id with a wrong check digit, a card failing Luhn, a landline), counting does not.
"""
from __future__ import annotations

from pipeline.text.detect import detect, mask_original
from pipeline.text.normalize import fold


def redact(text: str) -> str:
    """`text` with resident ids, bank cards, mobiles, landlines, e-mails, addresses, passwords, keys,
    tokens and connection-string passwords masked (e.g. 138****5678), however they are spelled
    (see docs/CLASSIFIER.md, Detect): masked by shape, so a mistyped id or card is masked too."""
    if not text:
        return text
    f = fold(text)
    spans = detect(f)
    return mask_original(f, spans) if any(s.mask for s in spans) else text


def excerpt(text: str, limit: int = 120) -> str:
    """A redacted, shortened excerpt for output events."""
    masked = redact(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"
