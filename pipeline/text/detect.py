"""Exact, testable detectors for contact handles, personal data and secrets.

Every detector runs on the folded text (see normalize.fold) and returns `Span`s whose offsets are
in the folded text; `Span.original` maps them back so redaction can mask the original message.
Detector names follow the Finding convention: "pii:*" and "secret:*" are sensitive items,
"contact:*" are handles used by ads and scams, "marker:*"-like facts are features only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pipeline.text.normalize import Folded, fold

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"


@dataclass(frozen=True)
class Span:
    detector: str
    start: int          # in the folded text
    end: int
    mask: str | None    # how to show it in excerpts (None: shown as is)
    reason: str
    keep_head: int = 0  # characters of the original kept before the mask


# ---------------------------------------------------------------------------- validators

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10x98765432"


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


# ---------------------------------------------------------------------------- patterns

_SEP = r"[ \-._*]?"
_MOBILE = re.compile(rf"(?<![0-9a-z])(?:\+?86{_SEP})?(1{_SEP}[3-9](?:{_SEP}\d){{9}})(?![0-9])")
_ID = re.compile(r"(?<![0-9a-z])([1-8](?:[ -]?\d){16}[ -]?[0-9x])(?![0-9a-z])")
_CARD = re.compile(r"(?<![0-9a-z.])([3-6](?:[ -]?\d){15,18})(?![0-9a-z])")
_CARD_ORDER_CTX = re.compile(r"(?:订单|单号|流水|运单|编号|工单|快递|物流|序列号|批次|合同号|发票号|no\.?|sn|#|id)\s*[:：]?\s*$")
_CARD_CTX = re.compile(r"(?:卡|账号|帐号|账户|帐户|card)")
_EMAIL = re.compile(r"(?<![a-z0-9._%+-])([a-z0-9][a-z0-9._%+-]{0,63})@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,10})")
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
_KV_KEYS = (r"(?<![a-z])(?:password|passwd|passwort|pwd|passcode|pass|client_secret|secret_key|secretkey|app_secret|"
            r"appsecret|appkey|app_key|secret|access_token|refresh_token|token|api_key|apikey|api-key|access_key|"
            r"accesskey|access_key_id|private_key)|密码|口令|密钥|秘钥")
_KV = re.compile(
    rf"({_KV_KEYS})(?:\s*(?:都|也|均|已|已经|统一)?(?:[:=]|是|为|改为|改成|设为|重置为)\s*|\s*)"
    r"([\x21-\x2b\x2d-\x3a\x3c-\x7e]{4,})")  # printable ASCII without space , ;
_API_KEY = re.compile(
    r"(?<![a-z0-9])(?:(?:akia|asia)[0-9a-z]{16}|sk-[a-z0-9_-]{20,}|gh[pousr]_[a-z0-9]{30,}|"
    r"glpat-[a-z0-9_-]{20}|xox[baprs]-[a-z0-9-]{10,}|aiza[0-9a-z_-]{35})(?![a-z0-9])")
_JWT = re.compile(r"eyj[a-z0-9_-]{8,}\.eyj[a-z0-9_-]{8,}\.[a-z0-9_-]{8,}")
_BEARER = re.compile(r"bearer\s+([a-z0-9._~+/-]{16,}=*)")
_PRIVATE_KEY = re.compile(r"-----begin (?:[a-z]+ )?private key-----[\s\S]*?(?:-----end (?:[a-z]+ )?private key-----|$)")
_CONN = re.compile(r"(?<![a-z0-9])[a-z][a-z0-9+.-]*://[^:/\s@]+:([^@\s/]+)@")
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
    """All detector spans in `text` (offsets in the folded text), sorted, overlaps resolved."""
    f = text if isinstance(text, Folded) else fold(text)
    t = f.text
    spans: list[Span] = []
    has_digit = any(map(str.isdigit, t))
    if has_digit:
        for m in _ID.finditer(t):
            raw = m.group(1)
            d = re.sub(r"[ -]", "", raw)
            if resident_id_valid(d):
                spans.append(Span("pii:resident_id", m.start(1), m.end(1), d[0] + "*" * 16 + d[-1].upper(),
                                  "18-digit resident id with a valid checksum"))
        for m in _CARD.finditer(t):
            d = _digits(m.group(1))
            if not 16 <= len(d) <= 19 or not luhn_valid(d):
                continue
            before = t[max(0, m.start(1) - 12):m.start(1)]
            if _CARD_ORDER_CTX.search(before) and not _CARD_CTX.search(before):
                continue
            if len(d) == 18 and resident_id_valid(d):
                continue
            spans.append(Span("pii:bank_card", m.start(1), m.end(1), "**** **** **** " + d[-4:],
                              f"{len(d)}-digit bank card number passing the Luhn check"))
        for m in _MOBILE.finditer(t):
            d = _digits(m.group(1))
            spans.append(Span("pii:mobile", m.start(), m.end(), d[:3] + "****" + d[-4:],
                              "mainland mobile number"))
        for m in _QQ.finditer(t):
            spans.append(Span("contact:qq", m.start(1), m.end(1), _mask_keep(m.group(1), 2, 2), "QQ number"))
        for m in _ADDRESS.finditer(t) if _ADDRESS_HINT.search(t) else ():
            spans.append(Span("pii:address", m.start(2), m.end(2), "***", "street address with house number"))
    if "@" in t:
        for m in _EMAIL.finditer(t):
            local = m.group(1)
            spans.append(Span("pii:email", m.start(), m.end(), local[0] + "***@" + m.group(2), "e-mail address"))
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
    for m in _KV.finditer(t):
        key, value = m.group(1), m.group(2)
        explicit = not m.group(0)[len(key):].strip() == "" and m.group(0)[len(key):].strip()[0] in ":=是为都也均"
        if not explicit and not re.search(r"\d", value):
            continue
        if value.lower() in {"none", "null", "todo", "xxxx", "****", "******", "required", "reset"}:
            continue
        kind = "secret:token" if "token" in key else ("secret:api_key" if ("key" in key or "密钥" in key
                                                                            or "秘钥" in key or "secret" in key)
                                                        else "secret:password")
        spans.append(Span(kind, m.start(2), m.end(2), "******", f"{key} value"))
    if has_digit or "-" in t:
        for rx, kind, reason in ((_API_KEY, "secret:api_key", "cloud/API key format"),
                                 (_JWT, "secret:token", "JSON web token")):
            for m in rx.finditer(t):
                spans.append(Span(kind, m.start(), m.end(), "******", reason, keep_head=4))
        for m in _BEARER.finditer(t):
            spans.append(Span("secret:token", m.start(1), m.end(1), "******", "bearer token"))
        for m in _PRIVATE_KEY.finditer(t):
            spans.append(Span("secret:private_key", m.start(), m.end(), "-----PRIVATE KEY (redacted)-----",
                              "private key block"))
    for m in _MARKER.finditer(t):
        spans.append(Span("secret:marker", m.start(), m.end(), None, f"confidentiality marker '{m.group(0)}'"))
    return _resolve(spans)


_PRIORITY = {"secret:private_key": 0, "secret:connection_string": 1, "pii:resident_id": 2, "pii:bank_card": 3,
             "pii:email": 4, "secret:api_key": 5, "secret:token": 5, "secret:password": 6, "pii:mobile": 7,
             "contact:url": 8, "contact:short_url": 8, "contact:wechat": 9, "contact:qq": 9, "pii:address": 10,
             "secret:marker": 11}


def _resolve(spans: list[Span]) -> list[Span]:
    """Drop spans overlapping a higher-priority (then longer, earlier) span."""
    if len(spans) < 2:
        return spans
    ranked = sorted(spans, key=lambda s: (_PRIORITY.get(s.detector, 20), -(s.end - s.start), s.start))
    kept: list[Span] = []
    for s in ranked:
        if any(s.start < k.end and k.start < s.end for k in kept):
            continue
        kept.append(s)
    return sorted(kept, key=lambda s: s.start)


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
