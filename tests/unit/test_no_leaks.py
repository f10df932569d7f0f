"""No output event, on any topic, carries personal data or a secret from the input unmasked."""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.offline import run
from tests.factory import event, message

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


@st.composite
def resident_ids(draw):
    region = draw(st.sampled_from(["110101", "310104", "440305", "510107", "330106"]))
    year = draw(st.integers(1950, 2005))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    seq = draw(st.integers(0, 999))
    body = f"{region}{year:04d}{month:02d}{day:02d}{seq:03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


@st.composite
def bank_cards(draw):
    prefix = draw(st.sampled_from(["622202", "621700", "622848", "436742", "625965"]))
    body = prefix + "".join(str(draw(st.integers(0, 9))) for _ in range(12))
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


phones = st.builds(lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 999_999_999))
emails = st.builds(lambda user, dom: f"{user}@{dom}.com", st.from_regex(r"[a-z]{3,8}\.[a-z]{2,6}", fullmatch=True),
                   st.sampled_from(["corp-mail", "example", "qq", "163"]))
passwords = st.from_regex(r"[A-Za-z]{4,6}@20[0-9]{2}![a-z]{2}", fullmatch=True)
api_keys = st.builds(lambda s: "sk-" + s, st.from_regex(r"[A-Za-z0-9]{32}", fullmatch=True))

TEMPLATES = (
    "客户身份证号 {id}，手机 {phone}，请尽快办理开户",
    "工资卡号 {card}，开户人身份证 {id}",
    "有问题联系我 {phone} 或发邮件到 {email}",
    "测试库的密码: {password}，别外传",
    "线上 OPENAI_API_KEY={key} 先用这个",
    "转账到 {card}，备注 {phone}",
    "{email} 是我的邮箱，身份证 {id}",
)


@given(template=st.sampled_from(TEMPLATES), id_=resident_ids(), card=bank_cards(), phone=phones, email=emails,
       password=passwords, key=api_keys, forwarded=st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_output_carries_an_unmasked_secret(engine, template, id_, card, phone, email, password, key, forwarded):
    text = template.format(id=id_, card=card, phone=phone, email=email, password=password, key=key)
    events = [message(text, actor="u-leaker")]
    if forwarded:
        events.append(event("message.forwarded", actor="u-leaker", message={"id": events[0]["message"]["id"]},
                            destination={"id": "ext-1", "external": True}, approved_by=None))
    out = b"\n".join(orjson.dumps(e) for _, e in run(engine, [orjson.dumps(e) for e in events]))
    assert out, "the core must at least give a verdict"
    for secret in (id_, card, phone, email, password, key):
        if secret in text:
            assert secret.encode() not in out, f"{secret!r} leaked from {text!r}"


def test_an_id_with_a_wrong_check_digit_is_still_masked():
    from pipeline.text.redact import excerpt

    typo = "110101199003074578"  # the valid id ends in 3: one wrong digit is still someone's id
    masked = excerpt(f"客户身份证 {typo}，订单号 202603051234，版本 v2.10.3")
    assert typo not in masked and "202603051234" in masked and "v2.10.3" in masked
