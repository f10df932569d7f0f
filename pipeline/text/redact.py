"""Masking of personal data and secrets in any text that leaves the pipeline.

The single redaction used everywhere: it is backed by the detectors of pipeline.text.detect, so
whatever the classifier counts as personal data or a secret is also what gets masked.
"""
from __future__ import annotations

from pipeline.text.detect import detect, mask_original
from pipeline.text.normalize import fold


def redact(text: str) -> str:
    """`text` with resident ids, bank cards, mobiles, e-mails, addresses, passwords, keys, tokens
    and connection-string passwords masked (e.g. 138****5678)."""
    if not text:
        return text
    f = fold(text)
    spans = detect(f)
    if not any(s.mask for s in spans):
        return text
    return mask_original(f, spans)


def excerpt(text: str, limit: int = 120) -> str:
    """A redacted, shortened excerpt for output events."""
    masked = redact(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"
