"""Dedicated binary heads and the second level's message-shape inputs (pipeline/classify/model.py)."""
import numpy as np

from pipeline.classify import load_classifier
from pipeline.classify.features import STACK_NAMES, TextFeaturizer, analyse, stack_features
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


def test_stack_features_shape():
    S = stack_features(analyse(["", "收到", "这是一条比较长的消息" * 10]))
    assert S.shape == (3, len(STACK_NAMES))
    assert S[0, 0] == 1 and S[2, 3] == 1


def test_dedicated_heads_fast_path_equals_matrix_product():
    clf = load_classifier(load_policy())
    art: Artifact = clf.artifact
    if not art.dedicated:
        return
    texts = ["听说下个月全员降薪，赶紧转发", "", "全场五折，回T退订", "收到"]
    items = analyse(texts)
    z = art.logits(items)
    R = art.featurizer.raw([a.normalized for a in items])
    base = z.shape[1] - len(art.dedicated)
    for k, head in enumerate(art.dedicated):
        ref = np.asarray(TextFeaturizer.weigh(R, head["idf"], copy=True) @ head["w"]).ravel() + head["b"]
        assert np.allclose(z[:, base + k], ref, atol=1e-4)
    P = art.probabilities(items)
    assert np.allclose(P.sum(axis=1), 1.0, atol=1e-4)
