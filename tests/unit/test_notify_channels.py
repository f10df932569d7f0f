"""Each channel against a real server on loopback that implements the platform's webhook contract
(signature checks, answer codes, rate-limit answers), and the dispatcher over them: once per
delivery across runs, retries through an outage, giving up, withdrawals, digests. No mocks."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from pipeline.notify.channels import client
from pipeline.notify.config import Channel, parse_notify_config
from pipeline.notify.dispatch import Dispatcher
from pipeline.notify.ledger import FileStore
from pipeline.notify.records import Retraction, parse
from pipeline.notify.render import Message
from tests.notify_platforms import PlatformServer, SmtpServer
from tests.unit.test_notify import escalation

MESSAGE = Message(title="【群规提醒】财务部工作群：闲聊灌水", body="### 群规提醒\n- 成员：小王\n编号 esc-0123456789abcdef0123")


@pytest.fixture
def servers():
    made = []

    def make(kind, **kw):
        server = PlatformServer(kind, **kw)
        made.append(server)
        return server
    yield make
    for server in made:
        server.close()


def robot(server, secret=None):
    return client(Channel(type=server.kind, url=server.url, secret=secret), parse_notify_config("version: 1"))


@pytest.mark.parametrize("kind, secret", [("wecom", None), ("dingtalk", "SECabc123"), ("feishu", "fs-secret"),
                                          ("slack", None)])
async def test_robot_sends_and_is_refused_with_a_wrong_key_or_signature(servers, kind, secret):
    server = servers(kind, secret=secret)
    c = robot(server, secret)
    try:
        assert (await c.send(MESSAGE)).status == "sent"
        assert server.ids() == ["esc-0123456789abcdef0123"]
        if secret:
            wrong = robot(server, "not-the-secret")
            outcome = await wrong.send(MESSAGE)
            await wrong.close()
            assert (outcome.status, outcome.code) == ("rejected", {"dingtalk": "310000", "feishu": "19021"}[kind])
        bad_key = client(Channel(type=kind, url=server.url.replace(server.token, "stolen"), secret=secret),
                         parse_notify_config("version: 1"))
        outcome = await bad_key.send(MESSAGE)
        await bad_key.close()
        assert outcome.status == "rejected"
        assert len(server.messages) == 1
    finally:
        await c.close()


@pytest.mark.parametrize("kind, code", [("wecom", "45009"), ("dingtalk", "130101"), ("feishu", "11232"),
                                        ("slack", "http 429")])
async def test_rate_limit_answers_are_read_as_limited(servers, kind, code):
    server = servers(kind, per_minute=1)
    c = robot(server)
    try:
        assert (await c.send(MESSAGE)).status == "sent"
        outcome = await c.send(MESSAGE)
        assert (outcome.status, outcome.code) == ("limited", code)
        if kind == "slack":
            assert outcome.retry_after == 1.0
    finally:
        await c.close()


async def test_outage_and_unreachable_are_retried(servers):
    server = servers("wecom", outage_until=time.time() + 60)
    c = robot(server)
    try:
        assert (await c.send(MESSAGE)).status == "retry"
    finally:
        await c.close()
    dead = client(Channel(type="slack", url="http://127.0.0.1:9/services/x", timeout_seconds=2),
                  parse_notify_config("version: 1"))
    assert (await dead.send(MESSAGE)).status == "retry"
    await dead.close()


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path, refuse={"gone@example.com"})
    yield server
    server.close()


def mail_config(smtp, password="s3cret-pass"):
    return parse_notify_config(
        f"version: 1\nchannels:\n  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, username: notifier, "
        f"password: {password}, sender: mod@example.com, ca_file: '{smtp.cert}'}}\n"
        f"routes:\n  - roles: [supervisors, admins]\n    channels: [mail]\n"
        f"directory:\n  u-supervisor: {{email: sup@example.com}}\n  u-wm: {{email: gone@example.com}}\n")


async def test_email_over_starttls_with_login(smtp):
    config = mail_config(smtp)
    c = client(config.channels["mail"], config)
    assert (await c.send(MESSAGE, "u-supervisor")).status == "sent"
    [got] = smtp.messages
    assert got["tls"] and got["auth"] and got["to"] == ["sup@example.com"]
    assert smtp.ids() == ["esc-0123456789abcdef0123"]
    assert (await c.send(MESSAGE, "u-wm")).code == "smtp 550"
    wrong = mail_config(smtp, password="guess")
    outcome = await client(wrong.channels["mail"], wrong).send(MESSAGE, "u-supervisor")
    assert (outcome.status, outcome.code) == ("rejected", "smtp 535") and smtp.auth_failures >= 1


# --------------------------------------------------------------------------- the dispatcher


def robot_config(server, extra=""):
    return parse_notify_config(
        f"version: 1\nchannels:\n  bot: {{type: {server.kind}, url: '{server.url}'}}\n"
        f"routes:\n  - roles: [member, admins, owners, supervisors]\n    channels: [bot]\n"
        f"delivery: {{backoff_base_seconds: 0.05, backoff_max_seconds: 0.2, give_up_seconds: 30}}\n{extra}")


async def run_dispatcher(config, records, state=None, **kw):
    sent = []

    async def sink(record):
        sent.append(record)
    store = FileStore(state) if state else None
    from pipeline.notify.ledger import MemoryStore

    store = store or MemoryStore()
    d = Dispatcher(config, {n: client(c, config) for n, c in config.channels.items()}, store, sink, **kw)
    await d.adopt(await store.load())
    d.start()
    for raw in records:
        await d.accept(parse(raw), raw)
    assert await d.drain(timeout=30)
    await d.stop()
    await store.close()
    return d, sent


def escalations(n):
    return [escalation(id=f"esc-{i:020x}", level="reminder", severity="warning",
                       recipients={"member": "u-zs", "admins": ["u-wm"]}) for i in range(n)]


async def test_each_escalation_once_across_runs_with_the_same_state(servers, tmp_path):
    server = servers("slack")
    config = robot_config(server)
    _, first = await run_dispatcher(config, escalations(5), tmp_path / "state", digests=False)
    _, second = await run_dispatcher(config, escalations(5), tmp_path / "state", digests=False)
    assert sorted(server.ids()) == sorted(f"esc-{i:020x}" for i in range(5))
    assert [r["status"] for r in first] == ["sent"] * 5 and second == []


async def test_outage_is_retried_until_it_recovers_and_a_long_one_gives_up(servers):
    server = servers("feishu", outage_until=time.time() + 1.0)
    d, records = await run_dispatcher(robot_config(server), escalations(3), digests=False)
    assert sorted(server.ids()) == [f"esc-{i:020x}" for i in range(3)]
    assert {r["status"] for r in records} == {"sent"} and max(r["attempts"] for r in records) > 1
    assert d.metrics.value("moderation_notify_retried_total", channel="bot") >= 1
    down = servers("wecom", outage_until=time.time() + 600)
    config = robot_config(down).model_copy(update={"delivery": robot_config(down).delivery.model_copy(
        update={"give_up_seconds": 0.5})})
    _, records = await run_dispatcher(config, escalations(1), digests=False)
    assert [(r["status"], r["code"]) for r in records] == [("failed", "http 500")]


async def test_rejected_delivery_fails_at_once(servers):
    server = servers("dingtalk", secret="right")
    config = parse_notify_config(f"version: 1\nchannels:\n  bot: {{type: dingtalk, url: '{server.url}', secret: wrong}}\n"
                                 f"routes:\n  - roles: [admins]\n    channels: [bot]\n")
    _, records = await run_dispatcher(config, escalations(1), digests=False)
    assert [(r["status"], r["code"], r["attempts"]) for r in records] == [("failed", "310000", 1)]


async def test_retraction_withdraws_what_was_sent_and_suppresses_what_was_not(servers, tmp_path):
    server = servers("wecom")
    config = robot_config(server)
    raws = escalations(1)
    await run_dispatcher(config, raws, tmp_path / "s", digests=False)
    retraction = {"kind": "retraction", "id": "ret-000000000000000000aa", "group_id": "g-fin",
                  "ts": "2026-03-02T12:00:00+08:00", "retracts": [raws[0]["id"], "esc-notseenyet0000000000"],
                  "violation_id": "vio-1", "reason": "reviewer dismissed"}
    _, records = await run_dispatcher(config, [retraction], tmp_path / "s", digests=False)
    assert [(r["purpose"], r["status"], r["retraction_id"]) for r in records] == \
        [("withdrawal", "sent", "ret-000000000000000000aa")]
    assert "撤回" in server.messages[-1]["text"] and raws[0]["id"] in server.messages[-1]["text"]
    # The escalation withdrawn before it was seen is never sent.
    late = escalation(id="esc-notseenyet0000000000", level="reminder", severity="warning")
    _, records = await run_dispatcher(config, [late], tmp_path / "s", digests=False)
    assert [(r["status"], r["code"]) for r in records] == [("suppressed", "retracted")]
    assert len(server.messages) == 2


async def test_retraction_while_held_suppresses(servers, tmp_path):
    from pipeline.config import WorkHours

    server = servers("wecom")
    sent = []

    async def sink(record):
        sent.append(record)
    config = robot_config(server)
    store = FileStore(tmp_path / "h")
    await store.load()
    saturday_night = datetime(2026, 3, 7, 22, 0).astimezone().timestamp()
    d = Dispatcher(config, {"bot": client(config.channels["bot"], config)}, store, sink,
                   work_hours=WorkHours(timezone="Asia/Shanghai"), digests=False, clock=lambda: saturday_night)
    d.start()
    raw = escalations(1)[0]
    await d.accept(parse(raw), raw)
    await d.accept(Retraction(id="ret-1", group_id="g-fin", ts=datetime.now().astimezone(), retracts=(raw["id"],)), {})
    await d.stop()
    await store.close()
    assert [r["status"] for r in sent] == ["held", "suppressed"] and server.messages == []


async def test_many_reminders_to_one_robot_become_a_digest(servers):
    server = servers("slack")
    config = robot_config(server, "digest: {window_seconds: 0.6}\n")
    d, records = await run_dispatcher(config, escalations(4), digests=True)
    assert len(server.messages) == 2                       # the first alone, then one digest of three
    assert server.ids()[0] == f"esc-{0:020x}" and sorted(server.ids()[1:]) == [f"esc-{i:020x}" for i in (1, 2, 3)]
    assert len({r.get("digest_id") for r in records if r.get("digest_id")}) == 1
    assert "汇总（3 条）" in server.messages[1]["text"]


async def test_a_slow_channel_does_not_hold_up_another(servers):
    slow, fast = servers("slack", delay=1.5), servers("wecom")
    config = parse_notify_config(
        f"version: 1\nchannels:\n  slow: {{type: slack, url: '{slow.url}', per_second: 100}}\n"
        f"  fast: {{type: wecom, url: '{fast.url}', per_minute: 1000}}\n"
        f"routes:\n  - roles: [admins]\n    channels: [slow, fast]\n")
    started = time.time()
    task = asyncio.create_task(run_dispatcher(config, escalations(3), digests=False))
    while len(fast.messages) < 3 and time.time() - started < 10:
        await asyncio.sleep(0.05)
    assert len(fast.messages) == 3 and time.time() - started < 1.5 and len(slow.messages) <= 1
    await task
    assert len(slow.messages) == 3


async def test_held_in_quiet_hours_goes_on_a_later_run_once_work_resumes(servers, tmp_path):
    from pipeline.config import WorkHours

    server = servers("wecom")
    config = robot_config(server)
    hours = WorkHours(timezone="Asia/Shanghai")
    saturday_night = datetime(2026, 3, 7, 22, 0).astimezone().timestamp()
    monday_morning = datetime(2026, 3, 9, 10, 0).astimezone().timestamp()
    _, first = await run_dispatcher(config, escalations(2), tmp_path / "q", work_hours=hours, digests=False,
                                    clock=lambda: saturday_night)
    assert [r["status"] for r in first] == ["held", "held"] and server.messages == []
    _, second = await run_dispatcher(config, [], tmp_path / "q", work_hours=hours, digests=False,
                                     clock=lambda: monday_morning)
    assert [r["status"] for r in second] == ["sent", "sent"] and len(server.messages) == 2


async def test_the_cores_own_retraction_reaches_where_its_escalation_went(servers, tmp_path, policy):
    """End to end without Kafka: the worker's core escalates an ad, a reviewer dismisses it, and the
    notifier withdraws the reminder where it sent it (the contract, not hand-written records)."""
    from tests.factory import configured, message
    from tests.unit.test_review import AD, decided, engine, first_violation, of, run_all

    post = message(AD)
    acted = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(acted["id"], "dismissed"))
    (escalation_event,) = of(out, "escalations", "escalation")
    (retraction,) = of(out, "escalations", "retraction")
    server = servers("wecom")
    config = robot_config(server)
    await run_dispatcher(config, [escalation_event], tmp_path / "s", digests=False)
    _, records = await run_dispatcher(config, [retraction], tmp_path / "s", digests=False)
    assert [(r["purpose"], r["status"]) for r in records] == [("withdrawal", "sent")]
    assert len(server.messages) == 2 and escalation_event["id"] in server.messages[-1]["text"]
