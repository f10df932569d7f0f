"""Command-line wiring for the classifier: `train`, `eval`, `bands`, `card` and `bench classify`.

The CLI calls `add_arguments(subparsers)` with the object returned by
`ArgumentParser.add_subparsers()`; each parser gets `func` set to the command function, which
takes the parsed args and returns an exit code.

If the CLI already has a `bench` parent command, call `add_bench_arguments(parser)` on the
`bench classify` sub-parser instead (or pass `bench_subparsers=` to add_arguments).
"""
from __future__ import annotations

import argparse


def train_command(args) -> int:
    """`moderation train`: train, write the artifact, and its model card unless --no-card."""
    import sys
    from pathlib import Path

    from pipeline.classify.card import write_model_card
    from pipeline.classify.datasets import default_data_dir
    from pipeline.classify.train import DEFAULT_OUT, NONCOMMERCIAL_OUT, train
    from pipeline.config import PROJECT_ROOT

    data = Path(args.data) if getattr(args, "data", None) else default_data_dir()
    if not data.is_dir():
        print(f"error: data directory {data} not found (use --data PATH)", file=sys.stderr)
        return 2
    include_noncommercial = getattr(args, "include_noncommercial", False)
    out = Path(args.out) if getattr(args, "out", None) else NONCOMMERCIAL_OUT if include_noncommercial else DEFAULT_OUT
    if include_noncommercial and out.resolve() == DEFAULT_OUT.resolve():
        print(f"warning: {out} is the artifact config/policy.yaml selects by default, and a build with "
              "--include-noncommercial is not for commercial use; write it elsewhere with --out, e.g. "
              f"{NONCOMMERCIAL_OUT.relative_to(PROJECT_ROOT)}", file=sys.stderr)
    try:
        art = train(data, seed=args.seed, out=out, exclude_licence=args.exclude_licence or (),
                    exclude_source=args.exclude_source or (), add_data=getattr(args, "add_data", None) or (),
                    commercial_only=not include_noncommercial, robust=getattr(args, "robust", False))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "no_card", False):
        card = write_model_card(out, art, data)
        print(f"wrote {out} and {card}")
    else:
        print(f"wrote {out}")
    return 0


def _eval(args):
    from pipeline.classify.evaluate import eval_command

    return eval_command(args)


def _bands(args):
    from pipeline.classify.bands import bands_command

    return bands_command(args)


def _card(args):
    from pipeline.classify.card import card_command

    return card_command(args)


def _bench(args):
    from pipeline.classify.bench import bench_classify_command

    return bench_classify_command(args)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", default=None,
                   help="shared data directory with <source>/train.jsonl (default: ../shared/data)")
    p.add_argument("--seed", type=int, default=13, help="random seed (sampling, split, generator); default 13")
    p.add_argument("--include-noncommercial", action="store_true",
                   help="also train on the public sets whose licence does not allow commercial use (research-only, "
                        "non-commercial, none stated): the opt-in artifact, by default written to "
                        "models/classifier-noncommercial.joblib; without it only MIT and Apache-2.0 sets are used")
    p.add_argument("--exclude-licence", "--exclude-license", action="append", default=[], metavar="TAG",
                   help="leave out sources with this licence tag (research-only, non-commercial, unstated, "
                        "gpl-3.0, cc-by-nc-sa-4.0, mit, apache-2.0); repeatable")
    p.add_argument("--exclude-source", action="append", default=[], metavar="NAME",
                   help="leave out a source by name (e.g. weibo21); repeatable")
    p.add_argument("--add-data", action="append", default=[], metavar="FILE",
                   help="JSONL of {text, label} with our seven labels to train on as well, e.g. your own labelled "
                        "work-group messages (weighted like the project's hand-written ones); repeatable")
    p.add_argument("--out", metavar="PATH", default=None,
                   help="artifact path (default models/classifier.joblib, with --include-noncommercial "
                        "models/classifier-noncommercial.joblib); its card is written beside it")
    p.add_argument("--no-card", action="store_true", help="do not score the held-out sets / write MODEL_CARD.md")
    p.add_argument("--robust", action="store_true",
                   help="the issue-29 recipe: a quarter of the training rows added again cloaked by the evasion generator, "
                        "pinyin sound n-grams beside the characters, swsr_sexism and the hand-written abuse file "
                        "(data/robust/), the SexHateLex terms as a feature; see docs/CLASSIFIER.md")
    p.set_defaults(func=train_command)


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", default=None,
                   help="JSONL of {text, label} with our seven labels (default: the work-chat test sets tests/data/workchat_test10, _test9, _test8, _test7, _nearmiss9 … _nearmiss5 and _short.jsonl), "
                        "or the shared data directory to score every heldout.jsonl")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--policy", metavar="FILE", default=None, help="policy file for thresholds/model path")
    p.add_argument("--model", metavar="PATH", default=None,
                   help="classifier artifact to evaluate (default: the policy's content.model_path)")
    p.add_argument("--against", metavar="PATH", default=None,
                   help="a second artifact to compare with on the same rows: per-class F1 of both, the macro-F1 "
                        "difference with a paired bootstrap 95%% interval, and McNemar's test; with a data directory, "
                        "both models' target-class F1 and false-alarm share per held-out set")
    p.add_argument("--no-robustness", action="store_true",
                   help="leave out the robustness table (the sets cloaked by the evasion generator, per family)")
    p.set_defaults(func=_eval)


def add_bands_arguments(p: argparse.ArgumentParser) -> None:
    from pipeline.classify.bands import MIN_ROWS, TARGET

    p.add_argument("--data", metavar="PATH", default=None,
                   help="shared data directory the artifact was trained on (default: ../shared/data or $MODERATION_DATA)")
    p.add_argument("--model", metavar="PATH", default=None,
                   help="classifier artifact (default: the policy's content.model_path)")
    p.add_argument("--policy", metavar="FILE", default=None,
                   help="policy file: its content.thresholds are where the review bands start")
    p.add_argument("--target", type=float, default=TARGET,
                   help=f"act-band precision to reach on the validation split (default {TARGET})")
    p.add_argument("--min-rows", type=int, default=MIN_ROWS,
                   help=f"rows the act band must hold for its precision to count (default {MIN_ROWS})")
    p.add_argument("--add-data", action="append", default=[], metavar="FILE",
                   help="the --add-data files the artifact was trained with (its validation split holds some of their rows)")
    p.add_argument("--curve", action="store_true", help="also print the act band at every threshold tried")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_bands)


def add_card_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="PATH", default=None,
                   help="classifier artifact whose card to write (default: the policy's content.model_path); the card "
                        "goes beside it: MODEL_CARD.md for models/classifier.joblib, MODEL_CARD-<name>.md for another")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="shared data directory with <source>/heldout.jsonl (default: ../shared/data)")
    p.set_defaults(func=_card)


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--messages", type=int, default=20000, help="number of unique messages (default 20000)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--cache", action="store_true", help="keep the verdict cache on (off by default)")
    p.add_argument("--model", metavar="PATH", default=None,
                   help="classifier artifact to measure (default: the policy's content.model_path)")
    p.add_argument("--against", metavar="PATH", default=None,
                   help="a second artifact, measured in turns with the first in the same run (same load on both)")
    p.add_argument("--rounds", type=int, default=3, help="with --against: measurements of each artifact (default 3)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench)


def add_arguments(subparsers, bench_subparsers=None) -> None:
    """Register `train`, `eval`, `bands`, `card` and `bench classify` on an argparse subparsers object."""
    add_train_arguments(subparsers.add_parser("train", help="train the content classifier (models/)"))
    add_eval_arguments(subparsers.add_parser("eval", help="evaluate the classifier: P/R/F1, macro-F1, confusion"))
    add_bands_arguments(subparsers.add_parser(
        "bands", help="choose the act thresholds of the decision bands (content.review.act) on the validation split"))
    add_card_arguments(subparsers.add_parser(
        "card", help="write an artifact's model card again (scores it and the other shipped artifact; no training)"))
    if bench_subparsers is None:
        bench = subparsers.add_parser("bench", help="benchmarks")
        bench_subparsers = bench.add_subparsers(dest="bench_command", required=True)
    add_bench_arguments(bench_subparsers.add_parser("classify", help="classifier throughput and latency"))
