"""The notifier's deciding parts: config validation, reading records, routing, quiet hours,
retractions, timing rules and rendering. No I/O."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline.config import ConfigError, WorkHours
from pipeline.notify.channels.dingtalk import DingTalkDialect
from pipeline.notify.channels.email import EmailDialect
from pipeline.notify.channels.feishu import FeishuDialect
from pipeline.notify.channels.slack import SlackDialect
from pipeline.notify.channels.wecom import WeComDialect
from pipeline.notify.config import parse_notify_config
from pipeline.notify.plan import (
    ROBOT, DigestWindows, RateWindow, backoff, delivery_record, plan, retract, route,
)
from pipeline.notify.records import BadNotification, Retraction, parse
from pipeline.notify.render import escalation_message

SH = ZoneInfo("Asia/Shanghai")
CONFIG = """\
version: 1
channels:
  fin-robot: {type: wecom, url: "http://127.0.0.1:1/cgi-bin/webhook/send?key=k"}
  ding: {type: dingtalk, url: "http://127.0.0.1:1/robot/send?access_token=t", secret: SECx}
  mail: {type: email, host: 127.0.0.1, sender: mod@example.com}
routes:
  - roles: [member, admins, owners]
    groups: [g-fin]
    channels: [fin-robot]
  - roles: [supervisors]
    channels: [mail]
  - roles: [admins]
    rules: [D1, D2]
    channels: [ding]
directory:
  u-wm: {email: wm@example.com, wecom: WangMing, dingtalk: mgr1}
  u-supervisor: {email: sup@example.com}
"""


def escalation(**over) -> dict:
    event = {"kind": "escalation", "id": "esc-0123456789abcdef0123", "group_id": "g-fin", "group_name": "财务部工作群",
             "ts": "2026-03-02T09:31:00+08:00", "level": "supervisor", "ladder": "E3", "rule": "P5",
             "severity": "severe", "member": {"id": "u-zs", "name": "财务部-张三"},
             "recipients": {"admins": ["u-wm"], "supervisors": ["u-supervisor"]},
             "evidence": {"excerpt": "客户 138****5678"}, "why": "severe P5", "violations": ["vio-1"], "schema": 1}
    event.update(over)
    return event


@pytest.fixture
def config():
    return parse_notify_config(CONFIG)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("text, expected", [
    ("version: 1\nchanels: {}\n", "notify.yaml:2: unknown key 'chanels'"),
    ("version: 1\ntemplates:\n  reminder:\n    title: '{grup}'\n    body: x\n",
     "notify.yaml:4: key 'templates.reminder.title': unknown field {grup}"),
    ("version: 1\nroutes:\n  - roles: [admins]\n    channels: [nope]\n", "unknown channel 'nope'"),
    ("version: 1\nchannels:\n  a: {type: wecom}\n", "notify.yaml:3: key 'channels.a': needs url"),
    ("version: 1\nchannels:\n  a: {type: slack, url_env: NOT_SET_ANYWHERE_X}\n", "NOT_SET_ANYWHERE_X, which is not set"),
    ("version: 1\nchannels:\n  a: {type: slack, url: 'http://x/y', secret: s}\n", "secret is for dingtalk and feishu"),
    ("version: 1\nroutes:\n  - roles: [admins]\n    rules: [Z9]\n    channels: []\n", "unknown rule id 'Z9'"),
    ("version: 1\ndirectory:\n  u-1: {email: not-an-address}\n", "notify.yaml:3: key 'directory.u-1.email'"),
    ("version: 1\ntemplates:\n  reminder: {title: '{rule!r}', body: x}\n", "takes no format spec"),
])
def test_config_errors_name_key_and_line(text, expected):
    with pytest.raises(ConfigError) as err:
        parse_notify_config(text)
    assert expected in str(err.value)


def test_shipped_config_loads():
    from pipeline.notify.config import load_notify_config

    config = load_notify_config()
    assert config.channels == {} and config.routes == ()


# --------------------------------------------------------------------------- records


def test_hostile_record_fields_are_masked_and_bounded():
    n = parse(escalation(member={"id": "u-zs", "name": "张三 13812345678"},
                         evidence={"excerpt": "卡号 6222021234567890123 邮箱 a.b@corp.cn"}))
    assert "13812345678" not in n.member_name and "6222021234567890123" not in n.excerpt
    assert "a.b@corp.cn" not in n.excerpt
    for bad in (escalation(level="nuke"), escalation(recipients="u-wm"), escalation(ts="yesterday"),
                escalation(recipients={"admins": ["x" * 200]}), escalation(rule="<script>")):
        with pytest.raises(BadNotification):
            parse(bad)
    assert parse({"kind": "verdict", "id": "v"}) is None
    with pytest.raises(BadNotification):
        parse(b"\xff not json")


# --------------------------------------------------------------------------- routing


def test_routes_by_role_group_and_rule(config):
    n = parse(escalation())
    assert route(n, config) == {"fin-robot": ("admins",), "mail": ("supervisors",)}
    assert route(parse(escalation(rule="D1")), config) == {"fin-robot": ("admins",), "mail": ("supervisors",),
                                                           "ding": ("admins",)}
    assert route(parse(escalation(group_id="g-other")), config) == {"mail": ("supervisors",)}


def test_plan_one_robot_message_and_one_mail_per_person(config):
    raw = escalation(recipients={"admins": ["u-wm", "u-x"], "supervisors": ["u-supervisor", "u-nomail"]})
    entries, unrouted = plan(parse(raw), raw, config, {"fin-robot": "wecom", "mail": "email", "ding": "dingtalk"},
                             None, datetime(2026, 3, 2, 10, tzinfo=SH))
    by = {(e.channel, e.recipient): e for e in entries}
    assert set(by) == {("fin-robot", ROBOT), ("mail", "u-supervisor"), ("mail", "u-nomail")}
    assert by["fin-robot", ROBOT].members == ("u-wm", "u-x") and by["fin-robot", ROBOT].status == "queued"
    assert by["mail", "u-nomail"].status == "failed" and by["mail", "u-nomail"].code == "no address"
    assert unrouted == []


def test_quiet_hours_hold_non_severe_until_work_resumes(config):
    hours = WorkHours()
    saturday_night = datetime(2026, 3, 7, 22, 0, tzinfo=SH)
    raw = escalation(level="reminder", severity="warning", recipients={"member": "u-zs", "admins": ["u-wm"]})
    entries, _ = plan(parse(raw), raw, config, {"fin-robot": "wecom", "mail": "email", "ding": "dingtalk"},
                      hours, saturday_night)
    assert [e.status for e in entries] == ["held"]
    assert datetime.fromtimestamp(entries[0].hold_until, SH) == datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    severe, _ = plan(parse(escalation()), escalation(), config, {"fin-robot": "wecom", "mail": "email",
                                                                 "ding": "dingtalk"}, hours, saturday_night)
    assert {e.status for e in severe} == {"queued"}
    weekday, _ = plan(parse(raw), raw, config, {"fin-robot": "wecom", "mail": "email", "ding": "dingtalk"},
                      hours, datetime(2026, 3, 9, 10, 0, tzinfo=SH))
    assert [e.status for e in weekday] == ["queued"]


def test_retraction_suppresses_unsent_and_withdraws_sent(config):
    raw = escalation()
    entries, _ = plan(parse(raw), raw, config, {"fin-robot": "wecom", "mail": "email", "ding": "dingtalk"}, None,
                      datetime(2026, 3, 2, 10, tzinfo=SH))
    robot, mail = entries
    robot.status, mail.status = "sent", "queued"
    r = Retraction(id="ret-1", group_id="g-fin", ts=datetime(2026, 3, 2, 11, tzinfo=SH), retracts=(raw["id"],),
                   reason="dismissed")
    suppress, withdraw = retract(r, raw["id"], entries, 0.0)
    assert suppress == [mail]
    assert [(w.channel, w.recipient, w.purpose, w.members) for w in withdraw] == \
        [("fin-robot", ROBOT, "withdrawal", robot.members)]
    mail.status = "sending"
    assert retract(r, raw["id"], [mail], 0.0) == ([], []) and mail.withdraw_after == "ret-1"


def test_delivery_record_carries_no_contact_details(config):
    raw = escalation()
    entries, _ = plan(parse(raw), raw, config, {"fin-robot": "wecom", "mail": "email", "ding": "dingtalk"}, None,
                      datetime(2026, 3, 2, 10, tzinfo=SH))
    text = str([delivery_record(e, "email", 0.0) for e in entries])
    assert "example.com" not in text and "WangMing" not in text
    record = delivery_record(entries[1], "email", 0.0)
    assert record["escalation_id"] == raw["id"] and record["recipient"] == "u-supervisor"
    assert record["status"] == "queued" and record["kind"] == "delivery"


# --------------------------------------------------------------------------- timing


def test_rate_window_allows_limit_in_any_window():
    w = RateWindow(per_minute=20, per_second=None)
    starts = []
    t = 0.0
    for _ in range(45):
        t += w.wait(t)
        w.record(t)
        starts.append(t)
    assert all(sum(1 for s in starts if a <= s < a + 60) <= 20 for a in starts)
    assert starts[20] >= 60.0
    burst = RateWindow(None, per_second=5)
    for _ in range(5):
        burst.record(10.0)
    assert burst.wait(10.0) == pytest.approx(1.02)   # the window is kept 2% longer (network jitter)


def test_backoff_grows_caps_and_jitters():
    assert backoff(1, 1, 60, 1.0) == 1 and backoff(4, 1, 60, 1.0) == 8 and backoff(20, 1, 60, 1.0) == 60
    assert backoff(4, 1, 60, 0.0) == 4


def test_digest_windows():
    w = DigestWindows(180)
    assert w.offer("robot", "a", 0) is True
    assert w.offer("robot", "b", 10) is False and w.offer("robot", "c", 20) is False
    assert w.offer("other", "x", 20) is True
    assert w.due(100) == []
    assert w.due(180) == [("robot", ["b", "c"])]
    assert w.offer("robot", "d", 200) is False      # the window reopened when the digest went
    assert w.due(360) == [("robot", ["d"])] and w.due(600) == []


# --------------------------------------------------------------------------- rendering

HOSTILE = "<@all> @所有人 <!channel> [点我](http://evil.example) **粗体** <at id=all></at>\n# 标题"


@pytest.mark.parametrize("dialect", [WeComDialect(), DingTalkDialect(), FeishuDialect(), SlackDialect(), EmailDialect()])
def test_member_text_cannot_mention_everyone_or_forge_links(config, dialect):
    n = parse(escalation(member={"id": "u-zs", "name": HOSTILE}, evidence={"excerpt": HOSTILE}))
    message = escalation_message(n, ("admins",), ("u-wm",), config, dialect)
    body = message.body
    if isinstance(dialect, EmailDialect):
        assert "\n# 标题" not in body
        return
    for forged in ("<@all>", "<!channel>", "](http://evil.example)", "<at id=all>", "\n# 标题"):
        assert forged not in body, (forged, body)
    if isinstance(dialect, SlackDialect):
        assert "@所有人" not in body   # a word joiner follows every @ from a record
    assert "\n" not in message.title


def test_messages_say_rule_level_member_group_excerpt_action_and_mention(config):
    n = parse(escalation())
    m = escalation_message(n, ("admins",), ("u-wm",), config, WeComDialect())
    for part in ("P5", "个人隐私与公司机密", "报上级处理", "财务部-张三", "财务部工作群", "138＊＊＊＊5678",
                 "请立即核实", "<@WangMing>", "esc-0123456789abcdef0123"):
        assert part in m.body, part
    assert m.severe and m.title.startswith("【报上级处理】")
    ding = escalation_message(n, ("admins",), ("u-wm",), config, DingTalkDialect())
    assert "@mgr1" in ding.body and ding.mentions == ("mgr1",)


def test_custom_template_and_missing_fields_drop_their_line():
    config = parse_notify_config("version: 1\ndashboard_url: https://mod.example.com\ntemplates:\n  supervisor:\n"
                                 "    title: '上报 {rule}'\n    body: \"第一行 {rule}\\n> {excerpt}\\n{link}\"\n")
    n = parse(escalation(evidence={}))
    body = escalation_message(n, ("supervisors",), (), config, WeComDialect()).body
    assert body == "第一行 P5\n[在看板中查看](https://mod.example.com)"
