"""The project's evasion generator (issue 29): the same message rewritten the way people dodge
keyword filters, in five families, to measure how much of what the classifier flags survives the
rewriting (`moderation eval`'s robustness table) and to show the model cloaked text in training
(augmentation, with another seed).

Families:
* `fillers`: spaces, symbols, zero-width characters, combining marks or emoji put between characters;
* `emoji`: a character replaced by an emoji that stands for it or for a character that sounds the same
  (🀄 中, 🉐 得, 👨 男, 🐴 for 马 and for 妈, 🥚 蛋);
* `homophones`: a character replaced by a common character that sounds the same (toneless) or nearly
  (zh/z, ch/c, sh/s, n/l, an/ang, en/eng, in/ing);
* `pinyin`: a word written in pinyin or its initials (傻逼 shabi or sb), contact words as letters
  (微信 vx, wx, v);
* `mixed`: each word or character by one of the four above, at random.

Two scopes: `words` rewrites only the words the project's lexicons find in the message (what a sender
hides: the insult, the gambling term, 微信); a message with none stays as it was. `all` rewrites every
character a family can (fillers between all characters; every character with an emoji; half of the
characters by homophones; a third of them in pinyin).

The tables here are the generator's own. Its emoji list is longer than the normalisation's stand-ins
(config/normalisation.yaml): `EMOJI_NOT_IN_CONFIG` says which of its emoji the normalisation does
not map, so a figure can be read knowing that.
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

FAMILIES = ("fillers", "emoji", "homophones", "pinyin", "mixed")
SCOPES = ("words", "all")

_CJK_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
# what gets put between characters, by kind (one kind per message, as a sender would)
FILLER_KINDS = {
    "space": [" "],
    "symbol": ["*", ".", "·", "_", "|", "~", "-", "/", "#", "丶"],
    "invisible": ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"],
    "emoji": ["😊", "😂", "👍", "🙏", "✨", "🌚", "🤔", "💦", "⭐", "❤️", "🎉", "😅"],
    "combining": ["\u0301", "\u0308", "\u0336", "\u0332"],
}
# emoji that stand for a character (the generator's own table)
EMOJI_FOR = {
    "中": "🀄", "得": "🉐", "有": "🈶", "无": "🈚", "月": "🈷️", "禁": "🈲", "可": "🉑", "空": "🈳", "满": "🈵",
    "男": "👨", "女": "👩", "马": "🐴", "狗": "🐶", "猪": "🐷", "鸡": "🐔", "牛": "🐮", "鼠": "🐭", "蛇": "🐍",
    "羊": "🐑", "鱼": "🐟", "猴": "🐒", "鸭": "🦆", "龟": "🐢", "兔": "🐰", "虎": "🐯", "龙": "🐲", "狼": "🐺",
    "熊": "🐻", "虫": "🐛", "草": "🌿", "花": "🌸", "茶": "🍵", "酒": "🍺", "饭": "🍚", "面": "🍜", "瓜": "🍉",
    "桃": "🍑", "屎": "💩", "火": "🔥", "水": "💧", "日": "☀️", "星": "⭐", "云": "☁️", "电": "⚡", "雪": "❄️",
    "雨": "☔", "家": "🏠", "车": "🚗", "船": "🚢", "刀": "🔪", "枪": "🔫", "炸": "💣", "山": "⛰️", "树": "🌳",
    "百": "💯", "眼": "👁️", "看": "👀", "耳": "👂", "口": "👄", "手": "✋", "脑": "🧠", "爱": "❤️", "死": "💀",
    "鬼": "👻", "笔": "🖊️", "蛋": "🥚", "奶": "🍼", "猫": "🐱", "药": "💊", "烟": "🚬", "一": "1️⃣", "二": "2️⃣",
    "三": "3️⃣", "四": "4️⃣", "五": "5️⃣", "六": "6️⃣", "七": "7️⃣", "八": "8️⃣", "九": "9️⃣", "十": "🔟",
    # not in the normalisation's stand-ins
    "菇": "🍄", "象": "🐘", "米": "🌽", "糖": "🍬", "冰": "🧊", "赞": "👍", "求": "🙏", "钟": "⏰", "书": "📖",
    "门": "🚪", "球": "⚽", "猎": "🏹", "蕉": "🍌", "鸟": "🐦", "杯": "🏆",
}
EMOJI_NOT_IN_CONFIG = frozenset("菇象米糖冰赞求钟书门球猎蕉鸟杯十")
# letters people write for contact words
LETTERS_FOR = {"微信": ["vx", "wx", "v", "薇信", "V❤"], "加": ["+", "jia"], "qq": ["扣扣", "q"], "群": ["q"]}


@lru_cache(maxsize=1)
def _sound_pools() -> tuple[dict, dict, dict]:
    """char -> toneless syllable; syllable -> common characters; near-homophone key -> syllables.
    Common characters: the 3,755 of GB 2312 level 1 (the ones people type)."""
    from pypinyin.pinyin_dict import pinyin_dict

    from pipeline.text.normalize import _toneless, default_normalizer

    fuzzy = default_normalizer().sound_table.fuzzy
    syllable_of: dict[str, str] = {}
    by_syllable: dict[str, list[str]] = {}
    by_fuzzy: dict[str, set[str]] = {}
    for cp, readings in pinyin_dict.items():
        if not 0x4E00 <= cp <= 0x9FFF:
            continue
        c = chr(cp)
        syllable = _toneless(readings.split(",")[0])
        if not syllable.isalpha() or not syllable.isascii():
            continue
        syllable_of[c] = syllable
        try:
            common = 0xB0 <= c.encode("gb2312")[0] <= 0xD7
        except UnicodeEncodeError:
            common = False
        if common:
            by_syllable.setdefault(syllable, []).append(c)
            by_fuzzy.setdefault(fuzzy(syllable), set()).add(syllable)
    return syllable_of, by_syllable, {k: sorted(v) for k, v in by_fuzzy.items()}


def _word_spans(text: str) -> list[tuple[int, int]]:
    """Where the words the project's lexicons find in `text` are (as written; a term the text holds
    only in another spelling is not located), longest first, without overlaps."""
    from pipeline.classify.model import CUE_CATEGORIES
    from pipeline.text.lexicon import default_lexicons
    from pipeline.text.normalize import normalize

    hits = default_lexicons().match(normalize(text))
    terms = sorted({w for cat, words in hits.items() if cat not in CUE_CATEGORIES for w in words}, key=len, reverse=True)
    terms += [w for w in ("微信", "qq") if w in text and w not in terms]
    taken = [False] * len(text)
    spans = []
    for term in terms:
        start = text.find(term)
        while start >= 0:
            end = start + len(term)
            if not any(taken[start:end]):
                spans.append((start, end))
                for i in range(start, end):
                    taken[i] = True
            start = text.find(term, end)
    return sorted(spans)


class Cloaker:
    """Rewrites messages by family and scope; deterministic for a seed."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    def cloak(self, text: str, family: str, scope: str = "words") -> str:
        if family not in FAMILIES or scope not in SCOPES:
            raise ValueError(f"family one of {FAMILIES}, scope one of {SCOPES}")
        spans = _word_spans(text) if scope == "words" else [(0, len(text))]
        if not spans:
            return text
        out, last = [], 0
        for start, end in spans:
            out.append(text[last:start])
            out.append(self._piece(text[start:end], family, scope))
            last = end
        out.append(text[last:])
        return "".join(out)

    def _piece(self, piece: str, family: str, scope: str) -> str:
        if family == "mixed":
            if scope == "words":
                return self._piece(piece, self.rng.choice(FAMILIES[:4]), scope)
            return "".join(self._piece(c, self.rng.choice(FAMILIES[1:4]), scope) if _CJK_RE.match(c) else c
                           for c in self._fillers(piece, 0.3))
        if family == "fillers":
            return self._fillers(piece, 1.0)
        if family == "emoji":
            return "".join(self._emoji(c, 1.0) for c in piece)
        if family == "homophones":
            p = 1.0 if scope == "words" else 0.5
            return "".join(self._homophone(c) if _CJK_RE.match(c) and self.rng.random() < p else c for c in piece)
        return self._pinyin(piece, scope)

    def _fillers(self, piece: str, p: float) -> str:
        kind = FILLER_KINDS[self.rng.choice(list(FILLER_KINDS))]
        out = []
        for i, c in enumerate(piece):
            out.append(c)
            nxt = piece[i + 1] if i + 1 < len(piece) else ""
            if nxt and (_CJK_RE.match(c) or _CJK_RE.match(nxt)) and not c.isspace() and not nxt.isspace() \
                    and self.rng.random() < p:
                out.append(self.rng.choice(kind))
        return "".join(out)

    def _emoji(self, c: str, p: float) -> str:
        if c in EMOJI_FOR and self.rng.random() < p:
            return EMOJI_FOR[c]
        syllable_of, _, _ = _sound_pools()
        s = syllable_of.get(c)
        if s is None:
            return c
        sounding = [e for ch, e in EMOJI_FOR.items() if syllable_of.get(ch) == s]
        return self.rng.choice(sounding) if sounding and self.rng.random() < p else c

    def _homophone(self, c: str) -> str:
        from pipeline.text.normalize import default_normalizer

        syllable_of, by_syllable, by_fuzzy = _sound_pools()
        s = syllable_of.get(c)
        if s is None:
            return c
        same = [x for x in by_syllable.get(s, ()) if x != c]
        near = [x for t in by_fuzzy.get(default_normalizer().sound_table.fuzzy(s), ()) if t != s
                for x in by_syllable.get(t, ())]
        pool = near if near and (not same or self.rng.random() < 0.3) else same
        return self.rng.choice(pool) if pool else c

    def _pinyin(self, piece: str, scope: str) -> str:
        syllable_of, _, _ = _sound_pools()
        if scope == "words":
            for word, letters in LETTERS_FOR.items():
                if piece == word:
                    return self.rng.choice(letters)
            syllables = [syllable_of.get(c, c) for c in piece]
            if self.rng.random() < 0.4 and all(s.isalpha() for s in syllables):
                return "".join(s[0] for s in syllables)         # initials: sb, nmsl
            return "".join(syllables)                           # full: shabi
        return "".join(syllable_of[c] if c in syllable_of and self.rng.random() < 0.3 else c for c in piece)


def cloaked_rows(rows: list[dict], family: str, scope: str, seed: int) -> list[dict]:
    """The rows with their text cloaked (same labels), and the number whose text changed."""
    cloaker = Cloaker(seed)
    return [{**r, "text": cloaker.cloak(r["text"], family, scope)} for r in rows]
