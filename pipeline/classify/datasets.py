"""The public labelled sets in ../shared/data: how each maps onto our seven classes.

The text is read from the data directory at training/evaluation time and never copied into the
repository. Each source has licence tags: training takes only the sources whose licence allows
commercial use unless told otherwise (`moderation train --include-noncommercial`), and can leave
more out (--exclude-licence, --exclude-source).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PROJECT_ROOT


def default_data_dir() -> Path:
    env = os.environ.get("MODERATION_DATA")
    if env:
        return Path(env)
    return (PROJECT_ROOT / ".." / "shared" / "data").resolve()


@dataclass(frozen=True)
class Source:
    name: str
    licence: str
    tags: tuple[str, ...]                 # for --exclude-licence (matched case-insensitively)
    mapping: dict[str, str | None]        # source label -> our class (None: skip)
    target: str | None = None             # the class this set measures (for the headline F1)
    cap: int | None = None                # at most this many training rows (deterministic sample)
    weight: float = 1.0
    weights: dict[str, float] = field(default_factory=dict)   # per source label
    trained: bool = True                  # False: its held-out file is scored, no build trains on it yet
    robust_only: bool = False             # trained on only with the issue-29 recipe (`moderation train --robust`)
    origin: str = ""                      # where the public set comes from (GitHub owner/repository)

    @property
    def commercial(self) -> bool:
        """The licence clearly allows commercial use (an allow-list: a source whose licence is unknown,
        unstated or restricted is not)."""
        return bool(COMMERCIAL_LICENCE_TAGS.intersection(self.tags))


# licences under which a public set may train a model a company uses commercially ("none stated"
# grants nothing; research-only and non-commercial licences forbid it)
COMMERCIAL_LICENCE_TAGS = frozenset({"mit", "apache-2.0"})


SOURCES: tuple[Source, ...] = (
    Source("sms_spam_80w_subset", "none stated", ("unstated",), {"spam_ad": "ad", "normal_sms": "neutral"}, "ad",
           weight=1.0, weights={"spam_ad": 1.5}, origin="ZPdesu/Spam-Message-Classifier-sklearn"),
    Source("telecom_fraud5", "GPL-3.0, research use only", ("gpl-3.0", "research-only", "non-commercial"),
           {"normal_marketing_sms": "ad", "fraud_loan_credit_card": "illegal", "fraud_impersonate_customer_service": "illegal",
            "fraud_impersonate_leader_acquaintance": "illegal", "fraud_impersonate_police_gov": "illegal"}, "illegal",
           weight=0.5, origin="ChangMianRen/Telecom_Fraud_Texts_5"),
    Source("weibo21", "research use only", ("research-only", "non-commercial"), {"fake": "rumour", "real": "neutral"},
           "rumour", weight=1.5, origin="kennqiang/MDFEND-Weibo21"),
    Source("cold", "Apache-2.0", ("apache-2.0",), {"offensive": "abuse", "safe": "neutral"}, "abuse", weight=1.0, origin="thu-coai/COLDataset"),
    Source("lccc_toy_chitchat", "MIT", ("mit",), {"chitchat": "chitchat"}, "chitchat", cap=8000, weight=0.6, origin="thu-coai/CDial-GPT"),
    Source("smp_ecdt_domains", "none stated", ("unstated",), {"chat": "chitchat"}, "chitchat", weight=0.6, origin="OnionWang/SMP2019-ECDT-NLU"),
    Source("nus_sms_zh", "research use (NUS SMS corpus)", ("research-only", "non-commercial"), {"personal_sms": "chitchat"}, "chitchat",
           cap=6000, weight=0.4, origin="candlewill/Dialog_Corpus"),
    Source("vcsum_meeting", "MIT", ("mit",), {"meeting_utterance": "work"}, "work", weight=0.8, origin="hahahawu/VCSum"),
    Source("multipriv_zh_synthetic", "CC BY-NC-SA 4.0", ("cc-by-nc-sa-4.0", "non-commercial"),
           {"pii_paragraph": "confidential"}, "confidential", weight=1.0, origin="CyberChangAn/MultiPriv-PII"),
    # real sexist and non-sexist Weibo comments on gender topics (issue 29: discrimination said calmly)
    # (its not-sexist rows weigh 0.3: at 1.0 they pulled social chat into neutral, docs/CLASSIFIER.md, C1)
    Source("swsr_sexism", "MIT", ("mit",), {"sexist": "abuse", "not_sexist": "neutral"}, "abuse", weight=1.0,
           weights={"not_sexist": 0.3}, robust_only=True, origin="aggiejiang/SWSR"),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}


def select_sources(exclude_licence=(), exclude_source=(), commercial_only: bool = True, robust: bool = False) -> list[Source]:
    """The public sources to train on: by default only those whose licence allows commercial use
    (`commercial_only=False` adds the research-only, non-commercial and unlicensed ones), never a
    source marked `trained=False`, one marked `robust_only` only for the issue-29 recipe (`robust`),
    less any excluded by licence tag or by name."""
    ex_l = {x.lower() for x in exclude_licence}
    ex_s = set(exclude_source)
    unknown = ex_s - set(SOURCE_BY_NAME)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; sources are {', '.join(SOURCE_BY_NAME)}")
    return [s for s in SOURCES if s.trained and (s.commercial or not commercial_only) and (robust or not s.robust_only)
            and s.name not in ex_s and not ex_l.intersection(s.tags)]


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {number}: not a JSON object")
            rows.append(row)
    return rows


NEUTRAL = "neutral"


def public_label(label: str) -> str:
    """Our class for a training label: the internal 'neutral' class (negatives of the ad, rumour and
    abuse sets: ordinary SMS, true Weibo posts, safe comments) counts as 'work' (no violation)."""
    return "work" if label == NEUTRAL else label


def load_split(data_dir: Path, source: Source, split: str, internal: bool = False) -> list[dict]:
    """Rows {"text", "label" (ours), "raw_label", "source", "weight"} of one split. With
    internal=True the label may be 'neutral' (training); otherwise it is one of our seven."""
    path = Path(data_dir) / source.name / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (is --data pointing at the shared data directory?)")
    out = []
    for row in read_jsonl(path):
        label = source.mapping.get(row.get("label"))
        text = row.get("text") or ""
        if label is None or not text.strip():
            continue
        out.append({"text": text, "label": label if internal else public_label(label), "raw_label": row["label"], "source": source.name,
                    "weight": source.weight * source.weights.get(row["label"], 1.0)})
    return out
