"""`moderation eval`: per-class precision/recall/F1, macro-F1 and the confusion matrix.

--data FILE: any JSONL of {"text", "label"} with our seven labels. Without --data: the hand-labelled
work-chat test sets, never trained on: tests/data/workchat_test5.jsonl (written blind by a helper)
and workchat_test4.jsonl (the three earlier test sets were scored for the models they were written
after and are training data now). --data DIR: the shared data
directory; every source's heldout.jsonl is mapped to our classes and scored (the numbers of the model card).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.classify.verdict import LABELS
from pipeline.config import PROJECT_ROOT

WORKCHAT_TESTS = {name: PROJECT_ROOT / "tests" / "data" / f"workchat_{name}.jsonl" for name in ("test5", "test4")}


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


def evaluate_rows(classifier, rows: list[dict], batch: int = 1024) -> list[str]:
    preds = []
    for i in range(0, len(rows), batch):
        preds.extend(v.label for v in classifier.classify([r["text"] for r in rows[i:i + batch]]))
    return preds


def heldout_suite(classifier, data_dir: Path, sources=None, progress=None) -> dict:
    """Score every source's heldout.jsonl (mapped to our classes). Never used for fitting."""
    from pipeline.classify.datasets import SOURCES, load_split

    out = {}
    for src in sources or SOURCES:
        try:
            rows = load_split(data_dir, src, "heldout")
        except FileNotFoundError:
            continue
        gold = [r["label"] for r in rows]
        pred = evaluate_rows(classifier, rows)
        classes = sorted(set(gold), key=LABELS.index)
        m = metrics(gold, pred)
        res = {"n": len(rows), "classes": classes, "target": binary(gold, pred, src.target) if src.target else None,
               "per_class": {c: m["per_class"][c] for c in classes}, "accuracy": m["accuracy"],
               "predicted": {lab: pred.count(lab) for lab in LABELS if lab in pred}}
        out[src.name] = res
        if progress:
            progress(src.name)
    return out


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
    for lab in m["labels"]:
        c = m["per_class"][lab]
        lines.append(f"{lab:<13}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>8.3f}{c['support']:>9}")
    lines.append(f"macro-F1 {m['macro_f1']:.4f}   accuracy {m['accuracy']:.4f}   n={m['n']}")
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
    return "\n".join(lines)


def eval_command(args) -> int:
    from pipeline.classify import load_classifier
    from pipeline.classify.model import ModelError

    policy = _policy(args)
    try:
        clf = load_classifier(policy)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "data", None):
        return _eval_workchat_sets(clf, args)
    path = Path(args.data)
    if path.is_dir():
        suite = heldout_suite(clf, path)
        if not suite:
            print(f"error: no <source>/heldout.jsonl under {path}", file=sys.stderr)
            return 2
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
    m = metrics([r["label"] for r in rows], evaluate_rows(clf, rows))
    print(json.dumps(m, ensure_ascii=False) if args.json else format_report(m, f"evaluation on {path}"))
    return 0


def workchat_metrics(classifier, sets=None) -> dict:
    """{name: metrics} for each hand-labelled work-chat test set that exists."""
    out = {}
    for name, path in (sets or WORKCHAT_TESTS).items():
        if Path(path).exists():
            rows = load_eval_file(Path(path))
            out[name] = metrics([r["label"] for r in rows], evaluate_rows(classifier, rows))
    return out


def _eval_workchat_sets(clf, args) -> int:
    results = workchat_metrics(clf)
    if not results:
        print("error: no work-chat test set under tests/data", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print("\n\n".join(format_report(m, f"evaluation on {WORKCHAT_TESTS[name]}") for name, m in results.items()))
    return 0


def _policy(args):
    from pipeline.config import load_policy

    try:
        return load_policy(getattr(args, "policy", None))
    except Exception:  # noqa: BLE001 - evaluation still works with the default thresholds
        return None
