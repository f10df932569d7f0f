"""models/MODEL_CARD.md: sources, licences, synthetic parts, per-class metrics on each heldout."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pipeline.classify.evaluate import WORKCHAT_TEST, evaluate_rows, heldout_suite, load_eval_file, metrics

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
    work = {}
    for key, path in (("test", WORKCHAT_TEST),):
        if path.exists():
            rows = load_eval_file(path)
            work[key] = metrics([r["label"] for r in rows], evaluate_rows(clf, rows))
    artifact["workchat"] = work
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
        "(config/normalisation.yaml); detectors (pipeline/text/detect.py) and curated lexicons "
        "(config/lexicons/) run first. Features: character 1–3-grams of the normalised text hashed with CRC-32 "
        "into 2^18 buckets (sublinear TF × IDF, L2) plus 33 detector/lexicon/shape features. Model: a multinomial "
        f"logistic regression (C={artifact['C']}) over eight internal classes (the seven plus `neutral` = ordinary SMS, "
        "true Weibo posts and safe comments, counted as work), three binary specialist heads "
        f"({', '.join(artifact.get('specialists') or []) or 'none'}; each trained on its public set plus the synthetic "
        "corpus), and a small second-level logistic regression fitted on a 10% validation split of the training "
        "data that turns the 11 logits into calibrated probabilities. "
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
        "| project_synthetic | the project's own (generated, pipeline/classify/corpus.py) | yes |",
        "| project_handwritten | the project's own (204 hand-written messages) | yes |",
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
        "Label mapping: sms spam_ad→ad, normal→work; weibo21 fake→rumour, real→work; COLD "
        "offensive→abuse, safe→work (these negatives are the internal class neutral, reported as work); telecom fraud→illegal, marketing→ad; LCCC/SMP chat/NUS→chitchat; "
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
        lines += ["", "## Hand-labelled work-group test set (`moderation eval`, tests/data/workchat_test.jsonl)",
                  "109 messages written by hand for this project, separately from the generator's templates, after the "
                  "corpus was settled, and never trained on. Its items were not used to change the corpus, lexicons or "
                  "rules. Its score was looked at for three candidate models in turn (without and with the hand-written "
                  "training set, then with the second-level model fitted class-balanced, a change chosen because it "
                  "raised the validation-split F1 of the training data); the shipped model is the last. An earlier 204-message hand-written set served as the "
                  "development set (its errors shaped the compositional corpus, the neutral class and the lexicons; "
                  "on it the model scored macro-F1 0.92–0.95 before it was added to training) and is now training data "
                  "(`pipeline/classify/data/workchat_handwritten.jsonl`, weight 8 per message).", "",
                  "| set | n | macro-F1 | accuracy | work | chitchat | ad | rumour | abuse | confidential | illegal |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, m in work.items():
            f1 = " | ".join(f"{m['per_class'][c]['f1']:.3f}" for c in m["labels"])
            lines.append(f"| {key} | {m['n']} | **{m['macro_f1']:.3f}** | {m['accuracy']:.3f} | {f1} |")
        lines += ["", "Target (issue 3): seven-class macro-F1 ≥ 0.90 on such a set.", "",
                  "Confusion on the test set (rows gold, columns predicted, order work, chitchat, ad, rumour, abuse, "
                  "confidential, illegal):", "", "```"]
        if "test" in work:
            for lab, row in zip(work["test"]["labels"], work["test"]["confusion"]):
                lines.append(f"{lab:<13}" + "".join(f"{x:>5}" for x in row))
        lines.append("```")
    lines += ["", "## Limits",
              "- Public sets are Weibo/SMS/comment text, not work chat; the work-chat behaviour rests on the "
              "synthetic corpus and 204 hand-written messages. On fresh hand-written work-group text (the test set) "
              "the model falls well short of the 0.90 macro-F1 target: violations phrased unlike the templates are "
              "often called work, short abuse is often called chitchat, and some work messages are called chitchat. "
              "More real (or more varied hand-written) work-group data is the main missing piece.",
              "- Reproduce: `moderation train --seed 13` (same data) gives the same artifact; `moderation eval` and "
              "`moderation eval --data ../shared/data` reproduce the tables above.",
              "- Linear character n-gram model: misses sarcasm and context; COLD and Weibo21 are below the "
              "BERT-level targets where the table says so.",
              "- Sub-labels (abuse: vulgar/violent/terror/attack; illegal: gambling/fraud/other) come from "
              "lexicons, with attack and fraud as defaults.", ""]
    card = model_path.parent / "MODEL_CARD.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    return card
