"""The request path end to end, through Starlette's TestClient and real responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import (
    GOOGLEBOT,
    IPHONE,
    LAPTOP,
    TUESDAY_2100,
    Clock,
    get_scope,
    local,
    no_body,
    raw_app,
)

MakeApp = Callable[..., AdaptiveMiddleware]


def test_phone_on_the_train_gets_inspiration(make_app: MakeApp) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/trips/lisbon", headers={"User-Agent": IPHONE})
    body = response.json()
    assert body["path"] == "/inspiration/trips/lisbon"
    decision = body["decision"]
    assert decision["device"] == "mobile"
    assert decision["rule"] == "commuters-get-inspiration"
    assert decision["variant"] == "inspiration"
    assert decision["dayparts"] == ["train_home"]
    assert decision["local_time"].startswith("2026-11-24T17:30")
    assert decision["new_visitor"] is True


def test_laptop_in_the_evening_books_and_is_in_the_experiment(make_app: MakeApp) -> None:
    with TestClient(make_app(clock=Clock(TUESDAY_2100))) as client:
        body = client.get("/", headers={"User-Agent": LAPTOP}).json()
    decision = body["decision"]
    assert decision["rule"] == "evening-planners-book"
    assert decision["experiment"] == "evening-offer"
    assert decision["arm"] in ("control", "offer")
    assert body["path"] == "/booking/"
    assert body["offer"] == ("autumn10" if decision["arm"] == "offer" else None)


def test_visitor_timezone_from_cookie_and_header(make_app: MakeApp) -> None:
    # 17:30 in Amsterdam is 16:30 in London: not on the train yet.
    with TestClient(make_app()) as client:
        client.cookies.set("tz", "Europe/London")
        london = client.get("/", headers={"User-Agent": IPHONE})
        client.cookies.clear()
        tokyo = client.get("/", headers={"User-Agent": IPHONE, "CF-Timezone": "Asia/Tokyo"})
        bogus = client.get("/", headers={"User-Agent": IPHONE, "CF-Timezone": "Mars/Base"})
    assert london.json()["decision"]["local_time"].startswith("2026-11-24T16:30")
    assert london.json()["decision"]["rule"] == "everyone-else"
    assert tokyo.json()["decision"]["timezone"] == "Asia/Tokyo"
    assert bogus.json()["decision"]["timezone"] == "Europe/Amsterdam"


def test_vary_and_cache_control_are_added_to_the_apps_own(make_app: MakeApp) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"vary", b"Accept-Encoding"), (b"cache-control", b"max-age=60")],
            }
        )
        await send({"type": "http.response.body", "body": b"hi"})

    with TestClient(make_app(raw_app(app))) as client:
        response = client.get("/", headers={"User-Agent": LAPTOP})
    assert response.headers["vary"] == "Accept-Encoding, User-Agent, Sec-CH-UA-Mobile, Cookie"
    assert response.headers["cache-control"] == "private, max-age=60"


def test_visitor_cookie_is_set_once_and_signed(make_app: MakeApp) -> None:
    with TestClient(make_app(), base_url="https://shop.example") as client:
        first = client.get("/", headers={"User-Agent": LAPTOP})
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" in cookie
        second = client.get("/", headers={"User-Agent": LAPTOP})
    assert "set-cookie" not in second.headers
    assert second.json()["decision"]["new_visitor"] is False
    assert second.json()["decision"]["visitor_id"] == first.json()["decision"]["visitor_id"]


def test_plain_http_cookie_is_not_secure(make_app: MakeApp) -> None:
    with TestClient(make_app()) as client:
        assert "Secure" not in client.get("/", headers={"User-Agent": LAPTOP}).headers["set-cookie"]


def test_tampered_cookie_is_a_new_visitor(make_app: MakeApp) -> None:
    with TestClient(make_app()) as client:
        client.get("/", headers={"User-Agent": LAPTOP})
        value = client.cookies["daypart"]
        client.cookies.clear()
        client.cookies.set("daypart", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        response = client.get("/", headers={"User-Agent": LAPTOP})
    assert response.status_code == 200
    assert response.json()["decision"]["new_visitor"] is True
    assert "set-cookie" in response.headers


def test_opted_out_visitors_get_variants_but_no_cookie_and_no_experiment(
    make_app: MakeApp,
) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        for header in ("DNT", "Sec-GPC"):
            for _ in range(20):
                response = client.get("/", headers={"User-Agent": LAPTOP, header: "1"})
                decision = response.json()["decision"]
                assert decision["variant"] == "booking"  # the control arm's variant
                assert decision["arm"] is None
                assert decision["tracked"] is False
                assert "set-cookie" not in response.headers
    assert app.runtime.recorder.pending == 0
    assert app.runtime.recorder.stats.written == 0


def test_bots_get_the_default_variant_and_are_never_counted(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        response = client.get("/", headers={"User-Agent": GOOGLEBOT})
    decision = response.json()["decision"]
    assert decision["device"] == "bot"
    assert decision["rule"] == "everyone-else"
    assert decision["arm"] is None
    assert "set-cookie" not in response.headers
    assert app.runtime.recorder.pending == 0


def test_excluded_paths_and_websockets_pass_through_untouched(make_app: MakeApp) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"static"})

    with TestClient(make_app(raw_app(app))) as client:
        response = client.get("/static/app.css", headers={"User-Agent": IPHONE})
        with client.websocket_connect("/ws"):
            pass
    assert response.headers.get("vary") is None
    assert "set-cookie" not in response.headers
    http_scope = next(s for s in seen if s["type"] == "http")
    assert http_scope["path"] == "/static/app.css"
    assert "daypart" not in http_scope.get("state", {})
    assert any(s["type"] == "websocket" for s in seen)


def test_rules_reload_and_a_broken_file_keeps_the_last_good_rules(
    make_app: MakeApp, rules_file: Path
) -> None:
    app = make_app()
    with TestClient(app) as client:
        rules_file.write_text(rules_file.read_text().replace('"17:00"', '"18:00"'))
        assert asyncio.run(app.background.reload()) is True
        body = client.get("/", headers={"User-Agent": IPHONE}).json()
        assert body["decision"]["rule"] == "everyone-else"  # 17:30 is no longer train_home

        rules_file.write_text("version: 1\nrules:\n  - name: x\n    serve: [oops\n")
        assert asyncio.run(app.background.reload()) is False
        assert app.runtime.rules_error is not None
        assert "rules.yaml:" in app.runtime.rules_error
        still = client.get("/", headers={"User-Agent": IPHONE})
        assert still.status_code == 200
        assert still.json()["decision"]["rule"] == "everyone-else"
        health = client.get("/_daypart/health").json()
        assert health["status"] == "degraded"
        assert health["rules"]["error"] == app.runtime.rules_error


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    agent=st.binary(max_size=600),
    cookie=st.binary(max_size=400),
    tz=st.binary(max_size=80),
    mobile_hint=st.binary(max_size=10),
)
def test_garbage_headers_never_raise(
    make_app: MakeApp, agent: bytes, cookie: bytes, tz: bytes, mobile_hint: bytes
) -> None:
    app = make_app()

    async def run() -> int:
        status = 0

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        headers = [
            (b"user-agent", agent),
            (b"cookie", cookie),
            (b"cf-timezone", tz),
            (b"sec-ch-ua-mobile", mobile_hint),
        ]
        await app(get_scope("/", headers), no_body, send)
        return status

    assert asyncio.run(run()) == 200


def test_weekend_evening_local_time(make_app: MakeApp) -> None:
    with TestClient(make_app(clock=Clock(local("2026-11-28T17:30")))) as client:
        body = client.get("/", headers={"User-Agent": IPHONE}).json()
    assert body["decision"]["dayparts"] == []
    assert body["decision"]["rule"] == "everyone-else"


def test_same_visitor_same_arm_across_workers(make_app: MakeApp) -> None:
    first, second = make_app(clock=Clock(TUESDAY_2100)), make_app(clock=Clock(TUESDAY_2100))
    arms = []
    with TestClient(first) as a:
        arms.append(a.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"])
        cookie = a.cookies["daypart"]
    with TestClient(second) as b:
        b.cookies.set("daypart", cookie)
        arms.append(b.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"])
    assert arms[0] is not None
    assert arms[0] == arms[1]
