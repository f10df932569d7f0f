"""Masking of personal data and secrets in any text that leaves the pipeline.

The single redaction used everywhere: it is backed by the detectors of pipeline.text.detect, so
whatever the classifier counts as personal data or a secret is also what gets masked.
"""
from __future__ import annotations

import re

from pipeline.text.detect import detect, mask_original
from pipeline.text.normalize import fold

# The detectors count a resident id only with a valid check digit (so order numbers are not
# personal data). For masking that is too strict: a real id typed with one wrong digit is still
# someone's id. Anything shaped like one (region, a plausible birth date, sequence) is masked too.
_ID_SHAPED = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                        r"(?![0-9A-Za-z])")


def redact(text: str) -> str:
    """`text` with resident ids, bank cards, mobiles, e-mails, addresses, passwords, keys, tokens
    and connection-string passwords masked (e.g. 138****5678)."""
    if not text:
        return text
    f = fold(text)
    spans = detect(f)
    if any(s.mask for s in spans):
        text = mask_original(f, spans)
    return _ID_SHAPED.sub(lambda m: m.group(0)[0] + "*" * 16 + m.group(0)[-1], text)


def excerpt(text: str, limit: int = 120) -> str:
    """A redacted, shortened excerpt for output events."""
    masked = redact(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"
