"""The dashboard end to end: the sample conversation goes into Kafka, the worker moderates it, the
dashboard (its own process, a Kafka consumer of the output topics) shows it in a real headless
Chromium driven by Selenium. A screenshot is kept in the test's folder and as docs/dashboard.png."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def _expected(engine) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for role, event in run(engine, [orjson.dumps(e) for e in conversation()]):
        out.setdefault(role, []).append(event)
    return out


def test_dashboard_shows_the_sample_conversation(deployment, dashboard, browser, engine, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    expected = _expected(engine)
    violations, escalations = expected["violations"], expected["escalations"]
    assert violations and escalations

    browser.get(dashboard)
    WebDriverWait(browser, 30).until(lambda d: "live" in d.find_element(By.ID, "status").text)

    deployment.start_worker()
    deployment.produce(conversation())

    feed_rows = len(violations) + len(escalations)
    WebDriverWait(browser, 120, poll_frequency=0.5).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#feed tbody tr")) >= feed_rows,
        message="the dashboard did not show every violation and escalation")

    rows = browser.find_elements(By.CSS_SELECTOR, "#feed tbody tr")
    assert len(rows) == feed_rows                                   # no duplicates
    shown = {(r.get_attribute("data-kind"), r.get_attribute("data-group"), r.get_attribute("data-rule")) for r in rows}
    assert shown == {(e["kind"], e["group_id"], e["rule"]) for e in violations + escalations}
    feed_text = browser.find_element(By.ID, "feed").text
    for rule in ("D1", "D2", "P5", "C3", "P9"):
        assert rule in feed_text
    for group in ("g-fin", "g-apollo", "g-cross"):
        assert group in feed_text
    # Redacted excerpts only: the phone number, resident id and password of the sample never appear.
    page = browser.find_element(By.TAG_NAME, "body").text
    for secret in ("13812345678", "110101199003074578", "Apollo@2026!"):
        assert secret not in page
    assert "138****5678" in page

    # one chart per group with violations, its legend naming the rules
    charts = browser.find_elements(By.CSS_SELECTOR, "#charts .chart")
    assert {c.get_attribute("data-group") for c in charts} == {e["group_id"] for e in violations}
    assert "D1 3" in browser.find_element(By.CSS_SELECTOR, '#charts .chart[data-group="g-apollo"] .legend').text

    # filters: one group and one rule
    Select(browser.find_element(By.ID, "f-group")).select_by_value("g-apollo")
    Select(browser.find_element(By.ID, "f-rule")).select_by_value("D1")
    filtered = browser.find_elements(By.CSS_SELECTOR, "#feed tbody tr")
    d1_apollo = [e for e in violations + escalations if e["group_id"] == "g-apollo" and e["rule"] == "D1"]
    assert len(filtered) == len(d1_apollo)
    assert all(r.get_attribute("data-rule") == "D1" for r in filtered)

    # open follow-ups: the supervisor steps of the ladder are listed
    followups = browser.find_element(By.ID, "followups").text
    assert "supervisor · D1" in followups

    # responsiveness and reports, when the pipeline writes them for the sample
    member_windows = [e for e in expected.get("responsiveness", [])
                      if e.get("scope") == "member" and (e.get("window") or {}).get("kind") == "day"]
    Select(browser.find_element(By.ID, "f-group")).select_by_value("")
    Select(browser.find_element(By.ID, "f-rule")).select_by_value("")
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
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(artifact, ROOT / "docs" / "dashboard.png")
    print(f"screenshot: {artifact}")
