"""The visitor's time zone from a real browser: Debian's Chromium in another zone than the
site's loads a page, the page's ``/_daypart/tz.js`` stores the zone in the ``tz`` cookie,
and the next request is decided in the browser's zone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium, needs_chromium
from tests.middleware.conftest import RULES
from tests.servers import uvicorn_server

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


def test_the_second_request_is_decided_in_the_browsers_zone(
    browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.common.by import By

    assert isinstance(browser, WebDriver)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)  # site zone Europe/Amsterdam, timezone_from: [cookie:tz, ...]
    env = {
        "DAYPART_TEST_RULES": str(rules),
        "DAYPART_STORE": "memory://",
        "DAYPART_SECRET": "tz-browser-secret-0123456789",
    }
    # The browser's own zone, as a visitor in Tokyo has it (what Intl reports).
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    with uvicorn_server("tests.middleware.site:app", env) as site:
        browser.get(f"{site}/destinations/zone.html")
        first = browser.find_element(By.ID, "zone").text
        assert (
            browser.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
            == "Asia/Tokyo"
        )
        assert browser.get_cookie("tz") is not None  # the script ran and stored the zone
        browser.get(f"{site}/destinations/zone.html")
        second = browser.find_element(By.ID, "zone").text
    assert first == "Europe/Amsterdam"  # the first page: no zone known yet, the site's
    assert second == "Asia/Tokyo"
