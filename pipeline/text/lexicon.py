"""Curated lexicons matched with an Aho-Corasick automaton (pyahocorasick).

Lists live in config/lexicons/<category>.txt (one term per line, '#' comments). Terms are
normalised like the text, so traditional / full-width / variant spellings in a list still match.
Lexicon hits are features and readable reasons, not verdicts on their own.
"""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import ahocorasick

from pipeline.text.normalize import ROOT, default_normalizer

LEXICON_DIR = ROOT / "config" / "lexicons"


class Lexicons:
    def __init__(self, directory: Path | str = LEXICON_DIR):
        self.directory = Path(directory)
        self.automaton = ahocorasick.Automaton()
        norm = default_normalizer()
        self.categories: list[str] = []
        for path in sorted(self.directory.glob("*.txt")):
            cat = path.stem
            self.categories.append(cat)
            for line in path.read_text(encoding="utf-8").splitlines():
                word = line.split("#", 1)[0].strip()
                if not word:
                    continue
                key = norm.normalize(word)
                if key in self.automaton:
                    cats = self.automaton.get(key)
                    if cat not in [c for c, _ in cats]:
                        cats.append((cat, word))
                else:
                    self.automaton.add_word(key, [(cat, word)])
        if len(self.automaton):
            self.automaton.make_automaton()

    def match(self, normalized_text: str) -> dict[str, list[str]]:
        """Category -> matched terms (deduplicated, in order of appearance)."""
        hits: dict[str, list[str]] = defaultdict(list)
        if not len(self.automaton):
            return hits
        for _end, entries in self.automaton.iter(normalized_text):
            for cat, word in entries:
                if word not in hits[cat]:
                    hits[cat].append(word)
        return hits


@lru_cache(maxsize=1)
def default_lexicons() -> Lexicons:
    return Lexicons()
