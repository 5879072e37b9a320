"""Every cache keyed by request data is bounded in bytes, not only in entries.

Each test sends hostile traffic through the middleware (distinct long paths, Cookie
headers made of many tiny cookies, long time-zone cookies, an app echoing request data
into ``Vary``) and measures with ``tracemalloc`` what the worker keeps afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.bounded import ByteBudgetCache, RecentKeys
from daypart.middleware.classify import COOKIE_CACHE_BYTES
from daypart.middleware.decision_cache import DECISION_CACHE_BYTES
from daypart.middleware.variants import REWRITE_CACHE_BYTES
from tests.middleware.conftest import LAPTOP, get_scope, no_body, raw_app

MakeApp = Callable[..., AdaptiveMiddleware]
MiB = 1 << 20
Headers = list[tuple[bytes, bytes]]


def peak_growth(app: AdaptiveMiddleware, requests: Iterable[tuple[str, Headers]]) -> int:
    """The most bytes allocated at any moment during the requests, beyond what the warmed-up
    app held before them (a cache that empties itself when full is measured full)."""

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def run() -> int:
        await app(get_scope("/warm-up", [(b"user-agent", LAPTOP.encode())]), no_body, send)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for path, headers in requests:
                await app(get_scope(path, headers), no_body, send)
            return tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
            await app.background.stop()

    return asyncio.run(run())


async def plain(scope: Any, receive: Any, send: Any) -> None:
    """An app that keeps nothing. (Starlette's ``request.url`` goes through the standard
    library's ``urlsplit``, whose own cache keeps the last 128 URLs of any length.)"""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def laptop(*extra: tuple[bytes, bytes]) -> Headers:
    return [(b"user-agent", LAPTOP.encode()), *extra]


def test_rewritten_paths_are_bounded_in_bytes(make_app: MakeApp) -> None:
    # The catch-all rule rewrites every path ("/booking{path}"). Before the byte bound,
    # 4,096 paths of 8 KB were kept three times each: ~100 MB.
    app = make_app(raw_app(plain))
    long_paths = ((f"/{i}/" + "x" * 8000, laptop()) for i in range(4500))
    assert peak_growth(app, long_paths) < MiB // 4
    medium = ((f"/{i}/" + "y" * 300, laptop()) for i in range(4500))
    # Each path is also a request shape the decision cache keeps: two budgets.
    bound = (REWRITE_CACHE_BYTES + DECISION_CACHE_BYTES) * 1.15
    assert peak_growth(make_app(raw_app(plain)), medium) < bound


def test_cookie_headers_are_bounded_in_bytes(make_app: MakeApp) -> None:
    # Many tiny cookies per header: the parsed mapping weighs far more than the header.
    def header(i: int) -> bytes:
        cookies = "; ".join(f"c{j}={i}" for j in range(60))
        return cookies.encode()[:1000]

    requests = (("/", laptop((b"cookie", header(i)))) for i in range(12_000))
    bound = (COOKIE_CACHE_BYTES + DECISION_CACHE_BYTES) * 1.15  # a header: a request shape
    assert peak_growth(make_app(raw_app(plain)), requests) < bound


def test_long_time_zone_values_are_not_kept(make_app: MakeApp) -> None:
    requests = (
        ("/", laptop((b"cookie", f"tz=Europe/{i}{'x' * 4000}".encode()))) for i in range(3000)
    )
    assert peak_growth(make_app(raw_app(plain)), requests) < MiB // 4
    header_zones = (
        ("/", laptop((b"cf-timezone", b"Asia/" + b"%41" * 2000 + str(i).encode())))
        for i in range(3000)
    )
    assert peak_growth(make_app(raw_app(plain)), header_zones) < MiB // 4


def test_an_app_echoing_request_data_into_vary_does_not_grow_memory(
    make_app: MakeApp,
) -> None:
    async def echoing(scope: Any, receive: Any, send: Any) -> None:
        vary = scope["path"].encode()  # whatever the client asked for
        headers = [(b"vary", vary), (b"cache-control", b"max-age=1, " + vary)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    requests = ((f"/{i}" + "v" * 4000, laptop()) for i in range(1000))
    assert peak_growth(make_app(raw_app(echoing)), requests) < MiB // 2


def test_user_agents_are_bounded(make_app: MakeApp) -> None:
    # rules/device.py: 4,096 User-Agents of at most 512 characters.
    requests = (
        ("/", [(b"user-agent", f"{LAPTOP} {i} {'z' * 4000}".encode())]) for i in range(5000)
    )
    assert peak_growth(make_app(raw_app(plain)), requests) < 5 * MiB


def test_byte_budget_cache_forgets_when_full_and_refuses_large_entries() -> None:
    cache: ByteBudgetCache[str, int] = ByteBudgetCache(budget=1000, largest=300)
    cache.remember("huge", 1, 400)
    assert "huge" not in cache
    for i in range(20):
        cache.remember(str(i), i, 100)
    assert cache.used <= 1000
    assert "19" in cache
    assert len(cache) < 20


def test_recent_keys_keep_the_latest_half_of_the_budget() -> None:
    recent: RecentKeys[str, bool] = RecentKeys(budget=10_000, entry_bytes=100)
    for i in range(1000):
        recent.put(str(i), True)
        assert recent.get("0") is True  # a key in use is kept however many come after
    assert all(recent.get(str(i)) for i in range(950, 1000))
    assert recent.get("1") is None
    assert len(recent) <= 100
