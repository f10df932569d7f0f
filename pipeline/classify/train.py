"""`moderation train`: fit the classifier and write models/classifier.joblib and MODEL_CARD.md.

Reproducible from --seed. Data: the public sets under --data (train.jsonl only; heldout.jsonl
is scored for the model card and never fitted on) plus the project's synthetic corpus
(pipeline/classify/corpus.py), its hand-written messages, and any --add-data files (a company's
own labelled messages). By default only the public sets whose licence allows commercial use (MIT,
Apache-2.0): that build is the shipped default, models/classifier.joblib. --include-noncommercial
adds the research-only, non-commercial and unlicensed sets (models/classifier-noncommercial.joblib,
not for commercial use). Sources can also be left out by licence tag or by name.
"""
from __future__ import annotations

import datetime as _dt
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from pipeline.classify import corpus
from pipeline.classify.datasets import load_split, select_sources
from pipeline.classify.features import (
    DENSE_NAMES, TermList, TextFeaturizer, analyse, dense_features, rowwise_matmul, second_level_inputs,
)
from pipeline.classify.model import Artifact
from pipeline.classify.verdict import LABELS
from pipeline.config import PROJECT_ROOT

DEFAULT_OUT = PROJECT_ROOT / "models" / "classifier.joblib"
NONCOMMERCIAL_OUT = PROJECT_ROOT / "models" / "classifier-noncommercial.joblib"
SYNTHETIC_WEIGHT = 2.0
# hand-written realistic work-group messages, weighted up: few but real-looking. 1 was the first
# development set; 2 was written against the known confusions; 3-5 and 7-10 were test sets of earlier
# versions (each scored for the models it was written after, then moved here for training: 7 = test4,
# 8 = test5, 9 = test6, 10 = the near-miss sets 1-4); 6 is aimed at quieter workplace abuse; 11 and 12
# were written for training by two helpers. The weight is chosen on the validation split: 24 while
# there were 1,113 such rows; 16 since 2,852, where 24 lowered COLD's validation F1 (see the model card)
HANDWRITTEN_DIR = Path(__file__).resolve().parent / "data"
HANDWRITTEN_FILES = tuple(sorted(HANDWRITTEN_DIR.glob("workchat_handwritten*.jsonl")))
# hand-written for the issue-29 recipe (`moderation train --robust`): abuse beyond swearing and its near-misses
ROBUST_HANDWRITTEN_FILES = tuple(sorted((HANDWRITTEN_DIR / "robust").glob("workchat_handwritten*.jsonl")))


def handwritten_files(robust: bool = False) -> tuple[Path, ...]:
    """The hand-written training files, in the order of their names (the order the split depends on)."""
    return tuple(sorted(HANDWRITTEN_FILES + (ROBUST_HANDWRITTEN_FILES if robust else ()), key=lambda p: p.name))
HANDWRITTEN_WEIGHT = 16.0
# binary heads trained on one public set (plus the synthetic corpus) for its class; a small
# second-level logistic regression, fitted on the validation split, combines them with the main model
SPECIALISTS = {"rumour": ("weibo21",), "abuse": ("cold", "swsr_sexism"), "ad": ("sms_spam_80w_subset",)}
# dedicated binary heads: fitted on the public set alone (no synthetic rows), with that set's own IDF
# and weaker regularisation; chosen because on the validation split of train.jsonl they beat the
# shared heads (Weibo21 rumour F1 0.90 vs 0.87, SMS ad 0.98 vs 0.94; COLD showed no gain, so none)
DEDICATED = {"rumour": (("weibo21",), 64.0), "ad": (("sms_spam_80w_subset",), 64.0)}
# the second level sees the logits once more per message-length bucket, with stronger regularisation;
# chosen on the validation split and the development set among nine variants (length buckets,
# products with the main model's probabilities, both; C 1, 0.3, 0.1), see models/MODEL_CARD.md
STACK_LENGTH_BUCKETS = True
STACK_C = 0.1
# issue 29: n-grams of what the text sounds like (toneless, near-homophone-folded pinyin syllables)
# beside the characters'; syllable pairs and triples (a single syllable is shared by dozens of characters)
SOUND_NGRAMS = (2, 3)
# augmentation: this share of the training rows is added again cloaked by the evasion generator (a random
# family, scope `words` or `all`), with the row's label and weight, so the model sees cloaked text; the
# validation split is never cloaked here (the choosing rule cloaks it with another seed)
AUGMENT_SHARE = 0.25
AUGMENT_SEED_OFFSET = 1000
# SexHateLex (SWSR's MIT lexicon of sexist abuse terms, in the shared data, not copied into the
# repository): the artifact carries the terms that mean abuse in the training rows, as one feature
TERMS_PATH = Path("lexicons") / "SWSR_SexHateLex" / "SexHateLex.txt"
TERMS_MIN_ROWS = 5
TERMS_MIN_ABUSE_SHARE = 0.6


def _cap(rows: list[dict], cap: int | None, rng: random.Random) -> list[dict]:
    if cap is None or len(rows) <= cap:
        return rows
    idx = sorted(rng.sample(range(len(rows)), cap))
    return [rows[i] for i in idx]


_ACK = re.compile(r"^\W*(?:好的|好滴|好嘞|好|嗯+|恩+|哦+|噢|收到|知道了?|明白了?|了解|行|可以|ok|没问题|对|是的?)")


# work logistics: meetings, shifts, leave, trips, releases, reports, clients (早会 is left out: 迟早会)
_LOGISTICS = re.compile(r"开会|会议|例会|站会|周会|晨会|评审|培训|上班|下班|加班|值班|夜班|早班|晚班|出差|请假|调休|发版|上线|"
                        r"提交|周报|日报|汇报|客户|项目|方案|合同|审批|报销|打卡|面试|入职|交接|开工|收工|盘点|巡检|查房|排班")


def ambiguous_in_work_group(row: dict) -> bool:
    """Public chit-chat that would be an ordinary work message in a work group: short acknowledgements
    ("好的", "嗯嗯知道了") and short lines about work logistics ("明在进城开会", "我还没下班"; the public
    sets are personal SMS and social-media chat, labelled by where they come from, not by what they
    say). Left out of the chitchat class rather than teach the model that such lines are idle chat."""
    if row["label"] != "chitchat":
        return False
    text = row["text"]
    return (len(text) <= 12 and bool(_ACK.match(text.lower()))) or (len(text) <= 30 and bool(_LOGISTICS.search(text)))


def local_rows(paths) -> list[dict]:
    """The deploying company's own labelled messages (`moderation train --add-data FILE`): JSONL of
    {"text", "label"} with our seven labels, trained on like the project's hand-written messages,
    each file as a source of its own (`local:<file stem>`)."""
    from pipeline.classify.evaluate import load_eval_file

    rows = []
    for path in map(Path, paths):
        for number, r in enumerate(load_eval_file(path), 1):
            if not isinstance(r.get("text"), str) or not r["text"].strip():
                raise ValueError(f"{path}: row {number} has no text")
            rows.append({"text": r["text"], "label": r["label"], "source": f"local:{path.stem}",
                         "weight": HANDWRITTEN_WEIGHT})
    return rows


def collect(data_dir: Path, seed: int, sources, log=print, local: list[dict] = (), robust: bool = False) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for src in sources:
        part = [r for r in load_split(data_dir, src, "train", internal=True) if not ambiguous_in_work_group(r)]
        part = _cap(part, src.cap, rng)
        log(f"  {src.name:<24} {len(part):>6} rows  ({src.licence})")
        rows.extend(part)
    synth = corpus.generate_mixed(seed)
    for r in synth:
        r["weight"] = SYNTHETIC_WEIGHT
    log(f"  {'project_synthetic':<24} {len(synth):>6} rows  (written for this project)")
    rows.extend(synth)
    from pipeline.classify.datasets import read_jsonl

    hand = [{"text": r["text"], "label": r["label"], "source": "project_handwritten", "weight": HANDWRITTEN_WEIGHT}
            for path in handwritten_files(robust) if path.exists() for r in read_jsonl(path)]
    if hand:
        log(f"  {'project_handwritten':<24} {len(hand):>6} rows  (hand-written for this project)")
        rows.extend(hand)
    for name, count in Counter(r["source"] for r in local).items():
        log(f"  {name:<24} {count:>6} rows  (--add-data)")
    rows.extend(local)
    return rows


def split_validation(rows: list[dict], seed: int, frac: float = 0.1):
    rng = random.Random(seed)
    by: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault((r["source"], r["label"]), []).append(i)
    val = set()
    for key in sorted(by):
        idx = by[key]
        rng.shuffle(idx)
        val.update(idx[: max(1, int(len(idx) * frac))] if len(idx) > 10 else [])
    train = [r for i, r in enumerate(rows) if i not in val]
    return train, [rows[i] for i in sorted(val)]


def _balanced(weights: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """Row weights rescaled so every class has the same total weight (mean weight 1)."""
    w = weights.astype(np.float64).copy()
    for k in range(n_labels):
        m = y == k
        if m.any():
            w[m] *= (w.sum() / n_labels) / w[m].sum()
    return w * (len(w) / w.sum())


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best_t, best = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 60)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean()
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def featurise(items, featurizer: TextFeaturizer, chunk: int = 4096, bar=None, carried=()):
    mats, dens = [], []
    for i in range(0, len(items), chunk):
        part = items[i:i + chunk]
        mats.append(featurizer.transform([a.normalized for a in part]))
        dens.append(np.hstack([dense_features(part)] + [terms.feature(part) for terms in carried]))
        if bar is not None:
            bar.update(len(part))
    return sparse.vstack(mats).tocsr(), np.vstack(dens)


def train(data_dir: Path, seed: int = 13, out: Path = DEFAULT_OUT, exclude_licence=(), exclude_source=(),
          C: float = 16.0, max_iter: int = 300, n_features: int = 2 ** 18, quiet: bool = False,
          specialists: bool = True, ngram_range=(1, 3), tune_offsets: bool = False, add_data=(),
          commercial_only: bool = True, robust: bool = False) -> dict:
    from tqdm import tqdm

    log = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, **k, file=sys.stderr))
    t0 = time.time()
    local = local_rows(add_data)  # first: a bad file fails before any work
    sources = select_sources(exclude_licence, exclude_source, commercial_only, robust)
    log(f"training data (seed {seed}; public sets {'whose licence allows commercial use' if commercial_only else 'of every licence'}):")
    rows = collect(Path(data_dir), seed, sources, log, local, robust)
    train_rows, val_rows = split_validation(rows, seed)
    n_split = len(train_rows)
    log(f"  {len(train_rows)} training rows, {len(val_rows)} validation rows (split from train.jsonl)")
    cloaked = augmented(train_rows, seed + AUGMENT_SEED_OFFSET) if robust else []
    train_rows = train_rows + cloaked
    log(f"  {len(cloaked)} training rows added cloaked by the evasion generator (augmentation)")
    terms = abuse_terms(Path(data_dir), train_rows[:n_split], log) if robust else None
    carried = [TermList(terms)] if terms is not None else []
    with tqdm(total=len(rows) + len(train_rows), desc="normalise+detect", unit="msg", disable=quiet, file=sys.stderr) as bar:
        items_tr = []
        for i in range(0, len(train_rows), 4096):
            items_tr.extend(analyse([r["text"] for r in train_rows[i:i + 4096]]))
            bar.update(min(4096, len(train_rows) - i))
        items_va = analyse([r["text"] for r in val_rows])
        bar.update(len(val_rows))
        featurizer = TextFeaturizer(n_features=n_features, ngram_range=ngram_range,
                                    sound_ngrams=SOUND_NGRAMS if robust else None).fit([a.normalized for a in items_tr])
        Xtr, Dtr = featurise(items_tr, featurizer, bar=bar, carried=carried)
    labels = list(LABELS) + ["neutral"]
    ytr = np.array([labels.index(r["label"]) for r in train_rows])
    yva = np.array([labels.index(r["label"]) for r in val_rows])
    w = _balanced(np.array([r["weight"] for r in train_rows], dtype=np.float64), ytr, len(labels))

    def first_level(idx: np.ndarray) -> dict:
        """The main model, the specialist heads and the dedicated heads, fitted on training rows `idx`
        (the artifact's first-level arrays)."""
        X = sparse.hstack([Xtr[idx], sparse.csr_matrix(Dtr[idx])]).tocsr()
        y, rows_ = ytr[idx], [train_rows[i] for i in idx]
        main = LogisticRegression(C=C, max_iter=max_iter, tol=1e-4, random_state=seed)
        main.fit(X, y, sample_weight=_balanced(w[idx], y, len(labels)))
        cols, biases = [main.coef_.T.astype(np.float32)], [main.intercept_.astype(np.float32)]
        dedicated = []
        if specialists:
            for target, names in SPECIALISTS.items():
                mask = np.array([r["source"] in names or r["source"].startswith(("project_", "local:")) for r in rows_])
                yb = (y[mask] == labels.index(target)).astype(int)
                wb = np.array([r["weight"] for r in rows_], dtype=np.float64)[mask]
                head = LogisticRegression(C=C, max_iter=max_iter, tol=1e-4, random_state=seed)
                head.fit(X[mask], yb, sample_weight=wb)
                cols.append(head.coef_.T.astype(np.float32))
                biases.append(head.intercept_.astype(np.float32))
            for target, (names, Cd) in DEDICATED.items():
                sel = [i for i, r in enumerate(rows_) if r["source"] in names]
                if len(set(y[sel].tolist())) < 2:  # source left out (--exclude-licence/--exclude-source)
                    continue
                R = featurizer.raw([items_tr[idx[i]].normalized for i in sel])
                idf = TextFeaturizer.idf_of(R)
                yd = (y[sel] == labels.index(target)).astype(int)
                head = LogisticRegression(C=Cd, max_iter=3000, tol=1e-4, random_state=seed)
                head.fit(TextFeaturizer.weigh(R, idf), yd)
                dedicated.append({"name": target, "sources": list(names), "idf": idf,
                                  "w": head.coef_.ravel().astype(np.float32), "b": np.float32(head.intercept_[0])})
        coef = np.hstack(cols)
        return {"featurizer": featurizer, "labels": labels, "W_text": np.ascontiguousarray(coef[:n_features]),
                "W_dense": np.ascontiguousarray(coef[n_features:]), "bias": np.concatenate(biases),
                "dedicated": dedicated}

    dense_names = list(DENSE_NAMES) + (["artifact_lex:sexhate"] if carried else [])
    lexicons = {"sexhate": carried[0].terms} if carried else {}

    def as_artifact(first: dict) -> Artifact:
        return Artifact({**first, "dense_names": dense_names, "lexicons": lexicons})

    everything = np.arange(len(train_rows))
    with tqdm(total=3 if specialists else 1, desc="fit first level", disable=quiet, file=sys.stderr) as bar:
        first = first_level(everything)
        bar.update(1)
        logits_va = as_artifact(first).logits(items_va)
        stack_A = stack_c = None
        if specialists:
            # The second level learns from out-of-fold first-level scores of the training rows (two
            # halves, each scored by heads fitted on the other): scores like the ones it will see on
            # new messages, from all the training rows, and the validation split stays a holdout.
            half = np.random.RandomState(seed).rand(len(train_rows)) < 0.5
            oof = np.zeros((len(train_rows), logits_va.shape[1]), dtype=np.float64)
            for part in (half, ~half):
                rest = everything[~part]
                oof[rest] = as_artifact(first_level(everything[part])).logits([items_tr[i] for i in rest])
                bar.update(1)
    if specialists:
        # the second level also sees the message shape (short chat line vs long post); same class
        # balance as the main model, so the calibrated scores do not bring back the mixture's prior
        oof = second_level_inputs(oof, items_tr, STACK_LENGTH_BUCKETS)
        stacker = LogisticRegression(C=STACK_C, max_iter=5000, random_state=seed)
        stacker.fit(oof, ytr, sample_weight=w)
        stack_A = stacker.coef_.T.astype(np.float32)
        stack_c = stacker.intercept_.astype(np.float32)
        temperature = 1.0
        raw_va = second_level_inputs(logits_va, items_va, STACK_LENGTH_BUCKETS)
        logits_va = rowwise_matmul(raw_va, stack_A) + stack_c
    else:
        temperature = _fit_temperature(logits_va, yva)
    offsets = None
    if specialists and tune_offsets:
        offsets = choose_offsets(logits_va, val_rows, labels, log=log)
        logits_va = logits_va + offsets
    if os.environ.get("MODERATION_DUMP_VAL"):  # for offline experiments with the second level (.npz)
        np.savez(os.environ["MODERATION_DUMP_VAL"], raw=raw_va if specialists else logits_va,
                 wva=_balanced(np.array([r["weight"] for r in val_rows], dtype=np.float64), yva, len(labels)),
                 logits=logits_va, y=yva, sources=np.array([r["source"] for r in val_rows]),
                 offsets=offsets if offsets is not None else np.zeros(len(labels)),
                 **({"oof": oof, "ytr": ytr, "wtr": w,
                     "sources_tr": np.array([r["source"] for r in train_rows])} if specialists else {}))
    val_acc = float((logits_va.argmax(1) == yva).mean())
    _val_report(val_rows, logits_va, labels, log)
    artifact = {
        "kind": "moderation-classifier", "version": 1, "featurizer": featurizer, "labels": labels,
        "W_text": first["W_text"], "W_dense": first["W_dense"], "bias": first["bias"], "temperature": temperature,
        "stack_A": stack_A, "stack_c": stack_c, "stack_length_buckets": STACK_LENGTH_BUCKETS and specialists, "offsets": offsets, "dedicated": first["dedicated"], "specialists": list(SPECIALISTS) if specialists else [], "dense_names": dense_names, "lexicons": lexicons,
        "seed": seed, "C": C, "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "sources": trained_sources(rows, sources),
        "commercial_use": all(s.commercial for s in sources),
        "robust": robust, "n_train": n_split, "n_augmented": len(cloaked), "sound_ngrams": featurizer.sound_ngrams, "val_accuracy": val_acc,
        "local_data": [{"name": name, "rows": count} for name, count in Counter(r["source"] for r in local).items()],
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    artifact["training_seconds"] = round(time.time() - t0)   # data, features, fitting; not the card's scoring
    joblib.dump(artifact, out, compress=0)
    log(f"validation accuracy {val_acc:.4f}, temperature {temperature:.2f}; wrote {out} "
        f"({out.stat().st_size / 1e6:.1f} MB) in {artifact['training_seconds']} s")
    return artifact


def augmented(rows: list[dict], seed: int, share: float = AUGMENT_SHARE) -> list[dict]:
    """A `share` of `rows` (a seeded sample), each cloaked by the evasion generator with a random family
    and scope; rows the cloaking left unchanged (scope `words` and no lexicon word) are not added."""
    from pipeline.classify.evasion import FAMILIES, SCOPES, Cloaker

    rng = random.Random(seed)
    cloaker = Cloaker(seed)
    out = []
    for r in rows:
        if rng.random() >= share:
            continue
        family, scope = rng.choice(FAMILIES), rng.choice(SCOPES)
        text = cloaker.cloak(r["text"], family, scope)
        if text != r["text"]:
            out.append({**r, "text": text, "cloaked": f"{family}/{scope}"})
    return out


def abuse_terms(data_dir: Path, rows: list[dict], log=print) -> list[str] | None:
    """The SexHateLex terms (normalised) that mean abuse in these training rows: in at least
    TERMS_MIN_ROWS public rows, at least TERMS_MIN_ABUSE_SHARE of them abuse. The list is noisy (干嘛,
    走开, 写真 are in it); the rows decide which terms the artifact keeps. None without the file."""
    from pipeline.text.normalize import normalize

    path = data_dir / TERMS_PATH
    if not path.exists():
        log(f"  {path} not found: no SexHateLex feature")
        return None
    terms = sorted({normalize(w.strip()) for w in path.read_text(encoding="utf-8").splitlines()
                    if len(normalize(w.strip())) >= 2})
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for t in terms:
        automaton.add_word(t, t)
    automaton.make_automaton()
    seen: Counter = Counter()
    abusive: Counter = Counter()
    for r in rows:
        if r["source"] in ("project_synthetic",):
            continue
        found = {t for _e, t in automaton.iter(normalize(r["text"]))}
        seen.update(found)
        if r["label"] == "abuse":
            abusive.update(found)
    kept = sorted(t for t, n in seen.items() if n >= TERMS_MIN_ROWS and abusive[t] / n >= TERMS_MIN_ABUSE_SHARE)
    log(f"  SexHateLex: {len(kept)} of {len(terms)} terms mean abuse in the training rows (kept as a feature)")
    return kept


def trained_sources(rows: list[dict], public) -> list[dict]:
    """What went into a build, in the order collected: each source with its licence, whether it allows
    commercial use and its row count (training and validation rows)."""
    counts = Counter(r["source"] for r in rows)
    own = {"project_synthetic": "the project's own (generated by pipeline/classify/corpus.py)",
           "project_handwritten": "the project's own (hand-written, pipeline/classify/data)"}
    out = [{"name": s.name, "licence": s.licence, "commercial": s.commercial, "rows": counts[s.name]}
           for s in public if counts[s.name]]
    out += [{"name": name, "licence": own[name], "commercial": True, "rows": counts[name]} for name in own if counts[name]]
    out += [{"name": name, "licence": "the deploying company's own (--add-data)", "commercial": True, "rows": n}
            for name, n in counts.items() if name.startswith("local:")]
    return out


def _decide(P: np.ndarray, labels: list[str], thresholds: dict[str, float]) -> np.ndarray:
    """The combination rule of ModelClassifier (without the detector overrides) on probabilities over
    the internal labels: a non-work class wins if it ranks above work and reaches its threshold;
    the highest such class; else work. Returns indices into LABELS."""
    P7 = np.stack([P[:, labels.index(lab)] for lab in LABELS], axis=1)
    for i, lab in enumerate(labels):
        if lab not in LABELS:
            P7[:, 0] += P[:, i]
    ok = np.zeros_like(P7, dtype=bool)
    for j, lab in enumerate(LABELS[1:], start=1):
        ok[:, j] = (P7[:, j] >= thresholds.get(lab, 0.5)) & (P7[:, j] > P7[:, 0])
    masked = np.where(ok, P7, -1.0)
    masked[:, 0] = -0.5
    return masked.argmax(1)


def _objective(pred: np.ndarray, val_rows: list[dict], groups: dict) -> float:
    """Mean over the public sets of the target-class F1, plus the seven-class macro-F1 of the
    project's own rows (synthetic, hand-written), each counted as one set."""
    from pipeline.classify.evaluate import binary, metrics

    scores = []
    for name, (idx, target, gold) in groups.items():
        pr = [LABELS[k] for k in pred[idx]]
        if target:
            scores.append(binary(gold, pr, target)["f1"])
        else:
            scores.append(metrics(gold, pr)["macro_f1"])
    return float(np.mean(scores))


def choose_offsets(logits_va: np.ndarray, val_rows: list[dict], labels: list[str], log=print) -> np.ndarray:
    """Per-class offsets on the final logits, chosen by coordinate ascent on the validation split
    (from train.jsonl and the project's corpus) so that the policy thresholds give the best mean F1."""
    from pipeline.classify.datasets import SOURCE_BY_NAME, public_label
    from pipeline.classify.evaluate import _policy

    class _A:
        policy = None

    try:
        thresholds = dict(_policy(_A()).content.thresholds)
    except Exception:  # noqa: BLE001
        thresholds = {}
    from pipeline.classify.model import DEFAULT_THRESHOLDS

    thr = dict(DEFAULT_THRESHOLDS)
    thr.update(thresholds or {})
    groups: dict = {}
    for i, r in enumerate(val_rows):
        groups.setdefault(r["source"], []).append(i)
    groups = {name: (np.array(idx), SOURCE_BY_NAME[name].target if name in SOURCE_BY_NAME else None,
                     [public_label(val_rows[i]["label"]) for i in idx]) for name, idx in groups.items()}

    def score(off):
        z = logits_va + off
        z = z - z.max(axis=1, keepdims=True)
        P = np.exp(z)
        P /= P.sum(axis=1, keepdims=True)
        return _objective(_decide(P, labels, thr), val_rows, groups)

    off = np.zeros(len(labels), dtype=np.float32)
    best = base = score(off)
    grid = np.linspace(-1.5, 1.5, 13)
    for _ in range(3):
        improved = False
        for k, lab in enumerate(labels):
            if lab == "work":
                continue
            for g in grid:
                cand = off.copy()
                cand[k] = g
                s = score(cand)
                if s > best + 1e-4:
                    best, off, improved = s, cand, True
        if not improved:
            break
    log(f"  offsets chosen on the validation split: objective {base:.4f} -> {best:.4f}; "
        + ", ".join(f"{lab} {o:+.2f}" for lab, o in zip(labels, off) if o))
    return off.astype(np.float32)


def _val_report(rows, logits, labels, log) -> None:
    """Binary F1 per source on the validation split (from train.jsonl), argmax decision."""
    from pipeline.classify.datasets import SOURCE_BY_NAME
    from pipeline.classify.evaluate import binary

    pred = [labels[i] for i in logits.argmax(1)]
    by: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault(r["source"], []).append(i)
    for name, idx in sorted(by.items()):
        target = SOURCE_BY_NAME[name].target if name in SOURCE_BY_NAME else None
        gold = [rows[i]["label"] for i in idx]
        pr = [pred[i] for i in idx]
        if target:
            b = binary(gold, pr, target)
            log(f"  validation {name:<24} {target:<12} F1={b['f1']:.3f} (P={b['precision']:.3f} R={b['recall']:.3f})")
        else:
            acc = sum(g == p for g, p in zip(gold, pr)) / len(gold)
            log(f"  validation {name:<24} accuracy={acc:.3f}")
