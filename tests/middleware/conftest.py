from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daypart.middleware import AdaptiveMiddleware, decision_of
from daypart.middleware.decision import Decision

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
LAPTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

RULES = """\
version: 1
site:
  timezone: Europe/Amsterdam
  timezone_from: [cookie:tz, header:CF-Timezone]
dayparts:
  train_home: {days: weekdays, from: "17:00", to: "18:30"}
  evening:    {from: "19:00", to: "23:30"}
variants:
  inspiration:   {rewrite: "/inspiration{path}"}
  booking:       {rewrite: "/booking{path}"}
  booking-offer: {rewrite: "/booking{path}", headers: {X-Offer: autumn10}}
goals:
  booked: {method: POST, path: "/checkout/confirm", status: 2xx, value_header: X-Order-Value}
  shared: {beacon: true}
rules:
  - name: commuters-get-inspiration
    when: {device: mobile, daypart: train_home}
    serve: inspiration
  - name: evening-planners-book
    when: {device: [desktop, tablet], daypart: evening}
    serve: booking
    experiment: evening-offer
  - name: everyone-else
    serve: booking
experiments:
  evening-offer:
    arms: {control: booking, offer: booking-offer}
    goal: booked
"""


def local(text: str) -> float:
    """Epoch of an Amsterdam wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM).timestamp()


TUESDAY_1730 = local("2026-11-24T17:30")
TUESDAY_2100 = local("2026-11-24T21:00")


class Clock:
    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def __call__(self) -> float:
        return self.epoch


async def echo(request: Request) -> Response:
    decision = decision_of(request)
    return JSONResponse(
        {
            "path": request.url.path,
            "offer": request.headers.get("x-offer"),
            "decision": None if decision is None else decision.to_dict(),
        }
    )


async def confirm(request: Request) -> Response:
    return Response("booked", headers={"X-Order-Value": request.query_params.get("v", "100")})


RawApp = Callable[[Any, Any, Any], Awaitable[None]]


def get_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """A bare HTTP GET scope, for calling the middleware without a server or client."""
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": headers,
    }


async def no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def raw_app(handler: RawApp) -> RawApp:
    """A hand-written ASGI app for edge cases; answers the lifespan protocol so that
    TestClient (which runs it) and the middleware's start-up work as with any framework."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await handler(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return app


def echo_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/checkout/confirm", confirm, methods=["POST"]),
            # the catch-all rule rewrites every path, the checkout's POST included
            Route("/booking/checkout/confirm", confirm, methods=["POST"]),
            Route("/{rest:path}", echo, methods=["GET", "POST"]),
        ]
    )


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


@pytest.fixture
def make_app(rules_file: Path) -> Callable[..., AdaptiveMiddleware]:
    def make(app: Any = None, **options: Any) -> AdaptiveMiddleware:
        options.setdefault("secret", "test-secret-0123456789")
        options.setdefault("clock", Clock(TUESDAY_1730))
        options.setdefault("store", "memory://")
        options.setdefault("evaluate_interval", None)
        return AdaptiveMiddleware(app or echo_app(), rules=rules_file, **options)

    return make


def travel_demo(clock: Clock, admin_token: str) -> AdaptiveMiddleware:
    """The demo on the travel example, the memory store and ``clock``; the gates run only
    when a test calls ``background.evaluate``."""
    from daypart.middleware.tools.demo.app import build_demo
    from daypart.rules import EXAMPLES_DIR

    return build_demo(
        str(EXAMPLES_DIR / "travel.yaml"),
        "memory://",
        clock=clock,
        admin_token=admin_token,
        evaluate_interval=None,
    )


Headers = list[tuple[bytes, bytes]]


class Served:
    """What one request through the middleware gave: the decision and the path the app
    saw, and the response's headers."""

    def __init__(self, decision: Decision, path: str, headers: Headers) -> None:
        self.decision = decision
        self.path = path  # what the app saw
        self.headers = headers

    @property
    def cookie(self) -> bytes | None:
        for name, value in self.headers:
            if name == b"set-cookie":
                return value.split(b";", 1)[0]
        return None


async def serve_one(
    app: AdaptiveMiddleware,
    headers: Headers,
    path: str = "/",
    method: str = "GET",
    response_headers: Headers | None = None,
) -> Served:
    """One request through ``app`` (a middleware built with no app behind it: this sets
    one that records what it saw and answers 200 with ``response_headers``)."""
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen["decision"] = scope["state"]["daypart"]
        seen["path"] = scope["path"]
        answer = list(response_headers or [])
        await send({"type": "http.response.start", "status": 200, "headers": answer})
        await send({"type": "http.response.body", "body": b""})

    app.app = inner

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["headers"] = message["headers"]

    scope = get_scope(path, headers)
    scope["method"] = method
    await app(scope, no_body, send)
    return Served(seen["decision"], seen["path"], seen["headers"])


def run_then_stop(app: AdaptiveMiddleware, steps: Callable[[], Any]) -> None:
    """Run the coroutine ``steps()`` on a fresh loop, then stop ``app``'s background."""

    async def main() -> None:
        try:
            await steps()
        finally:
            await app.background.stop()

    asyncio.run(main())
