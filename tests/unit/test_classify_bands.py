"""Decision bands (issue 26, R1): `band_of`, the choice of act thresholds on the validation split
(`moderation bands`), and the band figures of `moderation eval`."""
from pipeline.classify.verdict import band_of


def test_band_of_work_is_pass_and_a_detector_decision_acts():
    act = {"illegal": 0.8}
    assert band_of("work", 0.99, act) == "pass"
    assert band_of("illegal", 0.55, act, decided_by_detector=True) == "act"
    assert band_of("illegal", 0.55, act) == "review"
    assert band_of("illegal", 0.8, act) == "act"          # at the threshold: acts
    assert band_of("illegal", 0.7999, act) == "review"
    assert band_of("ad", 0.7, None) == "act"               # bands off: every violation acts


def test_an_act_threshold_of_one_acts_only_on_detector_decisions():
    """1.0 means: no model score acts, not even one that rounds to 1.0000 (the verdict's scores are
    rounded to four decimals, so a model score of 0.99996 reads 1.0)."""
    act = {"rumour": 1.0, "confidential": 1.0}
    assert band_of("rumour", 1.0, act) == "review"
    assert band_of("confidential", 1.0, act) == "review"
    assert band_of("confidential", 0.93, act, decided_by_detector=True) == "act"


# ------------------------------------------------------------------ choosing the act threshold
import argparse
import json

import pytest

from pipeline.classify.bands import (
    DETECTORS_ONLY, Scored, SplitMismatch, act_band, candidates, choose, clopper_pearson, validation_rows,
)


def rows_for(label: str, right: list[float], wrong: list[float], detector_right: int = 0, detector_wrong: int = 0,
             missed: int = 0) -> list[Scored]:
    """Validation rows: verdicts `label` at the given scores with gold `label` (right) or work (wrong),
    detector decisions, and gold `label` rows the classifier called work."""
    out = [Scored(label, label, s, False) for s in right] + [Scored("work", label, s, False) for s in wrong]
    out += [Scored(label, label, 0.9, True)] * detector_right + [Scored("work", label, 0.9, True)] * detector_wrong
    out += [Scored(label, "work", 0.7, False)] * missed
    return out


def test_candidates_run_from_the_review_floor_to_099_in_hundredths():
    assert candidates(0.55)[:3] == [0.55, 0.56, 0.57] and candidates(0.55)[-1] == 0.99
    assert len(candidates(0.5)) == 50 and candidates(0.6)[0] == 0.6   # no float drift below the floor


def test_the_lowest_threshold_with_enough_rows_at_the_target_is_chosen():
    # 100 right rows spread over 0.60-0.99, three wrong ones at 0.70, 0.75 and 0.80
    right = [0.60 + 0.0039 * i for i in range(100)]
    rows = rows_for("abuse", right, [0.70, 0.75, 0.80], missed=20)
    c = choose(rows, "abuse", 0.55)
    assert c.supported and c.point.rows >= 50 and c.point.precision >= 0.98
    lower = act_band(rows, "abuse", round(c.act - 0.01, 2))
    assert lower.rows < 50 or lower.precision < 0.98           # nothing lower qualifies
    assert c.point.gold == 120 and c.point.recall == round(c.point.correct / 120, 4)
    # 0.98 allows one error in 50: from 0.76 the band holds the wrong row at 0.80 among 59 (0.983)
    assert c.act == 0.76 and c.point.wrong == 1 and c.point.rows == 59


def test_a_label_with_too_few_rows_acts_on_detector_decisions_only():
    rows = rows_for("rumour", [0.95] * 30, [])          # 30 perfect rows: not enough to show 0.98
    c = choose(rows, "rumour", 0.6)
    assert not c.supported and c.act == DETECTORS_ONLY and "too few rows" in c.reason
    assert c.point.rows == 0                             # no detector decides rumour
    assert c.unsupported is not None and c.unsupported.act == 0.6 and c.unsupported.precision == 1.0
    # with a minimum the rows meet, the same rows choose the floor
    assert choose(rows, "rumour", 0.6, min_rows=30).act == 0.6


def test_a_label_that_never_reaches_the_target_acts_on_detector_decisions_only():
    rows = rows_for("abuse", [0.99] * 90, [0.99] * 10)   # 0.90 at every threshold
    c = choose(rows, "abuse", 0.55)
    assert c.act == DETECTORS_ONLY and "no threshold reaches" in c.reason and "best 0.900" in c.reason
    assert c.unsupported is None


def test_detector_decisions_are_in_the_band_at_every_threshold():
    rows = rows_for("confidential", [0.55] * 60, [], detector_right=8, detector_wrong=2)
    for t in (0.5, 0.8, DETECTORS_ONLY):
        p = act_band(rows, "confidential", t)
        assert p.rows >= 10 and p.rows - p.correct >= 2
    p = act_band(rows, "confidential", DETECTORS_ONLY)
    assert (p.rows, p.correct) == (10, 8)
    # the two wrong detector rows cap the band's precision: 68 rows, 66 right (0.971) at the floor
    assert choose(rows, "confidential", 0.5).act == DETECTORS_ONLY


def test_clopper_pearson_interval():
    assert clopper_pearson(0, 0) is None
    low, high = clopper_pearson(50, 50)
    assert high == 1.0 and abs(low - 0.025 ** (1 / 50)) < 1e-4      # the exact bound when all are right
    low, high = clopper_pearson(0, 20)
    assert low == 0.0 and abs(high - (1 - 0.025 ** (1 / 20))) < 1e-4
    low, high = clopper_pearson(49, 50)
    assert low < 0.98 < high


# ------------------------------------------------------------------ the validation split and the command
def test_the_split_is_refused_when_the_data_differs_from_the_artifacts_record(tmp_path):
    (tmp_path / "cold").mkdir()
    (tmp_path / "cold" / "train.jsonl").write_text(
        "\n".join(json.dumps({"text": f"评论{i}", "label": "safe"}, ensure_ascii=False) for i in range(30)), encoding="utf-8")
    artifact = {"seed": 13, "n_train": 100, "sources": [{"name": "cold", "rows": 32059},
                                                         {"name": "project_synthetic", "rows": 21500}]}
    with pytest.raises(SplitMismatch, match=r"cold \(recorded 32059, now 30\)"):
        validation_rows(artifact, tmp_path)
    with pytest.raises(SplitMismatch, match="does not record its seed"):
        validation_rows({"sources": []}, tmp_path)
    older = {"seed": 13, "n_train": 93826, "sources": [{"name": "cold"}, {"name": "project_synthetic"}]}
    with pytest.raises(SplitMismatch, match="records 93826 training rows"):   # no rows per source recorded
        validation_rows(older, tmp_path)
    local = dict(artifact, sources=[*artifact["sources"], {"name": "local:ours", "rows": 40}])
    with pytest.raises(SplitMismatch, match="--add-data"):
        validation_rows(local, tmp_path)


def parser():
    from pipeline.classify.commands import add_arguments

    p = argparse.ArgumentParser(prog="moderation")
    add_arguments(p.add_subparsers(dest="command"))
    return p


def test_bands_command_says_what_to_do_when_it_cannot_rebuild_the_split(tmp_path, capsys):
    for name, label in (("cold", "safe"), ("lccc_toy_chitchat", "chitchat"), ("vcsum_meeting", "meeting_utterance")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.jsonl").write_text(json.dumps({"text": "你好呀", "label": label}), encoding="utf-8")
    a = parser().parse_args(["bands", "--data", str(tmp_path)])
    assert a.target == 0.98 and a.min_rows == 50
    assert a.func(a) == 2
    err = capsys.readouterr().err
    assert "cannot be rebuilt" in err and "--data" in err
    a = parser().parse_args(["bands", "--data", str(tmp_path / "missing")])
    assert a.func(a) == 2 and "not found" in capsys.readouterr().err
    a = parser().parse_args(["bands", "--data", str(tmp_path), "--target", "1.5"])
    assert a.func(a) == 2 and "--target" in capsys.readouterr().err


SHARED = __import__("pipeline.classify.datasets", fromlist=["default_data_dir"]).default_data_dir()


@pytest.mark.skipif(not (SHARED / "cold" / "train.jsonl").exists(), reason="needs the shared data (MODERATION_DATA)")
def test_the_shipped_act_thresholds_are_what_the_rule_chooses(capsys):
    """config/policy.yaml's content.review.act is `moderation bands` on the shipped artifact; after a
    retrain this fails until the thresholds are chosen again."""
    from pipeline.config import load_policy

    a = parser().parse_args(["bands", "--data", str(SHARED), "--json"])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["left_out"] == {"project_synthetic": 2150} and out["rows"] == 5069
    assert out["act"] == dict(load_policy(None).content.review.act)


# ------------------------------------------------------------------ band figures in `moderation eval`
def test_band_figures_count_bands_false_alarms_and_act_precision():
    from pipeline.classify.evaluate import band_figures, pooled_act_precision
    from pipeline.classify.verdict import Verdict

    def v(label, band):
        return Verdict(label, {}, (), "", band=band)

    gold = ["work", "work", "chitchat", "abuse", "abuse", "work", "confidential"]
    verdicts = [v("work", "pass"), v("abuse", "review"), v("chitchat", "act"), v("abuse", "review"),
                v("work", "pass"), v("confidential", "act"), v("confidential", "act")]
    f = band_figures(gold, verdicts)
    assert f["bands"] == {"pass": 2, "review": 2, "act": 3}
    assert f["harmless"] == {"n": 4, "pass": 1, "review": 1, "act": 2}
    assert f["false_alarms"] == {"review": 1, "act": 1}          # chit-chat called chit-chat is no false alarm
    assert f["act_precision"]["confidential"]["rows"] == 2 and f["act_precision"]["confidential"]["correct"] == 1
    assert f["act_precision"]["chitchat"]["precision"] == 1.0 and "abuse" not in f["act_precision"]
    apart = band_figures(gold, verdicts, unlabelled=("chitchat",))
    assert "chitchat" not in apart["act_precision"] and apart["act_unlabelled"] == {"chitchat": 1}
    pooled = pooled_act_precision([f, f])
    assert pooled["confidential"]["rows"] == 4 and pooled["confidential"]["correct"] == 2


def test_eval_reports_bands_with_the_policys_act_thresholds(tmp_path, capsys):
    """`moderation eval` runs the classifier as the worker does: the policy's act thresholds decide the band."""
    from tests.unit.test_classify_commands import parser as eval_parser

    f = tmp_path / "e.jsonl"
    rows = [{"text": "收到，明天上午给你", "label": "work"},
            {"text": "我的身份证号11010519491231002X，帮我订票", "label": "confidential"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    policy = tmp_path / "policy.yaml"
    from pipeline.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "config" / "policy.yaml").read_text(encoding="utf-8")
    policy.write_text(text.replace("model_path: models/", f"model_path: {PROJECT_ROOT}/models/"), encoding="utf-8")
    a = eval_parser().parse_args(["eval", "--data", str(f), "--json", "--policy", str(policy)])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bands"]["bands"] == {"pass": 1, "review": 0, "act": 1}        # the id: a detector decision
    assert out["bands"]["act_precision"]["confidential"]["correct"] == 1
