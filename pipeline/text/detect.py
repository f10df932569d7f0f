"""Exact, testable detectors for contact handles, personal data and secrets.

Every detector runs on the folded text (see normalize.fold) and returns `Span`s whose offsets are
in the folded text; `Span.original` maps them back so redaction can mask the original message.
Detector names follow the Finding convention: "pii:*" and "secret:*" are sensitive items,
"contact:*" are handles used by ads and scams, "marker:*"-like facts are features only.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from pipeline.text.normalize import DIGIT_JOINERS, Folded, fold

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"


@dataclass(frozen=True)
class Span:
    detector: str
    start: int          # in the folded text
    end: int
    mask: str | None    # how to show it in excerpts (None: shown as is)
    reason: str
    keep_head: int = 0  # characters of the original kept before the mask
    # Whether the classifier counts the item (features, findings, severity). Masking goes by shape and
    # uses every span; the count needs more: a valid check digit for a resident id, the Luhn check for
    # a card. Items masked by shape only (a mistyped id or card, an old 15-digit id, a landline) are
    # not counted: the classifier sees what it saw before they were masked.
    counted: bool = True


# ---------------------------------------------------------------------------- validators

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10x98765432"
# The first two digits of a resident id: the province-level region (83: residence permits of Taiwan residents).
_PROVINCES = frozenset("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
                       "61 62 63 64 65 71 81 82 83".split())


def resident_id_valid(s: str) -> bool:
    """18-character PRC resident id: region, birth date, sequence, ISO 7064 MOD 11-2 check."""
    s = s.lower()
    if len(s) != 18 or not s[:17].isdigit() or s[0] not in "12345678":
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if not (1900 <= born.year <= 2099):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17]


def _real_date(year: int, mmdd: str) -> bool:
    try:
        date(year, int(mmdd[:2]), int(mmdd[2:4]))
    except ValueError:
        return False
    return True


def resident_id_shaped(s: str) -> bool:
    """An 18-character resident id by its shape alone: a province, a real birth date in 1900-2099, a
    sequence and any check character. A typo in the check digit does not make an id public."""
    s = s.lower()
    if len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "x") or s[:2] not in _PROVINCES:
        return False
    year = int(s[6:10])
    return 1900 <= year <= 2099 and _real_date(year, s[10:14])


def old_resident_id_shaped(s: str) -> bool:
    """A 15-digit resident id (issued before 1999, no check digit): a province and a real birth date 19yy."""
    return len(s) == 15 and s.isdigit() and s[:2] in _PROVINCES and _real_date(1900 + int(s[6:8]), s[8:12])


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


# ---------------------------------------------------------------------------- numbers
#
# A number is read as people write it: groups of digits joined by up to three DIGIT_JOINERS
# (spaces, dashes, dots, slashes, commas, brackets ...); fold has already dropped fillers and turned
# full-width digits and Chinese numerals into digits. A personal number starts and ends on group
# boundaries, never inside a group, so 28-digit transaction ids, 13-digit order numbers and dates are
# not cut into phone numbers, and a phone and a card in one run are read one after the other.

# (the lookahead lets the many short numbers of chat text — 3%, 2024-06 — go by without a match)
_NUMBER = re.compile(rf"(?<![0-9])(?=[0-9x{DIGIT_JOINERS}]{{7}})[0-9]+(?:x(?![a-z0-9]))?"
                     rf"(?:[{DIGIT_JOINERS}]{{1,3}}(?:[0-9]+(?:x(?![a-z0-9]))?|x(?![a-z0-9])))*")
_GROUP = re.compile(r"[0-9]+x?|x")
_DIGIT = re.compile(r"[0-9]")
# Words a number may be glued to and still be a contact: Tel13812345678, vx13812345678. Any other
# word glued in front makes it a code (SF1409823376541, WO2024061800123).
_HANDLE_WORDS = frozenset({"tel", "tell", "phone", "mobile", "mob", "cell", "call", "fax", "vx", "wx", "v", "weixin",
                           "wechat", "whatsapp", "sj", "dh", "shouji", "dianhua", "id", "no", "qq"})
_ORDER_CTX = re.compile(r"(?:订单|单号|流水|运单|编号|工单|快递|物流|序列|批次|合同|发票|代码|账单|no\.?|sn|#)号?\s*[:：]?\s*$")
_CARD_ORDER_CTX = re.compile(r"(?:订单|单号|流水|运单|编号|工单|快递|物流|序列|批次|合同|发票|代码|账单|no\.?|sn|#|id)号?\s*[:：]?\s*$")
_CARD_CTX = re.compile(r"(?:卡|账号|帐号|账户|帐户|card)")
_LANDLINE_CTX = re.compile(r"(?:座机|固话|电话|分机|总机|传真|tel|phone|fax)(?:号码?)?\s*[:：]?\s*$")
# An amount with thousands separators (13,812,345,678 元) is not a phone number; no amount in chat runs
# to more than 12 digits, so a longer run of comma groups is read as a number.
_AMOUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3}){2,3}(?:\.[0-9]+)?")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_DATE8 = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")


def _mobile(d: str) -> str | None:
    """The 11 digits of a mainland mobile in `d` (with or without 86 / 0086 in front), else None."""
    if d[:4] == "0086":
        d = d[4:]
    elif d[:2] == "86":
        d = d[2:]
    if len(d) == 11 and d[0] == "1" and d[1] in "3456789" and d.isdigit():
        return d
    return None


def _landline(d: str, cuts: list[int]) -> tuple[str, str] | None:
    """(area code, local number) of a mainland landline written with its area code, else None.
    010 and 02x have 8-digit local numbers; 0xxx have 7 or 8; a local number starts with 2-9. `cuts`
    are the positions in `d` where the writer put a separator: none may fall inside the area code
    (2024.06.18 - 2024.06.30 holds 0618 20240630, which no one writes for a phone number)."""
    prefix = 4 if d[:4] == "0086" else 2 if d[:2] == "86" else 0
    one_by_one = len(cuts) == len(d) - 1   # 0 1 0 8 8 8 8 6 6 6 6
    if prefix:
        d = "0" + d[prefix:]
    if len(d) < 10 or d[0] != "0" or not d.isdigit():
        return None
    if d[1] in "12":
        area, local = d[:3], d[3:]
        if area != "010" and d[1] != "2" or len(local) != 8:
            return None
    else:
        area, local = d[:4], d[4:]
        if len(local) not in (7, 8):
            return None
    written_end = prefix + len(area) - (1 if prefix else 0)   # +86 10 …: the area code without its 0
    if not one_by_one and any(prefix < c < written_end for c in cuts):
        return None
    return (area, local) if local[0] in "23456789" else None


def _readings(d: str, cuts: list[int], before: str, first: bool,
              letter_after: bool) -> Iterator[tuple[bool, str, bool, str, str]]:
    """What the digits `d` (written with separators at `cuts`, after the text `before`) can be:
    (checksum-proven, detector, counted, mask, reason) for each reading."""
    n = len(d)
    order = _ORDER_CTX.search(before) is not None
    if n == 18 and not letter_after:
        if resident_id_valid(d):
            yield (True, "pii:resident_id", True, d[0] + "*" * 16 + d[-1].upper(),
                   "18-digit resident id with a valid checksum")
        elif resident_id_shaped(d) and not order:
            yield (False, "pii:resident_id", False, d[0] + "*" * 16 + d[-1].upper(),
                   "resident-id-shaped number (check digit does not match)")
    if d[-1] == "x":   # only an 18-character id ends in x
        return
    if n == 15 and old_resident_id_shaped(d) and not order and not letter_after:
        yield False, "pii:resident_id", False, d[0] + "*" * 13 + d[-1], "15-digit resident id (issued before 1999)"
    elif 16 <= n <= 19 and d[0] in "3456" and not letter_after and not resident_id_valid(d):
        if not (_CARD_ORDER_CTX.search(before) and not _CARD_CTX.search(before)):
            valid = luhn_valid(d)
            yield (valid, "pii:bank_card", valid, "**** **** **** " + d[-4:],
                   f"{n}-digit bank card number passing the Luhn check" if valid
                   else f"{n}-digit card-shaped number (fails the Luhn check)")
    elif 11 <= n <= 15 and (m := _mobile(d)):
        yield False, "pii:mobile", True, m[:3] + "****" + m[-4:], "mainland mobile number"
    elif 10 <= n <= 14 and not order and (ll := _landline(d, cuts)):
        area, local = ll
        yield False, "pii:landline", False, area + "-" + "*" * (len(local) - 4) + local[-4:], "landline number"
    elif n in (7, 8) and first and d[0] in "23456789" and d[:3] not in ("400", "800") \
            and _LANDLINE_CTX.search(before) and not _DATE8.fullmatch(d):
        yield False, "pii:landline", False, "*" * (n - 4) + d[-4:], "landline number"


def _number_at(t: str, groups: list[tuple[int, int]], i: int, run_end: int) -> tuple[int, Span] | None:
    """The personal number that starts at group `i` of a run and ends on a later group boundary, with
    the index of its last group. Checksum-proven ids and cards come first, then the longest reading
    (a mistyped 18-digit id is not cut into a phone number and seven loose digits)."""
    a0 = groups[i][0]
    if i == 0 and a0 > 0 and "a" <= t[a0 - 1] <= "z":
        k = a0
        while k > 0 and "a" <= t[k - 1] <= "z":
            k -= 1
        if t[k:a0] not in _HANDLE_WORDS:
            return None
    before = t[max(0, a0 - 12):a0]
    best: tuple | None = None
    d = ""
    cuts: list[int] = []
    for j in range(i, len(groups)):
        a, b = groups[j]
        if d:
            cuts.append(len(d))
        d += t[a:b]
        if len(d) > 19 or (d[-1] == "x" and len(d) != 18):
            break
        letter_after = b == run_end and b < len(t) and "a" <= t[b] <= "z"
        for proof, det, counted, mask, reason in _readings(d, cuts, before, i == 0, letter_after):
            if _AMOUNT.fullmatch(t, a0, b) or _IPV4.fullmatch(t, a0, b):
                continue
            key = (proof, len(d))
            if best is None or key > best[0]:
                best = (key, j, det, counted, mask, reason)
    if best is None:
        return None
    _, j, det, counted, mask, reason = best
    start, end = a0, groups[j][1]
    if det in ("pii:mobile", "pii:landline"):   # +86 138…, (+86)138…, (021)6888 8888: the mask takes the brackets
        if start > 0 and t[start - 1] == "+":
            start -= 1
        if start > 0 and t[start - 1] == "(" and ")" in t[start:end]:
            start -= 1
    return j, Span(det, start, end, mask, reason, counted=counted)


def _numbers(t: str, spans: list[Span]) -> None:
    for m in _NUMBER.finditer(t):
        if m.end() - m.start() < 7:
            continue
        base = m.start()
        groups = [(base + g.start(), base + g.end()) for g in _GROUP.finditer(m.group())]
        i = 0
        while i < len(groups):
            found = _number_at(t, groups, i, m.end())
            if found is None:
                i += 1
            else:
                i = found[0] + 1
                spans.append(found[1])


# ---------------------------------------------------------------------------- e-mails

# An @ with up to two spaces around it, [at] / (at), or the word at; a dot, [dot] / (dot), or the
# word dot. The spelled-out forms need a known top-level domain (meet at the office is no address).
_AT = (rf"[ \t]{{0,2}}@[ \t]{{0,2}}|[ \t]*[\[(][ \t]*at[ \t]*[\])][ \t]*|[ \t]+at[ \t]+|(?<=[{_CJK}])at[ \t]+|"
       r"[ \t]*(?:#|艾特)[ \t]*")   # fold joins 张三 at … into 张三at …
_DOT = r"\.|。|[ \t]*[\[(][ \t]*dot[ \t]*[\])][ \t]*|[ \t]+dot[ \t]+"
_AT_FORMS = re.compile(_AT)
_EMAIL_HINT = re.compile(r"@|at[\]) \t]|#|艾特")
_DOMAIN = re.compile(rf"[a-z0-9-]{{1,63}}(?:(?:{_DOT})[a-z0-9-]{{1,63}}){{1,6}}(?![a-z0-9-])")
_LOCAL_ASCII = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]{0,63}$")
_LOCAL_CJK = re.compile(rf"[{_CJK}]{{1,12}}$")
_DOT_SPLIT = re.compile(_DOT)
_SPELLED_TLDS = frozenset("com cn net org edu gov io co me info biz top xyz vip cc hk tw mo jp kr uk de fr us ai app "
                          "dev cloud tech ltd work site online store shop club mobi".split())
# A Chinese local part starts after the words that lead to it (发邮件给张三@… keeps 发邮件给 readable)
# and is a name: at most six characters.
_LOCAL_LEADS = "给到是为至发邮箱件址名号"


def _cjk_local(local: str) -> str:
    local = local[max(local.rfind(c) for c in _LOCAL_LEADS) + 1:]
    return local[max(0, len(local) - 6):]


def _emails(t: str, spans: list[Span]) -> None:
    # anchored on the @ (or its spellings): the domain is read forward, the local part backward
    for at in _AT_FORMS.finditer(t):
        dm = _DOMAIN.match(t, at.end())
        if dm is None:
            continue
        parts, dots = _DOT_SPLIT.split(dm.group()), _DOT_SPLIT.findall(dm.group())
        for k in range(len(parts), 1, -1):   # the longest domain that ends in a top-level domain
            tld = parts[k - 1]
            spelled = at.group().strip() != "@" or any(d != "." for d in dots[:k - 1])
            if 2 <= len(tld) <= 10 and tld.isalpha() and (not spelled or tld in _SPELLED_TLDS):
                break
        else:
            continue
        labels = parts[:k]
        end = at.end() + sum(map(len, labels)) + sum(map(len, dots[:k - 1]))
        head = t[max(0, at.start() - 65):at.start()]
        lm = _LOCAL_ASCII.search(head)
        if lm is not None:
            local = lm.group()
        else:
            lm = _LOCAL_CJK.search(head)
            if lm is None:
                continue
            local = _cjk_local(lm.group())
            if not local:
                continue
        shown = (local[0] if local[0] < "\x80" else "") + "***@" + ".".join(labels)
        spans.append(Span("pii:email", at.start() - len(local), end, shown, "e-mail address"))


# ---------------------------------------------------------------------------- secrets

# A key is a word naming a secret, at the end of an identifier (aws_secret_access_key, mypassword,
# DB_PASS, openai_api_key) or a Chinese word; it is followed by = or :, by is / 是 / 为, or by a
# few words of a sentence (密码发你了 …, password for the wifi: …) and then the value.
_KEY_EN = (r"(?:password|passwd|passwort|passphrase|passcode|(?<![a-z])(?:pwd|pass)|"
           r"secret(?:[_-]?access)?(?:[_-]?key)?|token|apikey|"
           r"(?:api|access|secret|private|app|client|auth|license|master|encryption|signing|ssh|deploy|account|"
           r"shared[_-]?access|subscription)[_-]?key"
           r"(?:[_-]?id)?|app[_-]?secret|client[_-]?secret)")
# A value: quoted, or printable ASCII without space , ; — and a "user / password" pair is one value.
_VALUE = (r"""(?:"(?P<dq>[^"\s]{4,})"|'(?P<sq>[^'\s]{4,})'|"""
          r"""(?P<bare>[\x21-\x2b\x2d-\x3a\x3c-\x7e]{4,}(?:[ \t]*/[ \t]*[\x21-\x2b\x2d-\x3a\x3c-\x7e]{4,})?))""")
_KV_EN = re.compile(
    rf"(?P<key>{_KEY_EN})[\"']?(?P<gap>(?:[ \t]+(?:for|of|to)(?:[ \t]+[a-z0-9_.-]{{1,20}}){{1,3}}?)?)"
    rf"(?P<sep>[ \t]*(?:=>|:=|[:=])[ \t]*|[ \t]+(?:is|was)[ \t]*:?[ \t]*|[ \t]+)" + _VALUE)
# Characters of the few words allowed between a Chinese key and its value: verbs and particles of
# "sent you", "changed to", "is", "reset to", "here it is" (发你了, 都改成, 是, 已重置为, 在这里, 如下).
_GAP_ZH = "都也均已经统一默认初始新临时私我刚发给告诉你您们大家了啦在这里如下改为成换设置好重更是就还一律下个"
_KV_ZH = re.compile(rf"(?P<key>密码|口令|密钥|秘钥)(?P<gap>[{_GAP_ZH}]{{0,6}})(?P<sep>\s*[:=]?\s*)" + _VALUE)
_PLACEHOLDERS = frozenset({"none", "null", "nil", "todo", "tbd", "n/a", "required", "reset", "true", "false", "yes",
                           "empty", "hidden", "redacted", "masked", "changed", "undefined", "expired", "incorrect",
                           "invalid", "wrong"})
_NOT_A_VALUE = re.compile(r"(?:[*x.•·_-]+|\$\{.*|\$\(.*|\{\{.*|<.*|%\(.*|https?://.*|"
                          r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}.*|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)")
_SYMBOL_OR_DIGIT = re.compile(r"[^a-z]")


def _secret_kind(key: str) -> str:
    if "token" in key:
        return "secret:token"
    if "key" in key or "secret" in key or key in ("密钥", "秘钥"):
        return "secret:api_key"
    return "secret:password"


def _secrets(t: str, spans: list[Span]) -> None:
    for rx in (_KV_EN, _KV_ZH):
        for m in rx.finditer(t):
            group = "dq" if m.group("dq") else "sq" if m.group("sq") else "bare"
            value = m.group(group)
            sep = m.group("sep").strip()
            gap = m.group("gap").strip()
            if value in _PLACEHOLDERS or _NOT_A_VALUE.fullmatch(value):
                continue
            if rx is _KV_ZH:
                explicit = bool(sep) or gap[-1:] in ("是", "为", "成")
            else:
                explicit = sep[:1] in ("=", ":") or sep.endswith(":")
            if not explicit and not _SYMBOL_OR_DIGIT.search(value):
                continue   # "the password is required", "password reset", 密码发你了 thanks
            if rx is _KV_EN and not sep and not gap and group == "bare" and not any(c.isdigit() for c in value):
                continue
            key = m.group("key")
            spans.append(Span(_secret_kind(key), m.start(group), m.end(group), "******", f"{key} value"))


_API_KEY = re.compile(
    r"(?<![a-z0-9])(?:(?:akia|asia)[0-9a-z]{16}|sk-[a-z0-9_-]{20,}|[sr]k_(?:live|test)_[a-z0-9]{10,}|"
    r"gh[pousr]_[a-z0-9]{30,}|github_pat_[a-z0-9_]{30,}|glpat-[a-z0-9_-]{20,}|xox[abeprs]-[a-z0-9-]{10,}|"
    r"xapp-[a-z0-9-]{10,}|aiza[0-9a-z_-]{35}|ya29\.[0-9a-z_-]{20,}|gocspx-[0-9a-z_-]{20,}|"
    r"ltai[0-9a-z]{12,30}|akid[0-9a-z]{13,40})(?![a-z0-9])")
# a substring every match of the patterns above holds: most texts hold none, and this search costs less
_SECRET_HINT = re.compile("pass|pwd|secret|token|key|密码|口令|密钥|秘钥")
_API_KEY_HINT = re.compile(r"akia|asia|sk-|k_live_|k_test_|gh|glpat-|xox|xapp-|aiza|ya29\.|gocspx-|ltai|akid")
_JWT = re.compile(r"(?<![a-z0-9_-])eyj[a-z0-9_-]{8,}\.eyj[a-z0-9_-]{8,}\.[a-z0-9_-]{8,}")
_BEARER = re.compile(r"(?:bearer|basic)\s+([a-z0-9._~+/-]{16,}=*)")   # basic: base64 of user:password
# fold drops the dashes next to a Chinese character (密钥-----BEGIN …): they are optional here
_PRIVATE_KEY = re.compile(r"-{0,5}begin (?:[a-z]+ ){0,2}private key(?: block)?-{0,5}[\s\S]*?"
                          r"(?:-{0,5}end (?:[a-z]+ ){0,2}private key(?: block)?-{0,5}|$)")
# the password runs to the last @ before the host (redis://:Root@2311@10.0.0.1); an empty user is allowed
# (a scheme has at most 32 characters: an unbounded one made every letter of a long dotted word a start
# scanned to its end)
_CONN = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://[^:/\s@]*:([^\s/]+)@")


# ---------------------------------------------------------------------------- contacts and markers

_TLDS = "com|cn|net|org|top|xyz|vip|cc|me|io|co|info|app|site|shop|club|live|tv|bet|win|link|ly|im|ltd|work|fun|online|store"
_URL = re.compile(
    rf"(?:https?://|www\.)[^\s{_CJK}<>\"'，。；！？]+"
    rf"|(?<![a-z0-9@.-])(?:[a-z0-9-]+\.)+(?:{_TLDS})(?![a-z0-9-])(?:[/?#][^\s{_CJK}<>\"'，。；！？]*)?")
_SHORT_HOSTS = re.compile(r"(?:^|//|\b)(?:t\.cn|dwz\.cn|url\.cn|bit\.ly|suo\.im|tinyurl\.com|t\.co|w\.url\.cn|u\.nu|is\.gd|s\.click)(?:/|$)")
_WECHAT = re.compile(
    r"(?:微信|薇信|威信|v信|vx|wx|weixin|wechat|加v|\+v)号?\s*[:：]?\s*(?:是|为)?\s*[:：]?\s*([a-z][a-z0-9_-]{5,19})(?![a-z0-9_-])")
_QQ = re.compile(r"(?:qq|扣扣|企鹅)(?:号|群)?\s*[:：]?\s*(?:是|为)?\s*[:：]?\s*([1-9]\d{4,10})(?!\d)")
_ADDRESS = re.compile(
    rf"((?:[{_CJK}]{{2,6}}(?:省|自治区))?(?:[{_CJK}]{{1,6}}市)?(?:[{_CJK}]{{1,6}}(?:区|县))?"
    rf"[{_CJK}0-9]{{1,8}}?(?:路|街|大街|大道|巷|弄|胡同))"
    rf"(\d{{1,5}}(?:-\d{{1,4}})?号(?:院)?(?:[0-9a-z]{{1,5}}(?:号楼|栋|幢|单元|室|层|楼|座))*)")
# every address match ends in a street suffix then a house number: a cheap test before the costly pattern
_ADDRESS_HINT = re.compile(r"[路街道巷弄同]\d{1,5}(?:-\d{1,4})?号")
_MARKER = re.compile(r"绝密|机密|秘密级|内部资料|内部文件|内部材料|禁止外传|不得外传|严禁外传|请勿外传|仅限内部|confidential|internal only")


def _mask_keep(s: str, head: int, tail: int) -> str:
    digits = _digits(s) or s
    if len(digits) <= head + tail:
        return "*" * len(digits)
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail:]


def _mask_url(url: str) -> str:
    # The host stays as evidence of where an ad or a leak points; the path and query can carry
    # tokens, ids and invitation codes, and a short link's path is the whole link.
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host, cut, _ = rest.partition("/") if "/" in rest else rest.partition("?")
    return (scheme + sep if sep else "") + host + ("/***" if cut and _ else "")


def detect(text: str | Folded) -> list[Span]:
    """All detector spans in `text` (offsets in the folded text), sorted, overlaps resolved. Every
    span with a mask is masked by redaction; the classifier counts only the spans with `counted`."""
    f = text if isinstance(text, Folded) else fold(text)
    t = f.text
    spans: list[Span] = []
    has_digit = _DIGIT.search(t) is not None
    if has_digit:
        _numbers(t, spans)
        for m in _QQ.finditer(t):
            spans.append(Span("contact:qq", m.start(1), m.end(1), _mask_keep(m.group(1), 2, 2), "QQ number"))
        for m in _ADDRESS.finditer(t) if _ADDRESS_HINT.search(t) else ():
            spans.append(Span("pii:address", m.start(2), m.end(2), "***", "street address with house number"))
    if _EMAIL_HINT.search(t):
        _emails(t, spans)
    if "://" in t:
        for m in _CONN.finditer(t):
            spans.append(Span("secret:connection_string", m.start(1), m.end(1), "******",
                              "password inside a connection string"))
    if "." in t:
        for m in _URL.finditer(t):
            short = bool(_SHORT_HOSTS.search(m.group(0)))
            spans.append(Span("contact:short_url" if short else "contact:url", m.start(), m.end(),
                              _mask_url(m.group(0)), "short link" if short else "link"))
    for m in _WECHAT.finditer(t):
        spans.append(Span("contact:wechat", m.start(1), m.end(1), m.group(1)[:2] + "****", "WeChat id"))
    if _SECRET_HINT.search(t):
        _secrets(t, spans)
    if _API_KEY_HINT.search(t):
        for m in _API_KEY.finditer(t):
            spans.append(Span("secret:api_key", m.start(), m.end(), "******", "cloud/API key format", keep_head=4))
    if "eyj" in t:
        for m in _JWT.finditer(t):
            spans.append(Span("secret:token", m.start(), m.end(), "******", "JSON web token", keep_head=4))
    if "bearer" in t or "basic" in t:
        for m in _BEARER.finditer(t):
            spans.append(Span("secret:token", m.start(1), m.end(1), "******", "bearer token"))
    if "private key" in t:
        for m in _PRIVATE_KEY.finditer(t):
            # fold may have dropped the dashes before BEGIN: those in the original stay, so none are added
            mask = "PRIVATE KEY (redacted)-----" if m.group()[0] != "-" else "-----PRIVATE KEY (redacted)-----"
            spans.append(Span("secret:private_key", m.start(), m.end(), mask, "private key block"))
    for m in _MARKER.finditer(t):
        spans.append(Span("secret:marker", m.start(), m.end(), None, f"confidentiality marker '{m.group(0)}'"))
    return _resolve(spans)


_PRIORITY = {"secret:private_key": 0, "secret:connection_string": 1, "pii:resident_id": 2, "pii:bank_card": 3,
             "pii:email": 4, "secret:api_key": 5, "secret:token": 5, "secret:password": 6, "pii:mobile": 7,
             "pii:landline": 7,
             "contact:url": 8, "contact:short_url": 8, "contact:wechat": 9, "contact:qq": 9, "pii:address": 10,
             "secret:marker": 11}


def _resolve(spans: list[Span]) -> list[Span]:
    """Drop spans overlapping a higher-priority (then longer, earlier) span."""
    if len(spans) < 2:
        return spans
    ranked = sorted(spans, key=lambda s: (_PRIORITY.get(s.detector, 20), -(s.end - s.start), s.start))
    starts: list[int] = []   # the kept spans, disjoint, in text order (bisect: a long text can hold thousands)
    ends: list[int] = []
    kept: list[Span] = []
    for s in ranked:
        k = bisect.bisect_left(starts, s.end)   # kept spans starting before s ends: only the last may reach s
        if k and ends[k - 1] > s.start:
            continue
        starts.insert(k, s.start)
        ends.insert(k, s.end)
        kept.insert(k, s)
    return kept


def mask_original(f: Folded, spans: list[Span]) -> str:
    """Apply the masks of `spans` (folded offsets) to the original text."""
    out, last = [], 0
    orig = f.original
    for s in spans:
        if s.mask is None:
            continue
        a, b = f.to_original(s.start, s.end)
        if a < last:
            continue
        out.append(orig[last:a + s.keep_head])
        out.append(s.mask)
        last = b
    out.append(orig[last:])
    return "".join(out)
