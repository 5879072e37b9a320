"""The demo as a person sees it in Debian's Chromium, on a small window (the page longer
than the screen): the booking variant's chat bar stays on screen and covers none of the
page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import chromium, needs_chromium
from tests.middleware.conftest import LAPTOP
from tests.servers import uvicorn_server

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


def test_the_chat_bar_covers_nothing_on_a_narrow_screen(browser: object) -> None:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.common.by import By

    assert isinstance(browser, WebDriver)
    browser.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": LAPTOP})
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 420, "deviceScaleFactor": 1, "mobile": False},
    )
    with uvicorn_server("tests.middleware.demo_site:app", {"DAYPART_STORE": "memory://"}) as site:
        browser.get(f"{site}/")
        assert "variant booking" in browser.find_element(By.CLASS_NAME, "why").text
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        chat = browser.find_element(By.CLASS_NAME, "chat").rect
        last = browser.find_element(By.CLASS_NAME, "why")
        bottom = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", last)
        top = browser.execute_script(
            "return document.querySelector('.chat').getBoundingClientRect().top"
        )
        assert chat["width"] <= 390
        assert bottom <= top, "the chat bar covers the end of the page"
