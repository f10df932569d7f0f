"""`moderation eval`: per-class precision/recall/F1, macro-F1 and the confusion matrix.

--data FILE: any JSONL of {"text", "label"} with our seven labels. Without --data: the hand-labelled
work-chat test sets in tests/data, never trained on, each written blind by a helper (earlier test
sets were scored for the models they were written after and are training data now, see
docs/CLASSIFIER.md). --data DIR: the shared data
directory; every source's heldout.jsonl is mapped to our classes and scored (the numbers of the model card),
with the share of its real harmless rows (gold work or chit-chat) the classifier calls a violation.
--model PATH scores another artifact than the policy's; --against PATH compares with a second artifact
on the same rows (paired: a bootstrap interval of the macro-F1 difference and McNemar's test on the
rows only one of them gets right), to decide whether a retrained model is better than the one in use.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from pipeline.classify.verdict import LABELS
from pipeline.config import PROJECT_ROOT

# a harmless message called one of these is a false alarm (a reminder or an escalation for nothing)
HARMLESS = ("work", "chitchat")
VIOLATIONS = ("ad", "rumour", "abuse", "confidential", "illegal")
WORKCHAT_TESTS = {name: PROJECT_ROOT / "tests" / "data" / f"workchat_{name}.jsonl" for name in ("test10", "test9", "test8", "test7", "nearmiss9", "nearmiss8", "nearmiss7", "nearmiss6", "nearmiss5", "short", "abuse_blind")}
# the public held-out files of real offensive posts the robustness table cloaks
ROBUSTNESS_SOURCES = ("cold", "swsr_sexism")
# the evasion generator's seed for measuring (training's augmentation uses the training seed + 1000)
ROBUSTNESS_SEED = 29


def metrics(gold: list[str], pred: list[str], labels=LABELS) -> dict:
    idx = {lab: i for i, lab in enumerate(labels)}
    n = len(labels)
    cm = [[0] * n for _ in range(n)]
    for g, p in zip(gold, pred):
        cm[idx[g]][idx[p]] += 1
    per = {}
    present = set(gold)
    for lab in labels:
        i = idx[lab]
        tp = cm[i][i]
        fp = sum(cm[j][i] for j in range(n)) - tp
        fn = sum(cm[i]) - tp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        per[lab] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}
    macro = sum(per[lab]["f1"] for lab in labels if lab in present) / max(1, len(present & set(labels)))
    acc = sum(cm[i][i] for i in range(n)) / max(1, len(gold))
    return {"n": len(gold), "per_class": per, "macro_f1": round(macro, 4), "accuracy": round(acc, 4),
            "labels": list(labels), "confusion": cm}


def binary(gold: list[str], pred: list[str], positive: str) -> dict:
    tp = sum(g == positive and p == positive for g, p in zip(gold, pred))
    fp = sum(g != positive and p == positive for g, p in zip(gold, pred))
    fn = sum(g == positive and p != positive for g, p in zip(gold, pred))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"positive": positive, "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
            "support": tp + fn, "n": len(gold)}


def compare(gold: list[str], pred: list[str], other: list[str], labels=LABELS, resamples: int = 2000,
            seed: int = 0) -> dict:
    """Two models' predictions on the same rows: per-class F1 and macro-F1 of each (as `metrics`), the
    macro-F1 difference (pred - other) with a paired bootstrap 95% interval (the rows resampled
    together for both), and McNemar's exact test on the rows exactly one of them gets right."""
    mine, theirs = metrics(gold, pred, labels), metrics(gold, other, labels)
    idx = {lab: i for i, lab in enumerate(labels)}
    g = np.array([idx[x] for x in gold])
    a, b = np.array([idx[x] for x in pred]), np.array([idx[x] for x in other])
    present = np.unique(g)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for k in range(resamples):
        s = rng.integers(0, len(g), len(g))
        diffs[k] = _macro_f1(g[s], a[s], present, len(labels)) - _macro_f1(g[s], b[s], present, len(labels))
    only_pred = int(((a == g) & (b != g)).sum())
    only_other = int(((b == g) & (a != g)).sum())
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"n": len(gold), "model": mine, "against": theirs,
            "macro_f1_difference": round(mine["macro_f1"] - theirs["macro_f1"], 4),
            "interval_95": [round(float(low), 4), round(float(high), 4)], "resamples": resamples,
            "right_only_with_model": only_pred, "right_only_with_against": only_other,
            "mcnemar_p": round(_mcnemar_exact(only_pred, only_other), 4)}


def _macro_f1(gold: np.ndarray, pred: np.ndarray, classes: np.ndarray, n_labels: int) -> float:
    tp = np.bincount(gold[gold == pred], minlength=n_labels)[classes]
    predicted = np.bincount(pred, minlength=n_labels)[classes]
    actual = np.bincount(gold, minlength=n_labels)[classes]
    denominator = predicted + actual
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(classes)), where=denominator > 0)
    return float(f1.mean())


def _mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b successes in b + c at one half."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def format_comparison(c: dict, title: str) -> str:
    lines = [title, f"{'class':<13}{'model':>8}{'against':>9}{'change':>9}"]
    for lab in c["model"]["labels"]:
        f1, f0 = c["model"]["per_class"][lab]["f1"], c["against"]["per_class"][lab]["f1"]
        lines.append(f"{lab:<13}{f1:>8.3f}{f0:>9.3f}{f1 - f0:>+9.3f}")
    low, high = c["interval_95"]
    lines.append(f"{'macro-F1':<13}{c['model']['macro_f1']:>8.3f}{c['against']['macro_f1']:>9.3f}"
                 f"{c['macro_f1_difference']:>+9.3f}   95% interval [{low:+.3f}, {high:+.3f}] "
                 f"(paired bootstrap, {c['resamples']} resamples)")
    lines.append(f"rows right only with the model: {c['right_only_with_model']}, only with the other: "
                 f"{c['right_only_with_against']} (McNemar exact p = {c['mcnemar_p']:.3f}), n={c['n']}")
    return "\n".join(lines)


def evaluate_verdicts(classifier, rows: list[dict], batch: int = 1024) -> list:
    verdicts = []
    for i in range(0, len(rows), batch):
        verdicts.extend(classifier.classify([r["text"] for r in rows[i:i + batch]]))
    return verdicts


def evaluate_rows(classifier, rows: list[dict], batch: int = 1024) -> list[str]:
    return [v.label for v in evaluate_verdicts(classifier, rows, batch)]


def band_figures(gold: list[str], verdicts: list, unlabelled: tuple[str, ...] = ()) -> dict:
    """The decision bands (R1) of a set's verdicts: how many rows land in each band, the same for its
    harmless rows (gold work or chit-chat) with the false alarms (harmless rows called ad, rumour,
    abuse, confidential or illegal) split by band, and per label the act band's precision (rows in it,
    right, and a Clopper-Pearson 95% interval). A label in `unlabelled` is one the set's gold labels do
    not speak to (chit-chat in a set whose harmless rows are only "not spam"): its act rows are counted
    apart, without a precision."""
    from pipeline.classify.bands import clopper_pearson
    from pipeline.classify.verdict import BANDS

    harmless = [v for g, v in zip(gold, verdicts) if g in HARMLESS]
    act: dict[str, dict] = {}
    apart: dict[str, int] = {}
    for g, v in zip(gold, verdicts):
        if v.band == "act" and v.label in unlabelled:
            apart[v.label] = apart.get(v.label, 0) + 1
        elif v.band == "act" and v.label != "work":
            entry = act.setdefault(v.label, {"rows": 0, "correct": 0})
            entry["rows"] += 1
            entry["correct"] += g == v.label
    for entry in act.values():
        entry["precision"] = round(entry["correct"] / entry["rows"], 4)
        entry["interval"] = clopper_pearson(entry["correct"], entry["rows"])
    return {"n": len(verdicts), "bands": {b: sum(v.band == b for v in verdicts) for b in BANDS},
            "harmless": {"n": len(harmless), **{b: sum(v.band == b for v in harmless) for b in BANDS}},
            "false_alarms": {b: sum(v.band == b and v.label in VIOLATIONS for v in harmless) for b in ("review", "act")},
            "act_precision": {lab: act[lab] for lab in LABELS if lab in act},
            "act_unlabelled": apart}


def pooled_act_precision(figures: list[dict]) -> dict:
    """The act band's precision per label over several sets' `band_figures`."""
    from pipeline.classify.bands import clopper_pearson

    out: dict[str, dict] = {}
    for f in figures:
        for lab, e in f["act_precision"].items():
            entry = out.setdefault(lab, {"rows": 0, "correct": 0})
            entry["rows"] += e["rows"]
            entry["correct"] += e["correct"]
    for entry in out.values():
        entry["precision"] = round(entry["correct"] / entry["rows"], 4)
        entry["interval"] = clopper_pearson(entry["correct"], entry["rows"])
    return {lab: out[lab] for lab in LABELS if lab in out}


def format_bands(f: dict, indent: str = "") -> list[str]:
    """Two or three lines: the share of each band, of the harmless rows (if any), and the act band's precision."""
    def shares(counts: dict, n: int) -> str:
        return " · ".join(f"{b} {100 * counts[b] / n:.1f}% ({counts[b]})" for b in ("pass", "review", "act"))

    lines = [f"{indent}bands: {shares(f['bands'], f['n'])}"]
    h = f["harmless"]
    if h["n"]:
        fa = f["false_alarms"]
        lines.append(f"{indent}harmless rows ({h['n']}): {shares(h, h['n'])}; called a violation: "
                     f"{fa['review']} in review, {fa['act']} in act ({100 * fa['act'] / h['n']:.2f}%)")
    lines.append(f"{indent}act band precision: " + format_act_precision(f["act_precision"]))
    for lab, n in f.get("act_unlabelled", {}).items():
        lines.append(f"{indent}{lab} in the act band: {n} rows (no precision: the set's labels do not say what is {lab})")
    return lines


def format_act_precision(act: dict) -> str:
    if not act:
        return "nothing in the act band"
    return ", ".join(f"{lab} {e['precision']:.3f} ({e['correct']} of {e['rows']}; 95% "
                     f"[{e['interval'][0]:.3f}, {e['interval'][1]:.3f}])" for lab, e in act.items())


def heldout_suite(classifier, data_dir: Path, sources=None, progress=None, with_robustness: bool = False) -> dict:
    """Score every source's heldout.jsonl (mapped to our classes). Never used for fitting."""
    from pipeline.classify.datasets import NEUTRAL, SOURCES, load_split

    out = {}
    for src in sources or SOURCES:
        try:
            rows = load_split(data_dir, src, "heldout")
        except FileNotFoundError:
            continue
        gold = [r["label"] for r in rows]
        verdicts = evaluate_verdicts(classifier, rows)
        pred = [v.label for v in verdicts]
        # a set whose harmless rows are only "not an ad / not fake / not offensive" (the internal class
        # neutral) does not say whether they are work or chit-chat
        unlabelled = ("chitchat",) if NEUTRAL in src.mapping.values() else ()
        classes = sorted(set(gold), key=LABELS.index)
        m = metrics(gold, pred)
        res = {"n": len(rows), "classes": classes, "target": binary(gold, pred, src.target) if src.target else None,
               "per_class": {c: m["per_class"][c] for c in classes}, "accuracy": m["accuracy"],
               "predicted": {lab: pred.count(lab) for lab in LABELS if lab in pred}, **false_alarms(gold, pred),
               "bands": band_figures(gold, verdicts, unlabelled)}
        if with_robustness and src.name in ROBUSTNESS_SOURCES:
            res["robustness"] = robustness(classifier, rows, target=src.target)
        out[src.name] = res
        if progress:
            progress(src.name)
    return out


def false_alarms(gold: list[str], pred: list[str]) -> dict:
    """How many of the harmless rows (gold work or chit-chat) are called a violation, and their share
    (None for a set with no harmless rows)."""
    harmless = [p for g, p in zip(gold, pred) if g in HARMLESS]
    flagged = sum(p in VIOLATIONS for p in harmless)
    return {"harmless": len(harmless), "flagged": flagged,
            "flagged_share": round(flagged / len(harmless), 4) if harmless else None}


def robustness(classifier, rows: list[dict], seed: int = ROBUSTNESS_SEED, target: str | None = None,
               resamples: int = 2000) -> dict:
    """The same rows clean and cloaked by the evasion generator, per family and scope: the share of the
    violating rows (gold ad, rumour, abuse, confidential or illegal) called a violation, clean and
    cloaked, the drop with a paired bootstrap 95% interval, how many rows the cloaking changed; the
    share of harmless rows (gold work or chit-chat) called a violation, clean and cloaked; and with
    `target`, that class's F1 clean and cloaked."""
    from pipeline.classify.evasion import FAMILIES, SCOPES, cloaked_rows

    gold = [r["label"] for r in rows]
    violating = np.array([g in VIOLATIONS for g in gold])
    harmless = np.array([g in HARMLESS for g in gold])
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, int(violating.sum()), int(violating.sum())) for _ in range(resamples)] if violating.any() else []

    def figures(pred: list[str]) -> tuple[np.ndarray, dict]:
        flagged = np.array([p in VIOLATIONS for p in pred])
        out = {"violating_flagged": round(float(flagged[violating].mean()), 4) if violating.any() else None,
               "harmless_flagged": round(float(flagged[harmless].mean()), 4) if harmless.any() else None,
               "harmless_flagged_rows": int(flagged[harmless].sum())}
        if target:
            out["target_f1"] = binary(gold, pred, target)["f1"]
        return flagged, out

    clean_flags, clean = figures(evaluate_rows(classifier, rows))
    result = {"n": len(rows), "violating": int(violating.sum()), "harmless": int(harmless.sum()), "target": target,
              "seed": seed, "clean": clean, "cloaked": []}
    for family in FAMILIES:
        for scope in SCOPES:
            cloaked = cloaked_rows(rows, family, scope, seed)
            flags, fig = figures(evaluate_rows(classifier, cloaked))
            changed = np.array([c["text"] != r["text"] for c, r in zip(cloaked, rows)])
            entry = {"family": family, "scope": scope, "changed_violating": int((changed & violating).sum()),
                     "changed_harmless": int((changed & harmless).sum()), **fig}
            if violating.any():
                a, b = clean_flags[violating].astype(float), flags[violating].astype(float)
                diffs = np.array([a[s].mean() - b[s].mean() for s in samples])
                low, high = np.percentile(diffs, [2.5, 97.5])
                entry["drop"] = round(float(a.mean() - b.mean()), 4)
                entry["drop_interval"] = [round(float(low), 4), round(float(high), 4)]
            result["cloaked"].append(entry)
    return result


def format_robustness(r: dict, title: str) -> str:
    """The robustness table: one line per family and scope."""
    c = r["clean"]
    lines = [title,
             f"  {r['violating']} violating and {r['harmless']} harmless rows; generator seed {r['seed']}; words: only the "
             "lexicons' words rewritten (rows without one stay clean), all: every character a family can rewrite",
             f"  {'family':<11}{'scope':<7}{'changed':>8}{'flagged':>9}{'cloaked':>9}{'drop':>8}   {'95% interval':<17}"
             f"{'harmless flagged':>17}{'cloaked':>9}" + (f"{r['target'] + ' F1':>11}{'cloaked':>9}" if r["target"] else "")]
    for e in r["cloaked"]:
        line = f"  {e['family']:<11}{e['scope']:<7}{e['changed_violating']:>8}"
        if e.get("drop") is not None:
            low, high = e["drop_interval"]
            line += f"{c['violating_flagged']:>9.3f}{e['violating_flagged']:>9.3f}{e['drop']:>+8.3f}   [{low:+.3f}, {high:+.3f}]  "
        else:
            line += " " * 45
        if c["harmless_flagged"] is not None:
            line += f"{100 * c['harmless_flagged']:>16.2f}%{100 * e['harmless_flagged']:>8.2f}%"
        if r["target"]:
            line += f"{c['target_f1']:>11.3f}{e['target_f1']:>9.3f}"
        lines.append(line)
    lines.append("  flagged: share of the violating rows called ad, rumour, abuse, confidential or illegal; drop: clean "
                 "minus cloaked (paired bootstrap); harmless flagged: share of work and chit-chat rows called one of those")
    return "\n".join(lines)


def load_eval_file(path: Path) -> list[dict]:
    from pipeline.classify.datasets import read_jsonl

    rows = read_jsonl(path)
    bad = [r for r in rows if r.get("label") not in LABELS]
    if bad:
        raise ValueError(f"{path}: {len(bad)} rows have a label outside {', '.join(LABELS)} "
                         f"(first: {bad[0].get('label')!r})")
    return rows


def format_report(m: dict, title: str) -> str:
    lines = [title, f"{'class':<13}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}"]
    for i, lab in enumerate(m["labels"]):
        c = m["per_class"][lab]
        if not c["support"] and not any(row[i] for row in m["confusion"]):
            lines.append(f"{lab:<13}{'—':>10}{'—':>10}{'—':>8}{0:>9}")  # not in this set, never predicted
            continue
        lines.append(f"{lab:<13}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>8.3f}{c['support']:>9}")
    lines.append(f"macro-F1 {m['macro_f1']:.4f} (over the classes in the set)   accuracy {m['accuracy']:.4f}   n={m['n']}")
    lines.append("confusion (rows = gold, columns = predicted):")
    short = [lab[:6] for lab in m["labels"]]
    lines.append(" " * 13 + "".join(f"{s:>8}" for s in short))
    for lab, row in zip(m["labels"], m["confusion"]):
        lines.append(f"{lab:<13}" + "".join(f"{x:>8}" for x in row))
    return "\n".join(lines)


def format_suite(suite: dict) -> str:
    lines = ["held-out sets (../shared/data/*/heldout.jsonl, mapped to our classes):"]
    for name, res in suite.items():
        t = res["target"]
        head = f"  {name:<24} n={res['n']:<6}"
        if t:
            head += f" {t['positive']} P={t['precision']:.3f} R={t['recall']:.3f} F1={t['f1']:.3f}"
        lines.append(head)
        for c, v in res["per_class"].items():
            lines.append(f"      {c:<13} P={v['precision']:.3f} R={v['recall']:.3f} F1={v['f1']:.3f} support={v['support']}")
        if res.get("harmless"):
            lines.append(f"      harmless rows called a violation: {res['flagged']} of {res['harmless']} "
                         f"({100 * res['flagged_share']:.2f}%)")
        if res.get("bands"):
            lines += format_bands(res["bands"], "      ")
    pooled = pooled_act_precision([res["bands"] for res in suite.values() if res.get("bands")])
    lines.append("act band precision over all these sets (gold: each source's own label, mapped; chit-chat only "
                 "where the set tells it from work): "
                 + format_act_precision(pooled))
    lines += ["", format_false_alarms(suite)]
    for name, res in suite.items():
        if res.get("robustness"):
            lines += ["", format_robustness(res["robustness"], f"robustness on {name} (held-out), clean against cloaked:")]
    return "\n".join(lines)


def format_false_alarms(suite: dict) -> str:
    """One line per held-out file with harmless rows: how many of them are called a violation (ad, rumour,
    abuse, confidential or illegal), and how many of those are in the act band (escalate at once)."""
    lines = ["false alarms: real harmless rows (gold work or chit-chat) called a violation",
             f"  {'set':<24}{'harmless':>9}{'called a violation':>20}{'in act':>14}"]
    for name, res in suite.items():
        if not res.get("harmless"):
            continue
        act = res["bands"]["false_alarms"]["act"] if res.get("bands") else 0
        lines.append(f"  {name:<24}{res['harmless']:>9}{100 * res['flagged_share']:>12.2f}% ({res['flagged']:>4})"
                     f"{100 * act / res['harmless']:>7.2f}% ({act})")
    return "\n".join(lines)


def format_suite_comparison(mine: dict, theirs: dict) -> str:
    """Two models' held-out results side by side: the target-class F1 and the share of harmless rows
    called a violation, per source."""
    lines = ["held-out sets (../shared/data/*/heldout.jsonl), model against the other:",
             f"  {'set':<24}{'n':>6}  {'class':<13}{'F1':>7}{'other':>7}{'change':>8}"
             f"   {'false alarms':>12}{'other':>8}  (share of harmless rows called a violation)"]
    for name, res in mine.items():
        other = theirs.get(name)
        if other is None:
            continue
        line = f"  {name:<24}{res['n']:>6}  "
        if res["target"]:
            f1, f0 = res["target"]["f1"], other["target"]["f1"]
            line += f"{res['target']['positive']:<13}{f1:>7.3f}{f0:>7.3f}{f1 - f0:>+8.3f}"
        else:
            line += " " * 35
        if res.get("harmless"):
            line += f"   {100 * res['flagged_share']:>11.2f}%{100 * other['flagged_share']:>7.2f}%"
        lines.append(line.rstrip())
    return "\n".join(lines)


def eval_command(args) -> int:
    from pipeline.classify import load_classifier
    from pipeline.classify.model import ModelError

    policy = _policy(args)
    try:
        clf = load_classifier(policy, getattr(args, "model", None))
        against = load_classifier(policy, args.against) if getattr(args, "against", None) else None
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "data", None):
        return _eval_workchat_sets(clf, against, args)
    path = Path(args.data)
    if path.is_dir():
        suite = heldout_suite(clf, path, with_robustness=against is None and not getattr(args, "no_robustness", False))
        if not suite:
            print(f"error: no <source>/heldout.jsonl under {path}", file=sys.stderr)
            return 2
        if against is not None:
            theirs = heldout_suite(against, path)
            print(json.dumps({"model": suite, "against": theirs}, ensure_ascii=False, indent=1) if args.json
                  else format_suite_comparison(suite, theirs))
            return 0
        print(json.dumps(suite, ensure_ascii=False, indent=1) if args.json else format_suite(suite))
        return 0
    if not path.exists():
        print(f"error: {path} not found", file=sys.stderr)
        return 2
    try:
        rows = load_eval_file(path)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = _scored(clf, against, rows)
    print(json.dumps(result, ensure_ascii=False) if args.json else _formatted(result, f"evaluation on {path}"))
    return 0


def _scored(classifier, against, rows: list[dict]) -> dict:
    """`metrics` of the classifier on the rows, or its `compare` with a second classifier."""
    gold, verdicts = [r["label"] for r in rows], evaluate_verdicts(classifier, rows)
    pred = [v.label for v in verdicts]
    result = metrics(gold, pred) if against is None else compare(gold, pred, evaluate_rows(against, rows))
    result["bands"] = band_figures(gold, verdicts)
    return result


def _formatted(result: dict, title: str) -> str:
    text = format_comparison(result, title) if "against" in result else format_report(result, title)
    return "\n".join([text, *format_bands(result["bands"])]) if "bands" in result else text


def workchat_metrics(classifier, sets=None, against=None) -> dict:
    """{name: metrics} (or comparisons, given `against`) for each hand-labelled work-chat test set that exists."""
    return {name: _scored(classifier, against, load_eval_file(Path(path)))
            for name, path in (sets or WORKCHAT_TESTS).items() if Path(path).exists()}


def _eval_workchat_sets(clf, against, args) -> int:
    results = workchat_metrics(clf, against=against)
    if not results:
        print("error: no work-chat test set under tests/data", file=sys.stderr)
        return 2
    robust = None
    if against is None and not getattr(args, "no_robustness", False):
        pooled = [r for name, path in WORKCHAT_TESTS.items() if name in results for r in load_eval_file(Path(path))]
        robust = robustness(clf, pooled)
    if args.json:
        print(json.dumps({**results, **({"robustness": robust} if robust else {})}, ensure_ascii=False))
    else:
        print("\n\n".join(_formatted(m, f"evaluation on {WORKCHAT_TESTS[name]}") for name, m in results.items()))
        print("\n" + format_summary(results))
        if robust:
            print("\n" + format_robustness(robust, f"robustness on the work-chat sets above pooled ({robust['n']} "
                                                    "messages), clean against cloaked:"))
    return 0


def format_summary(results: dict) -> str:
    """One line per set: macro-F1 and accuracy (with `--against`: both models' macro-F1, the
    difference and its interval), so the sets can be read side by side after their details."""
    if any("against" in m for m in results.values()):
        lines = [f"{'set':<12}{'n':>5}{'model':>8}{'against':>9}{'change':>9}   95% interval"]
        for name, c in results.items():
            low, high = c["interval_95"]
            lines.append(f"{name:<12}{c['n']:>5}{c['model']['macro_f1']:>8.3f}{c['against']['macro_f1']:>9.3f}"
                         f"{c['macro_f1_difference']:>+9.3f}   [{low:+.3f}, {high:+.3f}]")
    else:
        lines = [f"{'set':<12}{'n':>5}{'macro-F1':>10}{'accuracy':>10}{'pass':>8}{'review':>8}{'act':>8}"]
        for name, m in results.items():
            b = m["bands"]["bands"] if "bands" in m else None
            shares = "".join(f"{100 * b[k] / m['n']:>7.1f}%" for k in ("pass", "review", "act")) if b else ""
            lines.append(f"{name:<12}{m['n']:>5}{m['macro_f1']:>10.3f}{m['accuracy']:>10.3f}{shares}")
    figures = [m["bands"] for m in results.values() if "bands" in m]
    if figures:
        lines.append("pass, review, act: the share of each set's verdicts in each decision band (content.review)")
        lines.append("act band precision over these sets: " + format_act_precision(pooled_act_precision(figures)))
    return "\n".join(["summary (macro-F1 over the classes in each set):", *lines])


def _policy(args):
    from pipeline.config import load_policy

    try:
        return load_policy(getattr(args, "policy", None))
    except Exception:  # noqa: BLE001 - evaluation still works with the default thresholds
        return None
