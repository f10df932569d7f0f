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
                    "violent", "vulgar", "discrimination")
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
            if not s.counted:   # masked by shape only (a mistyped id or card, a landline): not a feature
                continue
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
            row[_SHAPE0 + 4] = sum(map(str.isdigit, t)) / n
        row[_SHAPE0 + 5] = "@" in t
        row[_SHAPE0 + 6] = ("?" in t) or ("吗" in t)
        row[_SHAPE0 + 7] = strong
    return D


class TermList:
    """A list of terms an artifact carries (not a config lexicon): how many of them a normalised text
    holds, as a dense feature scaled like the lexicon features (at most 3, halved)."""

    def __init__(self, terms):
        import ahocorasick

        self.terms = list(terms)
        self.automaton = ahocorasick.Automaton()
        for term in self.terms:
            self.automaton.add_word(term, term)
        if self.terms:
            self.automaton.make_automaton()

    def feature(self, items: list[Analysed]) -> np.ndarray:
        out = np.zeros((len(items), 1), dtype=np.float32)
        if not self.terms:
            return out
        for r, a in enumerate(items):
            found = {term for _end, term in self.automaton.iter(a.normalized)}
            out[r, 0] = min(len(found), 3) / 2.0
        return out


STACK_NAMES = ("len<=4", "len<=12", "len>40", "len>80", "log_len")
LENGTH_BUCKETS = (12, 40, 80)  # characters: a chat line, a message, a long message, a post


def stack_features(items: list[Analysed]) -> np.ndarray:
    """Message-shape inputs of the second-level model next to the logits: lets it weigh the
    specialist heads differently for short chat lines and long posts."""
    S = np.zeros((len(items), len(STACK_NAMES)), dtype=np.float32)
    for r, a in enumerate(items):
        n = len(a.normalized)
        S[r] = (n <= 4, n <= 12, n > 40, n > 80, np.log1p(n) / 5.0)
    return S


def second_level_inputs(logits: np.ndarray, items: list[Analysed], length_buckets: bool) -> np.ndarray:
    """The second level's inputs: the first level's logits and the message shape, and with
    `length_buckets` the logits again once per length bucket (zero outside it), so that a head can
    count for one thing in a chat line and for another in a long post: a dedicated head fitted on
    Weibo posts or SMS only knows its own kind of text."""
    parts = [logits, stack_features(items)]
    if length_buckets:
        n = np.fromiter((len(a.normalized) for a in items), dtype=np.int64, count=len(items))
        bucket = np.searchsorted(np.array(LENGTH_BUCKETS), n, side="left")
        parts += [logits * (bucket == b)[:, None] for b in range(len(LENGTH_BUCKETS) + 1)]
    return np.hstack(parts).astype(np.float32)


def rowwise_matmul(A: np.ndarray, W: np.ndarray) -> np.ndarray:
    """A @ W computed one row at a time, so a row's result does not depend on the rows beside it.
    A plain `A @ W` lets BLAS pick its kernel and summation order by the batch's height, so the same
    message scored alone and in a batch of 512 could differ in the last bits: enough to move a score
    rounded to four places, and to make a replay disagree with the live run."""
    return np.matmul(A[:, None, :], W)[:, 0, :]


def row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Sum of each CSR row's `values`, 0 for an empty row. np.add.reduceat alone gives an empty row
    the next row's first value, and fails outright when the last row is empty (a message that
    normalises to nothing at the end of a batch)."""
    sums = np.zeros(len(indptr) - 1, dtype=values.dtype)
    nonempty = indptr[:-1] < indptr[1:]
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(values, indptr[:-1][nonempty])
    return sums


def _crc32_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc32_table()
_ALL_ONES = np.uint32(0xFFFFFFFF)
# below this many characters in a batch, zlib n-gram by n-gram beats the numpy pass's fixed cost;
# above the chunk size the pass works chunk by chunk, so its arrays stay a few MB even for a batch of
# thousands of maximum-length messages
_VECTOR_MIN_CHARS = 256
_VECTOR_CHUNK_CHARS = 1 << 16


def chunks_by_length(texts: list[str], limit: int):
    """Consecutive runs of texts of at most `limit` characters in all (a longer text on its own)."""
    start, size = 0, 0
    for i, t in enumerate(texts):
        if size and size + len(t) > limit:
            yield texts[start:i], size
            start, size = i, 0
        size += len(t)
    if start < len(texts):
        yield texts[start:], size


def _ngram_buckets_zlib(texts: list[str], lo: int, hi: int, mod: int) -> np.ndarray:
    """The texts' n-gram buckets, text after text: CRC-32 of each n-gram's UTF-8 modulo `mod`."""
    crc = zlib.crc32
    return np.array([crc(t[i:i + k].encode("utf-8")) % mod for t in texts for k in range(lo, hi + 1)
                     for i in range(len(t) - k + 1)], dtype=np.int32)


def _ngram_buckets_numpy(texts: list[str], lo: int, hi: int, mod: int) -> np.ndarray:
    """The same buckets as `_ngram_buckets_zlib` (in another order within a text), for the whole
    batch at once: the table-driven CRC-32 run over the UTF-8 bytes from every start position in
    parallel, one character (up to four bytes) per step, the state after k characters being the
    k-gram's CRC."""
    joined = "".join(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    total = len(joined)
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    width = np.zeros(total + hi, dtype=np.int64)  # UTF-8 bytes per character
    width[:total] = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    start = np.zeros(total + hi, dtype=np.int64)
    np.cumsum(width[:total], out=start[1:total + 1])
    data = np.zeros(int(start[total]) + 4, dtype=np.uint32)
    data[:-4] = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    position = np.arange(total)
    state = np.full(total, _ALL_ONES, dtype=np.uint32)
    crcs = np.empty((total, hi - lo + 1), dtype=np.uint32)
    for k in range(1, hi + 1):
        char_start, char_width = start[position + k - 1], width[position + k - 1]
        for b in range(4):
            stepped = _CRC_TABLE[(state ^ data[char_start + b]) & 0xFF] ^ (state >> 8)
            state = np.where(b < char_width, stepped, state)
        if k >= lo:
            crcs[:, k - lo] = state ^ _ALL_ONES
    room = np.repeat(np.cumsum(lengths), lengths) - position  # characters left in the text
    return (crcs[room[:, None] >= np.arange(lo, hi + 1)] % np.uint32(mod)).astype(np.int32)


class TextFeaturizer:
    """Hashed character 1–3-grams (no vocabulary to store), sublinear TF, IDF, L2 norm; with
    `sound_ngrams`, also the n-grams of what the text sounds like (`Normalizer.sounds`: one code per
    toneless, near-homophone-folded pinyin syllable), hashed into the same buckets beside the
    characters', so that a homophone spelling (沙比, shabi) shares features with the word it stands for.

    Hashing is CRC-32 of the UTF-8 n-gram modulo `n_features`: the same on every platform and
    Python version, and inference needs neither scikit-learn nor a vocabulary. A batch's CRCs are
    computed in numpy at once (about eight times faster than zlib per n-gram in batches of 512);
    small batches use zlib, which gives the same values. (The sound codes are private-use characters
    that normalised text does not hold, so their n-grams meet the characters' only by hash collision.)
    """

    def __init__(self, n_features: int = 2 ** 18, ngram_range=(1, 3), sound_ngrams=None):
        self.n_features = n_features
        self.ngram_range = tuple(ngram_range)
        self.sound_ngrams = tuple(sound_ngrams) if sound_ngrams else None
        self.idf: np.ndarray | None = None

    def raw(self, texts) -> sparse.csr_matrix:
        texts = list(texts)
        if not getattr(self, "sound_ngrams", None):  # artifacts from before issue 29 have no sounds
            return self._hashed(texts, *self.ngram_range)
        # both streams' (row, bucket) keys counted apart, log1p'd apart and added (as if two matrices
        # were summed), then one CSR matrix built from the sorted keys: a sparse sum costs more than the
        # hashing on one message
        sounds = default_normalizer().sound_table.sounds
        keys, values = [], []
        for stream, (lo, hi) in ((texts, self.ngram_range), ([sounds(t) for t in texts], self.sound_ngrams)):
            unique, counts = np.unique(self._keys(stream, lo, hi), return_counts=True)
            keys.append(unique)
            values.append(np.log1p(counts.astype(np.float32)))
        merged, where = np.unique(np.concatenate(keys), return_inverse=True)
        data = np.bincount(where, weights=np.concatenate(values)).astype(np.float32)
        rows = merged // self.n_features
        indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
        return sparse.csr_matrix((data, (merged % self.n_features).astype(np.int32), indptr),
                                 shape=(len(texts), self.n_features))

    def _buckets(self, texts: list[str], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The texts' n-gram buckets, text after text, and each text's number of n-grams."""
        indices = np.concatenate([np.zeros(0, dtype=np.int32)] + [
            (_ngram_buckets_numpy if size >= _VECTOR_MIN_CHARS else _ngram_buckets_zlib)(chunk, lo, hi, self.n_features)
            for chunk, size in chunks_by_length(texts, _VECTOR_CHUNK_CHARS)])
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        return indices, np.maximum(lengths[:, None] - np.arange(lo - 1, hi), 0).sum(axis=1)

    def _keys(self, texts: list[str], lo: int, hi: int) -> np.ndarray:
        """row × n_features + bucket of every n-gram of the texts."""
        indices, per_row = self._buckets(texts, lo, hi)
        return np.repeat(np.arange(len(texts), dtype=np.int64), per_row) * self.n_features + indices

    def _hashed(self, texts: list[str], lo: int, hi: int) -> sparse.csr_matrix:
        indices, per_row = self._buckets(texts, lo, hi)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(per_row, out=indptr[1:])
        X = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                              shape=(len(texts), self.n_features))
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
        """IDF from raw hashed counts (rows = documents). A bucket no document had gets 0, as a
        vocabulary would drop an n-gram it never saw: its weights stay 0 in fitting, and with the
        highest IDF it would only swell the L2 norm of a new message and shrink every known n-gram."""
        df = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
        idf = np.log((1 + X.shape[0]) / (1 + df)) + 1.0
        idf[df == 0] = 0.0
        return idf.astype(np.float32)

    @staticmethod
    def weigh(X: sparse.csr_matrix, idf: np.ndarray, copy: bool = False) -> sparse.csr_matrix:
        """Raw log-TF counts × IDF, rows L2-normalised (in place unless copy)."""
        if copy:
            X = X.copy()
        X.data *= idf[X.indices]
        sq = row_sums(X.data * X.data, X.indptr)
        lengths = np.diff(X.indptr)
        sq[sq == 0] = 1.0  # an empty message, or one with only unseen n-grams
        X.data /= np.repeat(np.sqrt(sq), lengths).astype(np.float32)
        return X
