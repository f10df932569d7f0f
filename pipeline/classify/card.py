"""models/MODEL_CARD.md: sources, licences, synthetic parts, per-class metrics on each heldout."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pipeline.classify.evaluate import EVAL_WORKCHAT, evaluate_rows, heldout_suite, load_eval_file, metrics

TARGETS = {"sms_spam_80w_subset": 0.98, "weibo21": 0.91, "cold": 0.81}


def write_model_card(model_path: Path, artifact: dict, data_dir: Path) -> Path:
    from pipeline.classify import load_classifier
    from pipeline.classify.evaluate import _policy
    from pipeline.classify.model import load

    class _A:  # no CLI args here: default policy
        policy = None

    policy = _policy(_A())
    thresholds = dict(policy.content.thresholds) if policy is not None else None
    clf = load(model_path, thresholds)
    suite = heldout_suite(clf, data_dir)
    artifact["heldout"] = suite
    work = None
    if EVAL_WORKCHAT.exists():
        rows = load_eval_file(EVAL_WORKCHAT)
        work = metrics([r["label"] for r in rows], evaluate_rows(clf, rows))
    size = model_path.stat().st_size / 1e6
    names = {s["name"] for s in artifact["sources"]}
    lines = [
        "# Model card: content classifier (`models/classifier.joblib`)",
        "",
        f"Trained {artifact['trained_at']} with `moderation train --seed {artifact['seed']}`; "
        f"card written {_dt.date.today().isoformat()}. Artifact {size:.1f} MB.",
        "",
        "## What it is",
        "Seven classes: work, chitchat, ad, rumour, abuse, confidential, illegal. Text is normalised "
        "(config/normalisation.yaml), detectors (pipeline/text/detect.py) and curated lexicons "
        "(config/lexicons/) run first; a multinomial logistic regression over hashed character 1–3-grams "
        "(2^18 buckets, sublinear TF-IDF) plus detector/lexicon features gives the scores, "
        f"temperature-scaled (T={artifact['temperature']:.2f}) on a validation split of the training data. "
        "Detector rules then decide on their own for resident ids, bank cards, credentials and keys "
        "(confidential) and for gambling terms with a contact handle (illegal). Per-class thresholds "
        "come from config/policy.yaml (content.thresholds).",
        "",
        "## Training data",
        "| source | licence | used |",
        "|---|---|---|",
    ]
    from pipeline.classify.datasets import SOURCES

    for s in SOURCES:
        lines.append(f"| {s.name} | {s.licence} | {'yes' if s.name in names else 'excluded'} |")
    lines += [
        "| project_synthetic | the project's own | yes |",
        "",
        "Only `train.jsonl` files are fitted on (10% of them held back for calibration); the "
        "`heldout.jsonl` files are scored below and never used for fitting or threshold choice.",
        "Research-only / non-commercial sources are in this artifact when marked `yes`: build a "
        "commercially usable model with `moderation train --exclude-licence research-only "
        "--exclude-licence non-commercial --exclude-licence unstated`.",
        "",
        "**Synthetic parts.** `project_synthetic` (pipeline/classify/corpus.py) is template-generated "
        "by this project: work-group notices, tasks, progress, questions and acknowledgements, idle chat "
        "and flooding, ads, workplace rumours, abuse, leaks (fake checksum-valid resident ids, Luhn-valid "
        "card numbers, made-up passwords and keys), gambling and fraud, and near-misses such as security "
        "notices that mention fraud. `multipriv_zh_synthetic` is synthetic too (generated PII paragraphs). "
        "No real work-group chat was available.",
        "",
        "## Held-out results (`moderation eval --data ../shared/data`)",
        "Label mapping: sms spam_ad→ad, normal→chitchat; weibo21 fake→rumour, real→chitchat; COLD "
        "offensive→abuse, safe→chitchat; telecom fraud→illegal, marketing→ad; LCCC/SMP chat/NUS→chitchat; "
        "VCSum→work; MultiPriv→confidential. The headline F1 is the full classifier's verdict "
        "(detectors, thresholds and all) for the set's target class against everything else.",
        "",
        "| set | n | target class | P | R | F1 | issue-3 target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, res in suite.items():
        t = res["target"]
        goal = f"≥ {TARGETS[name]}" if name in TARGETS else "—"
        lines.append(f"| {name} | {res['n']} | {t['positive']} | {t['precision']:.3f} | {t['recall']:.3f} | "
                     f"{t['f1']:.3f} | {goal} |")
    lines += ["", "Per class, per set:", "", "| set | class | P | R | F1 | support |", "|---|---|---|---|---|---|"]
    for name, res in suite.items():
        for c, v in res["per_class"].items():
            lines.append(f"| {name} | {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    if work:
        lines += ["", "## Hand-labelled work-group set (`moderation eval`, tests/data/eval_workchat.jsonl)",
                  "Written by hand for this project, separately from the generator's templates, and never "
                  f"trained on. n={work['n']}, macro-F1 **{work['macro_f1']:.3f}** (target ≥ 0.90), "
                  f"accuracy {work['accuracy']:.3f}.", "", "| class | P | R | F1 | support |", "|---|---|---|---|---|"]
        for c, v in work["per_class"].items():
            lines.append(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    lines += ["", "## Limits",
              "- Public sets are Weibo/SMS/comment text, not work chat; the work-chat behaviour rests on the "
              "synthetic corpus and a 200-message hand-labelled set, which is small.",
              "- Linear character n-gram model: misses sarcasm and context; COLD and Weibo21 are below the "
              "BERT-level targets where the table says so.",
              "- Sub-labels (abuse: vulgar/violent/terror/attack; illegal: gambling/fraud/other) come from "
              "lexicons, with attack and fraud as defaults.", ""]
    card = model_path.parent / "MODEL_CARD.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    return card
