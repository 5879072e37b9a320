"""A real browser against a real server: Debian's Chromium, driven by Selenium through
Debian's chromedriver (the same build, so no driver is ever downloaded).

A person logs in, opens the board and an experiment, pauses it through the confirmation
step, and sees the new state and their name in the audit log. Then, still logged in, the
browser visits a page on another origin that auto-submits forms to the admin actions —
the attack of the bug report — and nothing changes.

Screenshots of the login and experiment pages (desktop and a 390×844 phone) go to
``$DAYPART_SCREENSHOTS`` when set, else to the test's temporary folder.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium, needs_chromium
from tests.middleware.conftest import LAPTOP, RULES
from tests.redis_server import free_port
from tests.servers import uvicorn_server

TOKEN = "browser-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
EXPERIMENT = "/_daypart/experiments/evening-offer"

pytestmark = [pytest.mark.slow, needs_chromium]


def attack_page(admin: str) -> bytes:
    """What the attacker's site serves: forms that post to the admin at once, one as
    text/plain JSON to the API (the reported attack), one to the pages' action URL."""
    api = f"{admin}/_daypart/api/experiments/evening-offer/complete"
    page = f"{admin}{EXPERIMENT}/complete"
    return f"""<!doctype html><html><body><h1>Win a trip!</h1>
<form id="api" method="post" action="{api}" enctype="text/plain">
<input name='{{"winner": "offer", "reason": "' value='"}}'></form>
<form id="page" method="post" action="{page}">
<input name="csrf" value="guessed"><input name="winner" value="offer"></form>
<script>document.getElementById(location.hash === "#page" ? "page" : "api").submit()</script>
</body></html>""".encode()


@pytest.fixture
def evil_site() -> Iterator[tuple[int, list[bytes]]]:
    """A tiny server on another port; the page it serves is set by the test."""
    served: list[bytes] = [b""]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(served[0])

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], served
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium("--window-size=1280,900", "--lang=en") as driver:
        yield driver


EVENING_VISITORS = 12


def evening_visitors(admin: str) -> None:
    """Laptops in a zone where it is evening now (the experiment's rule), so the pages
    have numbers to compare with the API whenever the test runs."""
    hour = datetime.now(UTC).hour
    offset = (21 - hour + 12) % 24 - 12  # UTC+offset is around 21:00 now
    zone = f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"  # POSIX signs are inverted
    for _ in range(EVENING_VISITORS):
        httpx.get(
            f"{admin}/destinations/kyoto",
            headers={"User-Agent": LAPTOP, "Cookie": f"tz={zone}"},
        ).raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the recorder flushes every half second
        report = httpx.get(f"{admin}/_daypart/api/experiments/evening-offer", headers=BEARER)
        if report.json()["visitors"] == EVENING_VISITORS:
            return
        time.sleep(0.1)
    raise AssertionError(f"exposures not recorded: {report.json()['visitors']}")


def state_of(admin: str) -> tuple[str, list[tuple[str, str]]]:
    report = httpx.get(f"{admin}/_daypart/api/experiments/evening-offer", headers=BEARER)
    audit = httpx.get(f"{admin}/_daypart/api/experiments/evening-offer/audit", headers=BEARER)
    entries = [(entry["actor"], entry["action"]) for entry in audit.json()]
    return report.json()["state"]["status"], entries


def test_log_in_pause_with_confirmation_and_refuse_another_sites_forms(
    browser: object, evil_site: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    driver = browser
    shots = Path(os.environ.get("DAYPART_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {
        "DAYPART_TEST_RULES": str(rules),
        "DAYPART_STORE": "memory://",
        "DAYPART_SECRET": "browser-test-secret-0123456789",
        "DAYPART_ADMIN_TOKEN": TOKEN,
    }
    evil_port, evil_page = evil_site

    def wait_for_text(text: str) -> None:
        # the old page's body goes stale while the next one loads: look again
        WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: text in d.find_element(By.TAG_NAME, "body").text
        )

    def phone(on: bool) -> None:
        if on:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
            )
        else:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    with uvicorn_server("tests.middleware.site:app", env) as admin:
        evening_visitors(admin)
        # 1. Not logged in: the board sends the browser to the login page.
        driver.get(f"{admin}/_daypart/")
        assert "/_daypart/login?next=/_daypart/" in driver.current_url
        driver.save_screenshot(str(shots / "login-desktop.png"))
        phone(True)
        driver.refresh()
        driver.save_screenshot(str(shots / "login-phone.png"))
        phone(False)
        driver.find_element(By.NAME, "name").send_keys("Ana Lyst")
        driver.find_element(By.NAME, "password").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "button.primary").click()

        # 2. The board, then the experiment, whose numbers are the API's.
        wait_for_text("evening-offer")
        assert driver.current_url == f"{admin}/_daypart/"
        assert "Ana Lyst" in driver.find_element(By.CLASS_NAME, "bar").text
        driver.find_element(By.LINK_TEXT, "evening-offer").click()
        wait_for_text("Rollout history")
        driver.save_screenshot(str(shots / "experiment-desktop.png"))
        report = httpx.get(f"{admin}/_daypart/api/experiments/evening-offer", headers=BEARER)
        pooled = driver.find_element(By.XPATH, "//h2[.='All segments pooled']/following::table")
        shown = {
            row.find_elements(By.TAG_NAME, "td")[0].text.split(" ")[0]: (
                int(row.find_elements(By.TAG_NAME, "td")[1].text),
                int(row.find_elements(By.TAG_NAME, "td")[2].text),
            )
            for row in pooled.find_elements(By.TAG_NAME, "tr")[1:]
        }
        api = {arm["name"]: (arm["visitors"], arm["conversions"]) for arm in report.json()["arms"]}
        assert shown == api
        assert sum(visitors for visitors, _ in api.values()) == EVENING_VISITORS

        # 3. Pause, through the confirmation step.
        driver.find_element(By.LINK_TEXT, "Pause…").click()
        wait_for_text("no new visitors enter")
        assert (
            "Pause evening-offer: no new visitors enter; visitors already in keep their arm "
            "and their conversions still count." in driver.page_source
        )
        driver.find_element(By.NAME, "reason").send_keys("campaign week")
        driver.save_screenshot(str(shots / "confirm-pause-desktop.png"))
        driver.find_element(By.CSS_SELECTOR, "button.primary").click()

        # 4. Back on the experiment: the new state and who did it.
        wait_for_text("evening-offer paused.")
        assert driver.current_url == f"{admin}{EXPERIMENT}?done=pause"
        assert "status paused" in driver.find_element(By.TAG_NAME, "body").text
        history = driver.find_element(By.XPATH, "//h2[.='Rollout history']/following::table")
        first_entry = history.find_elements(By.TAG_NAME, "tr")[1].text  # newest first
        assert "Ana Lyst" in first_entry
        assert "pause" in first_entry
        assert "campaign week" in first_entry
        driver.save_screenshot(str(shots / "experiment-after-pause-desktop.png"))
        history.location_once_scrolled_into_view  # noqa: B018 (scrolls, as a person would)
        driver.save_screenshot(str(shots / "history-desktop.png"))
        phone(True)
        driver.refresh()
        driver.save_screenshot(str(shots / "experiment-phone.png"))
        # On a phone each arm is a card: nothing to scroll sideways, every figure in view.
        overflowing = driver.execute_script(
            "return [...document.querySelectorAll('table.arms')].filter(t =>"
            " t.scrollWidth > t.clientWidth + 1"
            " || t.getBoundingClientRect().right > window.innerWidth + 1).length"
        )
        assert overflowing == 0
        for cell in driver.find_elements(By.CSS_SELECTOR, "table.arms td[data-label='rate']"):
            assert cell.is_displayed()
            assert cell.rect["x"] + cell.rect["width"] <= 390 + 1
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        driver.find_element(By.XPATH, "//h2[.='Rollout history']").location_once_scrolled_into_view  # noqa: B018
        driver.save_screenshot(str(shots / "history-phone.png"))
        phone(False)
        before = state_of(admin)
        assert before[0] == "paused"
        assert before[1][-1] == ("Ana Lyst", "pause")

        # 5. The logged-in browser visits another site whose page posts to the admin.
        #    localhost is another site than 127.0.0.1 (cross-site; the SameSite=Strict
        #    cookie stays home); 127.0.0.1 on another port is the same site (the cookie
        #    goes along, and Sec-Fetch-Site / Origin refuse it).
        evil_page[0] = attack_page(admin)
        for host, site in (("localhost", "cross-site"), ("127.0.0.1", "same-site")):
            for form in ("#api", "#page"):
                driver.get(f"http://{host}:{evil_port}/win{form}")
                wait_for_text("refused")
                assert driver.current_url.startswith(admin), (host, form)
                # what the browser itself said about where the form came from
                assert f"Sec-Fetch-Site: '{site}'" in driver.page_source, (host, form)
                assert state_of(admin) == before, (host, form)
