"""Property: personal data of every kind, hidden in chat text with any filler, separator or spelling
that `redact` promises to see through, never comes out of `redact` in a recoverable form.

Recoverable, precisely: fold the output (what a reader sees: fillers dropped, full-width and Chinese
numerals read as digits), keep only its digits (and x, the check character of an id) and ask whether
the value's digits appear in that order, even with other characters between them (a subsequence).
For e-mails the local part, for secrets the secret part, must not appear in the output's letters and
digits. The surrounding text holds no digit, no x and no Chinese numeral, and is separated from the
value the way chat text is (a space, punctuation or a Chinese character), so every digit left is the
value's; a value glued to a Latin word (SF1409823376541) is a code, not personal data, by design.
"""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.text.detect import _ID_CHECK, _ID_WEIGHTS, detect, luhn_valid
from pipeline.text.normalize import fold
from pipeline.text.redact import redact

FILLERS = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\ufe0f", "\u180e", "\u034f"]
JOINERS = [" ", "  ", "\u00a0", "\u2002", "\u2009", "\u202f", "\u3000", "\t", "-", "–", "—", " - ", ".", "/",
           ",", ", ", "，", "_", "*", "·"]
CHINESE = {"0": "零洞〇", "1": "一幺壹", "2": "二贰", "3": "三叁", "4": "四肆", "5": "五伍", "6": "六陆",
           "7": "七柒拐", "8": "八捌", "9": "九玖"}
FULL = {d: chr(0xFF10 + int(d)) for d in "0123456789"}
CJK_WORDS = ["今天下午", "麻烦", "看一下", "谢谢", "客户说", "请联系", "资料在这", "好的", "明天", "请核对", "收到",
             "负责人", "我的", "老板", "同事"]
ASCII_WORDS = ["ok", "hello", "please", "check", "thanks", "team", "update", "meeting", "done"]
PROVINCES = ["110105", "310104", "440305", "330106", "510107", "420106", "320102", "610113", "370202", "520103"]


def _check(body: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS)) % 11]


@st.composite
def resident_ids(draw, valid: bool):
    body = (draw(st.sampled_from(PROVINCES)) + f"{draw(st.integers(1930, 2010))}{draw(st.integers(1, 12)):02d}"
            f"{draw(st.integers(1, 28)):02d}{draw(st.integers(0, 999)):03d}")
    check = _check(body)
    if not valid:
        check = draw(st.sampled_from([c for c in "0123456789x" if c != check]))
    return body + check


@st.composite
def old_resident_ids(draw):
    return (draw(st.sampled_from(PROVINCES)) + f"{draw(st.integers(30, 99))}{draw(st.integers(1, 12)):02d}"
            f"{draw(st.integers(1, 28)):02d}{draw(st.integers(0, 999)):03d}")


@st.composite
def cards(draw, valid: bool):
    body = draw(st.sampled_from(["622202", "622848", "621700", "436742", "518710", "625965"]))
    body += "".join(draw(st.sampled_from("0123456789")) for _ in range(draw(st.sampled_from([9, 12]))))
    checks = [c for c in "0123456789" if luhn_valid(body + c) == valid]
    return body + draw(st.sampled_from(checks))


mobiles = st.builds(lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 999_999_999))


@st.composite
def landlines(draw):
    area = draw(st.sampled_from(["010", "021", "020", "027", "0755", "0571", "0851", "0431"]))
    size = 8 if len(area) == 3 else draw(st.sampled_from([7, 8]))
    return area + draw(st.sampled_from("23456789")) + "".join(draw(st.sampled_from("0123456789"))
                                                             for _ in range(size - 1))


@st.composite
def spelled_number(draw, digits: str, numerals: bool):
    """`digits` cut into groups by joiners, each digit ASCII, full-width or (when allowed) a Chinese
    numeral, with fillers anywhere."""
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=len(digits) - 1)))
    if draw(st.booleans()):
        cuts = cuts[:4]
    joiner = draw(st.sampled_from(JOINERS))
    style = draw(st.sampled_from(["ascii", "full", "chinese", "mixed"] if numerals else ["ascii", "full", "mixed"]))
    out, prev = [], 0
    for cut in cuts + [len(digits)]:
        group = []
        for c in digits[prev:cut]:
            s = style if style != "mixed" else draw(st.sampled_from(["ascii", "full"]))
            if c in "0123456789" and s == "full":
                c = FULL[c]
            elif c in "0123456789" and s == "chinese":
                c = draw(st.sampled_from(CHINESE[c]))
            if draw(st.integers(0, 9)) == 0:
                c = draw(st.sampled_from(FILLERS)) + c
            group.append(c)
        out.append("".join(group))
        prev = cut
    if draw(st.booleans()):   # one joiner for all, or a new one between each pair of groups
        return joiner.join(out)
    return "".join(g + (draw(st.sampled_from(JOINERS)) if i < len(out) - 1 else "") for i, g in enumerate(out))


@st.composite
def surrounding(draw):
    words = draw(st.lists(st.sampled_from(CJK_WORDS + ASCII_WORDS), max_size=4))
    text = ""
    for w in words:
        if text and (w in ASCII_WORDS or text[-1].isascii()):
            text += draw(st.sampled_from([" ", "，", "。"]))
        text += w
    return text


@st.composite
def sample(draw):
    """(text, what must not be recoverable, how to read it back, the detector that must count it or None)."""
    kind = draw(st.sampled_from(["id", "id_typo", "id15", "card", "card_typo", "mobile", "landline", "email",
                                 "secret"]))
    if kind in ("id", "id_typo"):
        value = draw(resident_ids(kind == "id"))
        shown = draw(spelled_number(value[:17], False)) + value[17].upper()
        return shown, value, "digits", "pii:resident_id" if kind == "id" else None
    if kind == "id15":
        value = draw(old_resident_ids())
        return draw(spelled_number(value, False)), value, "digits", None
    if kind in ("card", "card_typo"):
        value = draw(cards(kind == "card"))
        return draw(spelled_number(value, True)), value, "digits", "pii:bank_card" if kind == "card" else None
    if kind == "mobile":
        value = draw(mobiles)
        prefix = draw(st.sampled_from(["", "+86 ", "+86", "0086 ", "0086", "86-", "(+86)", "(+86) ", "Tel", "tel:",
                                       "TEL: ", "vx", "wx", "手机", "电话："]))
        return prefix + draw(spelled_number(value, True)), value, "digits", "pii:mobile"
    if kind == "landline":
        value = draw(landlines())
        area = 3 if value[1] in "12" else 4
        spelled = draw(spelled_number(value[area:], True))
        form = draw(st.sampled_from(["{a}-{n}", "({a}){n}", "({a}) {n}", "{a} {n}", "{a}{n}", "{a}/{n}", "座机{a}-{n}"]))
        return form.format(a=value[:area], n=spelled), value[area:], "digits", None
    if kind == "email":
        local = draw(st.from_regex(r"[a-z]{6,10}", fullmatch=True))
        at = draw(st.sampled_from(["@", " @ ", "[at]", "(at)", "＠", " at ", " [at] ", "@\u200b"]))
        dot = draw(st.sampled_from([".", "[dot]", " dot ", "(dot)"]))
        domain = draw(st.sampled_from(["example", "corp-mail", "qq", "163"]))
        shown = "".join(c + (draw(st.sampled_from(FILLERS)) if draw(st.integers(0, 5)) == 0 else "") for c in local)
        return f"{shown}{at}{domain}{dot}{draw(st.sampled_from(['com', 'cn', 'net']))}", local, "letters", "pii:email"
    # 12 characters at least: the shortest real key body (Stripe, AWS, Alibaba, Tencent) is longer
    secret = draw(st.from_regex(r"[A-Za-z]{6,10}[0-9]{2,6}[A-Za-z0-9]{4,8}", fullmatch=True))
    template = draw(st.sampled_from([
        "aws_secret_access_key = {s}", "AWS_SECRET_ACCESS_KEY={s}", "mypassword={s}", "db_pass: {s}",
        "the password is {s}", "password: {s}", '"password": "{s}"', "密码发你了 {s}", "密码：{s}", "密码是{s}",
        "口令换成 {s}", "sk_live_{s}", "sk_test_{s}", "rk_live_{s}", "token={s}", "api_key: {s}",
        "mysql://root:{s}@10.0.0.5:3306/db", "redis://:{s}@10.1.2.3:6379/0"]))
    if draw(st.booleans()):   # a filler inside the value
        cut = draw(st.integers(1, len(secret) - 1))
        spelled = secret[:cut] + draw(st.sampled_from(FILLERS)) + secret[cut:]
    else:
        spelled = secret
    return template.format(s=spelled), secret, "letters", "secret:"


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(c in it for c in needle)


@given(item=sample(), before=surrounding(), after=surrounding(),
       left=st.sampled_from(["", " ", "，", "：", "\u200b", " \u200b"]),
       right=st.sampled_from(["", " ", "，", "。", "\u200b"]))
@settings(max_examples=600, deadline=None, derandomize=True)
def test_redact_leaves_no_personal_data_recoverable(item, before, after, left, right):
    shown, value, read, counted_as = item
    if before and before[-1].isascii() and not left.strip(" \u200b") and not left.startswith(" "):
        left = " " + left   # never glue the value to a Latin word
    if after and after[0].isascii() and not right.startswith((" ", "，", "。")):
        right = " " + right
    text = before + left + shown + right + after
    out = redact(text)
    seen = fold(out).text
    if read == "digits":
        assert not _is_subsequence(value.lower(), re.sub(r"[^0-9x]", "", seen)), (text, out)
    else:
        assert value.lower() not in re.sub(r"[\W_]", "", seen).lower(), (text, out)
    if counted_as:
        assert any(s.counted and s.detector.startswith(counted_as) for s in detect(text)), (text, detect(text))
