"""Features shared by training and inference: normalise once, detect once, featurise in batch."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from pipeline.text.detect import Span, detect
from pipeline.text.lexicon import Lexicons, default_lexicons
from pipeline.text.normalize import Folded, Normalizer, default_normalizer

DETECTOR_FEATURES = ("pii:mobile", "pii:resident_id", "pii:bank_card", "pii:email", "pii:address",
                     "secret:password", "secret:api_key", "secret:token", "secret:connection_string",
                     "secret:private_key", "secret:marker", "contact:url", "contact:short_url",
                     "contact:wechat", "contact:qq")
LEXICON_FEATURES = ("ad", "attack", "fraud", "gambling", "illegal_other", "rumour", "secret_terms", "terror",
                    "violent", "vulgar")
SHAPE_FEATURES = ("len<=4", "len<=12", "len>80", "repeat_ratio", "digit_ratio", "mention", "question", "strong_secret")
DENSE_NAMES = tuple(DETECTOR_FEATURES) + tuple("lex:" + c for c in LEXICON_FEATURES) + SHAPE_FEATURES
STRONG = frozenset({"pii:resident_id", "pii:bank_card", "secret:password", "secret:api_key", "secret:token",
                    "secret:connection_string", "secret:private_key"})


@dataclass
class Analysed:
    """Everything computed from one text before the model."""

    folded: Folded
    normalized: str
    spans: list[Span]
    lexicon: dict[str, list[str]]


def analyse(texts, normalizer: Normalizer | None = None, lexicons: Lexicons | None = None) -> list[Analysed]:
    normalizer = normalizer or default_normalizer()
    lexicons = lexicons or default_lexicons()
    out = []
    for text in texts:
        f = normalizer.fold(text)
        n = normalizer.apply_variants(f.text)
        out.append(Analysed(f, n, detect(f), lexicons.match(n)))
    return out


_DET_INDEX = {d: i for i, d in enumerate(DETECTOR_FEATURES)}
_LEX_INDEX = {c: len(DETECTOR_FEATURES) + i for i, c in enumerate(LEXICON_FEATURES)}
_SHAPE0 = len(DETECTOR_FEATURES) + len(LEXICON_FEATURES)


def dense_features(items: list[Analysed]) -> np.ndarray:
    D = np.zeros((len(items), len(DENSE_NAMES)), dtype=np.float32)
    for r, a in enumerate(items):
        row = D[r]
        strong = False
        for s in a.spans:
            i = _DET_INDEX.get(s.detector)
            if i is not None:
                row[i] = 1.0
            strong = strong or s.detector in STRONG
        for cat, words in a.lexicon.items():
            i = _LEX_INDEX.get(cat)
            if i is not None:
                row[i] = min(len(words), 3) / 2.0
        t = a.normalized
        n = len(t)
        row[_SHAPE0] = n <= 4
        row[_SHAPE0 + 1] = n <= 12
        row[_SHAPE0 + 2] = n > 80
        if n:
            row[_SHAPE0 + 3] = 1.0 - len(set(t)) / n if n >= 4 else 0.0
            row[_SHAPE0 + 4] = sum(c.isdigit() for c in t) / n
        row[_SHAPE0 + 5] = "@" in t
        row[_SHAPE0 + 6] = ("?" in t) or ("吗" in t)
        row[_SHAPE0 + 7] = strong
    return D


STACK_NAMES = ("len<=4", "len<=12", "len>40", "len>80", "log_len")


def stack_features(items: list[Analysed]) -> np.ndarray:
    """Message-shape inputs of the second-level model next to the logits: lets it weigh the
    specialist heads differently for short chat lines and long posts."""
    S = np.zeros((len(items), len(STACK_NAMES)), dtype=np.float32)
    for r, a in enumerate(items):
        n = len(a.normalized)
        S[r] = (n <= 4, n <= 12, n > 40, n > 80, np.log1p(n) / 5.0)
    return S


class TextFeaturizer:
    """Hashed character 1–3-grams (no vocabulary to store), sublinear TF, IDF, L2 norm.

    Hashing is CRC-32 of the UTF-8 n-gram modulo `n_features` (zlib, standard library): the same on
    every platform and Python version, and inference needs neither scikit-learn nor a vocabulary.
    """

    def __init__(self, n_features: int = 2 ** 18, ngram_range=(1, 3)):
        self.n_features = n_features
        self.ngram_range = tuple(ngram_range)
        self.idf: np.ndarray | None = None

    def raw(self, texts) -> sparse.csr_matrix:
        lo, hi = self.ngram_range
        mod = self.n_features
        crc = zlib.crc32
        indices: list[int] = []
        indptr = [0]
        for t in texts:
            n = len(t)
            indices.extend([crc(t[i:i + k].encode("utf-8")) % mod
                            for k in range(lo, hi + 1) for i in range(n - k + 1)])
            indptr.append(len(indices))
        X = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), np.array(indices, dtype=np.int32),
                               np.array(indptr, dtype=np.int64)), shape=(len(indptr) - 1, mod))
        X.sum_duplicates()
        np.log1p(X.data, out=X.data)
        return X

    def fit(self, texts) -> "TextFeaturizer":
        self.idf = self.idf_of(self.raw(texts))
        return self

    def transform(self, texts) -> sparse.csr_matrix:
        return self.weigh(self.raw(texts), self.idf)

    @staticmethod
    def idf_of(X: sparse.csr_matrix) -> np.ndarray:
        """IDF from raw hashed counts (rows = documents)."""
        df = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
        return (np.log((1 + X.shape[0]) / (1 + df)) + 1.0).astype(np.float32)

    @staticmethod
    def weigh(X: sparse.csr_matrix, idf: np.ndarray, copy: bool = False) -> sparse.csr_matrix:
        """Raw log-TF counts × IDF, rows L2-normalised (in place unless copy)."""
        if copy:
            X = X.copy()
        X.data *= idf[X.indices]
        sq = np.add.reduceat(X.data * X.data, X.indptr[:-1]) if X.nnz else np.zeros(X.shape[0], np.float32)
        lengths = np.diff(X.indptr)
        sq[lengths == 0] = 1.0
        X.data /= np.repeat(np.sqrt(sq), lengths).astype(np.float32)
        return X
