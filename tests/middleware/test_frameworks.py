"""daypart in front of a raw ASGI app, FastAPI, and a real uvicorn server over a socket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware, convert, decision_of
from tests.middleware.conftest import IPHONE, LAPTOP, TUESDAY_2100, Clock, raw_app
from tests.servers import uvicorn_server

MakeApp = Callable[..., AdaptiveMiddleware]


def test_raw_asgi_app_sees_the_rewritten_path_and_the_decision(make_app: MakeApp) -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        decision = scope["state"]["daypart"]
        body = f"{scope['path']} {decision.rule} {decision.device}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    with TestClient(make_app(raw_app(raw))) as client:
        text = client.get("/trips", headers={"User-Agent": IPHONE}).text
    assert text == "/inspiration/trips commuters-get-inspiration mobile"


def test_fastapi_with_add_middleware_and_convert(rules_file: Path) -> None:
    api = FastAPI()

    @api.get("/{rest:path}")
    async def page(rest: str, request: Request) -> dict[str, Any]:
        decision = decision_of(request)
        assert decision is not None
        return {"path": request.url.path, "arm": decision.arm, "rule": decision.rule}

    @api.post("/{rest:path}")
    async def pay(rest: str, request: Request) -> dict[str, int]:
        return {"counted": await convert(request, "booked", value=250.0)}

    api.add_middleware(
        AdaptiveMiddleware,
        rules=rules_file,
        store="memory://",
        secret="test-secret-0123456789",
        clock=Clock(TUESDAY_2100),
        evaluate_interval=None,
    )
    with TestClient(api) as client:
        body = client.get("/", headers={"User-Agent": LAPTOP}).json()
        counted = client.post("/pay", headers={"User-Agent": LAPTOP}).json()
    assert body["path"] == "/booking/"
    assert body["rule"] == "evening-planners-book"
    assert body["arm"] in ("control", "offer")
    # the visitor is in evening-offer (goal: booked): one conversion, in one experiment
    assert counted == {"counted": 1}


@pytest.mark.slow
def test_real_uvicorn_server_over_a_socket(rules_file: Path) -> None:
    env = {"DAYPART_TEST_RULES": str(rules_file), "DAYPART_SECRET": "s" * 32}
    with uvicorn_server("tests.middleware.site:app", env) as url:
        phone = httpx.get(f"{url}/trips", headers={"User-Agent": IPHONE, "CF-Timezone": "UTC"})
        bot = httpx.get(f"{url}/trips", headers={"User-Agent": "curl/8.5.0"})
        health = httpx.get(f"{url}/_daypart/health")
    assert phone.status_code == 200
    assert phone.json()["decision"]["device"] == "mobile"
    assert phone.json()["path"] in ("/inspiration/trips", "/booking/trips")
    assert "daypart=" in phone.headers["set-cookie"]
    assert "User-Agent" in phone.headers["vary"]
    assert bot.json()["decision"]["device"] == "bot"
    assert bot.json()["path"] == "/booking/trips"
    assert "set-cookie" not in bot.headers
    assert health.json()["status"] == "ok"
