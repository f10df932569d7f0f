"""Dedicated binary heads and the second level's message-shape inputs (pipeline/classify/model.py)."""
import numpy as np

from pipeline.classify import load_classifier
from pipeline.classify.features import STACK_NAMES, TextFeaturizer, analyse, second_level_inputs, stack_features
from pipeline.classify.model import Artifact
from pipeline.config import load_policy


def test_weigh_matches_transform():
    f = TextFeaturizer(n_features=2 ** 10).fit(["收到，明天给你", "听说公司要裁员", "哈哈哈"])
    texts = ["收到", "", "听说要裁员了，赶紧转发"]
    a = f.transform(texts).toarray()
    b = TextFeaturizer.weigh(f.raw(texts), f.idf, copy=True).toarray()
    assert np.allclose(a, b)
    assert np.allclose(np.linalg.norm(a[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not a[1].any()


def test_ngrams_never_seen_in_fitting_carry_no_weight():
    """As with a vocabulary: an n-gram no fitted text had neither counts nor dilutes the known ones."""
    fitted = ["收到，明天给你", "听说公司要裁员"]
    f = TextFeaturizer(n_features=2 ** 16).fit(fitted)
    known, padded, unseen = f.transform(["收到", "收到齉齾鼺", "齉齾鼺"]).toarray()
    assert np.allclose(known, padded)
    assert np.isclose(np.linalg.norm(known), 1.0, atol=1e-5)
    assert not unseen.any() and np.isfinite(unseen).all()
    assert np.array_equal(f.idf == 0, np.bincount(f.raw(fitted).indices, minlength=f.idf.size) == 0)


def test_batch_crc_equals_zlib_per_ngram():
    """The numpy CRC pass for large batches and zlib for small ones give the same matrix."""
    import random
    import zlib

    from pipeline.classify import features

    rnd = random.Random(7)
    alphabet = "ab Z09，。你好世界😀é€\u07ff\u0800\uffff\U00010000\U0010ffff"
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(300)] + ["", "a", "ab"]
    for lo, hi in ((1, 3), (2, 4), (1, 1)):
        expected = [sorted(zlib.crc32(t[i:i + k].encode()) % 1000 for k in range(lo, hi + 1)
                           for i in range(len(t) - k + 1)) for t in texts]
        counts = np.maximum(np.array([len(t) for t in texts])[:, None] - np.arange(lo - 1, hi), 0).sum(axis=1)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        for buckets in (features._ngram_buckets_numpy, features._ngram_buckets_zlib):
            indices = buckets(texts, lo, hi, 1000)
            assert [sorted(indices[a:b].tolist()) for a, b in zip(indptr[:-1], indptr[1:])] == expected
    f = TextFeaturizer(n_features=2 ** 12, ngram_range=(1, 3))
    whole = f.raw(texts)  # numpy pass
    assert whole.sum() > 0
    for i in range(0, len(texts), 50):
        small = f.raw(texts[i:i + 1])  # zlib
        assert (whole[i] != small).nnz == 0
    chunked = features._VECTOR_CHUNK_CHARS
    try:
        features._VECTOR_CHUNK_CHARS = 300  # a few texts per chunk, some chunks small enough for zlib
        assert (f.raw(texts) != whole).nnz == 0
    finally:
        features._VECTOR_CHUNK_CHARS = chunked
    assert [len(c) for c, _ in features.chunks_by_length(["ab", "c", "defg", "h"], 3)] == [2, 1, 1]
    assert [(c, n) for c, n in features.chunks_by_length(["ab", "c", "de"], 3)] == [(["ab", "c"], 3), (["de"], 2)]


def test_second_level_sees_logits_again_in_the_length_bucket_only():
    items = analyse(["收到", "x" * 12, "x" * 13, "这是一条比较长的消息" * 4, "长" * 80, "长" * 81])
    logits = np.arange(1, 1 + 6 * 3, dtype=np.float32).reshape(6, 3)
    plain = second_level_inputs(logits, items, length_buckets=False)
    assert plain.shape == (6, 3 + len(STACK_NAMES))
    X = second_level_inputs(logits, items, length_buckets=True)
    assert np.array_equal(X[:, :plain.shape[1]], plain)
    copies = X[:, plain.shape[1]:].reshape(6, 4, 3)
    assert [int(np.flatnonzero(copies[r].any(axis=1))[0]) for r in range(6)] == [0, 0, 1, 1, 2, 3]
    assert all(np.array_equal(copies[r].sum(axis=0), logits[r]) for r in range(6))
    assert (copies != 0).any(axis=2).sum(axis=1).tolist() == [1] * 6


def test_stack_features_shape():
    S = stack_features(analyse(["", "收到", "这是一条比较长的消息" * 10]))
    assert S.shape == (3, len(STACK_NAMES))
    assert S[0, 0] == 1 and S[2, 3] == 1


def test_dedicated_heads_fast_path_equals_matrix_product():
    clf = load_classifier(load_policy())
    art: Artifact = clf.artifact
    if not art.dedicated:
        return
    texts = ["听说下个月全员降薪，赶紧转发", "", "全场五折，回T退订", "收到", "齉齾鼺"]
    items = analyse(texts)
    z = art.logits(items)
    R = art.featurizer.raw([a.normalized for a in items])
    base = z.shape[1] - len(art.dedicated)
    for k, head in enumerate(art.dedicated):
        ref = np.asarray(TextFeaturizer.weigh(R, head["idf"], copy=True) @ head["w"]).ravel() + head["b"]
        assert np.allclose(z[:, base + k], ref, atol=1e-4)
    P = art.probabilities(items)
    assert np.allclose(P.sum(axis=1), 1.0, atol=1e-4)


def test_long_batches_are_classified_in_parts_with_the_same_verdicts(monkeypatch):
    from pipeline.classify import model

    clf = load_classifier(load_policy())
    clf.cache_size = 0
    texts = ["收到", "加微信 abc12345 领红包", "听说公司要裁员了，赶紧转发" * 30, "明天上午十点开会", "" , "身份证 11010519491231002X"]
    whole = clf.classify(texts)
    monkeypatch.setattr(model, "MAX_CHARS_AT_ONCE", 20)
    parts = clf.classify(texts)
    assert [(v.label, v.scores, v.excerpt) for v in parts] == [(v.label, v.scores, v.excerpt) for v in whole]


def test_a_batch_ending_in_an_empty_message_is_classified():
    clf = load_classifier(load_policy())
    clf.cache_size = 0
    for batch in (["收到", ""], ["", ""], ["", "收到", ""], [""]):
        verdicts = clf.classify(batch)
        assert [v.label for v, t in zip(verdicts, batch) if not t] == ["work"] * batch.count("")
    alone = clf.classify(["加微信 abc12345 领红包"])[0]
    assert clf.classify(["加微信 abc12345 领红包", ""])[0].scores == alone.scores


def test_row_sums_leave_empty_rows_at_zero():
    from pipeline.classify.features import row_sums

    values = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    assert row_sums(values, np.array([0, 0, 2, 2, 3, 3])).tolist() == [0.0, 3.0, 0.0, 3.0, 0.0]
    assert row_sums(np.zeros(0, np.float32), np.array([0, 0])).tolist() == [0.0]
