"""The committed classifier artifact: interface, determinism, detectors in the verdict, redaction."""
import pytest

from pipeline.classify import LABELS, load_classifier, model_path
from pipeline.classify.model import ModelError, load
from pipeline.config import load_policy


@pytest.fixture(scope="session")
def clf():
    return load_classifier(load_policy())


def one(clf, text):
    return clf.classify([text])[0]


def test_artifact_small_and_present():
    p = model_path(load_policy())
    assert p.exists()
    assert p.stat().st_size < 25e6


def test_the_default_artifact_is_trained_only_on_commercially_usable_data():
    """Issue 24 item 10: what the policy selects by default may be used by a company; the model trained
    on research-only and non-commercial sets too is an opt-in artifact beside it."""
    from pipeline.classify.card import commercial_use, public_sources
    from pipeline.classify.model import Artifact

    default = model_path(load_policy())
    assert default.name == "classifier.joblib"
    data = Artifact.load(default).data
    assert commercial_use(data) and data["commercial_use"] is True
    assert [s.name for s in public_sources(data)] == ["cold", "lccc_toy_chitchat", "vcsum_meeting"]
    assert {s["name"] for s in data["sources"]} >= {"project_synthetic", "project_handwritten"}
    opt_in = Artifact.load(default.with_name("classifier-noncommercial.joblib")).data
    assert not commercial_use(opt_in)
    assert {"weibo21", "telecom_fraud5", "multipriv_zh_synthetic"} <= {s.name for s in public_sources(opt_in)}
    assert default.with_name("classifier-noncommercial.joblib").stat().st_size < 25e6


def test_the_policy_selects_the_noncommercial_artifact(tmp_path):
    import yaml

    from pipeline.config import CONFIG_DIR

    raw = yaml.safe_load((CONFIG_DIR / "policy.yaml").read_text(encoding="utf-8"))
    raw["content"]["model_path"] = "models/classifier-noncommercial.joblib"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    opt_in = load_classifier(load_policy(path))
    assert "weibo21" in {s["name"] for s in opt_in.artifact.data["sources"]}
    assert "weibo21" not in {s["name"] for s in load_classifier(load_policy()).artifact.data["sources"]}
    assert opt_in.classify(["你就是个废物，蠢货"])[0].label == "abuse"


def test_a_card_goes_beside_its_artifact_without_overwriting_the_default_card(tmp_path):
    from pipeline.classify.card import card_path, counterpart

    assert card_path(tmp_path / "classifier.joblib") == tmp_path / "MODEL_CARD.md"
    assert card_path(tmp_path / "classifier-noncommercial.joblib") == tmp_path / "MODEL_CARD-classifier-noncommercial.md"
    assert card_path(tmp_path / "new.joblib") == tmp_path / "MODEL_CARD-new.md"
    assert counterpart(tmp_path / "new.joblib") is None   # nothing beside it to compare with
    (tmp_path / "classifier.joblib").write_bytes(b"x")
    (tmp_path / "classifier-noncommercial.joblib").write_bytes(b"x")
    assert counterpart(tmp_path / "new.joblib") == tmp_path / "classifier.joblib"
    assert counterpart(tmp_path / "classifier.joblib") == tmp_path / "classifier-noncommercial.joblib"
    assert counterpart(tmp_path / "classifier-noncommercial.joblib") == tmp_path / "classifier.joblib"


def test_missing_artifact_message(tmp_path):
    with pytest.raises(ModelError) as exc:
        load(tmp_path / "nope.joblib")
    assert "nope.joblib" in str(exc.value) and "moderation train" in str(exc.value)


def test_batch_interface_and_determinism(clf):
    texts = ["收到，明天上午给你", "哈哈哈哈哈哈哈", "收到，明天上午给你"]
    a = clf.classify(texts)
    b = clf.classify(list(reversed(texts)))
    assert len(a) == 3
    assert a[0] == a[2] == b[0]
    for v in a:
        assert v.label in LABELS
        assert set(v.scores) == set(LABELS)
        assert abs(sum(v.scores.values()) - 1) < 0.01
    assert clf.classify([]) == []


def test_a_message_scores_the_same_alone_as_in_any_batch():
    """A replay batches differently from the live run; the scores (rounded to four places) must not move."""
    from pipeline.classify.features import analyse
    from pipeline.devtools.loadgen import generate

    texts = list(dict.fromkeys(e["message"]["text"] for e in generate(3000, groups=30, seed=12)
                               if e["type"] == "message.posted" and e["message"].get("text")))[:600]
    artifact = load(model_path(load_policy())).artifact
    items = analyse(texts)
    whole = artifact.probabilities(items)
    for size in (1, 3, 64):
        for start in range(0, len(items), size):
            part = artifact.probabilities(items[start:start + size])
            assert (part == whole[start:start + size]).all(), (size, texts[start:start + size])
    shuffled = list(range(len(items)))[::-1]
    assert (artifact.probabilities([items[i] for i in shuffled]) == whole[shuffled]).all()


@pytest.mark.parametrize("text", [
    "【通知】明天上午10点在3楼大会议室开周例会，请准时参加",
    "@张伟 麻烦把需求文档今天下班前发我一下",
    "收到",
    "好的，马上处理",
    "v2.3.1 已发布到测试环境，订单号 DD202406150098871 的问题已修复",
    "【安全提醒】近期有冒充领导要求转账的诈骗，凡涉及付款请电话核实",
    "请大家不要在群里发身份证号和银行卡号",
    "【紧急】线上登录服务宕机，正在回滚，影响约五分钟，稍后详细说明。",  # the demo's urgent post (P10)
])
def test_work_is_work(clf, text):
    v = one(clf, text)
    assert v.label == "work", (text, v)
    assert v.reasons == () or all(isinstance(r, str) for r in v.reasons)


def test_resident_id_leak_is_confidential_and_redacted(clf):
    v = one(clf, "帮我订机票，身份证号11010519491231002X，手机13812345678")
    assert v.label == "confidential"
    assert "11010519491231002X" not in v.excerpt and "13812345678" not in v.excerpt
    assert "138****5678" in v.excerpt
    assert v.sensitive_items >= 2
    assert any(f.detector == "pii:resident_id" for f in v.findings)
    assert any("pii:resident_id" in r for r in v.reasons)


def test_credentials_are_confidential(clf):
    v = one(clf, "生产库 mysql://root:S3cr3t!@10.0.0.5:3306/prod 别外传")
    assert v.label == "confidential"
    assert "S3cr3t!" not in v.excerpt


def test_gambling_is_illegal(clf):
    v = one(clf, "菠菜平台，首充送100%彩金，加V：abc_123456")
    assert v.label == "illegal" and v.sub_label == "gambling"
    assert any(f.detector == "lexicon:gambling" for f in v.findings)
    assert any(f.detector == "contact:wechat" for f in v.findings)


def test_obfuscated_gambling(clf):
    v = one(clf, "赌*球平台，提款秒到，薇 信 bet_8899")
    assert v.label == "illegal"


def test_abuse_sub_labels(clf):
    v = one(clf, "你就是个废物，蠢货")
    assert v.label == "abuse" and v.sub_label == "attack"


@pytest.mark.parametrize("text", [
    "厂家直销面膜，全场五折包邮，加微信 mm_shop88 咨询",
    "今天特价促销！全场五折，点击 http://t.cn/abc123 立即抢购，限时优惠仅此一天！",  # the demo's ad: a short link is not fraud
])
def test_ad(clf, text):
    v = one(clf, text)
    assert v.label == "ad", (text, v)


def test_excerpt_length(clf):
    v = one(clf, "会议纪要：" + "讨论了很多事情。" * 40)
    assert len(v.excerpt) <= 120


def test_reasons_readable(clf):
    v = one(clf, "我的银行卡号 6222021234567890128，报销打这个卡")
    assert v.label == "confidential"
    assert any("bank_card" in r for r in v.reasons)


def test_empty_text_is_work(clf):
    for t in ("", "  ", "\n"):
        assert one(clf, t).label == "work"


def test_scam_with_card_is_illegal_and_redacted(clf):
    v = one(clf, "兼职刷单，日结工资，佣金打到你卡上，先把卡号发我：6222021234567890128")
    assert v.label == "illegal"
    assert "6222021234567890128" not in v.excerpt
    assert v.sensitive_items >= 1


def test_a_bedding_set_is_not_a_bank_card_kit():
    """四件套 alone is a bedding set (a hotel's housekeeping); a bank-card kit is named as one."""
    from pipeline.text.lexicon import default_lexicons
    from pipeline.text.normalize import default_normalizer

    def illegal_terms(text):
        return default_lexicons().match(default_normalizer().normalize(text)).get("illegal_other", [])

    assert illegal_terms("302房退房了，四件套换一下，顺便补两瓶水") == []
    assert "银行卡四件套" in illegal_terms("出售银行卡四件套，价格好说")


class FixedScores:
    """A stand-in artifact that scores every message the same: the combination rules alone decide."""

    def __init__(self, **scores):
        import numpy as np

        self.labels = list(LABELS)
        self.row = np.array([scores.get(label, 0.0) for label in LABELS])

    def probabilities(self, items):
        import numpy as np

        return np.tile(self.row, (len(items), 1))


@pytest.mark.parametrize("work, expected", [(0.9, "work"), (0.3, "illegal")])
def test_two_gambling_terms_decide_only_where_the_model_does_not_read_work(work, expected):
    from pipeline.classify.model import ModelClassifier

    text = "合规提醒：严禁参与赌球、六合彩，违者解除劳动合同"
    v = ModelClassifier(FixedScores(work=work, chitchat=1 - work)).classify([text])[0]
    assert v.label == expected
    assert any(f.detector == "lexicon:gambling" for f in v.findings)
    assert any(r.startswith("gambling terms") for r in v.reasons) == (expected == "illegal")


def test_a_gambling_term_with_a_contact_handle_is_illegal_unless_the_model_reads_work():
    from pipeline.classify.model import ModelClassifier

    invitation = "赌球平台，加微信 bet_8899"
    assert ModelClassifier(FixedScores(work=0.4, ad=0.6)).classify([invitation])[0].label == "illegal"
    assert ModelClassifier(FixedScores(work=0.9, ad=0.1)).classify([invitation])[0].label == "work"


NOTICE = "【安全提示】严禁员工出借、出售本人银行卡和电话卡，发现有人收购请向保卫科举报"


def test_a_warning_notice_the_model_calls_illegal_is_work_with_the_models_scores_kept():
    from pipeline.classify.model import ModelClassifier

    v = ModelClassifier(FixedScores(work=0.1, illegal=0.9)).classify([NOTICE])[0]
    assert v.label == "work"
    assert v.scores["illegal"] == 0.9
    assert any(r.startswith("warning notice (严禁") and "not illegal 0.90" in r for r in v.reasons)
    assert not any(f.detector in ("lexicon:warning", "lexicon:offer") for f in v.findings)


def test_the_warning_rule_can_be_switched_off():
    from pipeline.classify.model import ModelClassifier

    v = ModelClassifier(FixedScores(work=0.1, illegal=0.9), warning_notices=False).classify([NOTICE])[0]
    assert v.label == "illegal"


def test_the_policy_switch_reaches_the_classifier(tmp_path):
    import yaml

    from pipeline.config import CONFIG_DIR

    raw = yaml.safe_load((CONFIG_DIR / "policy.yaml").read_text(encoding="utf-8"))
    raw["content"]["warning_notices"] = False
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert load_classifier(load_policy()).warning_notices is True
    assert load_classifier(load_policy(path)).warning_notices is False


@pytest.mark.parametrize("text", [
    NOTICE + "，有需要的私聊",                                # an offer cue
    NOTICE + "，联系 wx: kabao_6688",                          # a contact handle
    "你好，这里是市公安局，接到举报你的银行卡涉嫌洗钱，请配合调查",  # a caller claiming an identity
    "高价收购银行卡、电话卡，一套八百，当天结",                     # no warning cue at all
])
def test_an_offer_or_a_scam_script_stays_illegal(text):
    from pipeline.classify.model import ModelClassifier

    v = ModelClassifier(FixedScores(work=0.1, illegal=0.9)).classify([text])[0]
    assert v.label == "illegal"
    assert not any(r.startswith("warning notice") for r in v.reasons)


@pytest.mark.parametrize("model_label, expected", [("ad", "work"), ("abuse", "abuse"), ("rumour", "rumour")])
def test_the_warning_rule_overrides_only_illegal_and_ad(model_label, expected):
    from pipeline.classify.model import ModelClassifier

    text = "提醒大家谨防刷单返利骗局，不要垫付任何费用"
    v = ModelClassifier(FixedScores(work=0.1, **{model_label: 0.9})).classify([text])[0]
    assert v.label == expected
