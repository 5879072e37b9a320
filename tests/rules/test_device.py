from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daypart.rules.device import CACHE_SIZE, DEVICE_CLASSES, MAX_USER_AGENT, device_class

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
ANDROID_PHONE_REDUCED = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)

MOBILE = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 "
    "(KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    ANDROID_PHONE_REDUCED,
    "Mozilla/5.0 (Android 13; Mobile; rv:124.0) Gecko/124.0 Firefox/124.0",
    # an app's HTTP stack on a phone: no browser engine, so no "Mobile" either
    "Dalvik/2.1.0 (Linux; U; Android 12; M2101K6G Build/SKQ1.210908.001)",
    # a foldable, opened: tablet-shaped UA, phone by make
    "Mozilla/5.0 (Linux; Android 14; SM-F946B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
    "Presto/2.5.25 Version/10.54",
    "Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1",
    # a lone product token, but one ua-parser knows as a handset
    "SAMSUNG-SGH-E250/1.0",
    # "Cubot" is a phone brand, not a bot
    "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/100.0.4896.127 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; ARM; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
]
TABLET = [
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; Lenovo TB-X605F) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/110.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/120.4.1 like Chrome/120.0.6099.230 Safari/537.36",
    # cheap tablets that still say "Mobile Safari", known by their model names
    "Mozilla/5.0 (Linux; Android 8.1.0; Orbit Tab 10 3G) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/90.0.4430.91 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 4.2.2; en-us; Nova MID 7 Build/JDQ39) "
    "AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
    "Mozilla/5.0 (Android 12; Tablet; rv:109.0) Gecko/115.0 Firefox/115.0",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0; Touch)",
]
DESKTOP = [
    CHROME_WINDOWS,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.6045.212 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; WOW64; Trident/5.0)",
    # Android apps on a laptop
    "Mozilla/5.0 (Linux; Android 9; Acer Chromebook Spin 713) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36",
    # a desktop app that names its platform but no browser
    "Microsoft Office Word/16.80 (Macintosh; Mac OS X 14.1; en-US; Apple/MacBookPro18,1)",
]
BOT = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.6367.60 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ExampleAI/1.0; "
    "+https://example.ai/crawler)",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Python/3.11 aiohttp/3.9.3",
    "python-httpx/0.27.0",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
    "Java/17.0.10",
    "Apache-HttpClient/4.5.14 (Java/17.0.10)",
    "libwww-perl/6.72",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "axios/1.6.8",
    "HTTPie/3.2.2",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) "
    "PhantomJS/2.1.1 Safari/534.34",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1 subscribers)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible)",
    "SomeInternalTool/0.3",
    "",
    "   ",
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    device_class.cache_clear()  # type: ignore[attr-defined]
    yield
    device_class.cache_clear()  # type: ignore[attr-defined]


def _cache_info() -> Any:
    return device_class.cache_info()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("agent", "expected"),
    [(ua, "mobile") for ua in MOBILE]
    + [(ua, "tablet") for ua in TABLET]
    + [(ua, "desktop") for ua in DESKTOP]
    + [(ua, "bot") for ua in BOT],
)
def test_classifies_handwritten_agents(agent: str, expected: str) -> None:
    assert device_class(agent) == expected


@pytest.mark.parametrize("name", ["sec-ch-ua-mobile", "Sec-CH-UA-Mobile", "SEC-CH-UA-MOBILE"])
def test_mobile_hint_makes_a_desktop_ua_mobile(name: str) -> None:
    assert device_class(CHROME_WINDOWS, {name: "?1"}) == "mobile"


@pytest.mark.parametrize("name", ["sec-ch-ua-mobile", "Sec-CH-UA-Mobile"])
def test_not_mobile_hint_on_an_android_phone_ua_means_tablet(name: str) -> None:
    assert device_class(ANDROID_PHONE_REDUCED, {name: "?0"}) == "tablet"


def test_not_mobile_hint_on_another_phone_ua_means_desktop() -> None:
    # A Chromium on a phone that is neither Android nor iOS sends real hints.
    harmony = (
        "Mozilla/5.0 (Phone; OpenHarmony 4.1) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile"
    )
    assert device_class(harmony) == "mobile"
    assert device_class(harmony, {"sec-ch-ua-mobile": "?0"}) == "desktop"


IPHONE = MOBILE[0]
IPHONE_CHROME = MOBILE[1]
IPOD = (
    "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1"
)
IPAD = TABLET[0]
# What Chromium's device emulation sends with its iPhone presets on a Windows desktop: the
# UA is swapped, the Client Hints still describe the desktop.
EMULATED_ON_A_DESKTOP = {
    "sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
}


@pytest.mark.parametrize("agent", [IPHONE, IPHONE_CHROME, IPOD])
@pytest.mark.parametrize("value", ["?0", "?1"])
def test_ios_phones_stay_mobile_whatever_the_hint_says(agent: str, value: str) -> None:
    assert device_class(agent, {"Sec-CH-UA-Mobile": value}) == "mobile"


def test_an_emulated_iphone_is_served_as_an_iphone() -> None:
    assert device_class(IPHONE, EMULATED_ON_A_DESKTOP) == "mobile"
    assert device_class(IPAD, EMULATED_ON_A_DESKTOP) == "tablet"


@pytest.mark.parametrize("value", ["?0", "?1"])
def test_ipads_stay_tablets_whatever_the_hint_says(value: str) -> None:
    assert device_class(IPAD, {"sec-ch-ua-mobile": value}) == "tablet"


def test_android_hints_still_count() -> None:
    # The mirror of the iOS cases: Android Chromiums do send hints, so they still decide.
    assert device_class(ANDROID_PHONE_REDUCED, {"sec-ch-ua-mobile": "?1"}) == "mobile"
    assert device_class(ANDROID_PHONE_REDUCED, {"sec-ch-ua-mobile": "?0"}) == "tablet"


def test_request_desktop_site_on_android_is_desktop() -> None:
    # Chrome for Android's "Desktop site" swaps in a desktop Linux UA and sends ?0.
    desktop_site = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36"
    )
    assert device_class(desktop_site, {"sec-ch-ua-mobile": "?0"}) == "desktop"
    assert device_class(desktop_site) == "desktop"


def _phone_shaped(model: str) -> str:
    """A UA that says "Mobile Safari", as cheap tablets' browsers and WebViews often do."""
    return (
        f"Mozilla/5.0 (Linux; Android 9; {model}) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/110.0.0.0 Mobile Safari/537.36"
    )


def _old_webview(model: str) -> str:
    return (
        f"Mozilla/5.0 (Linux; U; Android 4.4.2; en-us; {model} Build/KOT49H) "
        "AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30"
    )


def _tablet_shaped(model: str) -> str:
    return (
        f"Mozilla/5.0 (Linux; Android 12; {model}) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/110.0.0.0 Safari/537.36"
    )


@pytest.mark.parametrize(
    "agent",
    [
        # makers' tablet series
        _phone_shaped("SM-T580"),
        _phone_shaped("Lenovo TB-X606F"),
        _phone_shaped("AGS3-W09"),
        _phone_shaped("Nokia T20"),
        _phone_shaped("SGP771"),
        _old_webview("LG-V410"),
        _phone_shaped("B1-860"),
        _old_webview("Nexus 7"),
        _phone_shaped("9032X"),
        _old_webview("HTC_Flyer_P512"),
        _phone_shaped("iPlay 50"),
        _phone_shaped("RMP2102"),
        # model numbers that start with the screen size
        _phone_shaped("BQ-1077L"),
        _old_webview("BQru-8077G"),
        _old_webview("Archos 101 Oxygen"),
        # codes ua-parser traces to makers it knows only by their tablets
        _old_webview("AN10G2"),
        _old_webview("3Q_QS0716D"),
        _old_webview("Allview Viva H801"),
        _old_webview("ME302C"),
    ],
)
def test_tablets_that_say_mobile_safari_are_recognised_by_model(agent: str) -> None:
    assert device_class(agent) == "tablet"


@pytest.mark.parametrize(
    "agent",
    [
        # the same makers' phones, and phones whose names look like tablet codes
        _phone_shaped("BQ-5020"),
        _old_webview("BQ-6040L"),
        _old_webview("Archos 50 Platinum"),
        _old_webview("Allview P8 Energy"),
        _phone_shaped("9008X"),
        _phone_shaped("XT1068"),
        _phone_shaped("Nokia 7.2"),
        _phone_shaped("Nokia 8.3 5G"),
        _phone_shaped("TA-1053"),
        _phone_shaped("LM-Q720"),
        _phone_shaped("LG-H870"),
        _phone_shaped("CPH2409"),
        _phone_shaped("V2111"),
        _phone_shaped("moto g(60)"),
        # phones whose UA is tablet-shaped: the maker's series says phone
        _tablet_shaped("SM-N986B"),
        _tablet_shaped("SM-F946B"),
    ],
)
def test_phones_are_not_taken_for_tablets_by_model(agent: str) -> None:
    assert device_class(agent) == "mobile"


def test_codes_a_maker_gives_phones_and_tablets_alike_follow_the_ua() -> None:
    assert device_class(_phone_shaped("TA-1053")) == "mobile"
    assert device_class(_tablet_shaped("TA-1397")) == "tablet"


@pytest.mark.parametrize("value", ["?1", "?0"])
def test_hints_never_change_bots_or_tablets(value: str) -> None:
    hint = {"Sec-CH-UA-Mobile": value}
    assert device_class(BOT[0], hint) == "bot"
    assert device_class("", hint) == "bot"
    assert device_class(TABLET[0], hint) == "tablet"


@pytest.mark.parametrize("value", ["", "1", "true", "?2", "mobile"])
def test_malformed_hints_are_ignored(value: str) -> None:
    assert device_class(CHROME_WINDOWS, {"sec-ch-ua-mobile": value}) == "desktop"
    assert device_class(MOBILE[2], {"sec-ch-ua-mobile": value}) == "mobile"


def test_hint_tolerates_surrounding_whitespace_and_other_headers() -> None:
    headers = {"Accept": "text/html", "Sec-CH-UA-Mobile": " ?1 "}
    assert device_class(CHROME_WINDOWS, headers) == "mobile"


def test_no_or_empty_headers_are_no_hint() -> None:
    assert device_class(CHROME_WINDOWS, None) == "desktop"
    assert device_class(CHROME_WINDOWS, {}) == "desktop"


def test_huge_user_agent_is_cut_before_parsing() -> None:
    huge = CHROME_WINDOWS + " " + "x" * 100_000
    assert device_class(huge) == "desktop"
    assert device_class("y" * 100_000) == "bot"


def test_only_the_first_max_user_agent_characters_count() -> None:
    padded = CHROME_WINDOWS.ljust(MAX_USER_AGENT)
    assert device_class(padded + " Googlebot/2.1") == device_class(padded)


def test_garbage_bytes_decoded_as_latin_1() -> None:
    garbage = bytes(range(256)).decode("latin-1")
    assert device_class(garbage) in DEVICE_CLASSES
    assert device_class("\x00\xff\xfe" * 50) in DEVICE_CLASSES


def test_lone_surrogates_do_not_reach_the_parser() -> None:
    assert device_class("Mozilla/5.0 (iPhone; \ud800) Mobile") == "mobile"


@settings(max_examples=300, deadline=None)
@given(agent=st.text(max_size=700), hint=st.one_of(st.none(), st.text(max_size=5)))
def test_never_raises_on_any_text(agent: str, hint: str | None) -> None:
    headers = None if hint is None else {"Sec-CH-UA-Mobile": hint}
    assert device_class(agent, headers) in DEVICE_CLASSES


def test_cache_clear_empties_the_cache() -> None:
    device_class(CHROME_WINDOWS)
    device_class(CHROME_WINDOWS)
    assert _cache_info().hits == 1
    assert _cache_info().currsize == 1
    device_class.cache_clear()  # type: ignore[attr-defined]
    assert _cache_info().currsize == 0
    assert device_class(CHROME_WINDOWS) == "desktop"
    assert _cache_info().misses == 1


def test_cache_is_bounded() -> None:
    assert _cache_info().maxsize == CACHE_SIZE
    for i in range(CACHE_SIZE + 50):
        device_class(f"SomeTool/{i}")
    assert _cache_info().currsize == CACHE_SIZE
