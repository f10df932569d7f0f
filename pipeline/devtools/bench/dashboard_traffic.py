"""Output records as the worker writes them, at any number of groups (for `bench dashboard`).

The shapes and the mix come from the real core: `loadgen` input (300 groups, about nine days of
event time, so daily windows and weekly reports close) goes through `pipeline.core.offline.run`
once, and its outputs are the templates. A record for N groups is a template with its group (and
the member ids, which carry the group) moved to one of N groups, a unique id, and for live traffic
the current time, so new records are the newest, as they are on a running deployment.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson

HARVEST_EVENTS = 30_000
HARVEST_GROUPS = 300
HARVEST_RATE = 0.04          # input events per second of event time: ~9 days over the harvest
CST = timezone(timedelta(hours=8))
_GROUP = re.compile(rb"lg-g(\d{4})")


def group_name(index: int) -> str:
    return f"dash-g{index:05d}"


class Traffic:
    """Templates from the real core, moved onto `groups` groups."""

    def __init__(self, groups: int, seed: int = 7):
        from pipeline.classify import load_classifier
        from pipeline.config import load_policy
        from pipeline.core.engine import Engine
        from pipeline.core.offline import run
        from pipeline.devtools.loadgen import generate

        policy = load_policy()
        engine = Engine(policy, load_classifier(policy))
        inputs = (orjson.dumps(e) for e in generate(HARVEST_EVENTS, groups=HARVEST_GROUPS, seed=seed,
                                                    rate_per_second=HARVEST_RATE))
        self.templates: list[tuple[str, bytes]] = [(role, orjson.dumps(event)) for role, event in run(engine, inputs)
                                                   if role != "dlq"]
        self.mix = Counter(role for role, _ in self.templates)
        self.groups = groups
        self.copies = -(-groups // HARVEST_GROUPS)
        self.rng = random.Random(seed)
        self.serial = 0

    def _moved(self, raw: bytes) -> bytes:
        found = _GROUP.search(raw)
        local = int(found.group(1)) if found else 0
        copy = self.rng.randrange(self.copies)
        while copy * HARVEST_GROUPS + local >= self.groups:
            copy = self.rng.randrange(self.copies)
        return _GROUP.sub(lambda m: group_name(copy * HARVEST_GROUPS + int(m.group(1))).encode(), raw)

    def records(self, n: int, live: bool = False) -> list[tuple[str, bytes]]:
        """`n` records (role, value) drawn from the templates; `live` dates them now."""
        out = []
        now = datetime.now(CST).isoformat() if live else None
        for _ in range(n):
            role, raw = self.templates[self.rng.randrange(len(self.templates))]
            record = orjson.loads(self._moved(raw))
            self.serial += 1
            record["id"] = f"{record.get('id')}-{self.serial}"
            if now is not None:
                record["ts"] = now
            out.append((role, orjson.dumps(record)))
        return out

    def mix_text(self) -> str:
        total = sum(self.mix.values())
        return ", ".join(f"{role} {n / total:.0%}" for role, n in self.mix.most_common())


def admin_groups(admin: int, per_admin: int, groups: int) -> list[str]:
    """The groups of the bench's admin number `admin`: spread over all groups, none shared (7919 is a prime)."""
    return [group_name((admin * per_admin + j) * 7919 % groups) for j in range(per_admin)]
