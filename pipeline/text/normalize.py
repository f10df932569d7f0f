"""Normalisation of chat text before detectors, lexicons and the model.

Two layers:

* `fold(text)` is length-preserving except for removed separators, and returns an offset map so
  that a span found in the folded text can be mapped back to the original (redaction masks the
  original text, not the folded one). It does full-width -> half-width, traditional ->
  simplified, ASCII lower case, circled digits -> digits, Chinese numerals spelled digit by digit
  -> digits, and removes separators inserted between characters (微 信, 赌*球, 加.V).
* `normalize(text)` is `fold` followed by the variant/homophone map (薇信/vx -> 微信, 菠菜 -> 博彩),
  which changes lengths and is only used for classification.

The data (numerals, separators, variants) lives in config/normalisation.yaml.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIG_PATH = ROOT / "config" / "normalisation.yaml"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


@dataclass(frozen=True)
class Folded:
    """Folded text plus the sorted positions (in the original) of removed characters."""

    text: str
    original: str
    removed: tuple[int, ...] = ()

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the folded text to the original text."""
        if not self.removed:
            return start, end
        return self._pos(start), self._pos(end - 1) + 1 if end > start else self._pos(start)

    def _pos(self, i: int) -> int:
        # smallest original index o such that o - removed_before(o) == i and o not removed
        removed = self.removed
        o = i
        while True:
            k = bisect.bisect_right(removed, o)
            cand = i + k
            if cand == o:
                return o
            o = cand


class Normalizer:
    def __init__(self, config_path: Path | str = CONFIG_PATH):
        cfg = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
        self.table = _char_table()
        num_map = cfg["numerals"]["map"]
        self.min_run = int(cfg["numerals"].get("min_run", 4))
        self.num_table = str.maketrans({k: v for k, v in num_map.items()})
        num_chars = "".join(re.escape(c) for c in num_map)
        self.num_re = re.compile(
            f"[{num_chars}0-9](?:[ \\-._*]?[{num_chars}0-9]){{{self.min_run - 1},}}")
        self.num_chars = frozenset(num_map)
        seps = re.escape(cfg["separators"])
        word = f"{_CJK}a-z0-9"
        # a separator run with a CJK char on at least one side and a word char on the other
        self.sep_re = re.compile(
            f"(?<=[{_CJK}])[{seps}]+(?=[{word}])|(?<=[{word}])[{seps}]+(?=[{_CJK}])")
        self.quick_sep = frozenset(cfg["separators"])
        variants = {str(k).lower(): str(v) for k, v in (cfg.get("variants") or {}).items()}
        self.variants = variants
        parts = []
        for key in sorted(variants, key=len, reverse=True):
            pat = re.escape(key)
            if re.match(r"[a-z0-9]", key):
                pat = r"(?<![a-z0-9])" + pat
            if re.search(r"[a-z0-9]$", key):
                pat = pat + r"(?![a-z0-9])"
            parts.append(pat)
        self.variant_re = re.compile("|".join(parts)) if parts else None
        # the alternation's lookbehinds keep the regex engine from skipping ahead, so most texts,
        # which hold no variant's first character, are let through before it runs
        self.variant_initials = frozenset(key[0] for key in variants)

    # ------------------------------------------------------------------ layers
    def fold(self, text: str) -> Folded:
        t = text.translate(self.table)
        if self.num_chars.intersection(t):
            t = self.num_re.sub(self._numerals, t)
        removed: tuple[int, ...] = ()
        if self.quick_sep.intersection(t):
            spans = [m.span() for m in self.sep_re.finditer(t)]
            if spans:
                pieces, rem, last = [], [], 0
                for s, e in spans:
                    pieces.append(t[last:s])
                    rem.extend(range(s, e))
                    last = e
                pieces.append(t[last:])
                t = "".join(pieces)
                removed = tuple(rem)
        return Folded(t, text, removed)

    def _numerals(self, m: re.Match) -> str:
        s = m.group(0)
        if not self.num_chars.intersection(s):
            return s
        return s.translate(self.num_table)

    def apply_variants(self, t: str) -> str:
        if self.variant_re is None or self.variant_initials.isdisjoint(t):
            return t
        return self.variant_re.sub(lambda m: self.variants[m.group(0)], t)

    def normalize(self, text: str) -> str:
        return self.apply_variants(self.fold(text).text)


def _char_table() -> dict[int, str]:
    """Single-character map: NFKC for full-width/circled forms, opencc t2s, ASCII lower case."""
    table: dict[int, str] = {}
    ranges = [(0xFF01, 0xFF5E), (0x2460, 0x249B), (0x24EA, 0x24FF), (0x2776, 0x2793),
              (0x3000, 0x3000), (0x1F100, 0x1F10A), (0x2070, 0x209F), (0x3220, 0x3229),
              (0x3280, 0x3289), (0x1F200, 0x1F2FF)]
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            c = chr(cp)
            n = unicodedata.normalize("NFKC", c)
            if n != c and len(n) == 1:
                table[cp] = n.lower()
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[ord(c)] = c.lower()
    try:
        import opencc  # opencc-python-reimplemented

        path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) != 2:
                continue
            src, dst = parts[0], parts[1].split(" ")[0]
            if len(src) == 1 and len(dst) == 1 and src != dst and ord(src) not in table:
                table[ord(src)] = dst
    except (ImportError, OSError):  # pragma: no cover - dependency is pinned
        pass
    # a few look-alikes used to dodge filters
    for src, dst in {"〇": "〇", "ⅰ": "i", "ｖ": "v", "Ｖ": "v"}.items():
        table.setdefault(ord(src), dst)
    return table


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    return Normalizer()


def fold(text: str) -> Folded:
    return default_normalizer().fold(text)


def normalize(text: str) -> str:
    return default_normalizer().normalize(text)
