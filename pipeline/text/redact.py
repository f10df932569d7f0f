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


# --------------------------------------------------------------------------- every output, one pass

# Keys whose string values are structure, not text from the input: ids, times, enums and rule ids.
# Every other string of an output is redacted, so a field added later is masked without anyone
# remembering to (ids are names a platform gives, not text a person wrote).
STRUCTURAL_KEYS = frozenset({
    "kind", "id", "ts", "rule", "level", "ladder", "severity", "label", "sub_label", "schema", "scope", "clock",
    "notice", "on", "due", "opened", "posted", "start", "end", "last_active", "joined", "departed", "shared",
    "closed", "asker", "addressee", "approved_by", "invited_by", "reporter", "poster", "issued_by", "sha256",
    "work_resumes", "decision", "band", "review", "status", "original", "original_b64", "original_sha256",
    "owner_responded", "resolved", "acknowledgements", "violations", "admins", "owners", "supervisors",
    "allowed_approvers", "member_id", "old_label", "new_label",
    # The classifier's reasons are its own vocabulary (detector names, lexicon entries, scores),
    # never the message's text; read as text, `secret:password` was masked as a password's value.
    "reasons",
})
# Subtrees of ids, times and numbers only.
STRUCTURAL_TREES = frozenset({"recipients", "window", "period", "scores", "source", "by_rule", "activity"})
_STRUCTURAL_SUFFIXES = ("_id", "_ids", "_at")
_CACHE_SIZE = 50_000
_seen: dict[str, str] = {}   # text -> its redaction: names and reasons repeat in every output


def redact_output(event: dict) -> dict:
    """Redact, in place, every free-text string of an output event (names, file names, folders,
    titles, destinations, reasons, evidence, excerpts): one pass, from one place."""
    _walk(event)
    return event


def known_redacted(text: str) -> None:
    """`text` is already the output of the redaction (the classifier's excerpt, masked from the
    same detector spans): the output pass need not read it again."""
    _remember(text, text)


def _structural(key) -> bool:
    return key in STRUCTURAL_KEYS or (isinstance(key, str) and key.endswith(_STRUCTURAL_SUFFIXES))


def _walk(node) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                if not _structural(key):
                    node[key] = _redacted(value)
            elif isinstance(value, (dict, list)) and key not in STRUCTURAL_TREES and not _structural(key):
                _walk(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str):
                node[i] = _redacted(value)
            elif isinstance(value, (dict, list)):
                _walk(value)


def _redacted(text: str) -> str:
    done = _seen.get(text)
    if done is None:
        done = redact(text)
        _remember(text, done)
    return done


def _remember(text: str, redacted: str) -> None:
    if len(_seen) >= _CACHE_SIZE:
        _seen.clear()
    _seen[text] = redacted
