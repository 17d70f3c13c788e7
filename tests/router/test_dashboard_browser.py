"""The ops dashboard in a real headless browser (Debian's chromium, driven by selenium),
served by a real worker on the real broker: sign in with the token, label an audit item
with one click, see the queue's count drop and the label land on `feedback`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from .stream import RouterProcess, encode, key_of, mention, running

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Headless, and quiet on a machine without internet: no first-run, sync, component or
#: background requests (without these chromium keeps trying refused connections).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync")
WAIT_S = 60


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"no headless browser here ({', '.join(missing)} missing): "
                    "apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def audit_count(driver: WebDriver) -> int:
    return int(driver.find_element(By.ID, "audit-count").text)


def chart_text(driver: WebDriver) -> str:
    """The tooltips of the verdict charts' bars ("10:00 silent: 2", ...)."""
    return " | ".join(t.get_attribute("textContent") or "" for t in
                      driver.find_elements(By.CSS_SELECTOR, "#volumes svg rect title"))


@pytest.mark.kafka
@pytest.mark.slow
def test_an_audit_item_labelled_in_one_click_leaves_the_queue(
        kafka_bootstrap: str, tmp_path: Path, browser: WebDriver) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    rp = RouterProcess(kafka_bootstrap, tmp_path / "worker", extra_env={
        "ROUTER_AUDIT_SHARE": "1", "ROUTER_DASHBOARD_TOKEN": token})
    posts = [mention("d1", "Love the new ad campaign, the music is great"),
             mention("d2", "What a beautiful sunset over the bay tonight", handle="bob"),
             mention("d3", "I was charged twice for my order, please refund me",
                     handle="cy")]
    base = f"http://127.0.0.1:{rp.web_port}/dashboard"
    with running(rp):
        rp.produce("mentions", [encode(p) for p in posts], [key_of(p) for p in posts])
        rp.read("audit", lambda r: len(r) >= 2)

        browser.get(base)  # no cookie yet: one line saying how to sign in
        assert "sign in" in browser.find_element(By.TAG_NAME, "body").text
        browser.get(f"{base}?token={token}")  # sets the cookie, back to /dashboard
        assert browser.current_url == base
        assert token not in browser.page_source  # the cookie is derived, never the token
        assert audit_count(browser) == 2

        rows = browser.find_elements(By.CSS_SELECTOR, "tr.audit-item")
        refs = [r.get_attribute("data-ref") for r in rows]
        assert sorted(refs) == ["generic:d1", "generic:d2"]
        rows[0].find_element(By.CSS_SELECTOR, "button.yes").click()
        # The click posts, the worker redirects back: until the new page is there, any
        # read of the old one may fail (chromium: "node ... does not belong to the document").
        WebDriverWait(browser, WAIT_S, ignored_exceptions=(WebDriverException,)).until(
            lambda d: audit_count(d) == 1)
        left = [r.get_attribute("data-ref")
                for r in browser.find_elements(By.CSS_SELECTOR, "tr.audit-item")]
        assert left == [refs[1]]
        # the label reached the estimates: one audit label, "yes" (support could have
        # helped, where the router was silent: a miss, so recall is 0 of 1)
        sources = [r.text.split() for r in
                   browser.find_elements(By.CSS_SELECTOR, "#quality table tr")]
        assert ["audit", "1", "0"] in sources, sources
        assert "0 of 1 labels" in browser.find_element(By.ID, "quality").text

        # The verdicts chart: each worker publishes its counts every few seconds.
        deadline = time.monotonic() + WAIT_S
        while "silent: 2" not in chart_text(browser):
            assert time.monotonic() < deadline, "no verdict chart:\n" + rp.log_text()[-3000:]
            time.sleep(2)
            browser.refresh()
        labels = rp.read("feedback", lambda r: len(r) >= 1)
    assert [(lab["mention_ref"], lab["actionable"], lab["source"], lab["by"])
            for lab in labels] == [(refs[0], True, "audit", "dashboard")]
