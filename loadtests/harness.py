"""An in-process ASGI harness: calls an app directly, no sockets, so that what is measured
is the app and its middleware, not the network stack."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Scope = dict[str, Any]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def http_scope(
    path: str = "/",
    *,
    method: str = "GET",
    headers: Sequence[tuple[bytes, bytes]] = (),
    query_string: bytes = b"",
) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string,
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class Collector:
    __slots__ = ("headers", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))


async def call(app: ASGIApp, scope: Scope) -> Collector:
    collector = Collector()
    await app(dict(scope, headers=list(scope["headers"])), _receive, collector)
    return collector


async def time_requests(app: ASGIApp, scopes: Sequence[Scope], repeat: int = 1) -> float:
    """Seconds per request, over ``scopes`` run ``repeat`` times in order."""
    send = Collector()
    started = time.perf_counter()
    for _ in range(repeat):
        for scope in scopes:
            await app(dict(scope), _receive, send)
    return (time.perf_counter() - started) / (len(scopes) * repeat)


def median_of_rounds(
    app: ASGIApp,
    make_scopes: Callable[[int], Sequence[Scope]],
    *,
    rounds: int = 7,
    per_round: int = 2000,
    prepare: Callable[[], None] | None = None,
) -> float:
    """Median seconds per request over ``rounds`` rounds; ``make_scopes(round)`` gives the
    requests of one round, ``prepare`` runs before each (e.g. to clear a cache)."""

    async def run() -> float:
        timings = []
        await time_requests(app, make_scopes(-1)[:200])  # warm-up: imports, first caches
        for index in range(rounds):
            scopes = make_scopes(index)[:per_round]
            if prepare is not None:
                prepare()
            timings.append(await time_requests(app, scopes))
        return statistics.median(timings)

    return asyncio.run(run())
