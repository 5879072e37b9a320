"""``make bench``: daypart's cost on the request path, measured side by side in one run.

Every figure is the median of several rounds of an in-process ASGI harness (no sockets),
so the differences are the middleware's own cost. Ratios are against the bare app.

The middleware's clock is fixed at a Tuesday, 21:00 in Amsterdam (20:00 for the visitors
whose ``tz`` cookie says London): which rules match, and whether a visitor enters the
experiment, depends on the moment, and a benchmark must not depend on when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from daypart.middleware import AdaptiveMiddleware
from daypart.rules.device import device_class
from loadtests.harness import ASGIApp, Scope, call, http_scope, median_of_rounds

RULES = Path(__file__).with_name("bench_rules.yaml")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ua" / "devices.tsv"
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


async def page(request: Request) -> Response:
    return PlainTextResponse("ok")


def site() -> Starlette:
    return Starlette(routes=[Route("/{rest:path}", page)])


class PassThrough:
    """The cheapest possible pure ASGI middleware: the floor for any middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class BaseHTTP(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


MOMENT = datetime(2026, 11, 24, 21, 0, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()


def daypart(store: str) -> AdaptiveMiddleware:
    return AdaptiveMiddleware(
        site(),
        rules=RULES,
        store=store,
        secret="benchmark-secret-0123456789",
        clock=lambda: MOMENT,
        reload_interval=0,
        evaluate_interval=None,
    )


def request(user_agent: str, cookie: str | None = None, path: str = "/trips/lisbon") -> Scope:
    headers = [
        (b"host", b"example.com"),
        (b"user-agent", user_agent.encode()),
        (b"accept", b"text/html,application/xhtml+xml"),
        (b"accept-language", b"en-GB,en;q=0.9"),
        (b"accept-encoding", b"gzip, br"),
    ]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return http_scope(path, headers=headers)


def returning_visitors(app: AdaptiveMiddleware, count: int) -> list[Scope]:
    """``count`` visitors who already have their cookie (made by a first real request)."""

    async def make() -> list[Scope]:
        scopes = []
        for i in range(count):
            agent = MOBILE if i % 3 == 0 else DESKTOP
            response = await call(app, request(agent, "tz=Europe/London"))
            cookie = next(
                v.decode().split(";")[0] for k, v in response.headers if k == b"set-cookie"
            )
            scopes.append(request(agent, f"tz=Europe/London; {cookie}"))
        return scopes

    return asyncio.run(make())


def cold_agents(count: int) -> list[str]:
    if DATA.exists():
        agents = [line.split("\t", 1)[1] for line in DATA.read_text().splitlines() if "\t" in line]
    else:  # outside the monorepo: synthesise distinct browsers
        agents = [f"{DESKTOP} Build/{i}" for i in range(count)]
    return agents[:count]


def measure_requests(rounds: int, per_round: int) -> dict[str, float]:
    bare = site()
    results: dict[str, float] = {}
    warm = [request(DESKTOP if i % 2 else MOBILE, "tz=Europe/London") for i in range(per_round)]

    def same(scopes: Sequence[Scope]) -> Callable[[int], Sequence[Scope]]:
        return lambda _round: scopes

    results["bare Starlette app"] = median_of_rounds(bare, same(warm), rounds=rounds)
    results["pass-through ASGI middleware"] = median_of_rounds(
        PassThrough(bare), same(warm), rounds=rounds
    )
    results["Starlette BaseHTTPMiddleware"] = median_of_rounds(
        BaseHTTP(bare), same(warm), rounds=rounds
    )
    for store in ("memory://", *([redis_url] if (redis_url := _redis()) else [])):
        label = store.split(":")[0]
        app = daypart(store)
        visitors = returning_visitors(app, min(per_round, 2000))
        results[f"daypart {label}, returning visitors, warm UA"] = median_of_rounds(
            app, same(visitors), rounds=rounds
        )
        new = [request(DESKTOP if i % 2 else MOBILE) for i in range(per_round)]
        results[f"daypart {label}, new visitors, warm UA"] = median_of_rounds(
            app, same(new), rounds=rounds
        )
    app = daypart("memory://")
    agents = cold_agents(per_round)

    def never_seen() -> None:
        # A User-Agent nobody sent before: neither the device cache nor the decision cache
        # (which remembers whole requests) may know it.
        device_class.cache_clear()  # type: ignore[attr-defined]
        app._decisions.clear()

    results["daypart memory, new visitors, cold UA"] = median_of_rounds(
        app, lambda _round: [request(agent) for agent in agents], rounds=rounds, prepare=never_seen
    )
    return results


_redis_server: Any = None


def _redis() -> str | None:
    """A private redis-server for the side-by-side figure (None if not installed)."""
    global _redis_server
    if _redis_server is None:
        try:
            from tests.redis_server import RedisServer

            _redis_server = RedisServer()
            _redis_server.start()
        except (ImportError, RuntimeError) as exc:
            print(f"(no Redis figures: {exc})", file=sys.stderr)
            return None
    return str(_redis_server.url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        timings = measure_requests(args.rounds, args.per_round)
        extra = other_figures()
    finally:
        if _redis_server is not None:
            _redis_server.cleanup()
    bare = timings["bare Starlette app"]
    if args.json:
        print(json.dumps({"requests_us": {k: v * 1e6 for k, v in timings.items()}, **extra}))
        return 0
    print(f"{'request path (median of rounds)':<48} {'µs/req':>8} {'added':>8} {'× bare':>7}")
    for label, seconds in timings.items():
        print(
            f"{label:<48} {seconds * 1e6:8.2f} {(seconds - bare) * 1e6:8.2f} {seconds / bare:7.2f}"
        )
    for section, figures in extra.items():
        print(f"\n{section}")
        for key, value in figures.items():
            print(f"  {key:<46} {value:12.3f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


def other_figures() -> dict[str, dict[str, Any]]:
    """The figures of the other benchmarks, so one ``make bench`` prints everything."""
    figures: dict[str, dict[str, Any]] = {}
    for section, module in (
        ("device classification", "loadtests.bench_device"),
        ("statistics", "loadtests.bench_stats"),
        ("store (Redis)", "loadtests.bench_store"),
    ):
        try:
            measure = __import__(module, fromlist=["measure"]).measure
            figures[section] = measure(_redis()) if "store" in module else measure()
        except Exception as exc:  # one missing figure must not hide the others
            figures[section] = {"error": f"{type(exc).__name__}: {exc}"}
    return figures


if __name__ == "__main__":
    sys.exit(main())
