"""``/_daypart/tz.js``: the script that stores the visitor's zone in the cookie the rules
read — public, cacheable, no inline code — and what the next request makes of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import LAPTOP, RULES


def test_the_script_is_public_cacheable_javascript(
    make_app: Callable[..., AdaptiveMiddleware],
) -> None:
    with TestClient(make_app(admin_token="secret-token-0123")) as client:
        script = client.get("/_daypart/tz.js")
        again = client.get("/_daypart/tz.js", headers={"If-None-Match": script.headers["etag"]})
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=86400"
    assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in script.text
    assert '"tz" + "="' in script.text  # the rules' cookie source: cookie:tz
    assert "set-cookie" not in script.headers
    assert again.status_code == 304
    assert again.content == b""


def test_the_cookie_name_follows_the_rules(
    rules_file: Path, make_app: Callable[..., AdaptiveMiddleware]
) -> None:
    rules_file.write_text(RULES.replace("[cookie:tz, header:CF-Timezone]", "[cookie:visitor_zone]"))
    with TestClient(make_app()) as client:
        assert '"visitor_zone" + "="' in client.get("/_daypart/tz.js").text
    rules_file.write_text(RULES.replace("[cookie:tz, header:CF-Timezone]", "[header:CF-Timezone]"))
    with TestClient(make_app()) as client:
        assert '"tz" + "="' in client.get("/_daypart/tz.js").text


def test_what_the_script_stores_decides_the_next_request(
    make_app: Callable[..., AdaptiveMiddleware],
) -> None:
    # Tuesday 17:30 in Amsterdam is 01:30 on Wednesday in Tokyo: no evening there.
    with TestClient(make_app()) as client:
        home = client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]
        tokyo = client.get("/", headers={"User-Agent": LAPTOP, "Cookie": "tz=Asia%2FTokyo"}).json()[
            "decision"
        ]
    assert home["timezone"] == "Europe/Amsterdam"
    assert tokyo["timezone"] == "Asia/Tokyo"
    assert tokyo["local_time"].startswith("2026-11-25T01:30")
