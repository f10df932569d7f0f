"""`moderation bands`: choose the act thresholds of the decision bands (issue 26, R1) on the
validation split of the training data, by the rule in docs/CLASSIFIER.md ("Decision bands").

The validation split is the one `moderation train` held back for the artifact, rebuilt from the seed
and sources the artifact records (and refused when the rebuilt split does not have the recorded row
counts). Its generated rows are left out: they are too regular to measure anything. Each row is
scored by the product's own classifier (detectors, `content.thresholds`, the warning-notice rule);
for every violating label the command prints the lowest act threshold whose act band holds at least
`min_rows` validation rows with a precision of at least `target`, or 1.0 (detector decisions only)
when no threshold does. The held-out files and the blind work-chat sets never choose.
"""
from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from pipeline.classify.verdict import DETECTORS_ONLY, LABELS, band_of

TARGET = 0.98
# With fewer rows in the band one wrong row already takes it below 0.98: the precision could only say
# "no error in a handful of rows". At 50 a band may hold one error and still reach 0.98.
MIN_ROWS = 50
# Validation rows that choose nothing: the generated corpus scores 1.000 on its own validation rows.
LEFT_OUT_SOURCES = ("project_synthetic",)
VIOLATING = tuple(label for label in LABELS if label != "work")


@dataclass(frozen=True)
class Scored:
    """One validation row as the product judged it."""

    gold: str        # one of LABELS (the training label `neutral` counts as work)
    label: str       # the verdict's label
    score: float     # the verdict's (rounded) score for its label, as `band_of` reads it
    detector: bool   # a detector rule decided the verdict (it acts whatever the threshold)


@dataclass(frozen=True)
class BandPoint:
    """The act band of one label at one threshold."""

    act: float
    rows: int                      # validation rows in the band
    correct: int                   # of them with the label as gold
    gold: int                      # validation rows with the label as gold
    precision: float | None        # correct / rows (None for an empty band)
    interval: tuple[float, float] | None   # Clopper-Pearson 95% interval of the precision
    recall: float | None           # correct / gold: the share of the label's rows that act at once

    @property
    def wrong(self) -> int:
        return self.rows - self.correct


@dataclass(frozen=True)
class Choice:
    label: str
    floor: float                   # content.thresholds[label]: where the review band starts
    act: float                     # the chosen act threshold (DETECTORS_ONLY when none qualifies)
    point: BandPoint               # the act band at the chosen threshold
    supported: bool                # a threshold below 1.0 qualified
    reason: str                    # why this threshold, in words
    unsupported: BandPoint | None = None   # for information: the lowest threshold reaching the target on the rows there are


def clopper_pearson(correct: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """The exact (Clopper-Pearson) interval of a proportion `correct` of `n`; None when n is 0."""
    if n == 0:
        return None
    from scipy.stats import beta

    alpha = 1.0 - level
    low = 0.0 if correct == 0 else float(beta.ppf(alpha / 2, correct, n - correct + 1))
    high = 1.0 if correct == n else float(beta.ppf(1 - alpha / 2, correct + 1, n - correct))
    return round(low, 4), round(high, 4)


def act_band(rows: Sequence[Scored], label: str, act: float) -> BandPoint:
    """The rows whose verdict is `label` that act at threshold `act` (by `band_of`, as the product decides)."""
    thresholds = {label: act}
    band = [r for r in rows if r.label == label and band_of(label, r.score, thresholds, r.detector) == "act"]
    correct = sum(r.gold == label for r in band)
    gold = sum(r.gold == label for r in rows)
    return BandPoint(act, len(band), correct, gold, round(correct / len(band), 4) if band else None,
                     clopper_pearson(correct, len(band)), round(correct / gold, 4) if gold else None)


def candidates(floor: float) -> list[float]:
    """The thresholds tried: the label's review floor, then every hundredth up to 0.99."""
    start = math.ceil(round(floor * 100, 6))
    return [c / 100 for c in range(start, 100)]


def choose(rows: Sequence[Scored], label: str, floor: float, target: float = TARGET,
           min_rows: int = MIN_ROWS) -> Choice:
    """The lowest candidate threshold whose act band holds at least `min_rows` rows with precision at
    least `target`; else DETECTORS_ONLY (the label acts on detector decisions only)."""
    points = [act_band(rows, label, t) for t in candidates(floor)]
    for p in points:
        if p.rows >= min_rows and p.precision is not None and p.precision >= target:
            return Choice(label, floor, p.act, p, True,
                          f"the lowest threshold with precision ≥ {target} on ≥ {min_rows} rows")
    detectors = act_band(rows, label, DETECTORS_ONLY)
    informative = next((p for p in points if p.precision is not None and p.precision >= target), None)
    gold = detectors.gold
    if gold < min_rows:
        why = f"too few rows: {gold} validation rows are {label} (fewer than {min_rows})"
    else:
        best = max((p.precision for p in points if p.rows >= min_rows and p.precision is not None), default=None)
        why = (f"no threshold reaches precision {target} on ≥ {min_rows} rows"
               + (f" (best {best:.3f})" if best is not None else ""))
    return Choice(label, floor, DETECTORS_ONLY, detectors, False, why + ": act on detector decisions only",
                  informative)


def choose_all(rows: Sequence[Scored], floors: dict[str, float], target: float = TARGET,
               min_rows: int = MIN_ROWS) -> dict[str, Choice]:
    return {label: choose(rows, label, floors.get(label, 0.5), target, min_rows) for label in VIOLATING}


def curve(rows: Sequence[Scored], label: str, floor: float) -> list[BandPoint]:
    return [act_band(rows, label, t) for t in [*candidates(floor), DETECTORS_ONLY]]


# ---------------------------------------------------------------------------------------- the split
class SplitMismatch(ValueError):
    """The validation split cannot be rebuilt as the artifact was trained (other data or code)."""


def validation_rows(artifact: dict, data_dir: Path, add_data: Iterable[str] = ()) -> list[dict]:
    """The validation rows `moderation train` held back for this artifact, rebuilt from the seed and
    the sources it records; SplitMismatch when the rebuilt rows differ from what it records."""
    from pipeline.classify.datasets import SOURCE_BY_NAME
    from pipeline.classify.train import collect, local_rows, split_validation

    recorded = {s["name"]: s.get("rows") for s in artifact.get("sources") or []}
    if "seed" not in artifact or not recorded:
        raise SplitMismatch("the artifact does not record its seed and sources, so its validation split cannot "
                            "be rebuilt: train it again with `moderation train`")
    local_names = sorted(name for name in recorded if name.startswith("local:"))
    sources = [SOURCE_BY_NAME[name] for name in recorded if name in SOURCE_BY_NAME]
    rows = collect(Path(data_dir), int(artifact["seed"]), sources, log=lambda *a, **k: None,
                   local=local_rows(add_data), robust=bool(artifact.get("robust") or artifact.get("n_augmented")))
    rebuilt = dict(Counter(r["source"] for r in rows))
    train_rows, val = split_validation(rows, int(artifact["seed"]))
    if any(n is None for n in recorded.values()):
        # artifacts from before 2026-12-06 record their sources without row counts (and not the
        # hand-written files, which every build trained on): only the training-row count can be checked
        if len(train_rows) != artifact.get("n_train"):
            raise SplitMismatch(f"the validation split cannot be rebuilt as this artifact was trained: it records "
                                f"{artifact.get('n_train')} training rows (and no rows per source), the data and code "
                                f"here give {len(train_rows)}. Point --data at the data it was trained on, or retrain "
                                "it with today's data and code.")
        return val
    if rebuilt != recorded or len(train_rows) != artifact.get("n_train", len(train_rows)):
        differ = sorted(name for name in set(rebuilt) | set(recorded) if rebuilt.get(name) != recorded.get(name))
        hint = (f" The artifact was trained with --add-data files ({', '.join(local_names)}): pass the same files "
                "with --add-data." if local_names else "")
        raise SplitMismatch(
            "the validation split cannot be rebuilt as this artifact was trained: rows per source differ for "
            + ", ".join(f"{name} (recorded {recorded.get(name, 0)}, now {rebuilt.get(name, 0)})" for name in differ)
            + (f"; training rows recorded {artifact.get('n_train')}, now {len(train_rows)}" if not differ else "")
            + ". Point --data at the data it was trained on, or retrain it with today's data and code." + hint)
    return val


def score_rows(classifier, rows: Sequence[dict], batch: int = 1024) -> list[Scored]:
    """Score rows with a classifier whose act thresholds are all DETECTORS_ONLY, so that a verdict's
    band `act` says that a detector decided it."""
    from pipeline.classify.datasets import public_label

    out: list[Scored] = []
    for i in range(0, len(rows), batch):
        part = rows[i:i + batch]
        for r, v in zip(part, classifier.classify([r["text"] for r in part])):
            out.append(Scored(public_label(r["label"]), v.label, float(v.scores.get(v.label, 0.0)), v.band == "act"))
    return out


def detector_aware(path: Path, policy):
    """The policy's classifier (thresholds, warning-notice rule) on the artifact at `path`, with every act
    threshold at DETECTORS_ONLY (see `score_rows`)."""
    from pipeline.classify.model import load

    content = policy.content
    return load(path, dict(content.thresholds), warning_notices=content.warning_notices,
                act={label: DETECTORS_ONLY for label in VIOLATING})


def choose_for_artifact(path: Path, data_dir: Path, policy, target: float = TARGET, min_rows: int = MIN_ROWS,
                        add_data: Iterable[str] = ()) -> dict:
    """Rebuild the artifact's validation split, score it, and choose every label's act threshold."""
    from pipeline.classify.model import DEFAULT_THRESHOLDS, Artifact

    artifact = Artifact.load(path).data
    val = validation_rows(artifact, data_dir, add_data)
    used = [r for r in val if r["source"] not in LEFT_OUT_SOURCES]
    scored = score_rows(detector_aware(path, policy), used)
    floors = {**DEFAULT_THRESHOLDS, **policy.content.thresholds}
    return {"model": str(path), "seed": artifact["seed"], "target": target, "min_rows": min_rows,
            "rows": len(used), "left_out": dict(Counter(r["source"] for r in val if r["source"] in LEFT_OUT_SOURCES)),
            "by_source": dict(Counter(r["source"] for r in used)),
            "choices": choose_all(scored, floors, target, min_rows), "scored": scored, "floors": floors}


# ---------------------------------------------------------------------------------------- output
def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _interval(iv) -> str:
    return "—" if iv is None else f"[{iv[0]:.3f}, {iv[1]:.3f}]"


def format_choices(result: dict) -> str:
    by_source = ", ".join(f"{name} {n:,}" for name, n in result["by_source"].items())
    left = ", ".join(f"{name} {n:,}" for name, n in result["left_out"].items()) or "none"
    lines = [f"act thresholds for {result['model']} on its validation split (seed {result['seed']}): "
             f"{result['rows']:,} rows ({by_source}; left out: {left})",
             f"rule: the lowest threshold whose act band holds ≥ {result['min_rows']} rows with precision ≥ "
             f"{result['target']}; else 1.0 = detector decisions only (docs/CLASSIFIER.md, Decision bands)", "",
             f"{'label':<13}{'review from':>12}{'act':>7}{'precision':>11}  {'95% interval':<17}{'in band':>8}"
             f"{'wrong':>7}{'recall':>8}{'gold rows':>10}"]
    notes = []
    for label, c in result["choices"].items():
        p = c.point
        act = f"{c.act:.2f}" if c.supported else "1.0"
        lines.append(f"{label:<13}{c.floor:>12.2f}{act:>7}{_pct(p.precision):>11}  {_interval(p.interval):<17}"
                     f"{p.rows:>8}{p.wrong:>7}{_pct(p.recall):>8}{p.gold:>10}")
        if not c.supported:
            note = f"  {label}: {c.reason}"
            if p.rows == 0:
                note += " (no detector decides it on these rows: every verdict goes to review)"
            else:
                note += f" (detector decisions here: {p.correct} of {p.rows} right)"
            if c.unsupported is not None:
                u = c.unsupported
                note += (f"; for information, not used: {u.act:.2f} would reach {u.precision:.3f} on {u.rows} rows "
                         f"{_interval(u.interval)}")
            notes.append(note)
    if notes:
        lines += ["", "labels without a supported threshold:", *notes]
    act = ", ".join(f"{label}: {c.act:.2f}" if c.supported else f"{label}: 1.0" for label, c in result["choices"].items())
    lines += ["", "recall: the share of the label's validation rows that act at once (the rest of those it catches "
              "go to review)", "", "config/policy.yaml:", f"  review:\n    act: {{{act}}}"]
    return "\n".join(lines)


def format_curve(result: dict) -> str:
    lines = []
    for label in result["choices"]:
        lines += ["", f"{label}: {'act':>6}{'in band':>9}{'wrong':>7}{'precision':>11}{'recall':>8}"]
        for p in curve(result["scored"], label, result["floors"].get(label, 0.5)):
            lines.append(f"{'':<{len(label) + 2}}{p.act:>6.2f}{p.rows:>9}{p.wrong:>7}{_pct(p.precision):>11}"
                         f"{_pct(p.recall):>8}")
    return "\n".join(lines)


def as_json(result: dict) -> dict:
    return {**{k: v for k, v in result.items() if k not in ("choices", "scored")},
            "choices": {label: asdict(c) for label, c in result["choices"].items()},
            "act": {label: (c.act if c.supported else DETECTORS_ONLY) for label, c in result["choices"].items()}}


def bands_command(args) -> int:
    from pipeline.classify import model_path
    from pipeline.classify.datasets import default_data_dir
    from pipeline.classify.model import ModelError
    from pipeline.config import load_policy

    data = Path(args.data) if getattr(args, "data", None) else default_data_dir()
    if not data.is_dir():
        print(f"error: data directory {data} not found (use --data PATH or set MODERATION_DATA)", file=sys.stderr)
        return 2
    if not 0.0 < args.target <= 1.0:
        print(f"error: --target must be in (0, 1], got {args.target}", file=sys.stderr)
        return 2
    if args.min_rows < 1:
        print(f"error: --min-rows must be at least 1, got {args.min_rows}", file=sys.stderr)
        return 2
    # the thresholds where the review bands start come from the policy: without it the choice would be
    # made against other floors than the product uses, so a policy that does not load stops the command
    policy = load_policy(getattr(args, "policy", None))
    path = Path(args.model) if getattr(args, "model", None) else model_path(policy)
    try:
        result = choose_for_artifact(path, data, policy, args.target, args.min_rows, args.add_data or ())
    except (ModelError, SplitMismatch, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(result), ensure_ascii=False, indent=1))
    else:
        print(format_choices(result) + (format_curve(result) if args.curve else ""))
    return 0
