"""Review in the dashboard, end to end (issue 26): the real broker, a real worker judging real
messages with a policy that holds every model decision for review, the dashboard as its own
process, and reviewers in headless Chromium.

A reviewer logs in, finds the held ad in the queue, confirms it with the keyboard, and the
worker's reminder appears on moderation.escalations; another reviewer dismisses the leak that
escalated at once, and the retraction appears (and the page shows the escalation withdrawn).
The admin of one group can neither see nor decide for the other (checked on the API). Every
login and decision is on moderation.audit, without a password."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import asyncio
import os
import shutil
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from pipeline.dashboard.users import UserFile
from tests.factory import configured, event, message
from tests.integration.harness import ROOT, collect_ids
from tests.integration.test_dashboard import _start_dashboard, _stop, _wait_for, browser, log_in_browser  # noqa: F401
from tests.integration.test_review_on_kafka import AD, LEAK, reviewed  # noqa: F401 - fixtures
from tests.unit.dashboard_helpers import HttpClient

PASSWORD = "review horse battery"
USERS = {"rev-a": ("supervisor", ()), "rev-b": ("compliance", ()), "aud": ("auditor", ()),
         "adm-1": ("admin", ("g-1",)), "adm-2": ("owner", ("g-2",))}


def _recent(minutes_ago: float) -> str:
    """A time close to now: decisions are dated now, and a violation is decidable for keep_days."""
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).astimezone().isoformat(timespec="seconds")


@pytest.fixture
def people(tmp_path):
    users = UserFile(tmp_path / "users" / "users.json")
    for name, (role, groups) in USERS.items():
        users.add(name, role, list(groups), PASSWORD, display_name=f"合规-{name}")
    return str(users.path)


def _read(settings, roles: tuple[str, ...], until, timeout: float = 90.0) -> dict[str, list[dict]]:
    """The records of `roles` from the beginning, once `until(records)` holds (or the timeout)."""
    from pipeline.kafka.admin import consumer

    async def run():
        names = {getattr(settings.topics, role): role for role in roles}
        out: dict[str, list[dict]] = {role: [] for role in roles}
        c = consumer(settings, *names, group_id=None)
        await c.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while loop.time() < deadline and not until(out):
                for tp, messages in (await c.getmany(timeout_ms=300)).items():
                    out[names[tp.topic]] += [orjson.loads(m.value) for m in messages]
        finally:
            await c.stop()
        return out

    return asyncio.run(run())


def _queue_ids(driver) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll('#queue tbody tr')].map(r => r.dataset.id)")


def test_reviewers_decide_in_the_browser_and_the_worker_acts(reviewed, people, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = reviewed
    d.start_worker()
    ad_1 = message(AD, group="g-1", actor="u-2", ts=_recent(30))
    leak_1 = message(LEAK, group="g-1", actor="u-3", ts=_recent(29))
    ad_2 = message(AD, group="g-2", actor="u-5", ts=_recent(28))
    ad_3 = message(AD, group="g-1", actor="u-4", ts=_recent(27))
    d.produce([configured("g-1", ts=_recent(40)), configured("g-2", admins=("u-admin2",), owners=("u-admin2",),
                                                             ts=_recent(40)), ad_1, leak_1, ad_2, ad_3])
    content = lambda out: [v for v in out["violations"] if (v.get("evidence") or {}).get("label")]  # noqa: E731
    first = _read(d.settings, ("violations", "escalations"), lambda out: len(content(out)) >= 4 and out["escalations"])
    by_member = {v["member"]["id"]: v for v in content(first)}
    held, acted, held_2, held_3 = by_member["u-2"], by_member["u-3"], by_member["u-5"], by_member["u-4"]
    assert held["review"] == "required" and held_2["review"] == "required" and acted["review"] == "none"
    leak_escalations = [e["id"] for e in first["escalations"] if e["violations"] == [acted["id"]]]
    assert leak_escalations and not [e for e in first["escalations"] if held["id"] in e["violations"]]

    proc, url = _start_dashboard({**d.env, "MODERATION_DASHBOARD_USERS_FILE": people}, tmp_path / "dashboard.log")
    try:
        # ---- an unauthenticated browser gets the login page, and nothing of the data
        browser.get(url)
        WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith("/login"))
        assert "g-1" not in browser.page_source and held["id"] not in browser.page_source

        # ---- reviewer A confirms the held ad with the keyboard
        log_in_browser(browser, url, "rev-a", PASSWORD)
        WebDriverWait(browser, 60, poll_frequency=0.3).until(
            lambda b: len(_queue_ids(b)) == 3, message="the held violations in the queue")
        assert _queue_ids(browser) == [held["id"], held_2["id"], held_3["id"]]     # oldest first
        assert browser.find_element(By.ID, "me").text.startswith("合规-rev-a · supervisor")
        # the decision panel shows the first one: its excerpt, scores, reasons
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "decision").get_attribute("data-id") == held["id"])
        panel = browser.find_element(By.ID, "decision").text
        assert held["excerpt"][:8] in panel and "ad" in browser.find_element(By.ID, "d-scores").text
        ActionChains(browser).send_keys("n").perform()                           # n: to the note
        ActionChains(browser).send_keys("确认是广告").perform()
        assert browser.find_element(By.ID, "note").get_attribute("value") == "确认是广告"
        browser.execute_script("document.activeElement.blur()")
        ActionChains(browser).send_keys("c").perform()                           # c: confirm
        WebDriverWait(browser, 30).until(lambda b: "Done: confirmed" in b.find_element(By.ID, "decision-status").text,
                                         message="the page did not say the decision was done")
        # the worker escalates it as the ladder would have; the dashboard sees the review and drops it from the queue
        after = _read(d.settings, ("escalations", "reviews"),
                      lambda out: any(e.get("violations") == [held["id"]] for e in out["escalations"])
                      and any(r["violation_id"] == held["id"] for r in out["reviews"]))
        (confirmed,) = [e for e in after["escalations"] if e.get("violations") == [held["id"]]]
        assert (confirmed["level"], confirmed["rule"]) == ("reminder", "P2")
        assert confirmed["decided_by"] == {"id": "rev-a", "name": "合规-rev-a"}
        (review,) = [r for r in after["reviews"] if r["violation_id"] == held["id"]]
        assert review["decision"] == "confirmed" and review["note"] == "确认是广告" and review["outcome"] == "escalated"
        WebDriverWait(browser, 30, poll_frequency=0.3).until(lambda b: _queue_ids(b) == [held_2["id"], held_3["id"]],
                                                             message="the confirmed one leaving the queue")
        # the next one is chosen; j moves to the one after it, r goes to the label, Enter relabels
        assert browser.find_element(By.ID, "decision").get_attribute("data-id") == held_2["id"]
        ActionChains(browser).send_keys("j").perform()
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "decision").get_attribute("data-id") == held_3["id"])
        ActionChains(browser).send_keys("r").perform()
        assert browser.switch_to.active_element.get_attribute("id") == "relabel-label"
        Select(browser.find_element(By.ID, "relabel-label")).select_by_value("rumour")
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        WebDriverWait(browser, 30).until(lambda b: "Done: relabelled as rumour" in b.find_element(By.ID, "decision-status").text,
                                         message="the page did not say the decision was done")
        relabelled = _read(d.settings, ("escalations", "reviews"),
                           lambda out: any(held_3["id"] in e.get("violations", ()) for e in out["escalations"]))
        (as_rumour,) = [e for e in relabelled["escalations"] if held_3["id"] in e.get("violations", ())]
        assert as_rumour["rule"] == "P3"                               # escalated under the new label's rule
        WebDriverWait(browser, 30, poll_frequency=0.3).until(lambda b: _queue_ids(b) == [held_2["id"]])
        browser.find_element(By.ID, "logout").click()
        WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith("/login"))

        # ---- reviewer B dismisses the leak that escalated at once, from the feed
        log_in_browser(browser, url, "rev-b", PASSWORD)
        button = f'button.decide-from-feed[data-id="{acted["id"]}"]'
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, button))
        browser.find_element(By.CSS_SELECTOR, button).click()
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "decision").get_attribute("data-id") == acted["id"])
        assert not browser.find_element(By.ID, "decide-confirm").is_enabled()      # it acted: nothing to confirm
        browser.find_element(By.ID, "decide-dismiss").click()
        WebDriverWait(browser, 30).until(lambda b: "Done: dismissed" in b.find_element(By.ID, "decision-status").text,
                                         message="the page did not say the decision was done")
        retracted = _read(d.settings, ("escalations",),
                          lambda out: any(e["kind"] == "retraction" for e in out["escalations"]))
        (retraction,) = [e for e in retracted["escalations"] if e["kind"] == "retraction"]
        assert retraction["violation_id"] == acted["id"] and retraction["retracts"] == leak_escalations
        # the page shows the escalations withdrawn
        WebDriverWait(browser, 30, poll_frequency=0.3).until(lambda b: all(
            b.execute_script(f"const r = document.querySelector('#feed tr[data-id=\"{e}\"]'); "
                             "return r !== null && r.classList.contains('retracted')") for e in leak_escalations),
            message="the retracted escalations marked in the feed")
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(str(tmp_path / "review.png"))
        print(f"screenshot: {tmp_path / 'review.png'}")
        if os.environ.get("MODERATION_UPDATE_SCREENSHOT"):  # a test run leaves the checkout as it was unless asked
            shutil.copyfile(tmp_path / "review.png", ROOT / "docs" / "review.png")

        # ---- the admin of g-2 sees only g-2 and cannot decide for g-1 (the API, not the page)
        adm_2 = HttpClient(url)
        me = adm_2.log_in("adm-2", PASSWORD)
        assert me["groups"] == ["g-2"] and me["role"] == "owner"
        for query in ("", "?group=g-1", "?rgroup=g-1", "?report=g-1", "?member=u-2"):
            status, body, _ = adm_2.request("GET", "api/state" + query)
            assert status == 200
            for secret in (held["id"], acted["id"], b"g-1", "u-3"):
                assert (secret if isinstance(secret, bytes) else secret.encode()) not in body, (query, secret)
        assert [i["id"] for i in adm_2.get_json("api/state")[1]["reviews"]["items"]] == [held_2["id"]]
        for violation_id in (held["id"], acted["id"]):
            status, answer = adm_2.decide(violation_id, "dismissed")
            assert status == 404 and "g-1" not in orjson.dumps(answer).decode()
        # ... and decides for g-2
        assert adm_2.decide(held_2["id"], "relabelled", "work", note="不是广告")[0] == 200
        # an auditor reads and may not decide
        auditor = HttpClient(url)
        auditor.log_in("aud", PASSWORD)
        assert auditor.decide(held_2["id"], "confirmed")[0] == 403
        adm_1 = HttpClient(url)
        adm_1.log_in("adm-1", PASSWORD)

        last = _read(d.settings, ("reviews", "audit", "dlq"),
                     lambda out: any(r["violation_id"] == held_2["id"] for r in out["reviews"])
                     and sum(a["action"] == "login" for a in out["audit"]) >= 5)
        (dismissed_2,) = [r for r in last["reviews"] if r["violation_id"] == held_2["id"]]
        assert dismissed_2["new_label"] == "work" and dismissed_2["reviewer"]["id"] == "adm-2"
        assert last["dlq"] == []                                                   # no decision the worker refused
        audit = last["audit"]
        logins = {(a["user"], a["outcome"]) for a in audit if a["action"] == "login"}
        assert {("rev-a", "success"), ("rev-b", "success"), ("adm-2", "success"), ("aud", "success")} <= logins
        decisions = [(a["user"], a["outcome"], a["detail"]["decision"]) for a in audit if a["action"] == "decision"]
        assert ("rev-a", "sent", "confirmed") in decisions and ("rev-b", "sent", "dismissed") in decisions
        assert ("adm-2", "refused", "dismissed") in decisions and ("aud", "refused", "confirmed") in decisions
        assert any(a["action"] == "logout" and a["user"] == "rev-a" for a in audit)
        assert all(PASSWORD not in orjson.dumps(a).decode() for a in audit)
        assert all(set(a) >= {"kind", "id", "ts", "user", "action", "outcome", "client"} for a in audit)
        assert proc.poll() is None
    finally:
        _stop(proc)


def test_a_double_click_makes_one_decision(reviewed, people, tmp_path):  # noqa: F811
    d = reviewed
    d.start_worker()
    ad = message(AD, group="g-1", actor="u-2", ts=_recent(10))
    d.produce([configured("g-1", ts=_recent(20)), ad])
    content = lambda out: [v for v in out["violations"] if (v.get("evidence") or {}).get("label")]  # noqa: E731
    (held,) = content(_read(d.settings, ("violations",), lambda out: content(out)))
    proc, url = _start_dashboard({**d.env, "MODERATION_DASHBOARD_USERS_FILE": people}, tmp_path / "dashboard.log")
    try:
        reviewer = HttpClient(url)
        reviewer.log_in("adm-1", PASSWORD)
        _wait_for(lambda: [i["id"] for i in reviewer.get_json("api/state")[1]["reviews"]["items"]] == [held["id"]],
                  60, "the held violation in the queue")
        # Both clicks in flight at once. The second is the same decision (200, the same event id), or,
        # when the worker has recorded the first before the second arrives, refused as made already.
        with ThreadPoolExecutor(2) as clicks:
            answers = list(clicks.map(lambda _: reviewer.decide(held["id"], "confirmed"), range(2)))
        answers.sort(key=lambda a: a[0])
        assert answers[0][0] == 200, answers
        assert (answers[1][0] == 200 and answers[1][1]["event_id"] == answers[0][1]["event_id"]) or \
            (answers[1][0] == 409 and "already" in answers[1][1]["error"]), answers
        accepted = sum(status == 200 for status, _ in answers)
        got = _read(d.settings, ("escalations", "reviews", "input"),
                    lambda out: out["reviews"] and sum(e.get("type") == "review.decided" for e in out["input"]) == accepted,
                    timeout=60)
        decided = [e for e in got["input"] if e.get("type") == "review.decided"]
        assert len(decided) == accepted and {e["event_id"] for e in decided} == {answers[0][1]["event_id"]}
        assert decided[0]["actor"] == {"id": "adm-1", "name": "合规-adm-1"} and decided[0]["group_id"] == "g-1"
        # the worker takes it once: one review, one escalation
        later = asyncio.run(collect_ids(d.settings, {"reviews": set(), "escalations": set()}, timeout=5, settle=3))
        assert len(later["reviews"]) == 1 and len([e for e in later["escalations"] if held["id"] in e["violations"]]) == 1
        # once recorded, the same decision is refused as made already
        _wait_for(lambda: reviewer.get_json("api/state")[1]["reviews"]["items"] == [], 30, "the queue to empty")
        status, answer = reviewer.decide(held["id"], "confirmed")
        assert status == 409 and "already" in answer["error"]
    finally:
        _stop(proc)


def test_single_sign_on_in_chromium_from_another_site(browser, tmp_path):  # noqa: F811
    """The provider on `localhost`, the dashboard on `127.0.0.1`: two sites, so the return from the
    provider is a cross-site navigation, as with a company's provider. The sign-on's cookie (Lax)
    must come back with it, and the session cookie (Strict) must be there on the dashboard's page."""
    import socket
    import threading

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.config import load_settings
    from pipeline.dashboard.server import start
    from pipeline.dashboard.state import DashboardState
    from tests.unit.dashboard_helpers import copy_users_file
    from tests.unit.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    run = lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result(30)  # noqa: E731
    provider = Provider()
    run(provider.start())
    provider.issuer = provider.issuer.replace("127.0.0.1", "localhost")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider.redirect_url = f"http://127.0.0.1:{port}/login/sso/callback"
    users = copy_users_file(tmp_path)
    UserFile(users).add("lee.sso", "compliance", [], None, display_name="合规部-李")
    provider.user = "lee.sso"
    provider.consent_page = True      # the way back is a click on the provider's page: a cross-site navigation
    settings = load_settings(env={
        "MODERATION_DASHBOARD_USERS_FILE": users, "MODERATION_DASHBOARD_OIDC_ISSUER": provider.issuer,
        "MODERATION_DASHBOARD_OIDC_CLIENT_ID": CLIENT_ID, "MODERATION_DASHBOARD_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "MODERATION_DASHBOARD_OIDC_REDIRECT_URL": provider.redirect_url})
    runner, url = run(start("127.0.0.1", port, settings, state=DashboardState(), consume=False))
    try:
        browser.get(url)
        WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith("/login"))
        browser.find_element(By.ID, "sso").click()
        WebDriverWait(browser, 20).until(lambda b: b.current_url.startswith(provider.issuer))
        browser.find_element(By.ID, "allow").click()
        WebDriverWait(browser, 30).until(lambda b: b.current_url == url and b.find_element(By.ID, "me").text,
                                         message="the sign-on did not end on the dashboard's page, logged in")
        assert browser.find_element(By.ID, "me").text.startswith("合规部-李 · compliance")
        assert len(provider.token_requests) == 1
    finally:
        run(runner.cleanup())
        run(provider.stop())
        loop.call_soon_threadsafe(loop.stop)
