"""The model cards: models/MODEL_CARD.md for the default artifact (models/classifier.joblib) and
models/MODEL_CARD-<artifact name>.md for any other (models/MODEL_CARD-classifier-noncommercial.md).
Each says which artifact it is, exactly what it was trained on under which licences, its figures
beside the other shipped artifact's on the same rows, and per-class metrics on every held-out file
and blind work-chat set."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pipeline.classify.datasets import SOURCE_BY_NAME, SOURCES, Source
from pipeline.classify.evaluate import (
    WORKCHAT_TESTS, compare, evaluate_rows, heldout_suite, load_eval_file, workchat_metrics,
)
from pipeline.config import PROJECT_ROOT

TARGETS = {"sms_spam_80w_subset": 0.98, "weibo21": 0.91, "cold": 0.81}
DEFAULT_NAME = "classifier.joblib"
NONCOMMERCIAL_NAME = "classifier-noncommercial.joblib"
# the blind work-chat sets pooled for the paired comparison of two artifacts
POOLS = {"test7–10": ("test10", "test9", "test8", "test7"),
         "nearmiss5–9": ("nearmiss9", "nearmiss8", "nearmiss7", "nearmiss6", "nearmiss5"),
         "all blind sets": tuple(WORKCHAT_TESTS)}
# `moderation bench classify --model PATH`, measured on this machine when the artifact was shipped
SPEED = {
    True: "2026-12-06, after issue 29's normalisation, one core of a shared two-core machine under a load of 8–10, "
          "three rounds of 20,000 messages in turns with the code before issue 29 on the same artifact: in CPU time "
          "15,662–20,820 msgs/s in batches of 512 (before: 17,452–19,730), one-message p99 0.44–1.02 ms (before: "
          "0.48–0.83), p50 0.25–0.30 ms (0.25–0.28); wall clock 6,636–20,386 msgs/s as the load came and went. "
          "Earlier, on a quiet machine: 18,042–19,556 msgs/s, p99 0.36–0.49 ms",
    False: "2026-12-06, the same runs, alternating with the default: 16,165–18,557 msgs/s in batches of 512 "
           "(13,638–13,715 in two runs with another process on the core), 3,273–3,539 one at a time, p99 "
           "0.46–0.54 ms, load 0.04–0.07 s; 2026-11-26, this shape: 18,371–19,560 and 3,976–4,097, p99 0.38–0.47 ms",
}


def _handwritten_counts(robust: bool = False) -> list[tuple[str, int]]:
    from pipeline.classify.train import handwritten_files

    return [(p.name, sum(1 for line in p.open(encoding="utf-8") if line.strip())) for p in handwritten_files(robust)]


def _blind_errors(name: str, m: dict | None) -> list[str]:
    """The commonest errors on a blind set, read off its confusion matrix (its lines stay unread)."""
    if not m:
        return []
    labels, confusion = m["labels"], m["confusion"]

    def called(gold: str, predicted: str) -> int:
        return confusion[labels.index(gold)][labels.index(predicted)]

    def total(gold: str) -> int:
        return sum(confusion[labels.index(gold)])

    as_work = ", ".join(f"{called(g, 'work')} of {total(g)} {g}" for g in ("abuse", "illegal", "rumour"))
    return [f"- On {name} a violation is most often called work ({as_work}); illegal offers are also called ads "
            f"({called('illegal', 'ad')} of {total('illegal')}). (The set's lines are not read, so that it stays "
            "blind; these counts are from its confusion matrix.)"]


def card_path(model_path: Path | str) -> Path:
    """MODEL_CARD.md beside the default artifact; MODEL_CARD-<stem>.md beside any other, so that a
    candidate trained with --out does not overwrite the shipped model's card."""
    model_path = Path(model_path)
    return model_path.with_name("MODEL_CARD.md" if model_path.name == DEFAULT_NAME else f"MODEL_CARD-{model_path.stem}.md")


def counterpart(model_path: Path | str) -> Path | None:
    """The artifact a card compares with: the other one of the shipped pair, or the default for any
    other artifact; None when there is none beside it."""
    model_path = Path(model_path)
    other = model_path.with_name(NONCOMMERCIAL_NAME if model_path.name == DEFAULT_NAME else DEFAULT_NAME)
    return other if other.exists() and other.resolve() != model_path.resolve() else None


def public_sources(artifact: dict) -> list[Source]:
    """The public sets an artifact was trained on (from what it records)."""
    return [SOURCE_BY_NAME[s["name"]] for s in artifact.get("sources") or [] if s["name"] in SOURCE_BY_NAME]


def commercial_use(artifact: dict) -> bool:
    """Every public set it was trained on has a licence that allows commercial use (judged by today's
    SOURCES, not by a flag the artifact carries)."""
    return all(s.commercial for s in public_sources(artifact))


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def reproduce_command(artifact: dict, model_path: Path) -> str:
    from pipeline.classify.train import DEFAULT_OUT, NONCOMMERCIAL_OUT

    commercial = commercial_use(artifact)
    command = (f"moderation train --seed {artifact['seed']}" + ("" if commercial else " --include-noncommercial")
               + (" --robust" if artifact.get("robust") or artifact.get("n_augmented") else ""))
    default_out = DEFAULT_OUT if commercial else NONCOMMERCIAL_OUT
    if Path(model_path).resolve() != default_out.resolve():
        command += f" --out {_shown(model_path)}"
    return command


def _own_sources(artifact: dict) -> list[str]:
    """The non-public data of a build: the project's generated and hand-written messages (artifacts
    from before 2026-12-06 recorded only the generated ones, though every build has trained on both)
    and any --add-data files."""
    own = [s["name"] for s in artifact.get("sources") or [] if s["name"] not in SOURCE_BY_NAME]
    return own if "project_handwritten" in own else [*own[:1], "project_handwritten", *own[1:]]


def _licences(artifact: dict) -> str:
    return ", ".join(f"{s.name} ({s.licence})" for s in public_sources(artifact)) or "none"


def _role(artifact: dict) -> str:
    return ("trained only on data whose licence allows commercial use" if commercial_use(artifact) else
            "trained also on research-only, non-commercial or unlicensed data: not for commercial use")


def _pair_section(path: Path, artifact: dict, other_path: Path | None, other: dict | None) -> list[str]:
    lines = ["## Which artifact this is",
             "| artifact | selected by | public sets trained on (licence) | also trained on | use |",
             "|---|---|---|---|---|"]
    for p, a in ((path, artifact), (other_path, other)):
        if a is None:
            continue
        selected = ("the default: `content.model_path: models/classifier.joblib` in config/policy.yaml"
                    if p.name == DEFAULT_NAME else f"opt-in: `content.model_path: {_shown(p)}`")
        own = ", ".join(_own_sources(a))
        use = ("commercial use allowed by the licences of its training data" if commercial_use(a)
               else "research and other non-commercial use only")
        lines.append(f"| `{_shown(p)}`{' (this card)' if p == path else ''} | {selected} | {_licences(a)} | {own} | {use} |")
    lines += ["", ("This artifact is trained only on data whose licence allows commercial use: it is the one for a "
                   "company to use. The training data's licences (MIT, Apache-2.0) ask that their copyright notices "
                   "travel with copies of the data; the sets' origins are listed under *Training data*."
                   if commercial_use(artifact) else
                   "This artifact is trained also on research-only, non-commercial or unlicensed data and is **not "
                   "for commercial use**. Its public sets include research-only and non-commercial licences (and "
                   "some that state none, which grants nothing), so a company may not use it; it is kept for "
                   "research and for comparison. Select it with "
                   "`content.model_path: models/classifier-noncommercial.joblib`."), ""]
    return lines


def _paired(classifier, other, names) -> dict:
    """The paired comparison (`compare`) of two classifiers on the rows of the named blind sets."""
    rows = [r for name in names if Path(WORKCHAT_TESTS[name]).exists() for r in load_eval_file(Path(WORKCHAT_TESTS[name]))]
    gold = [r["label"] for r in rows]
    return compare(gold, evaluate_rows(classifier, rows), evaluate_rows(other, rows))


def _side_by_side(path: Path, other_path: Path, suite: dict, other_suite: dict, paired: dict,
                  trained: dict[str, str]) -> list[str]:
    """`trained`: for each public set, which of the two artifacts fitted on it (this, the other, both, neither)."""
    mine, theirs = f"`{path.name}`", f"`{other_path.name}`"
    lines = ["## Beside the other artifact (the same rows)",
             f"Blind work-chat sets (never trained on by either): macro-F1 of this artifact ({mine}) and of {theirs}, "
             "the difference with a paired bootstrap 95% interval (2,000 resamples) and the messages only one of them "
             "gets right (`moderation eval --model A --against B`).", "",
             f"| set | n | {mine} | {theirs} | difference [95% interval] | right only with this / the other |",
             "|---|---|---|---|---|---|"]
    for name, c in paired.items():
        low, high = c["interval_95"]
        lines.append(f"| {name} | {c['n']} | {c['model']['macro_f1']:.3f} | {c['against']['macro_f1']:.3f} | "
                     f"{c['macro_f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}] | "
                     f"{c['right_only_with_model']} / {c['right_only_with_against']} |")
    lines += ["", "Public held-out files (`moderation eval --data ../shared/data --model A --against B`): the "
              "target class's F1, and the share of the file's real harmless rows (gold work or chit-chat: meeting "
              "talk, personal SMS, social-media chat, ordinary SMS, true Weibo posts, safe comments) called a "
              "violation (ad, rumour, abuse, confidential or illegal). *Trained on* says which artifact fitted on "
              "that set's train.jsonl.", "",
              f"| set | target | trained on | F1 {mine} | F1 {theirs} | false alarms {mine} | false alarms {theirs} |",
              "|---|---|---|---|---|---|---|"]
    for name, res in suite.items():
        o = other_suite.get(name)
        if o is None:
            continue
        fa = (f"{100 * res['flagged_share']:.2f}% ({res['flagged']} of {res['harmless']}) | "
              f"{100 * o['flagged_share']:.2f}% ({o['flagged']})") if res.get("harmless") else "— | —"
        lines.append(f"| {name} | {res['target']['positive']} | {trained[name]} | "
                     f"{res['target']['f1']:.3f} | {o['target']['f1']:.3f} | {fa} |")
    return lines + [""]


def write_model_card(model_path: Path, artifact: dict, data_dir: Path) -> Path:
    """Score the artifact (and the one it is compared with) and write its card; returns the card's path."""
    from pipeline.classify.evaluate import _policy
    from pipeline.classify import load_classifier
    from pipeline.classify.model import Artifact

    class _A:  # no CLI args here: default policy
        policy = None

    model_path = Path(model_path)
    policy = _policy(_A())
    clf = load_classifier(policy, model_path)
    suite = heldout_suite(clf, data_dir, with_robustness=True)
    artifact["heldout"] = suite
    work = artifact["workchat"] = workchat_metrics(clf, WORKCHAT_TESTS)
    other_path = counterpart(model_path)
    other = other_clf = None
    if other_path is not None:
        other = Artifact.load(other_path).data
        other_clf = load_classifier(policy, other_path)
    handwritten = _handwritten_counts(bool(artifact.get("robust") or artifact.get("n_augmented")))
    size = model_path.stat().st_size / 1e6
    commercial = commercial_use(artifact)
    used = {s["name"]: s for s in artifact["sources"]}
    took = (f" ({artifact['training_seconds'] / 60:.1f} minutes on a shared two-core machine)"
            if artifact.get("training_seconds") else "")
    heads = artifact.get("dedicated") or []
    lines = [
        f"# Model card: content classifier (`{_shown(model_path)}`)",
        "",
        f"Trained {artifact['trained_at']} with `{reproduce_command(artifact, model_path)}`{took}; "
        f"card written {_dt.date.today().isoformat()}. Artifact {size:.1f} MB. **{_role(artifact)[0].upper() + _role(artifact)[1:]}.**",
        "",
        *_pair_section(model_path, artifact, other_path, other),
        "## What it is",
        "Seven classes: work, chitchat, ad, rumour, abuse, confidential, illegal. Text is normalised "
        "(config/normalisation.yaml); detectors (pipeline/text/detect.py) and curated lexicons "
        "(config/lexicons/) run first. Features: character 1–3-grams of the normalised text hashed with CRC-32 "
        "into 2^18 buckets (sublinear TF × IDF, L2; a bucket no training message had weighs nothing)"
        + (f", the {'–'.join(map(str, artifact['sound_ngrams']))}-grams of what the text sounds like in the same buckets "
           "(`sounds` in pipeline/text/normalize.py: one code per toneless pinyin syllable from pypinyin, folded so that "
           "near-homophones share it: zh/z, ch/c, sh/s, n/l, an/ang, en/eng, in/ing; 傻逼, 沙比, 煞笔 and shabi share "
           "them, the characters stay as written)" if artifact.get("sound_ngrams") else "")
        + f" plus {len(artifact.get('dense_names') or [])} detector/lexicon/shape features"
        + (f" (one of them the number of SexHateLex terms a message holds: {len(artifact['lexicons']['sexhate'])} of "
           "SWSR's MIT lexicon of sexist abuse terms that mean abuse in at least five training rows, at least 60% of "
           "them abuse; the list is read from the shared data at training and carried in the artifact, the lexicon's "
           "MIT notice applies: Copyright (c) 2022 Aiqi Jiang)" if (artifact.get("lexicons") or {}).get("sexhate") else "")
        + ". "
        + (f"A quarter of the training rows were added again cloaked by the evasion generator ({artifact['n_augmented']} "
           "rows: fillers, emoji stand-ins, homophones, pinyin or mixed, on the lexicon words or the whole message; "
           "pipeline/classify/evasion.py), so the model has seen cloaked text; the validation split is never cloaked. "
           if artifact.get("n_augmented") else "")
        + "Model: a multinomial "
        f"logistic regression (C={artifact['C']}) over eight internal classes (the seven plus `neutral` = the "
        "harmless rows of the public sets of ads, rumours and abuse, counted as work), "
        f"{len(artifact.get('specialists') or [])} binary specialist heads ("
        + ", ".join(f"{name} on {_specialist_data(name, artifact)}" for name in artifact.get("specialists") or [])
        + "), "
        + (f"{len(heads)} dedicated binary heads ("
           + ", ".join(h["name"] + " on " + "/".join(h["sources"]) for h in heads)
           + "; each fitted on its public set alone, with that set's own IDF over the same hashed n-grams and C=64), "
           if heads else "no dedicated heads (they are fitted on public sets of SMS adverts and Weibo posts, which "
           "this build does not train on), ")
        + "and a small second-level logistic regression fitted on out-of-fold scores of the training rows (two "
        "halves, each scored by first-level models fitted on the other half) that turns the "
        f"8+{len(artifact.get('specialists') or [])}+{len(heads)} logits and five "
        "message-shape inputs (length buckets, log length) into calibrated probabilities"
        + (" (it sees the logits a second time per message-length bucket, ≤ 12, 13–40, 41–80 and > 80 characters, "
           "so that a head can count for one thing in a chat line and for another in a long post; C=0.1)"
           if artifact.get("stack_length_buckets") else "") + ". "
        "Detector rules then decide on their own for resident ids, bank cards, credentials and keys "
        "(confidential) and for two gambling terms, or one with a contact handle (illegal, unless the model "
        "scores the message as work at 0.5 or more). Per-class thresholds come from config/policy.yaml "
        "(content.thresholds).",
        "",
        "## Training data",
        "Exactly what went into this artifact (rows: training and validation rows together, after the caps and "
        "filters below).",
        "",
        "| source | from | licence | commercial use | used | rows |",
        "|---|---|---|---|---|---|",
    ]
    for s in SOURCES:
        if s.name in used:
            state, rows = "yes", used[s.name].get("rows", "not recorded")
        elif not s.trained:
            state, rows = "no (held-out file scored only)", ""
        elif not s.commercial and commercial:
            state, rows = "no (licence)", ""
        else:
            state, rows = "no (excluded)", ""
        lines.append(f"| {s.name} | {s.origin} | {s.licence} | {'yes' if s.commercial else 'no'} | {state} | {rows} |")
    own_rows = {name: used.get(name, {}).get("rows", "not recorded") for name in ("project_synthetic", "project_handwritten")}
    lines += [
        f"| project_synthetic | pipeline/classify/corpus.py | the project's own (generated) | yes | yes | {own_rows['project_synthetic']} |",
        "| project_handwritten | pipeline/classify/data | the project's own (hand-written messages: "
        + ", ".join(f"{n} in {name}" for name, n in handwritten) + f") | yes | yes | {own_rows['project_handwritten']} |",
        *(f"| {d['name']} | `--add-data` | the deploying company's own ({d['rows']} labelled messages) | its owner's | yes | {d['rows']} |"
          for d in artifact.get("local_data") or []),
        "",
        "Only `train.jsonl` files are fitted on (10% of them held back for validation); the "
        "`heldout.jsonl` files are scored below and never used for fitting or threshold choice. "
        "`moderation train` takes only the public sets whose licence allows commercial use (MIT, Apache-2.0; an "
        "allow-list, so a set whose licence is unknown or states none is left out); `--include-noncommercial` adds "
        "the others and writes `models/classifier-noncommercial.joblib`.",
        "",
        *_synthetic_parts(artifact),
        "",
        "## Held-out results (`moderation eval --data ../shared/data`)",
        "Label mapping: sms spam_ad→ad, normal→work; weibo21 fake→rumour, real→work; COLD "
        "offensive→abuse, safe→work; SWSR sexist→abuse, not sexist→work (these negatives are the internal class "
        "neutral, reported as work); telecom fraud→illegal, marketing→ad; LCCC/SMP chat/NUS→chitchat; "
        "VCSum→work; MultiPriv→confidential. The headline F1 is the full classifier's verdict "
        "(detectors, thresholds and all) for the set's target class against everything else. *False alarms*: "
        "the share of the set's harmless rows (gold work or chit-chat) called ad, rumour, abuse, confidential or "
        "illegal. A set this artifact did not train on is scored all the same (*trained on: no*).",
        "",
        "| set | n | trained on | target class | P | R | F1 | false alarms | issue-3 target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in suite.items():
        t = res["target"]
        goal = f"≥ {TARGETS[name]}" if name in TARGETS else "—"
        fa = f"{100 * res['flagged_share']:.2f}% ({res['flagged']} of {res['harmless']})" if res.get("harmless") else "—"
        lines.append(f"| {name} | {res['n']} | {'yes' if name in used else 'no'} | {t['positive']} | {t['precision']:.3f} | "
                     f"{t['recall']:.3f} | {t['f1']:.3f} | {fa} | {goal} |")
    lines += ["", "Per class, per set:", "", "| set | class | P | R | F1 | support |", "|---|---|---|---|---|---|"]
    for name, res in suite.items():
        for c, v in res["per_class"].items():
            lines.append(f"| {name} | {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    lineage = "the earlier model (now `classifier-noncommercial.joblib`)" if commercial else "this model"
    lineage_s = "the earlier model's" if commercial else "this model's"
    if work:
        lines += ["", "## Hand-labelled work-group test sets (`moderation eval`, tests/data/workchat_test*.jsonl)",
                  "None is ever trained on. Each was written blind by a helper that saw no code and ran no classifier, "
                  "in workplaces no earlier set used, checked with difflib against every hand-written, test and "
                  "pending line and 20,000 generated training messages (lines at 0.6 or above rewritten), and "
                  "committed before any model scored it; the engineers have not read their lines. **test10** (280 "
                  "messages, 40 per class; an aquarium, a steel mill, a highway toll station, an auction house, a "
                  "river-dredging team, a city archive …; bcc804a) and **nearmiss9** (120, 60 illegal offers, 30 of "
                  "them in passing, and 60 lawful messages close to them; ce4438d) were written on 2026-11-27 at the "
                  f"same time as the two hand-written training files of {lineage}, by other helpers, and judged it "
                  "(training lines 0.6 or more similar to any line of the project, these two sets included, were dropped "
                  "first: 3 of 700, one of them close to a test10 line). **test9** (280 "
                  "messages, 40 per class; a railway station, an orchestra, a seafood market, a wind farm, a zoo, a "
                  "weather station …; committed in 16a9af0) and **nearmiss8** (120: 60 illegal offers, 35 of them in "
                  "passing between colleagues with no contact handle; 60 lawful work messages on the same topics; "
                  "6e04c7c) were written the same day while 92a04de was being chosen; **test8** (280; a "
                  "shipyard, a museum, a bakery chain, a metro maintenance crew, a care home …; 99fb1d4) and "
                  "**nearmiss7** (120, the same two kinds; b2fa26f) the same day, before it; **test7** (280; a hotel "
                  "front office, a farm cooperative, a printing plant, a veterinary clinic …; 75a4303); **nearmiss6** "
                  "(90: 45 illegal offers, 25 of them in passing, and 45 lawful messages close to them; 843964d) and "
                  "**nearmiss5** (120, 60 and 60; 16f1547); **short** (60 messages of 2–16 characters: work logistics "
                  "and status lines against idle chat, many of both with time words; b016008). test7–9 were "
                  "92a04de's deciding set and nearmiss5–8 its guard; test10 and nearmiss9 " + lineage_s + ", with all the "
                  "sets pooled (see *How this version was chosen*" + (" in MODEL_CARD-classifier-noncommercial.md" if commercial else "") + "). "
                  "The earlier test sets, test4, test5 and test6 and the near-miss sets 1–4, were scored for the "
                  "models they were written after and are training data since 92a04de "
                  "(pipeline/classify/data/workchat_handwritten7–10.jsonl), as test1–3 were before them. The sets are "
                  "written by language-model helpers, as are the hand-written training files; so a model that learns "
                  "from such files may gain more on these sets than on real work chat, which none of them is. "
                  "**abuse_blind** (117: 55 abuse, 62 harmless; tests/data/workchat_abuse_blind.jsonl, adbba56) is "
                  "the blind set of issue 29: threats against a colleague or the workplace, sexual slander, "
                  "discrimination by region, gender, ethnicity, sexuality, age or disability said calmly, sarcasm "
                  "about intelligence dressed as a notice and plain insults, against near-misses (an insult quoted "
                  "to report it, 干掉这个bug, 杀青, sincere notices, chit-chat with strong words), in a logistics "
                  "depot, a dental clinic, a law firm, a textile workshop, a film crew. Unlike the others it was "
                  "written by the helper who then built this version, before writing its training file "
                  "(workchat_handwritten13.jsonl, other workplaces) and before any model scored it, and not read "
                  "again while building; the same hand wrote both, so it is a weaker test than the others.", "",
                  "| set | n | macro-F1 | accuracy | work | chitchat | ad | rumour | abuse | confidential | illegal |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, m in work.items():
            f1 = " | ".join(f"{m['per_class'][c]['f1']:.3f}" if m["per_class"][c]["support"] else "—"
                            for c in m["labels"])
            lines.append(f"| {key} | {m['n']} | **{m['macro_f1']:.3f}** | {m['accuracy']:.3f} | {f1} |")
        lines += ["", "Target (issue 3): seven-class macro-F1 ≥ 0.90 on such a set.", "",
                  "Confusion (rows gold, columns predicted, order work, chitchat, ad, rumour, abuse, "
                  "confidential, illegal):"]
        for key, m in work.items():
            lines += ["", f"{key}:", "", "```"]
            for lab, row in zip(m["labels"], m["confusion"]):
                lines.append(f"{lab:<13}" + "".join(f"{x:>5}" for x in row))
            lines.append("```")
    pooled = {pool: _pooled(clf, names) for pool, names in POOLS.items()}
    other_suite = paired = None
    if other_clf is not None:
        other_suite = heldout_suite(other_clf, data_dir)
        paired = {name: _paired(clf, other_clf, (name,)) for name in work}
        paired.update({pool: _paired(clf, other_clf, names) for pool, names in POOLS.items()})
        here, there = {s.name for s in public_sources(artifact)}, {s.name for s in public_sources(other)}
        trained = {name: "both" if name in here and name in there else f"`{model_path.name}` only" if name in here
                   else f"`{other_path.name}` only" if name in there else "neither" for name in suite}
        lines += [""] + _side_by_side(model_path, other_path, suite, other_suite, paired, trained)
    if commercial:
        lines += [""] + _commercial_history(artifact, pooled, suite, other_suite, paired)
    else:
        lines += _noncommercial_history(suite, work)
    lines += ["", *_robustness_section(clf, suite)]
    lines += ["", *_bands_section(model_path, data_dir, policy, suite, work)]
    lines += ["", "## Limits",
              ("- Its public sets are social-media comments and chat and meeting transcripts, not work chat; "
               "ads, rumours, confidential and illegal messages it knows only from the synthetic corpus and "
               if commercial else
               "- Public sets are Weibo/SMS/comment text, not work chat; the work-chat behaviour rests on the "
               "synthetic corpus and ") + str(sum(n for _, n in handwritten)) + " invented hand-written "
              "messages; see test7–10 against the 0.90 macro-F1 target. Real work-group data is the main missing piece.",
              *_unseen_genres(artifact, suite, other_suite),
              "- The synthetic corpus is too regular to measure anything: its validation rows score 1.000.",
              (f"- Reproduce: `{reproduce_command(artifact, model_path)}` (same data) gave the same artifact until "
               "issue 29's normalisation (2026-12-06), which reads texts with emoji, symbols or keycaps differently "
               "and adds a discrimination-lexicon feature: today's command gives the same recipe with other weights; "
               if commercial and not artifact.get("n_augmented") else
               f"- Reproduce: `{reproduce_command(artifact, model_path)}` (same data) gives the same artifact; "
               if commercial else
               f"- Reproduce: `{reproduce_command(artifact, model_path)}` rebuilt this artifact until 08a0000 "
               "(2026-12-06), which drops invisible fillers (variation selectors, zero-width characters) before "
               "anything reads the text: 119 of its 104,242 training texts normalise differently since, so "
               "today's command gives other weights (rebuilt on 2026-12-06 in 840 s, not shipped: test7–10 0.913, "
               "nearmiss5–9 0.885 against this artifact's 0.914 and 0.867); the code of 1a4322b rebuilds it "
               "exactly. ") +
              f"`moderation eval{'' if model_path.name == DEFAULT_NAME else ' --model ' + _shown(model_path)}` and "
              f"`moderation eval --data ../shared/data{'' if model_path.name == DEFAULT_NAME else ' --model ' + _shown(model_path)}` "
              "reproduce the tables above.",
              f"- Speed (`moderation bench classify --model {_shown(model_path)}`): {SPEED[commercial]}.",
              "- Reminders that name sensitive data without carrying it are often called confidential: "
              "of nine written while building caf3872 (请勿在群内发送客户的银行卡号, 身份证复印件请交到人事，"
              "不要发群里 …), 8e49f02 called five confidential (caf3872 four); the nine were not kept, so "
              "this build was not probed with them.",
              *(line for blind in ("test10", "test9", "test8") for line in _blind_errors(blind, work.get(blind))),
              "- Linear character n-gram model: misses sarcasm and context; COLD and Weibo21 are below the "
              "BERT-level targets where the table says so.",
              "- Sub-labels (abuse: vulgar/violent/terror/attack; illegal: gambling/fraud/other) come from "
              "lexicons, with attack and fraud as defaults.", ""]
    card = card_path(model_path)
    card.write_text("\n".join(lines), encoding="utf-8")
    return card


# the real harmless text issue 26 asks the band shares of (the held-out files; for the sets with
# violations, their harmless rows)
HARMLESS_TEXT = ("vcsum_meeting", "lccc_toy_chitchat", "nus_sms_zh", "sms_spam_80w_subset", "weibo21")


def _act_text(act: float) -> str:
    return "1.0" if act >= 1.0 else f"{act:.2f}"


def _share(count: int, n: int) -> str:
    return f"{100 * count / n:.1f}%" if n else "—"


def _precision_cell(e: dict | None) -> str:
    if not e:
        return "— (0)"
    return f"{e['precision']:.3f} ({e['correct']} of {e['rows']}) [{e['interval'][0]:.3f}, {e['interval'][1]:.3f}]"


def _bands_section(model_path: Path, data_dir: Path, policy, suite: dict, work: dict) -> list[str]:
    """Decision bands (issue 26, R1): the act thresholds, how the rule chose them on the validation split,
    and what they do on the held-out files and the blind work-chat sets (`moderation bands`, `moderation eval`)."""
    from pipeline.classify.bands import DETECTORS_ONLY, VIOLATING, SplitMismatch, choose_for_artifact
    from pipeline.classify.evaluate import pooled_act_precision

    if policy is None or not policy.content.review.enabled:
        return ["## Decision bands", "The policy did not load or has the review bands switched off "
                "(`content.review.enabled: false`): every violation acts at once.", ""]
    act = dict(policy.content.review.act)
    lines = ["## Decision bands (issue 26, R1)",
             "Every verdict carries a band: `pass` (work), `review` (its label's score from `content.thresholds` up "
             "to `content.review.act`: a violation with `review: required` that reminds nobody until a reviewer "
             "confirms it) or `act` (at or above the act threshold, or decided by a detector rule: a checksum-valid "
             "resident id, a bank card, a key or password, gambling terms with a contact; it escalates at once). "
             "An act threshold of 1.0 lets no model score act: the label acts on detector decisions only. The "
             "thresholds in config/policy.yaml were chosen on the validation split of the training data by a rule "
             "written before any was scored (docs/CLASSIFIER.md, *Decision bands*): the lowest threshold whose act "
             "band holds at least 50 validation rows with precision at least 0.98, else 1.0. The generated rows "
             "are left out of the split (too regular to measure anything); `neutral` counts as work. Reproduce: "
             "`moderation bands --data ../shared/data`.", ""]
    try:
        chosen = choose_for_artifact(model_path, data_dir, policy)
    except (SplitMismatch, FileNotFoundError, ValueError) as exc:
        lines += [f"The validation split of this artifact could not be rebuilt here ({exc}).", ""]
        chosen = None
    if chosen is not None:
        lines += [f"Validation split: {chosen['rows']:,} rows ("
                  + ", ".join(f"{name} {n:,}" for name, n in chosen["by_source"].items()) + "; left out: "
                  + ", ".join(f"{name} {n:,}" for name, n in chosen["left_out"].items()) + ").", "",
                  "| label | review from | act (policy) | by the rule for this artifact | act-band precision on validation "
                  "[95% interval] | rows in band (wrong) | recall in band | validation rows of the label | why |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for label, c in chosen["choices"].items():
            p = c.point
            rule = _act_text(c.act)
            prec = "—" if p.precision is None else f"{p.precision:.3f} [{p.interval[0]:.3f}, {p.interval[1]:.3f}]"
            why = c.reason + ("" if c.supported or c.unsupported is None else
                              f" (for information: {c.unsupported.act:.2f} would reach {c.unsupported.precision:.3f} "
                              f"on {c.unsupported.rows} rows, too few)")
            lines.append(f"| {label} | {c.floor:.2f} | {_act_text(act.get(label, DETECTORS_ONLY))} | {rule} | {prec} | "
                         f"{p.rows} ({p.wrong}) | {'—' if p.recall is None else f'{p.recall:.3f}'} | {p.gold} | {why} |")
        differ = [label for label, c in chosen["choices"].items()
                  if abs(act.get(label, DETECTORS_ONLY) - (c.act if c.supported else DETECTORS_ONLY)) > 1e-9]
        if differ:
            lines += ["", "**The policy's act thresholds differ from the rule's choice for this artifact** for "
                      + ", ".join(differ) + ": run `moderation bands` and update `content.review.act`."]
        lines.append("")
    lines += ["Act-band precision per label measured once, after the choice, with the policy's thresholds (gold: each "
              "public set's own label, mapped as above; a message a set labels harmless counts as wrong even when it "
              "holds, say, a phone number and an address). Right of rows in the band, 95% Clopper–Pearson interval.", "",
              "| label | act | public held-out files (all; chit-chat only in those that tell it from work) | test7–10 | "
              "nearmiss5–9 | short |", "|---|---|---|---|---|---|"]
    heldout = pooled_act_precision([res["bands"] for res in suite.values() if res.get("bands")])
    blind = {pool: pooled_act_precision([work[name]["bands"] for name in names if name in work and "bands" in work[name]])
             for pool, names in (("test7–10", POOLS["test7–10"]), ("nearmiss5–9", POOLS["nearmiss5–9"]),
                                 ("short", ("short",)))}
    for label in VIOLATING:
        lines.append(f"| {label} | {_act_text(act.get(label, DETECTORS_ONLY))} | {_precision_cell(heldout.get(label))} | "
                     + " | ".join(_precision_cell(blind[pool].get(label)) for pool in blind) + " |")
    lines += ["", "Bands on real harmless text (`moderation eval --data ../shared/data`): the public held-out files' "
              "harmless rows (gold work or chit-chat: meeting talk, social-media chat, personal SMS, ordinary SMS, true "
              "Weibo posts, safe comments). A chit-chat verdict on chit-chat is right, and still lands in review or "
              "act (P6); *violation* counts the rows called ad, rumour, abuse, confidential or illegal.", "",
              "| set | harmless rows | pass | review | act | violation in review | violation in act |",
              "|---|---|---|---|---|---|---|"]
    for name in [*HARMLESS_TEXT, *(n for n in suite if n not in HARMLESS_TEXT)]:
        res = suite.get(name)
        if not res or not res.get("bands") or not res["bands"]["harmless"]["n"]:
            continue
        h, fa = res["bands"]["harmless"], res["bands"]["false_alarms"]
        lines.append(f"| {name} | {h['n']} | {_share(h['pass'], h['n'])} | {_share(h['review'], h['n'])} | "
                     f"{_share(h['act'], h['n'])} | {_share(fa['review'], h['n'])} ({fa['review']}) | "
                     f"{_share(fa['act'], h['n'])} ({fa['act']}) |")
    lines += ["", "Bands on the blind work-chat sets (`moderation eval`): all messages, and their harmless ones (gold "
              "work or chit-chat).", "",
              "| set | n | pass | review | act | harmless rows | violation in review | violation in act |",
              "|---|---|---|---|---|---|---|---|"]
    for name, m in work.items():
        if "bands" not in m:
            continue
        b, h, fa = m["bands"]["bands"], m["bands"]["harmless"], m["bands"]["false_alarms"]
        lines.append(f"| {name} | {m['n']} | {_share(b['pass'], m['n'])} | {_share(b['review'], m['n'])} | "
                     f"{_share(b['act'], m['n'])} | {h['n']} | {fa['review']} | {fa['act']} |")
    tests = [work[name]["bands"] for name in POOLS["test7–10"] if name in work and "bands" in work[name]]
    if tests:
        n = sum(f["n"] for f in tests)
        review, acting = sum(f["bands"]["review"] for f in tests), sum(f["bands"]["act"] for f in tests)
        only_detectors = [label for label in VIOLATING if act.get(label, DETECTORS_ONLY) >= DETECTORS_ONLY]
        lines += ["", f"What this means: of test7–10's {n:,} messages (40 per class in each set) {_share(review, n)} "
                  f"wait for a reviewer and {_share(acting, n)} act at once; "
                  + (", ".join(only_detectors) + " act on detector decisions only, so every verdict of theirs that no "
                     "detector decided goes to review. " if only_detectors else "")]
        short = []
        for column, figures in (("the public held-out files", heldout), *blind.items()):
            for label, e in figures.items():
                if e["precision"] < 0.98:
                    short.append(f"{label} on {column} {e['precision']:.3f} ({e['correct']} of {e['rows']})")
        lines[-1] += ("Measured after the choice, the act band falls short of 0.98 for: " + "; ".join(short) + "."
                      if short else "Measured after the choice, every act band with rows reaches 0.98.")
    return lines + [""]


# issue 29's targets: under each family the flagged share of violating messages drops by at most this much
ROBUSTNESS_DROP = 0.03
ABUSE_F1_TARGET, ABUSE_F1_DROP = 0.65, 0.05


def _robustness_table(r: dict) -> list[str]:
    target = r.get("target")
    head = ("| family | scope | violating rows changed | flagged, clean | flagged, cloaked | drop [95% interval] | "
            "within 0.03 | harmless flagged, clean | harmless flagged, cloaked |" + (f" {target} F1 clean | cloaked |" if target else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    c = r["clean"]
    for e in r["cloaked"]:
        low, high = e["drop_interval"]
        harm = (f"{100 * c['harmless_flagged']:.2f}% | {100 * e['harmless_flagged']:.2f}%"
                if c["harmless_flagged"] is not None else "— | —")
        row = (f"| {e['family']} | {e['scope']} | {e['changed_violating']} of {r['violating']} | {c['violating_flagged']:.3f} | "
               f"{e['violating_flagged']:.3f} | {e['drop']:+.3f} [{low:+.3f}, {high:+.3f}] | "
               f"{'yes' if e['drop'] <= ROBUSTNESS_DROP else '**no**'} | {harm} |")
        if target:
            row += f" {c['target_f1']:.3f} | {e['target_f1']:.3f} |"
        lines.append(row)
    return lines


def _robustness_section(classifier, suite: dict) -> list[str]:
    """Issue 29: each evasion family, clean against cloaked, on the blind work-chat sets pooled and on
    the public held-out files of offensive posts; and what is still not caught."""
    from pipeline.classify.evasion import EMOJI_FOR, EMOJI_NOT_IN_CONFIG
    from pipeline.classify.evaluate import ROBUSTNESS_SEED, robustness

    names = [name for name in WORKCHAT_TESTS if Path(WORKCHAT_TESTS[name]).exists()]
    rows = [r for name in names for r in load_eval_file(Path(WORKCHAT_TESTS[name]))]
    work = robustness(classifier, rows)
    lines = ["## Robustness to evasion (issue 29)",
             "The same messages clean and rewritten the way people dodge keyword filters, by the project's evasion "
             "generator (pipeline/classify/evasion.py, seed " + str(ROBUSTNESS_SEED) + "; training's augmentation used "
             "another seed): **fillers** (spaces, symbols, zero-width characters, combining marks or emoji between "
             "characters), **emoji** stand-ins (🀄 中, 🉐 得, 👨 男, 🐴 for 马 and for 妈, 1️⃣ 一; "
             f"{len(EMOJI_NOT_IN_CONFIG)} of the generator's {len(EMOJI_FOR)} emoji are not in the normalisation's "
             "table), **homophones** and near-homophones (common characters with the same toneless pinyin, or the same "
             "up to zh/z, ch/c, sh/s, n/l, an/ang, en/eng, in/ing), **pinyin** and letter stand-ins (shabi, sb, vx) and "
             "**mixed**. Scope *words*: only the words the project's lexicons find are rewritten (what a sender hides; a "
             "message without one stays clean, so its drop is diluted by them); *all*: every character a family can "
             "rewrite (fillers between all characters, every character with an emoji, half of them by homophones, a third "
             "in pinyin): a stress test beyond what people write. *Flagged*: called ad, rumour, abuse, confidential or "
             "illegal. Target (issue 29): under each family the flagged share of violating messages drops by at most "
             f"{ROBUSTNESS_DROP}, and harmless messages are not flagged more. Reproduce: `moderation eval` and "
             "`moderation eval --data ../shared/data`.",
             "", f"Blind work-chat sets pooled ({', '.join(names)}: {work['n']} messages, {work['violating']} violating, "
             f"{work['harmless']} harmless):", "", *_robustness_table(work)]
    for name in ("cold", "swsr_sexism"):
        r = (suite.get(name) or {}).get("robustness")
        if r:
            lines += ["", f"{name} held-out file (real offensive posts; {r['n']} rows, {r['violating']} abuse): issue 29 "
                      f"asks abuse F1 ≥ {ABUSE_F1_TARGET} and at most {ABUSE_F1_DROP} lower with the offensive words "
                      "replaced by emoji stand-ins or homophones (scope *words*).", "", *_robustness_table(r)]
    missed = [f"{e['family']}/{e['scope']} ({e['drop']:+.3f})" for e in work["cloaked"] if e["drop"] > ROBUSTNESS_DROP]
    lines += ["", "**Still not caught.** " + (
        "On the blind sets the flagged share drops by more than " + str(ROBUSTNESS_DROP) + " under "
        + ", ".join(missed) + ". " if missed else "On the blind sets every family stays within the target. ")
        + "Homophones that are not near in the sense above (b/p, an/ian …), characters split into their "
        "components (女子 for 好, 亻尔 for 你), look-alike characters of other shapes (己/已, 末/未), words spelt "
        "backwards or with a character left out, pinyin written with tone digits or mixed with English, emoji this "
        "generator does not use, text in images and abuse that needs the conversation around it are not handled by "
        "the normalisation and only partly by the model."]
    return lines


def _pooled(classifier, names) -> dict:
    from pipeline.classify.evaluate import metrics

    rows = [r for name in names if Path(WORKCHAT_TESTS[name]).exists() for r in load_eval_file(Path(WORKCHAT_TESTS[name]))]
    return metrics([r["label"] for r in rows], evaluate_rows(classifier, rows))


def _specialist_data(target: str, artifact: dict) -> str:
    from pipeline.classify.train import SPECIALISTS

    names = [name for name in SPECIALISTS.get(target, ()) if name in {s.name for s in public_sources(artifact)}]
    return (" and ".join(names) + " with the project's rows") if names else "the project's rows alone"


def _synthetic_parts(artifact: dict) -> list[str]:
    multipriv = "multipriv_zh_synthetic" in {s.name for s in public_sources(artifact)}
    return [
        "**Synthetic parts.** `project_synthetic` (pipeline/classify/corpus.py) is template-generated "
        "by this project: work-group notices, tasks, progress, questions and acknowledgements, idle chat "
        "and flooding, ads, workplace rumours, abuse, leaks (fake checksum-valid resident ids, Luhn-valid "
        "card numbers, made-up passwords and keys), gambling and fraud, and near-misses such as security "
        "notices that mention fraud, reminders not to post personal data, notices with a bracketed header "
        "(【通知】) and short logistics lines (明早九点例会, 在路上了，十分钟到, 已发版); a fifth of each class but ads "
        "is set in other trades than the office (warehouses, wards, shops, sites, stations). Public chit-chat rows "
        "that would be ordinary work messages in a work group are left out of training: short acknowledgements and "
        "lines of at most 30 characters about work logistics (开会, 下班, 出差, 上线 …; `ambiguous_in_work_group` in "
        "pipeline/classify/train.py). "
        + ("`multipriv_zh_synthetic` is synthetic too (generated PII paragraphs). " if multipriv else "")
        + "The hand-written sets (`pipeline/classify/data/workchat_handwritten*.jsonl`, weight 16 per message) are "
        "invented messages written by the project's engineers and helpers in the style of work-group chat, not real "
        "chat: the first was the development set, the second was aimed at the confusions of an earlier card (casual "
        "abuse, violations phrased like colleague talk, confidential content without any detector hit) and lent some "
        "phrasings to the generator, the third to fifth were the test sets of earlier versions, each "
        "scored for the models it was written after and then moved into training, the sixth is aimed at "
        "quieter workplace abuse, the seventh to tenth are the later test sets (test4–6 and the near-miss sets "
        "1–4), and the eleventh and twelfth were written for training by two helpers in 40 workplaces (see "
        "*How this version was chosen*" + ("" if not commercial_use(artifact) else " in MODEL_CARD-classifier-noncommercial.md")
        + "). None of the project's text was "
        "copied from a public set: no hand-written line, generator string or lexicon line shares a run of ten "
        "characters with any public set's text beyond digits, emoji codes, URLs, 哈哈哈 and two stock phrases "
        "(在开会不方便接电话, 今天又是元气满满的一天; checked 2026-12-06, docs/CLASSIFIER.md). "
        "No real work-group chat was available."]


def _unseen_genres(artifact: dict, suite: dict, other_suite: dict | None) -> list[str]:
    """What a build that left the SMS, scam-text and Weibo sets out does on them."""
    here = {s.name for s in public_sources(artifact)}
    unseen = [name for name in ("sms_spam_80w_subset", "telecom_fraud5", "weibo21") if name not in here and name in suite]
    if not unseen:
        return []

    def figure(name: str) -> str:
        res, other = suite[name], (other_suite or {}).get(name)
        text = f"{name} {res['target']['positive']} F1 {res['target']['f1']:.3f}"
        if other:
            text += f" (the other artifact, trained on it: {other['target']['f1']:.3f})"
        if res.get("harmless"):
            text += f", {100 * res['flagged_share']:.1f}% of its harmless rows called a violation"
            if other:
                text += f" ({100 * other['flagged_share']:.1f}%)"
        return text

    return ["- It never saw SMS adverts, scam text messages or Weibo posts, and misses them when they come in "
            "that form: " + "; ".join(figure(name) for name in unseen) + ". In work chat, where the project's own "
            "messages teach these classes, the two artifacts are equal within noise (above)."]


def _commercial_history(artifact: dict, pooled: dict, suite: dict, other_suite: dict | None,
                        paired: dict | None) -> list[str]:
    """How the commercially usable default was chosen: the rule written before it was trained, and what happened."""
    t = pooled["test7–10"]["macro_f1"]
    lines = ["## Issue 29: this artifact stays the default",
             "Issue 29 (evasion, abuse beyond swearing, false alarms) trained two candidates with the recipe now "
             "behind `moderation train --robust` (cloaked training rows, pinyin sound n-grams, swsr_sexism, a "
             "hand-written file of threats, slander, discrimination and sarcasm with near-misses, the SexHateLex "
             "feature). By the rule written before they were trained (docs/CLASSIFIER.md, *Evasion, abuse beyond "
             "swearing, false alarms*), a candidate replaces this artifact only if, on the validation rows neither "
             "fitted on, no public source's F1 falls with an interval wholly below zero; both did: C1 on LCCC "
             "chit-chat (−0.018 [−0.029, −0.007]), C2 (SWSR's not-sexist rows at 0.3) on COLD abuse (−0.013 "
             "[−0.022, −0.003]) and LCCC (−0.011 [−0.021, −0.002]), while they cut the mean drop under cloaking "
             "from 0.143 to 0.026 and 0.022. So this artifact ships unchanged, with the new normalisation in front "
             "of it (stand-ins, symbol fillers, keycaps, letter and pinyin variants) and `content.thresholds` "
             "raised for the false alarms by the issue's rule 2 on train.jsonl rows (ad 0.75, abuse 0.6, "
             "confidential 0.65, illegal 0.65); the issue's targets, for this artifact and for C2, are in "
             "docs/CLASSIFIER.md and in *Robustness to evasion* below.",
             "",
             "## How this version was chosen",
             "Issue 24 item 10: the model shipped until 2026-12-06 was trained partly on research-only, non-commercial "
             "and unlicensed sets, so a company could not use it. The rule, written and committed (d065836, "
             "docs/CLASSIFIER.md) before this build was trained: the licence decides, so the build trained only on "
             "MIT and Apache-2.0 public sets and the project's own data ships as the default whatever its scores; the "
             "earlier model stays, byte for byte, as `models/classifier-noncommercial.joblib`, opt-in; the first build "
             "uses the same code, recipe and seed with the sources restricted; only if its macro-F1 on test7–10 pooled "
             "fell below 0.85 would a fix be sought within commercially usable data (the hand-written weight at 24 or "
             "32, swsr_sexism as an abuse source), chosen on the validation split alone.",
             "",
             f"1. **This build: the same recipe on commercially usable data.** test7–10 pooled macro-F1 {t:.3f} "
             + ("(at least 0.85: no fix was sought, and this first build ships). " if t >= 0.85 else
                "(below 0.85). ")]
    if paired:
        c, n = paired["test7–10"], paired["nearmiss5–9"]
        a = paired["all blind sets"]
        lines[-1] += (f"Against the earlier model on the same messages: test7–10 {c['macro_f1_difference']:+.3f} "
                      f"[{c['interval_95'][0]:+.3f}, {c['interval_95'][1]:+.3f}] ({c['right_only_with_model']} messages "
                      f"right only with this one, {c['right_only_with_against']} only with the other), nearmiss5–9 "
                      f"{n['macro_f1_difference']:+.3f} [{n['interval_95'][0]:+.3f}, {n['interval_95'][1]:+.3f}], all "
                      f"{a['n']} blind messages {a['macro_f1_difference']:+.3f} [{a['interval_95'][0]:+.3f}, "
                      f"{a['interval_95'][1]:+.3f}]: on work chat the research-only and non-commercial sets bought "
                      "nothing a blind set can show. They bought the public tasks they came from (SMS adverts, scam "
                      "texts, Weibo rumours; *Limits*).")
    lines[-1] += (" Validation split (10% of the training rows, argmax): COLD abuse F1 0.891, LCCC chit-chat 0.948, "
                  "VCSum work 0.978, hand-written accuracy 0.919, generated 0.999. The demo's 22 verdicts keep the "
                  "earlier model's labels (scores move in the second or third decimal). It was built twice, at nice 10 "
                  "on a shared two-core machine: first from the code before `--include-noncommercial`, asked for with "
                  "`--exclude-licence research-only --exclude-licence non-commercial --exclude-licence unstated`, in "
                  "224 s (292 s of CPU) while the machine was quiet; then, as shipped, with `moderation train --seed "
                  "13`, in 599 s (361 s of CPU) while other jobs held it. The two have identical weights (the same "
                  "rows, split and sample weights).")
    return lines


def _noncommercial_history(suite: dict, work: dict) -> list[str]:
    """How the recipe and the opt-in artifact (models/classifier-noncommercial.joblib, trained with the
    research-only and non-commercial sets too) were chosen, build by build (written with each build)."""
    lines: list[str] = []
    earlier = {  # caf3872, 825dbda, 8e49f02, c32d106, e39bc00, 9b83f43, cb30a91, 5bd0933, 5bd0933 + rule, 92a04de
        "sms_spam_80w_subset": (0.947, 0.951, 0.954, 0.961, 0.956, 0.951, 0.954, 0.954, 0.951, 0.953),
        "weibo21": (0.852, 0.855, 0.850, 0.866, 0.867, 0.861, 0.862, 0.865, 0.865, 0.845),
        "cold": (0.748, 0.751, 0.751, 0.749, 0.747, 0.747, 0.746, 0.748, 0.748, 0.747),
        "lccc_toy_chitchat": (0.914, 0.935, 0.923, 0.925, 0.925, 0.924, 0.924, 0.923, 0.923, 0.911),
        "nus_sms_zh": (0.917, 0.929, 0.918, 0.919, 0.920, 0.921, 0.920, 0.919, 0.919, 0.913),
        "test10": (None,) * 9 + (0.837,),
        "test9": (None,) * 8 + (0.837, 0.890),
        "test8": (None,) * 8 + (0.814, 0.891),
        "test7": (None, None, None, None, None, 0.797, 0.801, 0.801, 0.801, 0.888),
        "nearmiss9": (None,) * 9 + (0.888,),
        "nearmiss8": (None,) * 8 + (0.742, 0.844),
        "nearmiss7": (None,) * 8 + (0.679, 0.847),
        "nearmiss6": (None, None, None, None, None, 0.638, 0.641, 0.709, 0.716, 0.798),
        "nearmiss5": (None, None, None, None, None, 0.560, 0.564, 0.622, 0.634, 0.769),
        "short": (None, None, None, 0.677, 0.865, 0.830, 0.830, 0.848, 0.848, 0.874)}
    lines += ["", "## Against the previous models", "",
              "| measure | caf3872 | 825dbda (abuse data) | 8e49f02 (other trades) | c32d106 (second level per length) "
              "| e39bc00 (short work lines) | 9b83f43 (idle chat about work) | cb30a91 (unseen n-grams) "
              "| 5bd0933 (warnings as work) | 5bd0933 and the warning-notice rule | 92a04de (earlier test sets trained on) "
              "| this model (two more hand-written files, weight 16) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, before in earlier.items():
        cells = " | ".join("—" if x is None else f"{x:.3f}" for x in before)
        if name in suite:
            lines.append(f"| {name} {suite[name]['target']['positive']} F1 | {cells} | {suite[name]['target']['f1']:.3f} |")
        elif name in work:
            lines.append(f"| work-chat {name} macro-F1 | {cells} | {work[name]['macro_f1']:.3f} |")
    lines += ["", "## How this version was chosen",
              "The recipe is caf3872's (dedicated heads, second level on out-of-fold scores, shape inputs, "
              "hand-written weight 24; see the history of this file for how each was chosen on the validation "
              "split). Two data changes followed, each shipped by a rule fixed before test5 was scored: every "
              "unit test passes, and on the validation rows that both builds left out of training no public "
              "set's target F1 falls by more than 0.02. Then the second level changed (3), then the short lines (4, 5), then the "
              "features (6); then the earlier test sets were trained on (12), and two more hand-written files at a lower "
              "weight (13, this model).",
              "",
              "1. **825dbda, abuse.** `workchat_handwritten6.jsonl`: 95 hand-written messages, 50 of them "
              "workplace abuse of the quieter kinds (contempt for someone's ability, threats without a violent "
              "word, slurs on region, sex or age, harassment), with chit-chat that jokes without insulting, "
              "blunt but professional criticism and reminders about sensitive data (work), and leaks "
              "(confidential); the generator's abuse fragments gained the same kinds. On twenty workplace "
              "insults written before the new data, 13 → 17 were called abuse.",
              "2. **8e49f02, other trades.** test5's confusion matrix (its lines were not read) showed the "
              "model calling violations work. A development set (280 messages, 40 per class, 23 further trades, written by "
              "another helper and kept outside the repository; never trained on) showed the same with 825dbda: "
              "8–12 of 40 abuse, illegal and rumour messages and 10 of 40 chit-chat called work. The templates spoke "
              "mostly of offices and software, so a trade's words (仓库, 护士站, 叉车工 …) meant work. The "
              "generator now has trade places, roles and objects (TRADE_* in pipeline/classify/corpus.py), "
              "used in a fifth of the generated messages of every class but ads: trade tasks, chit-chat on "
              "shift, rumours about a site, insults to a role, illegal side deals, leaks of customers' data. "
              "Development set macro-F1: caf3872 0.726, 825dbda 0.760, 8e49f02 0.792.",
              "3. **c32d106, the second level per message length.** The same first level as 8e49f02 (the same "
              "data and seed give identical weights); only the second level changed. On the validation split, "
              "8e49f02's dedicated Weibo head alone reached rumour F1 0.91 and its SMS head ad F1 0.96, the full "
              "classifier 0.84 and 0.92: the second level weighed each head the same for a chat line and a long "
              "post, though a head fitted on Weibo posts or SMS knows only its own kind of text. Nine second "
              "levels were fitted offline on the out-of-fold scores (the logits once more per length bucket; "
              "products of the heads with the main model's probabilities; both; C 1, 0.3, 0.1) and the best "
              "by the mean of validation SMS, Weibo and COLD F1, validation hand-written macro-F1 and "
              "development-set macro-F1 was taken: length buckets, C=0.1 (0.886 against 0.870; boosted trees "
              "as the second level reached 0.869, so the step is not for want of a non-linear model). The "
              "rule, written before the build was trained: every unit test passes, no public set's validation "
              "interval wholly below zero, the development-set interval not wholly below zero, and the mean "
              "validation F1 of the three target sets rises. It passed: SMS ad 0.918 → 0.942 [+0.000, +0.055], "
              "Weibo rumour 0.841 → 0.856 [−0.004, +0.036], COLD abuse 0.885 → 0.878 [−0.014, +0.0004] (by "
              "the narrowest margin), development set 0.792 → 0.842 [+0.020, +0.080] (the development set also "
              "chose the variant, so this is optimistic). Only then were the held-out sets and test5 scored, "
              "once: SMS 0.954 → 0.961, Weibo 0.850 → 0.866, COLD 0.751 → 0.749; test5 0.741 → 0.750, +0.008 "
              "[−0.027, +0.047] (11 messages right only with c32d106, 8 only with 8e49f02), a gain the "
              "blind set does not confirm.",
              "4. **e39bc00, short work lines.** c32d106 called short logistics lines chit-chat (明天上午十点开会, "
              "九点半站会, 马上到: a P6 idle-chat finding on a meeting notice): the public chit-chat sets are "
              "personal SMS and social-media chat, full of the same shapes between friends (NUS: 749 training "
              "lines about 开会, 上班, 下班 …). Public chit-chat lines of at most 30 characters about work logistics "
              "are now left out of training, like short acknowledgements before them, and the generator writes "
              "short logistics lines as work. A blind set of such lines and of idle chat (**short**, above) was "
              "committed before the build was trained, with the rule: every unit test passes; its macro-F1 rises "
              "with an interval wholly above zero; the development-set interval is not wholly below zero; no "
              "public validation set's interval wholly below zero on the rows both builds left out. It passed: "
              "short 0.677 → 0.865, +0.188 [+0.093, +0.307] (10 messages right only with e39bc00, none only "
              "with c32d106); development set 0.842 → 0.821, −0.021 [−0.048, +0.005] (its chit-chat F1 0.868 → "
              "0.778: more idle chat called work); validation COLD +0.007 [+0.002, +0.011], the rest within "
              "±0.006 (the chit-chat sets on only 66 and 19 common rows, since the filter changes which rows "
              "the capped sets sample; on e39bc00's own validation rows LCCC 0.928 and NUS 0.935 against "
              "0.952 and 0.946 for c32d106, which may have trained on some of them). Scored once after: held-out "
              "SMS 0.961 → 0.956, Weibo 0.866 → 0.867, COLD 0.749 → 0.747, LCCC 0.925 → 0.925, NUS 0.919 → "
              "0.920; test5 0.750 → 0.740, −0.010 [−0.042, +0.019] (5 right only with e39bc00, 8 only with "
              "c32d106). The trade: fewer idle-chat findings on work messages, some idle chat missed.",
              "5. **9b83f43, idle chat about the working day.** e39bc00 called idle chat that mentions the "
              "working day work (its development-set chit-chat F1 fell 0.868 → 0.778). The generator now also "
              "writes idle chat with 下班, 加班, 值班 … as chit-chat. The engineer read e39bc00's "
              "development-set errors first, so the development-set figure below is optimistic. The rule, "
              "written before the build was trained: every unit test passes; the development-set macro-F1 "
              "rises and its interval is not wholly below zero; the short set's and every public validation "
              "set's interval not wholly below zero. It passed, with two intervals ending exactly at zero: "
              "development set 0.821 → 0.843, +0.022 [−0.001, +0.046]; short 0.865 → 0.830, −0.035 [−0.093, "
              "0.000] (2 messages right only with e39bc00, none only with this build); SMS ad validation "
              "0.936 → 0.918, −0.018 [−0.041, 0.000]; the rest within ±0.004. Scored once after: held-out SMS "
              "0.956 → 0.951, Weibo 0.867 → 0.861, COLD 0.747 → 0.747, LCCC 0.925 → 0.924, NUS 0.920 → 0.921; "
              "test5 0.740 → 0.746, +0.006 [−0.020, +0.033]. On the blind sets it is e39bc00's equal within "
              "noise.",
              "6. **cb30a91, n-grams never seen in fitting.** Until 9b83f43 a hashed bucket that no training "
              "message had got the highest IDF: it never carried a weight, but it swelled the L2 norm of a new "
              "message that had it and so shrank every n-gram the model knew. A vocabulary would have dropped "
              "it. The dedicated SMS head, whose IDF comes from 8,000 text messages, met many such n-grams in "
              "every chat line. In five-fold cross-validation on the SMS training file (not the held-out file) "
              "the head alone scored ad F1 0.954 before and 0.969 with such buckets at IDF 0, the same as "
              "scikit-learn's TfidfVectorizer on the same texts; Weibo21 and COLD did not move. The first-level "
              "weights are the same (every bucket of a training row was seen), so only the second level, fitted "
              "on out-of-fold scores, changed. The rule, written before the build was trained: every unit test "
              "passes; validation SMS ad F1 rises; no public set's validation interval and not the "
              "development-set interval wholly below zero. It passed: SMS ad 0.918 → 0.924, +0.006 [0.000, "
              "+0.020]; Weibo21 0.856 → 0.853, −0.003 [−0.008, 0.000]; the rest within ±0.002; development "
              "set 0.843 → 0.841, −0.002 [−0.014, +0.009]. Scored once after: held-out SMS 0.951 → 0.954, "
              "Weibo 0.861 → 0.862, COLD 0.747 → 0.746; test5 0.746 → 0.757, +0.011 [+0.001, +0.025] (3 "
              "messages right only with cb30a91, none only with 9b83f43); short unchanged; test4 0.828 → 0.824.",
              "7. **Lexicon terms need a retrained model: a change taken back.** 7 of 40 illegal messages of "
              "the development set were called ads (drugs, forged papers, traded personal data), so a887b53 "
              "added illegal_other terms (street drugs, forged diplomas, two sets of books, controlled knives "
              "…) and made an advert naming one illegal. It passed the rule written for it (validation "
              "unchanged, development set +0.007 [0.000, +0.017]; a retrained build with 500 generated adverts "
              "had failed its own, NUS −0.008 [−0.014, −0.002]). Compliance notices probed afterwards showed "
              "the cost: this model learnt that an illegal_other term means illegal, so 禁毒宣传 naming 海洛因 "
              "and 笑气, 严禁做假账、虚开发票 and 严禁携带管制刀具 went from work to illegal at 1.0. A term "
              "changes the model's input, and needs a retrained model with near-miss notices that name it; "
              "the change was taken back. Kept: the bare 四件套 (a bedding set as well as a bank-card kit) "
              "became 银行卡四件套, since hotel housekeeping lines (302房退房了，四件套换一下) were illegal at 1.0; "
              "validation, the development set, short, test5, test4 and the held-out sets are unchanged by it.",
              "8. **5bd0933, warnings that name illegal things (the artifact shipped now).** Probed with compliance notices, cb30a91 "
              "called 7 of 12 illegal: three by the rule that two gambling terms decide (严禁在群里讨论赌球、博彩), "
              "four by the model at 1.0 (禁毒宣传 naming 冰毒、大麻; 办假证、买假学历属于违法行为); this build calls "
              "one of them illegal (the engineer wrote both those probes and the new templates, so that figure is "
              "optimistic). Two changes: "
              "(a) two gambling terms, or one with a contact handle, decide only where the model scores the "
              "message below 0.5 as work; (b) the generator writes warnings that name such things as work (WARN_* "
              "in corpus.py: anti-drug, anti-gambling and anti-fraud publicity, rules against forged papers and "
              "rented cards, a dismissal for gambling, a police lecture, an audit finding), about one in twenty "
              "compositional work messages. A helper wrote the **nearmiss** set blind (above) and it was "
              "committed before either change was scored on it. The rule, written before the build finished "
              "training: every unit test passes; nearmiss macro-F1 rises with its interval wholly above zero; no "
              "public set's validation interval wholly below zero on the rows both builds left out. It passed: "
              "nearmiss 0.577 → 0.703, +0.126 [+0.040, +0.217] (13 messages right only with this build, 2 only "
              "with cb30a91; the gambling rule alone, on cb30a91: 0.561 → 0.577, one message, none lost); on "
              "the 8,550 common validation rows SMS ad +0.006 [0.000, +0.019], Weibo21 +0.001 [−0.009, +0.012], "
              "COLD −0.002 [−0.006, +0.002], NUS −0.004 [−0.011, +0.002], telecom fraud −0.002 [−0.005, 0.000] "
              "(one illegal message called an ad: the interval ends exactly at zero), the rest within ±0.002; "
              "the gambling rule alone changed one of 10,241 validation verdicts, wrong to right. Scored once "
              "after: test6 0.826 → 0.838, +0.013 [−0.010, +0.036] (7 right only with this build, 3 only with "
              "cb30a91); test5 0.757 → 0.749, −0.008 [−0.036, +0.019] (4 against 7); short 0.830 → 0.848; "
              "test4 0.824 → 0.833; the gambling rule alone changed no verdict on them. Still: this build calls "
              "11 of nearmiss's 48 notices illegal and 5 ads. The second blind set, nearmiss2, written after "
              "the choice, confirms it: 0.674 → 0.731, +0.057 [+0.002, +0.120] (10 messages right only with "
              "this build, 2 only with cb30a91; of its 60 work messages, 41 are called work against 33). A "
              "further build (warnings as short lines between colleagues, disciplinary and case notices, "
              "questions to compliance, food-safety and explosives terms; written after reading nearmiss's "
              "errors) was held to the same rule on nearmiss2 and failed it: +0.017 [−0.029, +0.065], 61 "
              "right against 62 (fewer notices called illegal, 8 against 12, more called ads, 8 against 3). "
              "Not shipped. A third build (a fifth of the generated illegal messages written as adverts for "
              "illegal goods and services, so that an offer's shape and not its subject says illegal) raised "
              "nearmiss2 to 0.788, +0.057 [+0.011, +0.108], but not its illegal recall (21 of 30 either way), "
              "which its rule asked for; it was then held to a new blind set, nearmiss3, and failed there: "
              "0.673 → 0.704, +0.032 [−0.023, +0.094] (5 messages right only with it, 2 only with this "
              "model). Not shipped. nearmiss3 does not confirm this model's own gain either: against cb30a91 "
              "0.668 → 0.673, +0.005 [−0.046, +0.057].",
              "9. **The warning-notice rule (the same artifact, no retraining).** A message the model calls "
              "illegal or ad is work when its text has a warning cue (config/lexicons/warning.txt: 严禁, 谨防, "
              "举报, 违者, 开除 …), no offer cue (offer.txt: words that solicit the reader, and the words of a "
              "caller who claims an identity to one victim) and no contact handle. The rule, written before it "
              "was scored: every unit test passes; nearmiss2 and nearmiss3 pooled (180 messages whose texts "
              "the engineer has not read) rise with the interval wholly above zero; no validation source's "
              "interval wholly below zero; and on a new blind set, nearmiss4, the interval not wholly below "
              "zero. A first version failed on validation: telecom fraud −0.019 [−0.031, −0.010], 12 scam "
              "scripts impersonating the police or customer service that use 举报, 反诈 or 不得 called work. "
              "Those 12 validation rows were read, the offer cues took the caller's words (我是, 这里是, 您的, "
              "配合调查 …), and the second version passed: pooled 0.702 → 0.740, +0.037 [+0.014, +0.064] (9 "
              "messages right only with the rule, none only without); no validation verdict changed; "
              "nearmiss4 0.545 → 0.561, +0.016 [0.000, +0.037] (3 against none: notices no longer called "
              "ads). Scored once after: nearmiss (a development set) 0.703 → 0.777; test6 0.838 → 0.835, "
              "one illegal message called work; test5, short and test4 unchanged; held-out SMS ad 0.954 → "
              "0.951 (one ad of 1,999 called work), telecom fraud 0.994 → 0.994 (one scam called work); the "
              "demo and simulations give the same outputs. Still: nearmiss4 shows the model's other blind "
              "spot, illegal offers with no contact handle (12 of 30 called work, 11 ads). A fifth blind set, "
              "nearmiss5, written after the rule was shipped, confirms both steps: 5bd0933 against cb30a91 0.564 → "
              "0.622, +0.058 [+0.002, +0.122]; the rule 0.622 → 0.634, +0.012 [0.000, +0.031] (2 against none). "
              "A build aimed at that blind spot (a quarter of the generated illegal messages written as offers "
              "in passing between colleagues, 谁要/我这有/老规矩 + fake invoices, 叶子, bank cards, customer lists "
              "…, mostly without a handle) failed its rule on nearmiss5: 0.634 → 0.667, +0.034 [−0.014, +0.083], "
              "illegal offers called work 17 → 14 of 60. Not shipped. A wider version (41 kinds of goods, at "
              "40% of the generated illegal messages) failed the same way: 0.634 → 0.675, +0.041 [−0.005, +0.091], "
              "still 14. Not shipped. nearmiss6, scored after both, shows the same steps: 5bd0933 against "
              "cb30a91 0.641 → 0.709, +0.068 [+0.014, +0.131]; the rule 0.709 → 0.716 (1 against none); 12 of "
              "its 45 illegal offers called work.",
              "10. **A genre head (measured, not shipped).** The dedicated Weibo and SMS heads alone beat the "
              "whole classifier on the validation split (rumour F1 0.910 against 0.856, ad 0.954 against "
              "0.930): the second level weighs a head the same in every kind of text. A build added a genre "
              "head, a softmax over the kinds of text the sources are (SMS, telecom SMS, Weibo posts, comments, "
              "chat, meeting talk, PII paragraphs, work chat; fitted on the same hashed n-grams, val accuracy "
              "0.95), whose probabilities gated the heads' logits in the second level (a soft mixture of "
              "experts). On the validation split, gating all 13 logits gave Weibo21 0.883, SMS 0.936, COLD "
              "0.890 and hand-written macro-F1 0.928; gating only the five public-set heads gave 0.872, 0.949, "
              "0.887 and 0.928 (the second level refitted offline on the same out-of-fold scores, policy "
              "thresholds). Each was held to a rule written before it was scored on work chat, against this "
              "model: the lower bound of the paired interval of the macro-F1 difference above −0.02 on the "
              "pooled blind sets (above −0.03, with the difference itself at least zero, on the two new ones). All 13 gated "
              "failed on the pooled near-miss sets, −0.002 [−0.030, +0.024] (19 messages right only with it, "
              "29 only with this model; the blind sets +0.002 [−0.014, +0.018]). The five heads gated failed "
              "on the two new blind sets written for it (nearmiss7 and test8, 400 messages), −0.008 [−0.034, "
              "+0.016], and on the older ones pooled (1,250), −0.013 [−0.027, +0.002]. The genre head buys "
              "the public tasks with a little work chat, so it was not shipped and the held-out files were not "
              "scored with it; the code is on the branch experiment/genre-head.",
              "11. **Offers in passing between colleagues, again (measured, not shipped).** A build of 2026-11-27 "
              "04:11 (v17: 40% of the generated illegal messages written as offers in the group itself, mostly "
              "without a contact handle) had failed its rule on nearmiss5 (+0.041 [−0.005, +0.091]); scored on "
              "sets it had not seen, nearmiss6 and nearmiss7 pooled, it gained +0.045 [−0.001, +0.095], and test5–8 "
              "+0.010 [0.000, +0.022]. Its code had not been kept, so the generator change was written again "
              "(25 openings, 38 kinds of illegal goods, a contact handle in a fifth) and held, with a rule written "
              "before training, to a fresh blind set, nearmiss8: with the same openings also offering lawful "
              "things in chit-chat and work, +0.016 [−0.027, +0.059] there and +0.018 [−0.011, +0.047] on "
              "nearmiss5–8 pooled; without them, −0.015 [−0.061, +0.028] and +0.024 (98.3% interval, for a third "
              "look at the same sets, [−0.008, +0.058]). Neither passed; the code is on the branch "
              "experiment/casual-offers.",
              "12. **92a04de: the earlier test sets trained on.** test4, test5 and test6 (700 messages of all "
              "seven classes, from about 40 workplaces) and the near-miss sets 1–4 (342: notices that name illegal "
              "things to forbid them, and offers in the same words) had been scored for the models they were "
              "written after. Moved into training as hand-written files (workchat_handwritten7–10.jsonl, weight 24, "
              "as test1–3 before them), they double the hand-written rows (1,113 → 2,155); their texts were not "
              "read. The rule, written before the build was trained: every unit test passes; on test7–9 pooled "
              "(840, never trained on) the macro-F1 difference against 5bd0933 with the warning-notice rule has "
              "its interval wholly above zero; on nearmiss5–8 pooled (450) and on every public source's "
              "validation rows that both builds left out, no interval wholly below zero; the demo's verdict "
              "labels unchanged. It passed: test7–9 0.818 → 0.890, +0.072 [+0.051, +0.093] (81 messages right "
              "only with 92a04de, 16 only with the other; McNemar p < 0.001); nearmiss5–8 0.693 → 0.816, "
              "+0.124 [+0.087, +0.161] (77 against 11); validation (5,738 common rows) COLD +0.003, LCCC −0.005, "
              "NUS −0.002, Weibo21 +0.090 [+0.029, +0.164] (94 rows), SMS ad −0.037 [−0.131, 0.000] (109 rows, "
              "4 verdicts changed; the interval ends at zero), VCSum −0.009 [−0.024, 0.000]; the demo's 22 "
              "verdicts keep their labels. Scored once after: the held-out files and short (tables above). "
              "These sets and the ones that judged the build were written by helpers of the same kind, so part "
              "of the gain may be their shared style rather than better judgement of real chat.",
              "13. **This model: two more hand-written files, at weight 16.** Two helpers wrote 350 training "
              "messages each (50 per class, 20 workplaces each: a brewery, a ferry company, a vaccine cold-chain "
              "depot, a karaoke bar …; a blood bank, a cruise ship crew, an archaeology dig, a border-trade company "
              "…; half of the illegal ones offers in passing, half of the abuse quiet), while two other helpers "
              "wrote test10 and nearmiss9 to judge them; 3 training lines 0.6 or more similar to another line "
              "(one of them to a test10 line) were dropped. The rule, written before any of it existed: against "
              "92a04de, test10 and nearmiss9 pooled not worse and all the blind sets pooled (1,690) with the "
              "interval wholly above zero; no public validation interval wholly below zero; the demo's labels "
              "unchanged. At weight 24 (v22) the blind sets rose (test10 + nearmiss9 0.832 → 0.904, +0.072 "
              "[+0.047, +0.101]; all pooled +0.048 [+0.037, +0.062]) but COLD validation fell, 0.888 → 0.882, "
              "−0.006 [−0.012, −0.001] on 3,205 rows: not shipped. The hand-written weight had been chosen on "
              "the validation split when there were half as many such rows, so it was chosen again there, by a "
              "rule written before training: the higher of 16 and 12 with no public interval wholly below "
              "zero. Both qualified (weight 16: COLD +0.001 [−0.004, +0.006], NUS +0.009, SMS −0.036 [−0.127, "
              "0.000] on 155 rows with 4 verdicts changed, telecom −0.009 [−0.030, 0.000], Weibo21 −0.005), so "
              "16. Judged, for the second time on test10 and nearmiss9: 0.832 → 0.882, +0.051 [+0.027, +0.077] "
              "(27 messages right only with this model, 4 only with 92a04de); all pooled 0.853 → 0.888, +0.035 "
              "[+0.023, +0.049] (101 against 32); the demo's 22 verdicts keep their labels. Scored once after: "
              "the held-out files and short (tables above).",
              "14. **The same model, rebuilt after the scores stopped depending on the batch.** The two "
              "small dense products (the 33 features, the second level) now go one row at a time, because BLAS "
              "summed them in an order set by the batch's height and a message's scores changed in the last "
              "bits with the batch it came in. The out-of-fold scores the second level learns from changed in "
              "those bits too, and its solver, which stops at a tolerance, settled on weights up to 0.043 "
              "apart; the first level is bit-identical. `moderation train --seed 13` had stopped rebuilding the "
              "artifact it described, so the artifact was rebuilt with the same data, seed and settings (two "
              "builds, identical weights). Against the first build of 13: every work-chat set the same "
              "except test8, 0.923 → 0.920 (one message); held out SMS 0.951 → 0.951, Weibo21 0.848 → 0.849, "
              "COLD 0.749 → 0.749, LCCC 0.928 → 0.928, NUS 0.924 → 0.924.",
              "15. **Moved aside, 2026-12-06.** This artifact, unchanged byte for byte, was renamed "
              "`models/classifier-noncommercial.joblib` when a build of the same recipe trained only on commercially "
              "usable data became the default, `models/classifier.joblib` (issue 24 item 10; its card, "
              "MODEL_CARD.md, says how it was chosen and gives both side by side). Its held-out and work-chat "
              "figures above are the ones this card gave before; the false-alarm column and the swsr_sexism row "
              "are new measurements.",
              "",
              "Paired comparisons on test5 (`moderation eval --model A --against B`: the macro-F1 difference "
              "with a paired bootstrap 95% interval): 8e49f02 against 825dbda +0.047 [+0.012, +0.083] (13 "
              "messages right only with 8e49f02, 4 only with 825dbda; McNemar p = 0.049), against caf3872 "
              "+0.051 [+0.016, +0.092]; 825dbda against caf3872 +0.005 [−0.029, +0.040], so the abuse data did "
              "not show on the blind set, while the trade vocabulary did.",
              "",
              "Validation rows both 825dbda and 8e49f02 left out (6,177): COLD abuse 0.887 → 0.884, Weibo21 "
              "rumour 0.809 → 0.800, SMS ad 0.800 → 0.842 (nine ads among 218 rows), LCCC chit-chat 0.933 → "
              "0.921, NUS 0.930 → 0.914. A third build with 100 more hand-written messages aimed at the "
              "development set's remaining errors (`pipeline/classify/data/pending/`, not trained on) reached "
              "0.844 on the development set but failed the rule on Weibo21 (0.796 → 0.774 on the 97 Weibo rows "
              "all three builds left out: one rumour more missed and one more false alarm), so it was not shipped "
              "and not scored on test5. A stricter rule was then fixed before a fourth build (that data plus 60 "
              "more messages) was trained: the paired bootstrap interval of the development-set macro-F1 "
              "difference must lie above zero, and no public set's validation interval wholly below it. The "
              "fourth build failed both: development set +0.023 [−0.013, +0.060], and LCCC and NUS chit-chat "
              "−0.029 and −0.028 with intervals below zero (more casual lines called work). Not shipped, not "
              "scored on test5. A fifth build, the same data on c32d106's recipe, was held to the same "
              "rule, written down before it was trained, and failed it again: development set +0.003 "
              "[−0.032, +0.038]; LCCC −0.007 and NUS −0.015 with intervals below zero (COLD +0.009 above "
              "zero). Both files wait in `pipeline/classify/data/pending/`.",
              "",
              "More weight on the hand-written rows buys work-chat accuracy with SMS-ad precision: many "
              "`normal` rows of the SMS set are promotional (购车红包, 团购协议, a contact line), which the "
              "work-chat rows teach the model to call ads.",
              ]
    return lines


def card_command(args) -> int:
    """`moderation card`: score an artifact (and the other shipped one) and write its card, no training."""
    import sys

    from pipeline.classify import model_path as policy_model_path
    from pipeline.classify.datasets import default_data_dir
    from pipeline.classify.evaluate import _policy
    from pipeline.classify.model import Artifact, ModelError

    data = Path(args.data) if getattr(args, "data", None) else default_data_dir()
    if not data.is_dir():
        print(f"error: data directory {data} not found (use --data PATH)", file=sys.stderr)
        return 2
    path = Path(args.model) if getattr(args, "model", None) else policy_model_path(_policy(args))
    try:
        artifact = Artifact.load(path).data
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {write_model_card(path, artifact, data)}")
    return 0
