"""`redact` masks personal data and secrets however they are spelled (issue 23), keeps names and
ordinary work text readable, and the classifier still counts only checksum-valid ids and cards."""
from __future__ import annotations

import re

import pytest

from pipeline.text.detect import detect
from pipeline.text.normalize import fold
from pipeline.text.redact import redact

MOBILE = "13812345678"
ID = "11010519491231002X"           # valid check digit
ID_TYPO = "110101199003074578"      # the valid id ends in 3
ID_OLD = "110105491231002"          # 15-digit id (before 1999): no check digit
CARD = "6222021234567890128"        # passes Luhn
CARD_TYPO = "6222021234567890127"   # fails Luhn


def digits_left(text: str) -> str:
    """Every digit a reader can still see in `text`, in order, whatever separated them."""
    return re.sub(r"[^0-9x]", "", fold(text).text)


def letters_left(text: str) -> str:
    return re.sub(r"[\W_]", "", fold(text).text)


def counted(text: str) -> list[str]:
    return [s.detector for s in detect(text) if s.counted]


def masked(text: str) -> list[str]:
    return [s.detector for s in detect(text) if s.mask]


# ---------------------------------------------------------------------------- mobiles

MOBILE_SPELLINGS = [
    "138\u200b1234\u200b5678", "1\u200b3\u200b8\u200c1\u200d2\u20603\ufeff45678",
    "138\u00a01234\u00a05678", "138\u20021234\u20095678", "138\u202f1234\u205f5678", "138\u30001234\u30005678",
    "138\t1234\t5678", "138/1234/5678", "138,1234,5678", "138，1234，5678", "138  1234  5678",
    "138.1234.5678", "138-1234-5678", "138–1234—5678", "138 - 1234 - 5678", "138 123 4567 8", "1 3 8 1 2 3 4 5 6 7 8",
    "13 81 23 45 67 8", "1381 2345 678",
    "Tel13812345678", "TEL:13812345678", "tel: 138 1234 5678", "vx13812345678", "VX 13812345678", "wx13812345678",
    "0086 13812345678", "008613812345678", "+86 13812345678", "+8613812345678", "(+86)13812345678",
    "(+86) 138-1234-5678", "+86-138-1234-5678", "86-13812345678",
    "１３８１２３４５６７８", "一三八一二三四五六七八", "幺三八 幺二三四 五六七八", "一三八/一二三四/五六七八",
    "壹叁捌壹贰叁肆伍陆柒捌", "１３８\u200b１２３４\u200b５６７８", "138~1234～5678", "+86 (138) 1234-5678",
    "\u0661\u0663\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "𝟭𝟯𝟴𝟭𝟮𝟯𝟰𝟱𝟲𝟳𝟴", "¹³⁸¹²³⁴⁵⁶⁷⁸",
    "1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣",
]


@pytest.mark.parametrize("spelling", MOBILE_SPELLINGS)
def test_mobile_spellings_are_masked_and_counted(spelling):
    for text in (f"有事打我{spelling}，谢谢", f"{spelling}", f"call me at {spelling} tonight"):
        out = redact(text)
        assert MOBILE not in digits_left(out), (text, out)
        assert "pii:mobile" in counted(text), text


def test_mobile_mask_keeps_the_name_readable():
    assert redact("负责人13812345678") == "负责人138****5678"
    assert redact("负责人138\u200b1234\u200b5678") == "负责人138****5678"
    assert redact("王经理 Tel13812345678") == "王经理 Tel138****5678"
    assert redact("手机：+86 138 1234 5678。") == "手机：138****5678。"


def test_two_mobiles_in_a_row_are_both_masked():
    out = redact("13812345678, 15900001111")
    assert out == "138****5678, 159****1111"
    out = redact("138 1234 5678 / 159 0000 1111")
    assert "13812345678" not in digits_left(out) and "15900001111" not in digits_left(out), out


# ---------------------------------------------------------------------------- resident ids and cards

def split(value: str, sep: str, sizes: tuple[int, ...]) -> str:
    parts, i = [], 0
    for n in sizes:
        parts.append(value[i:i + n])
        i += n
    parts.append(value[i:])
    return sep.join(p for p in parts if p)


@pytest.mark.parametrize("value,valid", [(ID, True), (ID_TYPO, False)])
@pytest.mark.parametrize("sep", ["\u200b", ".", " ", "-", "  ", "\u00a0", "/", "\u2060"])
def test_resident_ids_in_any_spelling_are_masked(value, valid, sep):
    for sizes in ((6, 8), (6, 4, 4), (4, 4, 4, 4), (3, 3, 3, 3, 3)):
        spelled = split(value, sep, sizes)
        for text in (f"身份证号{spelled}，谢谢", f"id: {spelled}"):
            out = redact(text)
            assert value[:17] not in digits_left(out), (text, out)
            assert ("pii:resident_id" in counted(text)) is valid, text
            assert "pii:resident_id" in masked(text), text


def test_an_id_whose_check_character_stands_apart_is_masked_whole():
    for text in ("110105 19491231 002 X", "110105-19491231-002-x", "身份证 110105\u200b19491231002 Ｘ"):
        out = redact(text)
        assert ID[:17] not in digits_left(out), out
        assert "pii:resident_id" in counted(text) and "pii:mobile" not in masked(text), text


def test_old_fifteen_digit_resident_ids_are_masked():
    for text in (f"身份证 {ID_OLD}", f"老身份证号：{split(ID_OLD, ' ', (6, 6))}"):
        out = redact(text)
        assert ID_OLD not in digits_left(out), out
    assert redact(f"身份证 {ID_OLD}") == "身份证 1*************2"


@pytest.mark.parametrize("value,valid", [(CARD, True), (CARD_TYPO, False), ("4111111111111111", True),
                                         ("4111111111111112", False)])
@pytest.mark.parametrize("sep", ["\u200b", ".", " ", "-", "\u00a0", "\u3000", "/"])
def test_bank_cards_in_any_spelling_are_masked(value, valid, sep):
    spelled = split(value, sep, (4, 4, 4, 4))
    for text in (f"打到卡号{spelled}，今天", f"账户 {spelled}"):
        out = redact(text)
        assert value not in digits_left(out), (text, out)
        assert value[-4:] in out
        assert ("pii:bank_card" in counted(text)) is valid, text


def test_a_luhn_failing_card_is_masked_but_not_counted():
    text = f"卡号 {CARD_TYPO}"
    assert redact(text) == "卡号 **** **** **** 0127"
    assert counted(text) == []


def test_a_file_name_keeps_its_words_and_extension():
    out = redact(f"身份证_{ID}_{CARD}.exe")
    assert out.startswith("身份证_") and out.endswith(".exe"), out
    assert ID[:17] not in digits_left(out) and CARD not in digits_left(out), out
    out = redact(f"身份证_{ID_TYPO}_{CARD_TYPO}.exe")
    assert ID_TYPO not in digits_left(out) and CARD_TYPO not in digits_left(out), out


def test_a_message_with_a_split_phone_id_and_key_carries_none_of_them():
    key = "sk_live_51HxQ2eKZvKYlo2C8b9Xy7Wv"
    text = f"电话138\u200b1234\u200b5678 身份证{ID[:6]}\u200b{ID[6:]} key {key[:8]}\u200b{key[8:]}"
    out = redact(text)
    assert MOBILE not in digits_left(out) and ID[:17] not in digits_left(out), out
    assert key[8:].lower() not in letters_left(out).lower(), out


# ---------------------------------------------------------------------------- landlines and hotlines

@pytest.mark.parametrize("text,number", [
    ("座机 010-88886666", "88886666"), ("电话(021)6888 8888", "68888888"), ("0755-8888888 找小王", "8888888"),
    ("总机 0755-8888888 转 123", "8888888"), ("分机 010-88886666-8001", "88886666"), ("01088886666", "88886666"),
    ("电话 0571 8765 4321", "87654321"), ("+86 10 8888 6666", "88886666"), ("（０２１）６８８８８８８８", "68888888"),
    ("固话：010\u200b8888\u200b6666", "88886666"), ("座机 8765 4321", "87654321"), ("Tel: 010-88886666", "88886666"),
    ("0 1 0 8 8 8 8 6 6 6 6", "88886666"), ("8 6 1 0 8 8 8 8 6 6 6 6", "88886666"), ("打电话零九一零二五六五三五四", "2565354"),
    ("010-2 0000000", "20000000"),
])
def test_landlines_are_masked(text, number):
    out = redact(text)
    assert number not in digits_left(out), (text, out)
    assert "pii:landline" in masked(text)


def test_landline_mask_keeps_the_area_code_and_last_four():
    assert redact("座机 010-88886666") == "座机 010-****6666"
    assert redact("0755-8888888 找小王") == "0755-***8888 找小王"
    assert redact("电话(021)6888 8888。") == "电话021-****8888。"
    assert redact("+86 10 8888 6666") == "010-****6666"


@pytest.mark.parametrize("text", ["客服热线 400-810-8888", "服务电话 800-820-8820", "拨打4008108888咨询",
                                  "客服 400 810 8888 转 2", "报修电话 95598", "市民热线 12345", "客服电话400-8593-677",
                                  "电话 800-820-8820"])
def test_company_hotlines_stay_readable(text):
    assert redact(text) == text
    assert detect(text) == [] or all(s.mask is None or not s.detector.startswith("pii:") for s in detect(text))


# ---------------------------------------------------------------------------- e-mails

@pytest.mark.parametrize("text,local", [
    ("邮箱 张三@example.com", "张三"), ("发邮件给张三@example.com", "张三"), ("zhangsan @ example.com", "zhangsan"),
    ("zhangsan[at]example.com", "zhangsan"), ("zhangsan(at)example.com", "zhangsan"), ("zhangsan＠example.com", "zhangsan"),
    ("mail zhangsan at example.com", "zhangsan"), ("zhangsan at example dot com", "zhangsan"),
    ("zhangsan@example[dot]com", "zhangsan"), ("zhangsan [at] example [dot] com", "zhangsan"),
    ("zhangsan (at) example (dot) com", "zhangsan"), ("Zhang.San\u200b@Example.COM", "zhangsan"),
    ("zhang\u00a0san@example.com", "san"), ("zhangsan@mail.example.com.cn", "zhangsan"),
    ("zhangsan # example.com", "zhangsan"), ("zhangsan艾特example.com", "zhangsan"), ("zhangsan@example。com", "zhangsan"),
    ("张三 at example.com", "张三"), ("发到 zhangsan@163.com。ok", "zhangsan"), ("企业支付宝登录名finance@example.com", "finance"),
])
def test_email_spellings_are_masked(text, local):
    out = redact(text)
    assert local not in letters_left(out).lower(), (text, out)
    assert "pii:email" in counted(text), text


def test_email_mask_keeps_the_domain_and_the_words_before():
    assert redact("发邮件给张三@example.com") == "发邮件给***@example.com"
    assert redact("企业支付宝登录名finance@example.com") == "企业支付宝登录名f***@example.com"
    assert redact("zhangsan [at] example [dot] com") == "z***@example.com"


# ---------------------------------------------------------------------------- secrets

SECRETS = [
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("mypassword=Sunny2024", "Sunny2024"),
    ("db_pass: Qw3rty!99", "Qw3rty!99"),
    ('"password": "Tr0ub4dor&3"', "Tr0ub4dor&3"),
    ("DB_PASSWORD='hunter2hunter'", "hunter2hunter"),
    ("the password is Hunter2024", "Hunter2024"),
    ("The password is: correcthorse", "correcthorse"),
    ("password: Summer2024!", "Summer2024!"),
    ("密码发你了 Abc12345", "Abc12345"),
    ("密码发你了：Abc12345", "Abc12345"),
    ("密码：Xy9#kLm2", "Xy9#kLm2"),
    ("密码是Xy9kLm22", "Xy9kLm22"),
    ("管理员密码都改成 Welcome@2024 了", "Welcome@2024"),
    ("sk_live_51HxQ2eKZvKYlo2C8b9Xy7Wv", "51HxQ2eKZvKYlo2C8b9Xy7Wv"),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("rk_live_51HxQ2eKZvKYlo2C8b9Xy7Wv", "51HxQ2eKZvKYlo2C8b9Xy7Wv"),
    ("xoxb-2640000000-2640000001-AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv"),
    ("ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    ("github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY",
     "mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY"),
    ("glpat-xYz1AbC2dEf3GhI4jKl5", "xYz1AbC2dEf3GhI4jKl5"),
    ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("AKIAQWERTYUIOP123456", "QWERTYUIOP123456"),
    ("LTAI5tAbCdEfGhIjKlMnOpQr", "5tAbCdEfGhIjKlMnOpQr"),
    ("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "z8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("Authorization: Bearer abcdefghijklmnop1234567890", "abcdefghijklmnop1234567890"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1b2c3d4\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA1b2c3d4"),
    ("postgres://app:S3cr3t!Pw@db.internal:5432/prod", "S3cr3t!Pw"),
    ("ya29.a0AfH6SMBx1b2C3d4E5f6G7h8I9j0K1l2M3n4", "a0AfH6SMBx1b2C3d4E5f6G7h8I9j0K1l2M3n4"),
    ("redis://:Root@23114@10.107.92.213:6379/0", "Root@23114"),
    ("跳板机的登录口令换了：jump01 / Hs#7710qaz", "Hs#7710qaz"),
    ("SSH私钥贴这了-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEAAAAA"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("AccountKey=abcdEFGH1234ijklMNOP5678qrstUVWX9012yzAB==;", "abcdEFGH1234ijklMNOP5678qrstUVWX9012yzAB"),
    ("password for wifi: Abc12345", "Abc12345"),
]


@pytest.mark.parametrize("text,secret", SECRETS)
def test_secrets_are_masked(text, secret):
    for wrapped in (text, f"线上环境 {text} 先用着", f"{text}\u200b"):
        out = redact(wrapped)
        assert secret.lower() not in letters_left(out).lower() and secret not in out, (wrapped, out)
        assert any(k.startswith("secret:") for k in masked(wrapped)), wrapped


@pytest.mark.parametrize("text", [
    "the password is Hunter2024", "密码发你了 Abc12345", "sk_live_51HxQ2eKZvKYlo2C8b9Xy7Wv", "mypassword=Sunny2024",
    "LTAI5tAbCdEfGhIjKlMnOpQr", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
])
def test_secrets_are_counted_by_the_classifier(text):
    assert any(k.startswith("secret:") for k in counted(text)), text


# ---------------------------------------------------------------------------- what must stay readable

READABLE = [
    "日期 2024-06-18，时间 14:30:00", "2024/06/18 13:45 开会", "2024.06.18 - 2024.06.30 休假", "18/06/2024",
    "版本 v3.2.1 今晚发布，2.10.0 之后不再支持", "升级到 13.8.1234 之后重启", "内核 5.15.0-1034-azure",
    "订单号 6222021234567890128 已发货", "订单号：202405011234567890", "运单号 SF1409823376541",
    "工单 WO2024061800123", "流水号 4111111111111111 已对账",
    "金额 12,800.00 元", "营收 13,812,345,678 元", "合计 ¥1,380,000.00", "预算 1.38 亿，实际 1.2345678 亿",
    "服务器 192.168.10.200 和 10.20.30.40", "端口 8080，内存 16384 MB",
    "会议号 826 3341 9920", "发票代码 144031900111 号码 03567890", "日活 35,642，环比涨了3%",
    "第13、15、17、19题答案见群文件", "请在20240618前完成，编号20240618001",
    "密码策略：至少12位，90天修改一次", "密码长度 8-16 位，90天过期", "密码过期时间 2024-06-30", "修改密码请登录OA",
    "the password is required", "The password is incorrect, please retry", "password reset 请尽快",
    "password: ******", "密码：请找IT", "密码是多少？", "请提供账号密码", "token 过期了",
    "会议在 3 楼 A 区，大家 at 2pm 到", "meet at the office", "我 at 你了", "@张三 看一下", "发到群里 @all",
    "config.yaml 和 readme.md 已更新", "skill_level_3 的同学",
    "今天下午三点开会，一共十二个人", "一二三四五六七八九十", "共 138 人，其中 1234 人已报名，5678 元已收",
]


@pytest.mark.parametrize("text", READABLE)
def test_ordinary_work_text_is_left_alone(text):
    assert redact(text) == text, redact(text)
    found = [k for k in counted(text) if k.startswith(("pii:", "secret:"))]
    assert found == [], (text, found)


def test_the_classifier_excerpt_masks_by_shape_and_counts_by_checksum(classifier):
    typo = classifier.classify([f"客户身份证 {ID_TYPO}，卡号 {CARD_TYPO}，座机 010-88886666"])[0]
    assert ID_TYPO not in digits_left(typo.excerpt) and CARD_TYPO not in digits_left(typo.excerpt), typo.excerpt
    assert "88886666" not in digits_left(typo.excerpt), typo.excerpt
    assert not any(f.detector.startswith("pii:") for f in typo.findings), typo.findings
    valid = classifier.classify([f"客户身份证 {ID}，卡号 {CARD}"])[0]
    assert {"pii:resident_id", "pii:bank_card"} <= {f.detector for f in valid.findings}, valid.findings
    assert valid.label == "confidential"
