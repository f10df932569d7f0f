"""The dashboard end to end: the sample conversation goes into Kafka, the worker moderates it, the
dashboard (its own process, a Kafka consumer of the output topics) shows it in a real headless
Chromium driven by Selenium. A screenshot is kept in the test's folder; with MODERATION_UPDATE_SCREENSHOT=1 it also replaces docs/dashboard.png."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import orjson
import pytest

from pipeline.offline import run
from pipeline.sample import conversation
from tests.integration.harness import ROOT

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1440,1000", "--lang=zh-CN")


def _browser_or_skip():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver  # noqa: F401 - the test extras provide it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(deployment, tmp_path):
    port = _free_port()
    log = open(tmp_path / "dashboard.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.dashboard", "dashboard", "--port", str(port)],
                            cwd=ROOT, env=deployment.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "healthz", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("dashboard did not come up:\n" + (tmp_path / "dashboard.log").read_text())
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def browser(tmp_path):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")))
    yield driver
    driver.quit()


def _feed(driver) -> list[dict]:
    # Read in one script call: the live stream may re-render the rows at any moment.
    return driver.execute_script(
        "return [...document.querySelectorAll('#feed tbody tr')].map(r => r.dataset)"
        ".map(d => ({kind: d.kind, group: d.group, rule: d.rule}))")


def _choose(driver, select_id: str, value: str) -> None:
    """Pick an option as a user would (the change event included); the options are rebuilt on
    every live update, so a found <option> element may be stale by the time it is clicked."""
    assert driver.execute_script(
        "const s = document.getElementById(arguments[0]);"
        "if (![...s.options].some(o => o.value === arguments[1])) return false;"
        "s.value = arguments[1]; s.dispatchEvent(new Event('change')); return true;", select_id, value)


def _expected(engine) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for role, event in run(engine, [orjson.dumps(e) for e in conversation()]):
        out.setdefault(role, []).append(event)
    return out


def test_dashboard_shows_the_sample_conversation(deployment, dashboard, browser, engine, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = _expected(engine)
    violations, escalations = expected["violations"], expected["escalations"]
    assert violations and escalations

    browser.get(dashboard)
    WebDriverWait(browser, 30).until(lambda d: "live" in d.find_element(By.ID, "status").text)

    deployment.start_worker()
    deployment.produce(conversation())

    feed_rows = len(violations) + len(escalations)
    WebDriverWait(browser, 120, poll_frequency=0.5).until(
        lambda d: len(_feed(d)) >= feed_rows, message="the dashboard did not show every violation and escalation")

    rows = _feed(browser)
    assert len(rows) == feed_rows                                   # no duplicates
    shown = {(r["kind"], r["group"], r["rule"]) for r in rows}
    assert shown == {(e["kind"], e["group_id"], e["rule"]) for e in violations + escalations}
    feed_text = browser.find_element(By.ID, "feed").text
    for e in violations:
        assert e["rule"] in feed_text and e["group_id"] in feed_text
    assert "D2" in feed_text                                        # the external forward, whatever the model says
    # Redacted excerpts only: the phone number, resident id and password of the sample never appear.
    page = browser.find_element(By.TAG_NAME, "body").text
    for secret in ("13812345678", "110101199003074578", "Apollo@2026!"):
        assert secret not in page
    masked = [e["excerpt"] for e in violations if e.get("excerpt") and "****" in e["excerpt"]]
    assert masked and masked[0] in browser.find_element(By.ID, "feed").get_attribute("textContent")

    # one chart per group with violations, its legend naming the rules
    charts = browser.execute_script(
        "return [...document.querySelectorAll('#charts .chart')].map(c => c.dataset.group)")
    assert set(charts) == {e["group_id"] for e in violations}
    # The busiest group and its most frequent rule, whatever the classifier of the day decides.
    pairs = Counter((e["group_id"], e["rule"]) for e in violations)
    (group, rule), count = pairs.most_common(1)[0]
    legend = browser.execute_script(
        "return document.querySelector(`#charts .chart[data-group='${arguments[0]}'] .legend`).textContent", group)
    assert f"{rule} {count}" in legend

    # filters: one group and one rule
    _choose(browser, "f-group", group)
    _choose(browser, "f-rule", rule)
    filtered = _feed(browser)
    assert len(filtered) == sum(1 for e in violations + escalations if (e["group_id"], e["rule"]) == (group, rule))
    assert all(r["rule"] == rule and r["group"] == group for r in filtered)

    _choose(browser, "f-group", "")
    _choose(browser, "f-rule", "")

    # open follow-ups: the supervisor steps of the ladder are listed
    followups = browser.find_element(By.ID, "followups").text
    for e in escalations:
        if e["level"] == "supervisor":
            assert f"supervisor · {e['rule']}" in followups

    # responsiveness and reports, when the pipeline writes them for the sample
    member_windows = [e for e in expected.get("responsiveness", [])
                      if e.get("scope") == "member" and (e.get("window") or {}).get("kind") == "day"]
    if member_windows:
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#responsiveness tbody tr"))
        table = browser.find_element(By.ID, "responsiveness").text
        for e in member_windows:
            assert (e["member"].get("name") or e["member"]["id"]) in table
    if expected.get("reports"):
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "report").text)

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(max(height, 1000), 4000))
    time.sleep(0.3)
    artifact = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(artifact))
    print(f"screenshot: {artifact}")
    if os.environ.get("MODERATION_UPDATE_SCREENSHOT"):  # a test run leaves the checkout as it was unless asked
        shutil.copyfile(artifact, ROOT / "docs" / "dashboard.png")


@pytest.fixture
def seeded_dashboard():
    """The web shell alone, serving a state built from hand-made responsiveness and report events."""
    import asyncio
    import threading

    from aiohttp import web

    from pipeline.dashboard.server import create_app
    from pipeline.dashboard.state import DashboardState
    from tests.unit.test_dashboard_state import REPORT, escalation, responsiveness

    state = DashboardState()
    for event in (responsiveness("u-ls", "2026-03-02T00:00:00+08:00", 0.5, 900, overdue=2),
                  responsiveness("u-zs", "2026-03-02T00:00:00+08:00", 1.0, 60),
                  responsiveness("u-wm", "2026-03-02T00:00:00+08:00", 0.75, 3600, overdue=1),
                  responsiveness(None, "2026-03-02T00:00:00+08:00", 0.75, 900),
                  REPORT, escalation(1, "supervisor", rule="D1", group="g-apollo", member="u-sq")):
        state.apply(event)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(state=state, consume=False))
    port = _free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_responsiveness_sorts_and_the_report_renders(seeded_dashboard, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(seeded_dashboard)
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#responsiveness tbody tr"))

    def first_column():
        # Read in one script call: the live stream may re-render the rows at any moment.
        return browser.execute_script(
            "return [...document.querySelectorAll('#responsiveness tbody tr')].map(r => r.cells[0].textContent)")

    # default: lowest reply rate first
    assert first_column()[0] == "name-u-ls"
    header = browser.find_element(By.CSS_SELECTOR, '#responsiveness th[data-key="p90_reply_seconds"]')
    header.click()
    assert first_column()[0] == "name-u-zs"                # fastest p90 first
    header.click()
    assert first_column()[0] == "name-u-wm"                # slowest first
    browser.find_element(By.CSS_SELECTOR, '#responsiveness th[data-key="overdue"]').click()
    browser.find_element(By.CSS_SELECTOR, '#responsiveness th[data-key="overdue"]').click()
    assert first_column()[0] == "name-u-ls"                # most overdue first
    assert "1h 0m" in browser.find_element(By.ID, "responsiveness").text

    report = browser.find_element(By.ID, "report").text
    for text in ("阿波罗项目组", "Violations: 5", "D1", "Problems (C5)", "安全提醒: 3/4 read"):
        assert text in report
    followups = browser.find_element(By.ID, "followups").text
    assert "problem (C5)" in followups and "研发中心-陈磊" in followups and "supervisor · D1" in followups
