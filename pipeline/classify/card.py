"""models/MODEL_CARD.md: sources, licences, synthetic parts, per-class metrics on each heldout."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pipeline.classify.evaluate import WORKCHAT_TESTS, heldout_suite, workchat_metrics

TARGETS = {"sms_spam_80w_subset": 0.98, "weibo21": 0.91, "cold": 0.81}


def _handwritten_counts() -> list[tuple[str, int]]:
    from pipeline.classify.train import HANDWRITTEN_FILES

    return [(p.name, sum(1 for line in p.open(encoding="utf-8") if line.strip())) for p in HANDWRITTEN_FILES]


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
    work = artifact["workchat"] = workchat_metrics(clf, WORKCHAT_TESTS)
    handwritten = _handwritten_counts()
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
        "small second-level logistic regression fitted on out-of-fold scores of the training rows (two halves, "
        "each scored by first-level models fitted on the other half) that turns the 8+3+2 logits and five "
        "message-shape inputs (length buckets, log length) into calibrated probabilities. "
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
        "| project_handwritten | the project's own (hand-written messages: "
        + ", ".join(f"{n} in {name}" for name, n in handwritten) + ") | yes |",
        *(f"| {d['name']} | the deploying company's own (`--add-data`, {d['rows']} labelled messages) | yes |"
          for d in artifact.get("local_data") or []),
        "",
        "Only `train.jsonl` files are fitted on (10% of them held back for validation); the "
        "`heldout.jsonl` files are scored below and never used for fitting or threshold choice.",
        "Research-only / non-commercial sources are in this artifact when marked `yes`: build a "
        "commercially usable model with `moderation train --exclude-licence research-only "
        "--exclude-licence non-commercial --exclude-licence unstated`.",
        "",
        "**Synthetic parts.** `project_synthetic` (pipeline/classify/corpus.py) is template-generated "
        "by this project: work-group notices, tasks, progress, questions and acknowledgements, idle chat "
        "and flooding, ads, workplace rumours, abuse, leaks (fake checksum-valid resident ids, Luhn-valid "
        "card numbers, made-up passwords and keys), gambling and fraud, and near-misses such as security "
        "notices that mention fraud, reminders not to post personal data, and notices with a bracketed header "
        "(【通知】). `multipriv_zh_synthetic` is synthetic too (generated PII paragraphs). "
        "The hand-written sets (`pipeline/classify/data/workchat_handwritten*.jsonl`, weight 24 per message) are "
        "invented messages written by the project's engineers in the style of work-group chat, not real chat: the "
        "first was the development set, the second was aimed at the confusions of an earlier card (casual abuse, "
        "violations phrased like colleague talk, confidential content without any detector hit) and lent some "
        "phrasings to the generator, and the third to fifth were the test sets of earlier versions, each "
        "scored for the models it was written after and then moved into training for this one. "
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
        lines += ["", "## Hand-labelled work-group test set (`moderation eval`, tests/data/workchat_test4.jsonl)",
                  "210 messages (30 per class) written by hand on 2026-11-26, before this version was trained, in "
                  "trades the earlier sets did not cover (building sites, a bank branch, restaurants, a game studio, "
                  "a law firm, a street office, a lab, a hotel, property management), with near-misses (a warning "
                  "about fake bank calls is work; an express waybill number is not a card). Lines that came out "
                  "close to an earlier set or the generator (difflib ratio ≥ 0.6) were rewritten before any model "
                  "saw the set. It is never trained on. It was scored for five models: the previous one and four "
                  "builds of this version. The first two were not shipped because each failed a unit test: the "
                  "first called the reminder 请大家不要在群里发身份证号和银行卡号 confidential (test4 macro-F1 0.780), "
                  "the second called the demo's urgent post 【紧急】线上登录服务宕机… an ad (0.797). The third (0.799) "
                  "was replaced by this one for a better second level (see *How this version was chosen*), under a "
                  "rule fixed before this one was scored: validation objective at least the old recipe's, and every "
                  "unit test passing. No choice between builds was made on this set.", "",
                  "| set | n | macro-F1 | accuracy | work | chitchat | ad | rumour | abuse | confidential | illegal |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, m in work.items():
            f1 = " | ".join(f"{m['per_class'][c]['f1']:.3f}" for c in m["labels"])
            lines.append(f"| {key} | {m['n']} | **{m['macro_f1']:.3f}** | {m['accuracy']:.3f} | {f1} |")
        lines += ["", "Target (issue 3): seven-class macro-F1 ≥ 0.90 on such a set.", "",
                  "Confusion (rows gold, columns predicted, order work, chitchat, ad, rumour, abuse, "
                  "confidential, illegal):", "", "```"]
        for key, m in work.items():
            for lab, row in zip(m["labels"], m["confusion"]):
                lines.append(f"{lab:<13}" + "".join(f"{x:>5}" for x in row))
        lines.append("```")
    prev = {"sms_spam_80w_subset": 0.951, "weibo21": 0.843, "cold": 0.754, "lccc_toy_chitchat": 0.931,
            "nus_sms_zh": 0.942}
    lines += ["", "## Against the previous model", "", "| measure | previous (7872b4f) | this model |", "|---|---|---|"]
    for name, old in prev.items():
        if name in suite:
            lines.append(f"| {name} {suite[name]['target']['positive']} F1 | {old:.3f} | {suite[name]['target']['f1']:.3f} |")
    if "test4" in work:
        lines.append(f"| work-chat test4 macro-F1 | 0.635 | {work['test4']['macro_f1']:.3f} |")
    lines += ["", "## How this version was chosen",
              "The recipe is the previous version's (its card is in the history of this file: dedicated heads, "
              "second level and shape inputs were chosen on the validation split then). What changed: the three "
              "earlier work-chat test sets (530 messages) joined the two hand-written training sets, and the "
              "weight of a hand-written message was chosen on the 10% validation split of the training data, "
              "never on heldout.jsonl or test4. Validation F1 of the full classifier (hand-written rows: "
              "macro-F1 over 98 rows; public sets: the set's target class):",
              "",
              "| hand-written weight | hand-written | SMS ad | Weibo21 rumour | COLD abuse | mean |",
              "|---|---|---|---|---|---|",
              "| 8 | 0.898 | 0.927 | 0.841 | 0.893 | 0.890 |",
              "| 16 | 0.933 | 0.920 | 0.849 | 0.888 | 0.898 |",
              "| **24** | **0.952** | 0.909 | 0.850 | 0.886 | **0.899** |",
              "| 32 | 0.952 | 0.904 | 0.845 | 0.881 | 0.896 |",
              "| 8 in the second level, ×2 in the first | 0.909 | 0.927 | 0.848 | 0.894 | 0.895 |",
              "| 8 in the second level, ×3 in the first | 0.906 | 0.915 | 0.852 | 0.893 | 0.892 |",
              "",
              "Two generator changes came from unit tests that earlier builds failed, not from any score: "
              "reminders about sensitive data as `work` (CAUTION_* in pipeline/classify/corpus.py: "
              "请勿在群内发送客户资料, 离职前要交回人事档案 …), and work notices with a bracketed header "
              "(NOTICE_*: 【故障通报】, 【值班】 …), since SMS ads open with 【brand】. Bracketed notices alone made "
              "a plain promotion with a t.cn link `illegal`: the generator had no short links, so the short-link "
              "detector was learnt from the public fraud texts only; its links now include short ones, for ads, "
              "illegal offers and work (shared documents) alike. The demo's urgent post and its ad are unit "
              "tests now.",
              "",
              "**Second level.** Up to the third build the second level was fitted on the validation split itself, so "
              "the validation figures above are in-sample for it, and on that build it flipped a plain promotion "
              "between ad, illegal and work under small changes (C 0.01–10, clipped or log-softmax inputs, "
              "2-fold cross-validation on the validation split). This build fits it on out-of-fold scores of the "
              "training rows instead, which leaves the validation split a true holdout. Mean target-F1 over the "
              "validation sets (thresholds applied): 0.934 for this build on the holdout, against 0.929 for the "
              "old way estimated by 2-fold cross-validation on the validation split (an offline run: SMS ad 0.938 "
              "vs 0.908, COLD 0.884 vs 0.882, Weibo21 0.827 vs 0.829, hand-written macro-F1 0.853 vs 0.872, LCCC "
              "chit-chat 0.913). Training takes about 5 minutes instead of 2.5.",
              "",
              "More weight on the hand-written rows buys work-chat accuracy with SMS-ad precision: many "
              "`normal` rows of the SMS set are promotional (购车红包, 团购协议, a contact line), which the "
              "work-chat rows teach the model to call ads. The 98 hand-written validation rows make the "
              "hand-written column coarse (one row is about 0.01).",
              "",
              "What it cost on the public sets: LCCC and NUS chit-chat lost recall (more casual lines are "
              "called work now; table above); the SMS, Weibo21 and COLD targets moved by less than 0.01.",
              "", "## Limits",
              "- Public sets are Weibo/SMS/comment text, not work chat; the work-chat behaviour rests on the "
              "synthetic corpus and " + str(sum(n for _, n in handwritten)) + " invented hand-written "
              "messages; see test4 against the 0.90 macro-F1 target. Real work-group data is the main missing piece.",
              "- The synthetic corpus is too regular to measure anything: its validation rows score 1.000.",
              "- Reproduce: `moderation train --seed 13` (same data) gives the same artifact; `moderation eval` and "
              "`moderation eval --data ../shared/data` reproduce the tables above.",
              "- Speed (`moderation bench classify`, one core, shared machine, 2026-11-26 with this model's "
              "shape): 12,021 msgs/s in batches of 512, 3,784 one at a time, p99 0.52 ms for one message, "
              "load 0.08 s.",
              "- Reminders that name sensitive data without carrying it are still often called confidential: "
              "of nine written while building this version (请勿在群内发送客户的银行卡号, 身份证复印件请交到人事，不要发群里 "
              "…), this build calls four confidential.",
              "- Linear character n-gram model: misses sarcasm and context; COLD and Weibo21 are below the "
              "BERT-level targets where the table says so.",
              "- Sub-labels (abuse: vulgar/violent/terror/attack; illegal: gambling/fraud/other) come from "
              "lexicons, with attack and fraud as defaults.", ""]
    card = model_path.parent / "MODEL_CARD.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    return card
