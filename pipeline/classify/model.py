"""The trained classifier: detectors + lexicons + a linear model over hashed character n-grams,
combined into one `Verdict` per message."""
from __future__ import annotations

from collections import Counter, OrderedDict
from pathlib import Path
from typing import Sequence

import joblib
import numpy as np

from pipeline.classify.features import (
    DENSE_NAMES, STRONG, Analysed, TermList, TextFeaturizer, analyse, chunks_by_length, dense_features, row_sums, rowwise_matmul,
    second_level_inputs,
)
from pipeline.classify.verdict import LABELS, WARNING_NOTICE_REASON, Finding, Verdict, band_of
from pipeline.config import ConfigError
from pipeline.text.detect import mask_original

DEFAULT_THRESHOLDS = {"ad": 0.55, "rumour": 0.6, "abuse": 0.55, "confidential": 0.5, "illegal": 0.5, "chitchat": 0.5,
                      "work": 0.0}
_LEX_REASON = {"gambling": "gambling terms", "fraud": "fraud/scam terms", "illegal_other": "illegal goods/services",
               "ad": "promotion terms", "vulgar": "vulgar words", "violent": "violent words", "terror": "terror words",
               "attack": "insults", "discrimination": "discrimination terms", "rumour": "rumour cues", "secret_terms": "company-secret terms"}
_PII_KINDS = ("pii:mobile", "pii:email", "pii:address")


class ModelError(ConfigError, RuntimeError):
    """The model artifact is missing or unusable (a ConfigError, so the CLI prints it cleanly)."""


class Artifact:
    """What `moderation train` writes (a dict pickled with joblib)."""

    def __init__(self, data: dict):
        self.data = data
        self.featurizer: TextFeaturizer = data["featurizer"]
        self.labels: tuple[str, ...] = tuple(data["labels"])
        self.W_text: np.ndarray = data["W_text"]          # (n_features, n_classes) float32
        self.W_dense: np.ndarray = data["W_dense"]        # (n_dense, n_classes)
        self.bias: np.ndarray = data["bias"]              # (n_classes,)
        self.temperature: float = float(data.get("temperature", 1.0))
        # optional second level: specialist heads' logits + main logits -> final logits
        self.stack_A: np.ndarray | None = data.get("stack_A")
        self.stack_length_buckets: bool = bool(data.get("stack_length_buckets", False))
        self.stack_c: np.ndarray | None = data.get("stack_c")
        # optional per-class offsets added to the final logits (chosen on the validation split)
        self.offsets: np.ndarray | None = data.get("offsets")
        # optional dedicated binary heads: {"name", "idf", "w", "b"} (their logits feed the second level)
        self.dedicated: list[dict] = list(data.get("dedicated") or [])
        self._iw = [(h["idf"] * h["w"]).astype(np.float32) for h in self.dedicated]
        # the dense features this artifact was fitted with, by name (an older artifact has fewer
        # lexicon categories), and the term lists it carries itself (`artifact_lex:<name>`, e.g. the
        # SexHateLex terms training kept): matched on the normalised text like the config lexicons
        names = list(data.get("dense_names") or DENSE_NAMES)
        self._dense_cols = np.array([DENSE_NAMES.index(n) for n in names if n in DENSE_NAMES])
        self._carried = [(n, TermList(data["lexicons"][n.split(":", 1)[1]])) for n in names
                         if n.startswith("artifact_lex:")]
        if len(self._dense_cols) + len(self._carried) != len(names):
            unknown = [n for n in names if n not in DENSE_NAMES and not n.startswith("artifact_lex:")]
            raise ValueError(f"dense features this code does not compute: {unknown}")

    @classmethod
    def load(cls, path: Path | str) -> "Artifact":
        path = Path(path)
        if not path.exists():
            raise ModelError(f"classifier model not found at {path}: run `moderation train` to build it")
        try:
            data = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - any damage to the file: unpickling raises anything
            raise ModelError(f"{path} cannot be read as a classifier artifact ({type(exc).__name__}: "
                             f"{str(exc)[:200]}): the file is damaged or incomplete; restore it "
                             f"(`git checkout -- {path}`) or build it with `moderation train`") from None
        if not isinstance(data, dict) or data.get("kind") != "moderation-classifier":
            raise ModelError(f"{path} is not a moderation classifier artifact: run `moderation train`")
        try:
            return cls(data)
        except Exception as exc:  # noqa: BLE001 - a dict without the parts an artifact has
            raise ModelError(f"{path} is an incomplete classifier artifact ({type(exc).__name__}: {str(exc)[:200]}): "
                             f"build it again with `moderation train`") from None

    def logits(self, items: list[Analysed]) -> np.ndarray:
        R = self.featurizer.raw([a.normalized for a in items])
        D = dense_features(items)[:, self._dense_cols]
        if self._carried:
            D = np.hstack([D] + [terms.feature(items) for _, terms in self._carried])
        cols = []
        # binary heads fitted on one public set alone, with that set's own IDF: score =
        # sum(tf·idf·w) / ||tf·idf|| per row (the bias alone for a row with none of the set's n-grams), without building the
        # weighted matrix
        for head, iw in zip(self.dedicated, self._iw):
            v = R.data * head["idf"][R.indices]
            num = row_sums(R.data * iw[R.indices], R.indptr)
            den = np.sqrt(row_sums(v * v, R.indptr))
            den[den == 0] = 1.0  # nothing the head's set ever had: the bias alone
            cols.append((num / den + head["b"]).reshape(-1, 1).astype(np.float32))
        X = TextFeaturizer.weigh(R, self.featurizer.idf)
        z = np.asarray(X @ self.W_text) + rowwise_matmul(D, self.W_dense) + self.bias
        return np.hstack([z] + cols) if cols else z

    def probabilities(self, items: list[Analysed]) -> np.ndarray:
        z = self.logits(items)
        if self.stack_A is not None:
            if self.stack_A.shape[0] > z.shape[1]:  # artifacts before the shape inputs have none
                z = second_level_inputs(z, items, self.stack_length_buckets)
            z = rowwise_matmul(z, self.stack_A) + self.stack_c
        else:
            z = z / self.temperature
        if self.offsets is not None:
            z = z + self.offsets
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z


MAX_CHARS_AT_ONCE = 1 << 20


class ModelClassifier:
    """`classify(texts)` -> one Verdict per text. Deterministic; caches verdicts of short texts."""

    def __init__(self, artifact: Artifact, thresholds: dict[str, float] | None = None, cache_size: int = 8192,
                 warning_notices: bool = True, act: dict[str, float] | None = None):
        self.artifact = artifact
        self.warning_notices = warning_notices
        self.act = act  # R1 act thresholds per label; None: every violation acts (no review band)
        self.thresholds = dict(DEFAULT_THRESHOLDS)
        self.thresholds.update(thresholds or {})
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        order = [artifact.labels.index(lab) for lab in LABELS]
        self._order = np.array(order)
        # internal classes that count as 'work' (no violation), e.g. 'neutral'
        self._extra = np.array([i for i, lab in enumerate(artifact.labels) if lab not in LABELS], dtype=int)

    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        texts = list(texts)
        out: list[Verdict | None] = [None] * len(texts)
        todo_idx, todo = [], []
        cache = self._cache
        for i, t in enumerate(texts):
            v = cache.get(t) if self.cache_size else None
            if v is not None:
                out[i] = v
            else:
                todo_idx.append(i)
                todo.append(t)
        done = 0
        # a batch of long messages goes through in parts, so its feature matrix stays small
        for part, _ in chunks_by_length(todo, MAX_CHARS_AT_ONCE):
            items = analyse(part)
            P_all = self.artifact.probabilities(items)
            P = P_all[:, self._order]
            if len(self._extra):
                P[:, 0] += P_all[:, self._extra].sum(axis=1)
            for i, t, a, p in zip(todo_idx[done:], part, items, P.tolist()):
                v = self._verdict(t, a, p)
                out[i] = v
                if self.cache_size and len(t) <= 64:
                    cache[t] = v
                    if len(cache) > self.cache_size:
                        cache.popitem(last=False)
            done += len(part)
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ combination
    def _verdict(self, text: str, a: Analysed, p: list[float]) -> Verdict:
        scores = dict(zip(LABELS, p))
        det = Counter(s.detector for s in a.spans if s.counted) if a.spans else {}
        if det.get("secret:marker", 0) > 1:
            det["secret:marker"] = 1
        lex = a.lexicon
        reasons: list[str] = []
        strong = [d for d in det if d in STRONG]
        pii_kinds = [d for d in _PII_KINDS if d in det]
        contact = any(d.startswith("contact:") for d in det) or "pii:mobile" in det
        # detector rules (decide on their own, see docs/CLASSIFIER.md)
        forced = None
        illegal_terms = bool(lex.get("fraud") or lex.get("gambling") or lex.get("illegal_other"))
        if not a.normalized.strip():
            forced = "work"  # nothing to judge
        elif (strong or len(pii_kinds) >= 2) and scores["illegal"] < 0.25 and not illegal_terms:
            forced = "confidential"
            reasons.append("personal data / secret detected: " + ", ".join(sorted(strong or pii_kinds)))
        elif (strong or len(pii_kinds) >= 2) and (scores["illegal"] >= 0.25 or illegal_terms):
            # a scam or gambling message that carries a card number or credentials is illegal first;
            # the personal data still counts in the findings and is masked in the excerpt
            forced = "illegal"
            reasons.append("scam/illegal content carrying personal data: " + ", ".join(sorted(strong or pii_kinds)))
        elif lex.get("gambling") and (contact or len(lex["gambling"]) >= 2) and scores["work"] < 0.5:
            # Not when the model reads work: a company's own rule naming two kinds of gambling
            # (严禁参与赌球、博彩) is a notice, not an invitation.
            forced = "illegal"
            reasons.append("gambling terms" + (" with a contact handle" if contact else "") + ": "
                           + "、".join(lex.get("gambling", ())))
        if forced == "work":
            scores = {lab: (1.0 if lab == "work" else 0.0) for lab in LABELS}
        elif forced:
            scores[forced] = max(scores[forced], 0.9)
            total = sum(scores.values())
            scores = {k: v / total for k, v in scores.items()}
        label = forced or _model_label(scores, self.thresholds)
        if self.warning_notices and not forced and label in ("illegal", "ad") and lex.get("warning") \
                and not lex.get("offer") and not contact:
            # A notice that names drugs, scams or gambling to forbid them reads like the thing it
            # forbids; a real offer solicits the reader (an offer cue or a contact handle). The
            # model's scores stay as they were, for whoever reads the verdict.
            reasons.append(f"{WARNING_NOTICE_REASON} ({'、'.join(lex['warning'][:3])}), no offer or contact: "
                           f"work, not {label} {scores[label]:.2f}")
            label = "work"
        if label != "work" and not forced:
            reasons.append(f"model: {label} {scores[label]:.2f}")
        sub = _sub_label(label, lex, scores)
        findings = [Finding(d, _DET_REASON.get(d, d), n) for d, n in sorted(det.items())]
        for cat, words in sorted(lex.items()):
            if cat in CUE_CATEGORIES:
                continue
            findings.append(Finding("lexicon:" + cat, "、".join(words), len(words)))
            if label != "work" and cat in _RELEVANT.get(label, ()):
                reasons.append(f"lexicon {_LEX_REASON.get(cat, cat)}: {'、'.join(words[:5])}")
        if label != "work":
            for d, n in sorted(det.items()):
                if d.startswith("contact:") and label in ("ad", "illegal"):
                    reasons.append(f"detector {d} ×{n}")
                elif d.startswith(("pii:", "secret:")) and label == "confidential" and not forced:
                    reasons.append(f"detector {d} ×{n}")
        masked = mask_original(a.folded, a.spans) if any(s.mask for s in a.spans) else text
        ex = masked if len(masked) <= 120 else masked[:119] + "…"
        rounded = {k: round(v, 4) for k, v in scores.items()}
        band = band_of(label, rounded.get(label, 0.0), self.act, decided_by_detector=forced is not None)
        return Verdict(label, rounded, tuple(reasons), ex, sub, tuple(findings), band)


def _model_label(scores: dict[str, float], thresholds: dict[str, float]) -> str:
    """The model's decision with per-class thresholds: the highest-scoring class above work that
    reaches its threshold, else work."""
    above_work = sorted((-s, i) for i, s in enumerate(scores.values()) if s > scores["work"])
    for minus_s, i in above_work:
        if -minus_s >= thresholds.get(LABELS[i], 0.5):
            return LABELS[i]
    return "work"


# Lexicon categories that only steer a combination rule: not findings of their own.
CUE_CATEGORIES = ("warning", "offer")

_DET_REASON = {
    "pii:mobile": "mobile number", "pii:resident_id": "resident id (checksum valid)", "pii:bank_card": "bank card (Luhn valid)",
    "pii:email": "e-mail address", "pii:address": "street address", "secret:password": "password",
    "secret:api_key": "API key / secret key", "secret:token": "access token", "secret:connection_string": "connection-string password",
    "secret:private_key": "private key", "secret:marker": "confidentiality marker (机密/内部资料/绝密)",
    "contact:url": "link", "contact:short_url": "short link", "contact:wechat": "WeChat id", "contact:qq": "QQ number",
}
_RELEVANT = {"illegal": ("gambling", "fraud", "illegal_other"), "ad": ("ad",), "abuse": ("vulgar", "violent", "terror", "attack", "discrimination"),
             "rumour": ("rumour",), "confidential": ("secret_terms",), "chitchat": ()}


def _sub_label(label: str, lex: dict, scores: dict) -> str | None:
    if label == "abuse":
        for cat in ("terror", "violent", "vulgar"):
            if lex.get(cat):
                return cat
        return "attack"
    if label == "illegal":
        if lex.get("gambling"):
            return "gambling"
        if lex.get("illegal_other") and not lex.get("fraud"):
            return "other"
        return "fraud"
    return None


def load(path: Path | str, thresholds: dict[str, float] | None = None, warning_notices: bool = True,
         act: dict[str, float] | None = None) -> ModelClassifier:
    return ModelClassifier(Artifact.load(path), thresholds, warning_notices=warning_notices, act=act)
