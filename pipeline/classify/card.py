"""models/MODEL_CARD.md: sources, licences, synthetic parts, per-class metrics on each heldout."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pipeline.classify.evaluate import WORKCHAT_TEST, heldout_suite, workchat_metrics

TARGETS = {"sms_spam_80w_subset": 0.98, "weibo21": 0.91, "cold": 0.81}


def write_model_card(model_path: Path, artifact: dict, data_dir: Path) -> Path:
    from pipeline.classify.evaluate import _policy
    from pipeline.classify.model import load

    class _A:  # no CLI args here: default policy
        policy = None

    policy = _policy(_A())
    thresholds = dict(policy.content.thresholds) if policy is not None else None
    clf = load(model_path, thresholds)
    suite = heldout_suite(clf, data_dir)
    artifact["heldout"] = suite
    work = artifact["workchat"] = workchat_metrics(clf, {"test": WORKCHAT_TEST})
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
        "corpus), two dedicated binary heads "
        f"({', '.join(h['name'] + ' on ' + '/'.join(h['sources']) for h in artifact.get('dedicated') or []) or 'none'}; "
        "each fitted on its public set alone, with that set's own IDF over the same hashed n-grams and C=64), and a "
        "small second-level logistic regression fitted on a 10% validation split of the training data that turns "
        "the 8+3+2 logits and five message-shape inputs (length buckets, log length) into calibrated probabilities. "
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
        "| project_handwritten | the project's own (hand-written messages: 204 in workchat_handwritten.jsonl, "
        "284 in workchat_handwritten2.jsonl) | yes |",
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
        "The hand-written sets (`pipeline/classify/data/workchat_handwritten*.jsonl`) are invented messages "
        "written by the project's engineers in the style of work-group chat, not real chat. The second one "
        "(284 messages) was written for this version aimed at the confusions the previous card listed (casual "
        "and net-slang abuse, ads/rumours/illegal requests phrased like colleague talk, casual work talk, "
        "confidential content without any detector hit); some of its phrasings also went into the generator's "
        "fragments. No real work-group chat was available.",
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
                  "rules. Before this version its score was looked at for three candidate models in turn; for this version "
                  "it was scored once, for the shipped model only (see *How this version was chosen*). An earlier "
                  "204-message hand-written set served as the "
                  "development set (its errors shaped the compositional corpus, the neutral class and the lexicons; "
                  "on it the model scored macro-F1 0.92–0.95 before it was added to training) and is now training data "
                  "(`pipeline/classify/data/workchat_handwritten.jsonl`, weight 8 per message; the second set likewise).", "",
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
    prev = {"sms_spam_80w_subset": 0.964, "weibo21": 0.849, "cold": 0.756}
    lines += ["", "## Against the previous model", "", "| measure | previous (2b94272) | this model |", "|---|---|---|"]
    for name, old in prev.items():
        if name in suite:
            lines.append(f"| {name} {suite[name]['target']['positive']} F1 | {old:.3f} | {suite[name]['target']['f1']:.3f} |")
    if "test" in work:
        lines.append(f"| work-chat test macro-F1 | 0.723 | {work['test']['macro_f1']:.3f} |")
    lines += ["", "## How this version was chosen",
              "Previous model (2026-11-25, card of commit 2b94272): SMS ad F1 0.964, Weibo21 rumour 0.849, COLD abuse "
              "0.756, work-chat test macro-F1 0.723. Every choice for this version was made on the 10% validation split "
              "of the training data (train.jsonl files and the project's corpus), never on heldout.jsonl or the "
              "work-chat test set, which were scored once for the shipped model:",
              "- dedicated heads: a binary logistic regression per public set with its own IDF, against the shared heads, "
              "on that set's validation rows: Weibo21 F1 0.90 vs 0.87, SMS ad 0.98 vs 0.94 (best C of 16/64), COLD "
              "0.90 vs 0.90 (no gain, so no COLD head). jieba word uni+bigrams added about +0.01 on Weibo21 and "
              "COLD in a side experiment but cost more than the speed budget allows (jieba alone is ~6k msgs/s), so "
              "they are not used;",
              "- second level: with 2-fold cross-validation on the validation split, the mean target-F1 over the "
              "sets (each public set, the synthetic rows and the hand-written rows counted once) rose from 0.925 "
              "(11 logits) to 0.930 (with the dedicated heads and shape inputs); per-class logit offsets tuned on "
              "the split, length-gated second levels, source-balanced weights, boosted trees and a small MLP were "
              "tried the same way and did not help, so none is used (`train(tune_offsets=True)` keeps the offsets "
              "option);",
              "- more varied synthetic fragments and the second hand-written set, for the work-chat confusions.",
              "Inside the full classifier the Weibo21 rumour decision stays below the dedicated head alone "
              "(validation 0.83–0.84 vs 0.88–0.89): the second level has to serve short synthetic rumours and long "
              "Weibo posts with one linear map.",
              "", "## Limits",
              "- Public sets are Weibo/SMS/comment text, not work chat; the work-chat behaviour rests on the "
              "synthetic corpus and 488 invented hand-written messages; see the test-set figures above against the "
              "0.90 macro-F1 target. More real work-group data is the main missing piece.",
              "- Reproduce: `moderation train --seed 13` (same data) gives the same artifact; `moderation eval` and "
              "`moderation eval --data ../shared/data` reproduce the tables above.",
              "- The dedicated heads' validation gains did not carry over to the held-out files: SMS ad, Weibo21 "
              "rumour and COLD abuse F1 are slightly below the previous model there (table above); the gain of this "
              "version is on work-group text (the hand-written test set), where abuse is still the weakest class "
              "(short or casual insults called chitchat or work).",
              "- Speed (`moderation bench classify`, one core, shared machine): about 12k msgs/s in batches of 512, "
              "p99 0.46 ms for one message, load 0.06 s.",
              "- Linear character n-gram model: misses sarcasm and context; COLD and Weibo21 are below the "
              "BERT-level targets where the table says so.",
              "- Sub-labels (abuse: vulgar/violent/terror/attack; illegal: gambling/fraud/other) come from "
              "lexicons, with attack and fraud as defaults.", ""]
    card = model_path.parent / "MODEL_CARD.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    return card
