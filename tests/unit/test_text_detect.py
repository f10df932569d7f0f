import random

import pytest

from pipeline.classify.corpus import _card, _resident_id
from pipeline.text.detect import detect, luhn_valid, resident_id_valid
from pipeline.text.redact import excerpt, redact


def kinds(text):
    return [s.detector for s in detect(text)]


RNG = random.Random(3)
IDS = [_resident_id(RNG) for _ in range(50)] + ["11010519491231002X"]
CARDS = [_card(RNG) for _ in range(50)] + ["6222021234567890128", "4111111111111111", "5500005555555559"]
PHONES = ["13812345678", "15900001111", "18612345678", "17712345678", "19912345678", "+86 138 1234 5678",
          "138-1234-5678", "86-13912345678"]


def test_validators():
    assert resident_id_valid("11010519491231002X")
    assert not resident_id_valid("110105194912310021")
    assert not resident_id_valid("110105194913310020")  # month 13
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


@pytest.mark.parametrize("rid", IDS)
def test_resident_ids_found_and_masked(rid):
    for tpl in ("身份证号{}", "身份证号：{}，谢谢", "{}", "id {} ok"):
        text = tpl.format(rid)
        assert "pii:resident_id" in kinds(text), text
        assert rid not in redact(text) and rid.lower() not in redact(text)


@pytest.mark.parametrize("card", CARDS)
def test_bank_cards_found_and_masked(card):
    spaced = " ".join(card[i:i + 4] for i in range(0, len(card), 4))
    for text in (f"卡号{card}", f"打到这个卡 {spaced} 上", f"银行卡：{card}。"):
        assert "pii:bank_card" in kinds(text), text
        masked = redact(text)
        assert card not in masked.replace(" ", "") or masked.count("*") >= 8
        assert card[-4:] in masked


@pytest.mark.parametrize("phone", PHONES)
def test_mobiles_found_and_masked(phone):
    text = f"有事打我电话{phone}，谢谢"
    assert "pii:mobile" in kinds(text)
    assert "****" in redact(text)


def test_obfuscated_mobiles():
    assert "pii:mobile" in kinds("电话一三八一二三四五六七八")
    assert "pii:mobile" in kinds("1 3 8 1 2 3 4 5 6 7 8")
    assert "pii:mobile" in kinds("手机１３８１２３４５６７８")
    assert redact("电话一三八 一二三四 五六七八") == "电话138****5678"


def test_mobile_mask_format():
    assert redact("手机13812345678") == "手机138****5678"


NO_PII = [
    "订单号 DD202406150098871 的客户要改地址",
    "订单 202405011234567890 已发货",
    "工单 WO2024061800123 已关闭",
    "快递单号 SF1409823376541",
    "版本 v3.2.1 今晚发布，2.10.0 之后不再支持",
    "日期 2024-06-18，时间 14:30",
    "金额 12,800.00 元，合计 1,280,000 元",
    "昨天日活 35,642，环比涨了3%",
    "报错 NullPointerException at line 238",
    "会议号 826 3341 9920",
    "发票代码 144031900111 号码 03567890",
    "服务器 10.20.30.40 磁盘 85%",
    "请在20240618前完成，编号20240618001",
    "密码策略：至少12位，90天修改一次",
    "修改密码请登录OA",
    "password reset 请尽快",
    "config.yaml 和 readme.md 已更新",
]


@pytest.mark.parametrize("text", NO_PII)
def test_no_false_positives_on_ordinary_work_text(text):
    found = [k for k in kinds(text) if k.startswith(("pii:", "secret:"))]
    assert found == [], (text, found)
    assert redact(text) == text


@pytest.mark.parametrize("text,kind,secret", [
    ("账号 admin 密码：Abc@12345", "secret:password", "Abc@12345"),
    ("数据库密码是 Prod#2024db", "secret:password", "Prod#2024db"),
    ("password=Hunter2024", "secret:password", "Hunter2024"),
    ("mysql://root:S3cr3t!@10.0.0.5:3306/prod", "secret:connection_string", "S3cr3t!"),
    ("token: ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "secret:token", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    ("key AKIAQWERTYUIOP123456", "secret:api_key", "AKIAQWERTYUIOP123456"),
    ("Authorization: Bearer abcdefghijklmnop1234567890", "secret:token", "abcdefghijklmnop1234567890"),
    ("appsecret=8f3a9b2c1d4e5f6a7b8c9d0e1f2a3b4c", "secret:api_key", "8f3a9b2c1d4e5f6a7b8c9d0e1f2a3b4c"),
])
def test_secrets_found_and_masked(text, kind, secret):
    assert kind in kinds(text)
    assert secret not in redact(text)


def test_email_and_address():
    assert "pii:email" in kinds("邮箱 Chen.Zong@client-corp.com")
    assert "chen.zong@" not in redact("邮箱 chen.zong@client-corp.com")
    assert "pii:address" in kinds("住址：杭州市西湖区文三路108号3单元502")
    assert "108号" not in redact("住址：杭州市西湖区文三路108号3单元502")


def test_contacts():
    assert "contact:wechat" in kinds("加V：abc_123456 详聊")
    assert "contact:wechat" in kinds("薇信 meizhuang_2024")
    assert "contact:qq" in kinds("qq 58392011")
    assert "contact:url" in kinds("官网 www.xpj88.vip")
    assert "contact:short_url" in kinds("打开 https://t.cn/A6xYz 领取")


def test_contact_handles_are_masked_but_link_hosts_stay():
    assert redact("加V：abc_123456 详聊") == "加V：ab**** 详聊"
    assert redact("qq 58392011") == "qq 58****11"
    assert redact("打开 https://t.cn/A6xYz 领取") == "打开 https://t.cn/*** 领取"
    assert redact("方案在 https://docs.example.com/d/8f3a?u=chen 上") == "方案在 https://docs.example.com/*** 上"
    assert redact("官网 www.xpj88.vip") == "官网 www.xpj88.vip"


def test_markers():
    assert "secret:marker" in kinds("【绝密】明年产品线调整方案")
    assert "secret:marker" in kinds("内部资料，请勿外传")


def test_excerpt_is_redacted_and_short():
    text = "身份证11010519491231002X " + "很长的内容" * 50
    e = excerpt(text, limit=40)
    assert len(e) <= 40 and "11010519491231002X" not in e and e.endswith("…")
