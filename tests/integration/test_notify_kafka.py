"""The notifier as an operator runs it (`moderation notify`, its own process) on the real broker,
behind the real worker, delivering the demo's escalations to loopback platform servers and a
loopback SMTP server; counted at the receivers."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from pipeline.core.events import encode
from tests.integration.harness import ROOT, collect
from tests.notify_platforms import PlatformServer, SmtpServer


def expected_escalations() -> list[dict]:
    sample = subprocess.run([sys.executable, "-m", "pipeline.cli", "sample"], cwd=ROOT, capture_output=True, check=True)
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "check", "-", "--only", "escalations"], cwd=ROOT,
                         input=sample.stdout, capture_output=True, check=True)
    return [orjson.loads(line) for line in out.stdout.splitlines() if line.strip()]


class Notifier:
    def __init__(self, deployment, config: Path):
        self.deployment, self.config = deployment, config
        self.procs: list[subprocess.Popen] = []

    def start(self, timeout: float = 60.0) -> subprocess.Popen:
        log = open(self.deployment.workdir / f"notify-{len(self.procs)}.log", "wb")
        env = {**self.deployment.env, "MODERATION_NOTIFY_CONFIG": str(self.config),
               "MODERATION_NOTIFY_SMTP_PASSWORD": "s3cret-pass"}
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "notify", "--loglevel", "info"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while b"notify: ready" not in Path(log.name).read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"notifier did not start:\n{Path(log.name).read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        return proc

    def kill(self, proc, hard: bool) -> None:
        os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
        proc.wait(30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc, hard=False)

    def log(self, tail: int | None = 2000) -> str:
        return "\n".join(Path(p.log_path).read_text(errors="replace")[-(tail or 0):] for p in self.procs)


@pytest.fixture
def platforms(tmp_path):
    made = {"slack": PlatformServer("slack", delay=0.15),
            "feishu": PlatformServer("feishu", secret="fs-secret", delay=0.05),
            "dingtalk": PlatformServer("dingtalk", secret="SECding", per_minute=20, limited_penalty=600)}
    smtp = SmtpServer(tmp_path)
    yield made, smtp
    for server in made.values():
        server.close()
    smtp.close()


def write_config(path: Path, platforms, smtp, extra: str = "") -> Path:
    made = platforms
    path.write_text(f"""version: 1
channels:
  slack-bot: {{type: slack, url: "{made['slack'].url}", per_second: 50}}
  feishu-bot: {{type: feishu, url: "{made['feishu'].url}", secret: fs-secret}}
  ding-bot: {{type: dingtalk, url: "{made['dingtalk'].url}", secret: SECding}}
  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, username: notifier, password_env: MODERATION_NOTIFY_SMTP_PASSWORD,
          sender: mod@example.com, ca_file: "{smtp.cert}"}}
routes:
  - roles: [member, admins, owners]
    channels: [slack-bot, feishu-bot, ding-bot]
  - roles: [supervisors]
    channels: [mail]
directory:
  u-supervisor: {{email: supervisor@example.com}}
delivery: {{backoff_base_seconds: 0.5, backoff_max_seconds: 4, give_up_seconds: 600}}
quiet_hours: {{enabled: false}}
digest: {{window_seconds: 0}}
{extra}""")
    return path


def wait_for(check, timeout: float, what: str, log=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log()}")
        time.sleep(0.2)


def run_worker_with_sample(deployment) -> None:
    sample = subprocess.run([sys.executable, "-m", "pipeline.cli", "sample"], cwd=ROOT, capture_output=True,
                            check=True)
    deployment.start_worker()
    deployment.produce([orjson.loads(line) for line in sample.stdout.splitlines()])


async def produce_to(settings, topic: str, records: list[dict]) -> None:
    from pipeline.kafka.admin import producer

    p = producer(settings)
    await p.start()
    try:
        for r in records:
            await p.send_and_wait(topic, key=r["group_id"].encode(), value=encode(r))
    finally:
        await p.stop()


def test_every_escalation_once_per_channel_through_a_kill_9_within_rate_limits(deployment, platforms, tmp_path):
    made, smtp = platforms
    escalations = expected_escalations()
    ids = {e["id"] for e in escalations}
    mail_ids = {e["id"] for e in escalations if e["recipients"].get("supervisors")}
    notifier = Notifier(deployment, write_config(tmp_path / "notify.yaml", made, smtp))
    try:
        first = notifier.start()
        run_worker_with_sample(deployment)
        wait_for(lambda: len(made["slack"].messages) >= 8, 120, "the first slack messages", notifier.log)
        notifier.kill(first, hard=True)
        killed_at = len(made["slack"].messages)
        notifier.start()
        wait_for(lambda: set(made["slack"].ids()) >= ids and set(made["feishu"].ids()) >= ids
                 and set(made["dingtalk"].ids()) >= ids and set(smtp.ids()) >= mail_ids, 240,
                 "every escalation at every receiver", notifier.log)
        time.sleep(2)   # anything sent twice would arrive now
        repeats = {}
        for name, got in (("slack", made["slack"].ids()), ("feishu", made["feishu"].ids()),
                          ("dingtalk", made["dingtalk"].ids()), ("email", smtp.ids())):
            repeats[name] = len(got) - len(set(got))
            # Only a send in flight at the kill may repeat: at most one per channel.
            assert repeats[name] <= 1, (name, sorted(got))
        # ... and the restarted notifier counted those it found in flight and sent again.
        in_flight = sum(int(n) for n in re.findall(r"; (\d+) deliveries were in flight", notifier.log(tail=None)))
        assert sum(repeats.values()) <= in_flight
        assert set(smtp.ids()) == mail_ids and all(m["tls"] and m["auth"] for m in smtp.messages)
        # The DingTalk robot takes 20 a minute: it never got more, also across the restart.
        assert made["dingtalk"].max_in_window(60) <= 20
        assert not any(r.code == "130101" for r in made["dingtalk"].requests)
        print(f"\nkilled after {killed_at} slack messages; in flight at the kill: {in_flight}; repeats: {repeats}; "
              f"dingtalk most in 60 s: {made['dingtalk'].max_in_window(60)}")

        # A retraction reaches the same places as its escalation.
        target = next(e for e in escalations if e["id"] in mail_ids)
        retraction = {"kind": "retraction", "id": "ret-00000000000000000001", "group_id": target["group_id"],
                      "ts": target["ts"], "retracts": [target["id"]], "violation_id": target["violations"][0],
                      "reason": "reviewer dismissed", "schema": 1}
        asyncio.run(produce_to(deployment.settings, deployment.settings.topics.escalations, [retraction]))

        def withdrawn(messages):
            return [m for m in messages if "撤回" in m["text"] and target["id"] in m["text"]]
        wait_for(lambda: all(withdrawn(made[k].messages) for k in ("slack", "feishu", "dingtalk"))
                 and smtp.ids().count(target["id"]) >= 2, 120, "the withdrawals", notifier.log)
        records = asyncio.run(collect(deployment.settings, ("deliveries",), 3 * len(ids) + len(mail_ids) + 4,
                                      timeout=30, settle=1))["deliveries"]
        sent = {(r.get("escalation_id") or r["report_id"], r["channel"], r["purpose"]) for r in records
                if r["status"] == "sent"}
        assert {(i, "slack-bot") for i in ids} <= {(e, c) for e, c, _ in sent}
        assert (target["id"], "mail", "withdrawal") in sent and (target["id"], "ding-bot", "withdrawal") in sent
        assert not [r for r in records if r["status"] == "failed"]
        text = str(records)
        assert "supervisor@example.com" not in text and "SECding" not in text
    finally:
        notifier.stop_all()


def test_a_channel_down_for_30_seconds_gets_everything_after_it_recovers(deployment, platforms, tmp_path):
    made, smtp = platforms
    escalations = expected_escalations()
    ids = {e["id"] for e in escalations}
    made["slack"].delay = 0
    made["slack"].outage_until = time.time() + 30
    notifier = Notifier(deployment, write_config(tmp_path / "notify.yaml", made, smtp))
    try:
        notifier.start()
        run_worker_with_sample(deployment)
        # The others are not held up by the one that is down.
        wait_for(lambda: set(made["feishu"].ids()) >= ids, 90, "feishu while slack is down", notifier.log)
        assert time.time() < made["slack"].outage_until and made["slack"].messages == []
        wait_for(lambda: set(made["slack"].ids()) >= ids, 120, "slack after it recovered", notifier.log)
        time.sleep(2)
        got = made["slack"].ids()
        assert len(got) == len(set(got)) == len(ids)
        failed = [r for r in made["slack"].requests if r.status == 500]
        assert failed and all(r.at < made["slack"].outage_until for r in failed)
        print(f"\nslack answered 500 {len(failed)} times over 30 s; all {len(ids)} arrived once after it recovered")
    finally:
        notifier.stop_all()


def test_two_notifiers_share_the_work_and_one_takes_over_when_the_other_dies(deployment, platforms, tmp_path):
    made, smtp = platforms
    made["slack"].delay = 0.1
    made["dingtalk"].per_minute = 40     # two notifiers, each keeping the default 20 a minute
    escalations = expected_escalations()
    ids = {e["id"] for e in escalations}
    notifier = Notifier(deployment, write_config(tmp_path / "notify.yaml", made, smtp))
    try:
        first = notifier.start()
        notifier.start()
        run_worker_with_sample(deployment)
        wait_for(lambda: len(made["slack"].messages) >= 6, 120, "the first slack messages", notifier.log)
        notifier.kill(first, hard=True)
        wait_for(lambda: all(set(made[k].ids()) >= ids for k in ("slack", "feishu", "dingtalk")), 240,
                 "every escalation after the takeover", notifier.log)
        time.sleep(2)
        repeats = {k: len(made[k].ids()) - len(set(made[k].ids())) for k in ("slack", "feishu", "dingtalk")}
        in_flight = sum(int(n) for n in re.findall(r"; (\d+) deliveries were in flight", notifier.log(tail=None)))
        assert sum(repeats.values()) <= in_flight, (repeats, in_flight)
        print(f"\ntakeover: repeats {repeats}, counted in flight {in_flight}")
    finally:
        notifier.stop_all()
