"""Argument wiring and `eval` on a small file (uses the committed artifact, not the shared data)."""
import argparse
import json

from pipeline.classify.commands import add_arguments
from pipeline.classify.evaluate import binary, metrics


def parser():
    p = argparse.ArgumentParser(prog="moderation")
    add_arguments(p.add_subparsers(dest="command"))
    return p


def test_train_arguments():
    a = parser().parse_args(["train", "--seed", "7", "--exclude-licence", "research-only",
                             "--exclude-source", "weibo21", "--data", "/tmp/x", "--out", "/tmp/m.joblib"])
    assert a.seed == 7 and a.exclude_licence == ["research-only"] and a.exclude_source == ["weibo21"]
    assert callable(a.func)


def test_bench_arguments():
    a = parser().parse_args(["bench", "classify", "--messages", "100"])
    assert a.messages == 100 and callable(a.func)


def test_metrics():
    m = metrics(["work", "ad", "ad", "abuse"], ["work", "ad", "work", "abuse"])
    assert m["per_class"]["ad"]["recall"] == 0.5
    assert m["confusion"][2][0] == 1
    assert 0 < m["macro_f1"] <= 1
    assert binary(["ad", "work"], ["ad", "ad"], "ad")["precision"] == 0.5


def test_eval_command_json(tmp_path, capsys):
    f = tmp_path / "e.jsonl"
    rows = [{"text": "收到，明天上午给你", "label": "work"},
            {"text": "我的身份证号11010519491231002X，帮我订票", "label": "confidential"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    a = parser().parse_args(["eval", "--data", str(f), "--json"])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and "confusion" in out and out["per_class"]["confidential"]["recall"] == 1.0


def test_eval_rejects_unknown_labels(tmp_path):
    f = tmp_path / "e.jsonl"
    f.write_text(json.dumps({"text": "x", "label": "spam"}), encoding="utf-8")
    a = parser().parse_args(["eval", "--data", str(f)])
    assert a.func(a) == 2


def test_bench_smoke():
    from pipeline.classify.bench import run
    from pipeline.config import PROJECT_ROOT

    res = run(n=300, pin=False)
    assert res["batch512_msgs_per_s"] > 0 and res["p99_ms"] > 0 and res["artifact_mb"] < 25
    other = PROJECT_ROOT / "models" / "classifier-noncommercial.joblib"
    res = run(n=300, pin=False, model=str(other))
    assert res["model"] == str(other) and res["artifact_mb"] == round(other.stat().st_size / 1e6, 2)


def test_exclude_sources_by_licence_and_name():
    import pytest

    from pipeline.classify.datasets import select_sources

    names = {s.name for s in select_sources(["research-only", "non-commercial"], commercial_only=False)}
    assert "weibo21" not in names and "telecom_fraud5" not in names and "multipriv_zh_synthetic" not in names
    assert "nus_sms_zh" not in names
    assert "cold" in names and "lccc_toy_chitchat" in names
    assert "cold" not in {s.name for s in select_sources((), ["cold"])}
    with pytest.raises(ValueError):
        select_sources((), ["nope"])


def test_training_takes_only_commercially_usable_sets_unless_told(monkeypatch):
    """MIT and Apache-2.0 only by default: research-only, non-commercial and 'none stated' (which grants
    nothing) are left out; --include-noncommercial takes them; a set not trained on yet never is."""
    import dataclasses

    from pipeline.classify import datasets
    from pipeline.classify.datasets import SOURCES, select_sources

    assert [s.name for s in select_sources()] == ["cold", "lccc_toy_chitchat", "vcsum_meeting"]
    # the issue-29 recipe (moderation train --robust) adds swsr_sexism (MIT)
    assert [s.name for s in select_sources(robust=True)] == ["cold", "lccc_toy_chitchat", "vcsum_meeting", "swsr_sexism"]
    everything = [s.name for s in select_sources(commercial_only=False)]
    assert everything == [s.name for s in SOURCES if s.trained and not s.robust_only]
    untrained = dataclasses.replace(SOURCES[3], name="not_yet", trained=False)
    monkeypatch.setattr(datasets, "SOURCES", SOURCES + (untrained,))
    assert "not_yet" not in [s.name for s in datasets.select_sources(commercial_only=False)]
    monkeypatch.undo()
    assert {"sms_spam_80w_subset", "smp_ecdt_domains", "nus_sms_zh", "weibo21", "telecom_fraud5",
            "multipriv_zh_synthetic"} <= set(everything)
    # the old way of asking for a commercial build leaves out exactly the same sets
    old_way = select_sources(["research-only", "non-commercial", "unstated"], commercial_only=False)
    assert [s.name for s in old_way] == [s.name for s in select_sources()]


def test_only_mit_and_apache_licences_count_as_commercial():
    from pipeline.classify.datasets import SOURCES, Source

    for s in SOURCES:
        assert s.commercial == (s.licence in ("MIT", "Apache-2.0")), s.name
    assert not Source("x", "see source", ("see-source",), {}).commercial
    assert not Source("y", "none stated", ("unstated",), {}).commercial


def test_train_arguments_for_the_noncommercial_artifact():
    a = parser().parse_args(["train"])
    assert a.include_noncommercial is False and a.out is None
    a = parser().parse_args(["train", "--include-noncommercial"])
    assert a.include_noncommercial is True


def test_a_build_records_exactly_what_went_in():
    from pipeline.classify.datasets import SOURCE_BY_NAME
    from pipeline.classify.train import trained_sources

    rows = ([{"source": "cold"}] * 3 + [{"source": "project_synthetic"}] * 2 + [{"source": "project_handwritten"}]
            + [{"source": "local:acme"}] * 4)
    got = trained_sources(rows, [SOURCE_BY_NAME["cold"], SOURCE_BY_NAME["weibo21"]])
    assert [(s["name"], s["rows"], s["commercial"]) for s in got] == [
        ("cold", 3, True), ("project_synthetic", 2, True), ("project_handwritten", 1, True), ("local:acme", 4, True)]
    assert got[0]["licence"] == "Apache-2.0"   # weibo21 was offered but had no rows: not listed


def test_false_alarms_count_harmless_rows_called_a_violation():
    from pipeline.classify.evaluate import false_alarms

    gold = ["work", "work", "chitchat", "chitchat", "ad", "abuse"]
    pred = ["work", "abuse", "work", "illegal", "work", "work"]
    assert false_alarms(gold, pred) == {"harmless": 4, "flagged": 2, "flagged_share": 0.5}
    # chit-chat called work and work called chit-chat are not violations; a set with no harmless rows has no share
    assert false_alarms(["work", "chitchat"], ["chitchat", "work"])["flagged"] == 0
    assert false_alarms(["ad"], ["work"]) == {"harmless": 0, "flagged": 0, "flagged_share": None}


def test_eval_on_held_out_files_against_another_artifact(tmp_path, capsys):
    """Both shipped artifacts on the same held-out rows: the target F1 and the false-alarm share of each."""
    from pipeline.config import PROJECT_ROOT

    (tmp_path / "vcsum_meeting").mkdir()
    _jsonl(tmp_path / "vcsum_meeting" / "heldout.jsonl",
           [{"text": "下午三点开会，大家准时到", "label": "meeting_utterance"},
            {"text": "你就是个废物，蠢货", "label": "meeting_utterance"}])
    (tmp_path / "cold").mkdir()
    _jsonl(tmp_path / "cold" / "heldout.jsonl", [{"text": "你就是个废物，蠢货", "label": "offensive"},
                                                  {"text": "今天天气不错", "label": "safe"}])
    models = PROJECT_ROOT / "models"
    a = parser().parse_args(["eval", "--data", str(tmp_path), "--model", str(models / "classifier.joblib"),
                             "--against", str(models / "classifier-noncommercial.joblib"), "--json"])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"model", "against"} and set(out["model"]) == {"vcsum_meeting", "cold"}
    for side in out.values():
        assert side["vcsum_meeting"]["harmless"] == 2 and side["vcsum_meeting"]["flagged"] == 1   # the insult
        assert side["cold"]["harmless"] == 1 and side["cold"]["target"]["positive"] == "abuse"
    a = parser().parse_args(["eval", "--data", str(tmp_path), "--model", str(models / "classifier.joblib"),
                             "--against", str(models / "classifier-noncommercial.joblib")])
    assert a.func(a) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.strip().startswith("vcsum_meeting"))
    assert line.split()[-2:] == ["50.00%", "50.00%"]


def test_corpus_is_deterministic():
    from pipeline.classify.corpus import generate_mixed

    a = generate_mixed(5, {"work": 50, "chitchat": 20, "ad": 20, "rumour": 20, "abuse": 20, "confidential": 20, "illegal": 20})
    b = generate_mixed(5, {"work": 50, "chitchat": 20, "ad": 20, "rumour": 20, "abuse": 20, "confidential": 20, "illegal": 20})
    assert a == b and {r["label"] for r in a} == {"work", "chitchat", "ad", "rumour", "abuse", "confidential", "illegal"}


def test_trade_templates_fill_completely_in_every_class():
    import random

    from pipeline.classify import corpus

    r = random.Random(3)
    for label in ("work", "chitchat", "rumour", "abuse", "confidential", "illegal"):
        texts = [corpus._trade(r, label)[0] for _ in range(300)]
        assert not [t for t in texts if "{" in t or "}" in t], label
        assert any(place in t for t in texts for place in corpus.TRADE_PLACES + corpus.TRADE_ROLES), label


def test_short_logistics_lines_fill_completely_and_stay_short():
    import random

    from pipeline.classify import corpus

    r = random.Random(4)
    texts = [corpus._short_logistics(r) for _ in range(500)]
    assert not [t for t in texts if "{" in t or "}" in t]
    assert max(map(len, texts)) <= 30 and len(set(texts)) > 200


def test_public_chitchat_about_work_logistics_is_left_out_of_training():
    from pipeline.classify.train import ambiguous_in_work_group

    def chat(text: str) -> dict:
        return {"text": text, "label": "chitchat", "source": "nus_sms_zh"}

    for text in ("明在进城开会。", "我还没下班，你打他电话吧", "好的", "嗯嗯知道了", "明天老李请假了"):
        assert ambiguous_in_work_group(chat(text)), text
    for text in ("今晚一起吃火锅吗", "迟早会迷上，相信我", "周末去爬山不", "哈哈哈哈",
                 "今天终于下班了，晚上约了朋友去看电影，然后吃夜宵，开心死了哈哈哈哈"):
        assert not ambiguous_in_work_group(chat(text)), text
    assert not ambiguous_in_work_group({"text": "明天开会", "label": "work", "source": "project_synthetic"})


def test_eval_default_reports_every_workchat_set(tmp_path, capsys, monkeypatch):
    from pipeline.classify import evaluate

    a_file, b_file = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a_file.write_text(json.dumps({"text": "收到，明天上午给你", "label": "work"}, ensure_ascii=False), encoding="utf-8")
    b_file.write_text(json.dumps({"text": "下午三点开会", "label": "work"}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(evaluate, "WORKCHAT_TESTS", {"test2": a_file, "test": b_file, "missing": tmp_path / "no.jsonl"})
    a = parser().parse_args(["eval", "--json"])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    robust = out.pop("robustness")
    assert set(out) == {"test2", "test"} and out["test2"]["n"] == 1
    # the robustness table: both sets pooled, every family in both scopes; two work messages, no violation
    assert robust["n"] == 2 and robust["violating"] == 0 and robust["harmless"] == 2
    assert [(e["family"], e["scope"]) for e in robust["cloaked"]][:2] == [("fillers", "words"), ("fillers", "all")]
    assert len(robust["cloaked"]) == 10 and all("drop" not in e for e in robust["cloaked"])
    # Without --json, each set's report and then one line per set, side by side.
    a = parser().parse_args(["eval"])
    assert a.func(a) == 0
    text = capsys.readouterr().out
    summary = text[text.index("summary"):].splitlines()
    assert [line.split()[0] for line in summary[2:4]] == ["test2", "test"]
    # n, macro-F1, accuracy, and the share of the set in each decision band (a work message: pass)
    assert summary[2].split()[1:] == ["1", f"{out['test2']['macro_f1']:.3f}", f"{out['test2']['accuracy']:.3f}",
                                      "100.0%", "0.0%", "0.0%"]
    assert summary[4].startswith("pass, review, act") and summary[5] == ("act band precision over these sets: "
                                                                          "nothing in the act band")
    a = parser().parse_args(["eval", "--against", str(evaluate.PROJECT_ROOT / "models" / "classifier.joblib")])
    assert a.func(a) == 0
    summary = capsys.readouterr().out.split("summary")[1].splitlines()
    assert summary[2].split()[:5] == ["test2", "1", f"{out['test2']['macro_f1']:.3f}",
                                      f"{out['test2']['macro_f1']:.3f}", "+0.000"]


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_add_data_rows_train_as_hand_written(tmp_path):
    from pipeline.classify.train import HANDWRITTEN_WEIGHT, collect, local_rows

    ours = _jsonl(tmp_path / "acme.jsonl", [{"text": "本周五前交季度总结", "label": "work"},
                                             {"text": "出售客户名单，一条五毛", "label": "illegal"}])
    rows = local_rows([ours])
    assert [(r["source"], r["label"], r["weight"]) for r in rows] == [
        ("local:acme", "work", HANDWRITTEN_WEIGHT), ("local:acme", "illegal", HANDWRITTEN_WEIGHT)]
    collected = collect(tmp_path, 5, [], log=lambda *a, **k: None, local=rows)
    assert [r for r in collected if r["source"] == "local:acme"] == rows


def test_add_data_rejects_bad_files_naming_them(tmp_path):
    import pytest

    from pipeline.classify.train import local_rows

    cases = {
        "label.jsonl": '{"text": "你好", "label": "spam"}\n',
        "json.jsonl": '{"text": "你好", "label": "work"}\n{"text": \n',
        "text.jsonl": '{"text": "  ", "label": "work"}\n',
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=name):
            local_rows([path])
    with pytest.raises(ValueError, match="line 2"):
        local_rows([tmp_path / "json.jsonl"])


def test_train_with_a_bad_add_data_file_fails_before_any_work(tmp_path, capsys):
    bad = _jsonl(tmp_path / "ours.jsonl", [{"text": "你好", "label": "greeting"}])
    a = parser().parse_args(["train", "--data", str(tmp_path), "--add-data", str(bad), "--out", str(tmp_path / "m.joblib")])
    assert a.func(a) == 2
    assert "ours.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


def test_a_noncommercial_build_over_the_default_artifact_is_warned_about(tmp_path, capsys):
    from pipeline.classify.train import DEFAULT_OUT

    bad = _jsonl(tmp_path / "ours.jsonl", [{"text": "你好", "label": "greeting"}])   # stops before any work
    a = parser().parse_args(["train", "--data", str(tmp_path), "--add-data", str(bad), "--include-noncommercial",
                             "--out", str(DEFAULT_OUT)])
    assert a.func(a) == 2
    assert "not for commercial use" in capsys.readouterr().err
    a = parser().parse_args(["train", "--data", str(tmp_path), "--add-data", str(bad), "--include-noncommercial",
                             "--out", str(tmp_path / "m.joblib")])
    assert a.func(a) == 2
    assert "not for commercial use" not in capsys.readouterr().err


def test_compare_identical_predictions_shows_no_difference():
    from pipeline.classify.evaluate import compare

    gold = ["work", "ad", "abuse", "work", "rumour", "chitchat"] * 5
    pred = ["work", "ad", "work", "work", "rumour", "work"] * 5
    c = compare(gold, pred, list(pred), resamples=200)
    assert c["macro_f1_difference"] == 0 and c["interval_95"] == [0.0, 0.0]
    assert c["right_only_with_model"] == c["right_only_with_against"] == 0 and c["mcnemar_p"] == 1.0


def test_compare_a_clearly_better_model():
    from pipeline.classify.evaluate import compare

    gold = ["work", "abuse"] * 10
    better = list(gold)
    worse = ["work"] * 20  # misses every abuse message
    c = compare(gold, better, worse, resamples=500, seed=1)
    assert c["model"]["macro_f1"] == 1.0 and c["macro_f1_difference"] > 0.3
    assert c["interval_95"][0] > 0
    assert (c["right_only_with_model"], c["right_only_with_against"]) == (10, 0)
    assert abs(c["mcnemar_p"] - 2 / 2 ** 10) < 1e-4   # two-sided exact binomial, 10 of 10
    assert compare(gold, worse, better, resamples=500, seed=1)["interval_95"][1] < 0


def test_bootstrap_macro_f1_matches_metrics_on_the_full_sample():
    import random

    import numpy as np

    from pipeline.classify.evaluate import LABELS, _macro_f1, metrics

    r = random.Random(2)
    gold = [r.choice(LABELS[:5]) for _ in range(300)]
    pred = [g if r.random() < 0.7 else r.choice(LABELS) for g in gold]
    idx = {lab: i for i, lab in enumerate(LABELS)}
    g, p = np.array([idx[x] for x in gold]), np.array([idx[x] for x in pred])
    assert abs(_macro_f1(g, p, np.unique(g), len(LABELS)) - metrics(gold, pred)["macro_f1"]) < 1e-3


def test_eval_against_another_artifact(tmp_path, capsys):
    f = tmp_path / "e.jsonl"
    rows = [{"text": "收到，明天上午给你", "label": "work"}, {"text": "你就是个废物，滚出去", "label": "abuse"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    from pipeline.classify import model_path

    a = parser().parse_args(["eval", "--data", str(f), "--against", str(model_path()), "--json"])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and out["macro_f1_difference"] == 0 and out["model"] == out["against"]
    a = parser().parse_args(["eval", "--data", str(tmp_path), "--against", str(model_path())])
    assert a.func(a) == 2 and "heldout.jsonl" in capsys.readouterr().err   # a directory without held-out files
    a = parser().parse_args(["eval", "--data", str(f), "--against", str(tmp_path / "none.joblib")])
    assert a.func(a) == 2 and "none.joblib" in capsys.readouterr().err


def test_report_marks_classes_a_set_lacks_and_nobody_predicted():
    from pipeline.classify.evaluate import format_report, metrics

    m = metrics(["work", "chitchat", "work"], ["work", "ad", "chitchat"])
    rows = {line.split()[0]: line for line in format_report(m, "t").splitlines()[2:9]}
    assert "—" in rows["rumour"] and "—" not in rows["ad"] and "0.000" in rows["ad"]
    assert "—" not in rows["work"] and m["macro_f1"] == round((2 / 3 + 0.0) / 2, 4)


def test_bench_measures_cpu_time_and_two_artifacts_in_turns():
    from pipeline.classify.bench import run_against
    from pipeline.config import PROJECT_ROOT

    other = PROJECT_ROOT / "models" / "classifier-noncommercial.joblib"
    res = run_against(300, 5, None, str(other), rounds=2, pin=False)
    assert len(res["runs"]) == 2 and all(len(runs) == 2 for runs in res["runs"].values())
    for runs in res["runs"].values():
        for r in runs:
            assert r["batch512_msgs_per_cpu_s"] > 0 and 0 < r["cpu_p50_ms"] <= r["cpu_p99_ms"]
