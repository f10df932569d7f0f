"""Normalisation of chat text before detectors, lexicons and the model.

Two layers:

* `fold(text)` is length-preserving except for removed separators, and returns an offset map so
  that a span found in the folded text can be mapped back to the original (redaction masks the
  original text, not the folded one). It does full-width -> half-width, traditional ->
  simplified, ASCII lower case, circled digits -> digits, Chinese numerals spelled digit by digit
  -> digits, and removes separators inserted between characters (微 信, 赌*球, 加.V).
* `normalize(text)` is `fold` followed by the variant/homophone map (薇信/vx -> 微信, 菠菜 -> 博彩,
  jia v -> 加微信, nmb -> 你妈逼), which changes lengths and is only used for classification.
* `sounds(normalized)` is what the normalised text sounds like: one code character per syllable
  (toneless pinyin from pypinyin, folded by the near-homophone rules: zh/z, ch/c, sh/s, n/l, an/ang,
  en/eng, in/ing), for Chinese characters and for Latin runs that spell pinyin (shabi). The classifier
  hashes its n-grams as features beside the characters', so 傻逼, 沙比, 煞笔 and shabi share them;
  the characters themselves are never replaced.

Emoji and symbols that stand for a character (🀄 中, 🐴 马, 👨 男; `stand_ins`) become that character in
`fold`; a keycap digit (1️⃣) becomes its Chinese numeral (a run of four or more is a number again,
by the numerals rule); any other emoji or symbol between two characters (傻😊逼, 微★信) is removed
like a separator.

Both start by dropping fillers (`FILLERS`: zero-width and other invisible format characters,
variation selectors, combining marks), which carry nothing a reader sees and are used to pad text
and to split words and numbers past filters. `visible(text)` is the text without them: what the
length check counts.

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
_CJK_PUNCTUATION = "\u3001\u3002,!:;?"   # 、。 and ，！：；？ (fold makes those ASCII first)
# Invisible characters removed before anything reads the text: zero-width spaces and joiners,
# direction marks, embeddings, overrides and isolates, word joiners and invisible operators, the BOM,
# the soft hyphen, Hangul fillers, variation selectors, tag characters, and combining marks (which
# also turn a digit into a keycap: 1️⃣ is 1 + U+FE0F + U+20E3).
FILLERS = ("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
           "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef"
           "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f")
_FILLER_RE = re.compile(f"[{FILLERS}]+")
# Characters that join the groups of one number as people split them to read them out or to get past
# filters (138 1234 5678, 138-1234-5678, 138.1234.5678, 138/1234/5678, 138,1234,5678, (021)6888 8888,
# +86): spaces (fold makes every Unicode space an ASCII one), tabs, dashes of any width, dots, slashes,
# commas, brackets, plus, star, underscore, bar, tilde and middle dots. Up to three in a row (" - ", ", ",
# ") "). The same set lets Chinese numerals spelled digit by digit run across them, and the detectors
# use it to read a number through them. Not 、 or 。: they separate list items and sentences.
DIGIT_JOINERS = r" \t\-\u2010-\u2015\u2212./\\,()+*_|~\u00b7\u30fb"   # a regex character class body


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


_KEYCAP_RE = re.compile("([0-9])\ufe0f?\u20e3")
_KEYCAP_NUMERAL = dict(zip("0123456789", "零一二三四五六七八九"))
# Unicode categories of the characters removed between two characters like a separator, besides the
# configured separators: other symbols (emoji, dingbats, ★, ♥), modifier symbols, mathematical
# symbols and private-use characters. Not currency signs, not punctuation (，。！？ end sentences).
_SYMBOL_CATEGORIES = ("So", "Sk", "Sm", "Co")
_SENTINEL = "\x00"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789").__contains__


class Normalizer:
    def __init__(self, config_path: Path | str = CONFIG_PATH):
        cfg = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
        self.table = _char_table()
        stand_ins = {str(k): str(v) for k, v in (cfg.get("stand_ins") or {}).items()}
        for key, value in stand_ins.items():
            if len(key) != 1 or len(value) != 1:
                raise ValueError(f"{config_path}: stand_ins maps one character to one character; "
                                 f"{key!r}: {value!r} is not (put longer ones under variants)")
            self.table[ord(key)] = value
        num_map = cfg["numerals"]["map"]
        self.min_run = int(cfg["numerals"].get("min_run", 4))
        self.num_table = str.maketrans({k: v for k, v in num_map.items()})
        num_chars = "".join(re.escape(c) for c in num_map)
        self.num_re = re.compile(
            f"[{num_chars}0-9](?:[{DIGIT_JOINERS}]{{0,3}}[{num_chars}0-9]){{{self.min_run - 1},}}")
        self.num_chars = frozenset(num_map)
        # separators: the configured ones and every other symbol or emoji (stand-ins became their
        # character first). Each is marked with one sentinel in a copy of the text, so that the regex
        # that finds the runs to remove has a one-character class (a class of thousands of emoji ranges
        # made folding twice as slow)
        separators = frozenset(cfg["separators"]) | _symbols(self.table) | {_SENTINEL}
        self.sep_table = {ord(c): _SENTINEL for c in separators}
        self.quick_sep = separators
        # a separator run with a CJK char on at least one side and a word char or a Chinese punctuation
        # mark on the other (傻 逼, 微*信, 信 ，明: the Chinese marks end clauses, nothing is glued)
        word = f"{_CJK}a-z0-9{re.escape(_CJK_PUNCTUATION)}"
        self.sep_re = re.compile(f"(?<=[{_CJK}]){_SENTINEL}+(?=[{word}])|(?<=[{word}]){_SENTINEL}+(?=[{_CJK}])")
        self.pinyin_cfg = cfg.get("pinyin") or {}
        variants = {str(k).lower(): str(v) for k, v in (cfg.get("variants") or {}).items()}
        self.variants = variants
        # one Aho-Corasick pass finds every key (a regex alternation of the keys cost more than all of
        # folding); a key that begins or ends with a letter or digit must not touch another there
        # (vx is not read inside vxlan)
        import ahocorasick

        self.variant_automaton = ahocorasick.Automaton()
        for key in variants:
            self.variant_automaton.add_word(key, (len(key), bool(re.match(r"[a-z0-9]", key)),
                                                  bool(re.search(r"[a-z0-9]$", key)), key))
        if variants:
            self.variant_automaton.make_automaton()

    # ------------------------------------------------------------------ layers
    def fold(self, text: str) -> Folded:
        t = text.translate(self.table)
        if "\u20e3" in t:  # a keycap digit stands for its numeral (1️⃣起 is 一起); the fillers go next
            t = _KEYCAP_RE.sub(lambda m: _KEYCAP_NUMERAL[m.group(1)] + m.group(0)[1:], t)
        t, kept = _drop(t, _FILLER_RE)
        if self.num_chars.intersection(t):
            t = self.num_re.sub(self._numerals, t)
        if not self.quick_sep.isdisjoint(t):
            t, kept_here = _drop(t, self.sep_re, t.translate(self.sep_table))
            if kept_here is not None:
                kept = kept_here if kept is None else [kept[i] for i in kept_here]
        if kept is None:
            return Folded(t, text)
        kept_set = set(kept)
        return Folded(t, text, tuple(i for i in range(len(text)) if i not in kept_set))

    def _numerals(self, m: re.Match) -> str:
        s = m.group(0)
        if not self.num_chars.intersection(s):
            return s
        return s.translate(self.num_table)

    def apply_variants(self, t: str) -> str:
        """Each variant replaced, leftmost first and the longest where several start at one place."""
        if not self.variants:
            return t
        found = []
        for end, (size, word_start, word_end, key) in self.variant_automaton.iter(t):
            start = end - size + 1
            if word_start and start > 0 and _ALNUM(t[start - 1]):
                continue
            if word_end and end + 1 < len(t) and _ALNUM(t[end + 1]):
                continue
            found.append((start, -size, key))
        if not found:
            return t
        found.sort()
        out, last = [], 0
        for start, minus_size, key in found:
            if start < last:
                continue
            out.append(t[last:start])
            out.append(self.variants[key])
            last = start - minus_size
        out.append(t[last:])
        return "".join(out)

    def normalize(self, text: str) -> str:
        return self.apply_variants(self.fold(text).text)

    # ------------------------------------------------------------------ sounds
    @property
    def sound_table(self) -> "SoundTable":
        table = self.__dict__.get("_sound_table")
        if table is None:
            table = self.__dict__["_sound_table"] = SoundTable(self.pinyin_cfg)
        return table

    def sounds(self, normalized: str) -> str:
        """What `normalized` (the output of `normalize`) sounds like: one code character per syllable."""
        return self.sound_table.sounds(normalized)


class SoundTable:
    """Characters to syllable codes (one private-use character per toneless, near-homophone-folded
    pinyin syllable). Built once from pypinyin's character readings (the first, most common one)."""

    CODE0 = 0xF0000  # supplementary private use area A: never left in normalised text by `fold`

    def __init__(self, cfg: dict):
        from pypinyin.pinyin_dict import pinyin_dict

        initials = sorted(((str(k), str(v)) for k, v in (cfg.get("initials") or {}).items()),
                          key=lambda kv: -len(kv[0]))
        finals = sorted(((str(k), str(v)) for k, v in (cfg.get("finals") or {}).items()),
                        key=lambda kv: -len(kv[0]))

        def fuzzy(syllable: str) -> str:
            for a, b in initials:
                if syllable.startswith(a):
                    syllable = b + syllable[len(a):]
                    break
            for a, b in finals:
                if syllable.endswith(a) and len(syllable) > len(a) - 1:
                    syllable = syllable[: len(syllable) - len(a)] + b
                    break
            return syllable

        codes: dict[str, str] = {}
        self.fuzzy = fuzzy
        self.table: dict[int, str | None] = {}
        spelled: set[str] = set()
        for cp, readings in pinyin_dict.items():
            if not (0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF):
                continue
            syllable = _toneless(readings.split(",")[0])
            if not syllable.isascii() or not syllable.isalpha():
                continue
            spelled.add(syllable)
            key = fuzzy(syllable)
            code = codes.setdefault(key, chr(self.CODE0 + len(codes)))
            self.table[cp] = code
        self.codes = codes
        self.syllable_code = {s: codes[fuzzy(s)] for s in spelled}
        # a Latin run of two or more letters that splits wholly into pinyin syllables (shabi, laji)
        alternatives = "|".join(sorted(spelled, key=len, reverse=True))
        self.latin_re = re.compile("[a-z]{2,}")
        self.pinyin_re = re.compile(f"(?:{alternatives})+")
        self.syllable_re = re.compile(alternatives)
        # everything that is neither a Chinese character nor a letter carries no sound
        self.keep = frozenset(self.table)

    def sounds(self, text: str) -> str:
        out = text.translate(self.table)
        if self.latin_re.search(out):
            out = self.latin_re.sub(self._latin, out)
        return _SOUNDLESS_RE.sub("", out)  # what has no sound: everything but the codes

    def _latin(self, m: re.Match) -> str:
        run = m.group(0)
        if not self.pinyin_re.fullmatch(run):
            return ""
        return "".join(self.syllable_code[s] for s in _split_pinyin(run, self.syllable_re, self.syllable_code))


_SOUNDLESS_RE = re.compile(f"[^{chr(SoundTable.CODE0)}-\U000FFFFF]+")


def _split_pinyin(run: str, syllable_re: re.Pattern, known: dict) -> list[str]:
    """`run` (known to split wholly into syllables) split into syllables, longest first with
    backtracking (xian is xian, not xi an; but xianzai needs xian zai)."""
    def go(i: int) -> list[str] | None:
        if i == len(run):
            return []
        for j in range(min(len(run), i + 6), i, -1):
            if run[i:j] in known:
                rest = go(j)
                if rest is not None:
                    return [run[i:j]] + rest
        return None

    return go(0) or []


def _toneless(reading: str) -> str:
    """pīn -> pin, lǜ -> lv."""
    reading = reading.replace("ü", "v").replace("ǖ", "v").replace("ǘ", "v").replace("ǚ", "v").replace("ǜ", "v")
    return "".join(c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c))


def _symbols(table: dict[int, str]) -> frozenset[str]:
    """The symbols removed between characters like separators (`_SYMBOL_CATEGORIES`), less those
    `table` maps to something else (stand-ins become their character first) and a few ASCII ones that
    are kept unless configured as separators (+ < = > ^ ` | ~)."""
    return frozenset(chr(cp) for cp in range(0x20000)
                     if cp not in table and chr(cp) not in "+<=>^`|~"
                     and unicodedata.category(chr(cp)) in _SYMBOL_CATEGORIES)


def _drop(text: str, pattern: re.Pattern, probe: str | None = None) -> tuple[str, list[int] | None]:
    """`text` without the matches of `pattern` (found in `probe`, a copy of `text` of the same length,
    when given), and the positions (in `text`) of the characters kept; None when nothing matched."""
    spans = [m.span() for m in pattern.finditer(text if probe is None else probe)]
    if not spans:
        return text, None
    pieces: list[str] = []
    kept: list[int] = []
    last = 0
    for s, e in spans:
        pieces.append(text[last:s])
        kept.extend(range(last, s))
        last = e
    pieces.append(text[last:])
    kept.extend(range(last, len(text)))
    return "".join(pieces), kept


def visible(text: str) -> str:
    """`text` without fillers (see FILLERS): what a reader sees, and what the length check counts."""
    return _FILLER_RE.sub("", text)


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
    # every Unicode space is a space, every decimal digit of any script (Arabic-Indic, mathematical
    # bold, ...) and the superscripts ¹²³ are ASCII digits: each can stand in a number or a word
    for cp in range(0x20000):
        c = chr(cp)
        if cp in table or c in "0123456789":
            continue
        if unicodedata.category(c) == "Zs":
            table[cp] = " "
        elif unicodedata.category(c) == "Nd":
            table[cp] = str(unicodedata.decimal(c))
    for c, d in (("\u00b9", "1"), ("\u00b2", "2"), ("\u00b3", "3")):
        table[ord(c)] = d
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
