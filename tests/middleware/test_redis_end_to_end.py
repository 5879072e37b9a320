"""Counting that holds under real conditions: several worker processes sharing one Redis,
and a Redis that goes away mid-run and comes back."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from daypart.experiments.store import store_from_url
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import IPHONE, LAPTOP, RULES, echo_app
from tests.redis_server import RedisServer
from tests.servers import uvicorn_server

IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
AGENTS = [(LAPTOP, 5), (IPAD, 2), (IPHONE, 2), (ANDROID, 1)]
ZONES = [
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Chicago", "America/New_York", "America/Sao_Paulo", "Atlantic/Azores",
    "Europe/London", "Europe/Amsterdam", "Europe/Athens", "Europe/Moscow", "Asia/Dubai",
    "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai",
    "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "Pacific/Kiritimati",
]  # fmt: skip
Key = tuple[str, str, str, str]  # arm, device, daypart, channel ("": none)


def evening_zones() -> list[str]:
    """Zones where it is evening (19:00–23:00) right now, so the experiment gets traffic
    whatever time the suite runs; the rest of the mix still covers other dayparts."""
    now = time.time()
    found = []
    for name in ZONES:
        local = datetime.fromtimestamp(now, ZoneInfo(name))
        if 19 <= local.hour < 23:
            found.append(name)
    return found


class Tally:
    """What the clients saw: the counts the store must end up with."""

    def __init__(self) -> None:
        self.exposures: Counter[Key] = Counter()
        self.conversions: Counter[Key] = Counter()
        self.revenue: Counter[Key] = Counter()
        self.statuses: Counter[int] = Counter()
        self.slowest = 0.0  # seconds, the slowest page of the run
        self.workers: set[int] = set()  # process ids that answered


async def visit(
    client: httpx.AsyncClient, rng: random.Random, zones: list[str], tally: Tally
) -> None:
    """One visitor: its own cookies, sent by hand because the client is shared."""
    agent = rng.choices([a for a, _ in AGENTS], weights=[w for _, w in AGENTS])[0]
    headers = {"User-Agent": agent, "Cookie": f"tz={rng.choice(zones)}"}
    started = time.monotonic()
    first = await client.get(rng.choice(["/", "/trips/lisbon"]), headers=headers)
    tally.slowest = max(tally.slowest, time.monotonic() - started)
    tally.statuses[first.status_code] += 1
    decision = first.json()["decision"]
    tally.workers.add(first.json().get("pid", 0))
    visitor_cookie = first.headers.get("set-cookie", "").split(";")[0]
    if visitor_cookie:
        headers["Cookie"] += f"; {visitor_cookie}"
    key: Key | None = None
    if decision["arm"] is not None and decision["new_visitor"]:
        key = (decision["arm"], decision["device"], decision["segment"], "")
        tally.exposures[key] += 1
    for _ in range(rng.randint(0, 2)):  # returning page views are never counted again
        tally.statuses[(await client.get("/trips/kyoto", headers=headers)).status_code] += 1
    if rng.random() < 0.3:
        value = rng.randint(50, 900)
        for _ in range(rng.choice([1, 1, 2])):  # a double submit counts once
            booked = await client.post(f"/checkout/confirm?v={value}", headers=headers)
            tally.statuses[booked.status_code] += 1
        if key is not None:
            tally.conversions[key] += 1
            tally.revenue[key] += value


async def drive(
    url: str | None, app: Any, visitors: int, seed: int, tally: Tally, concurrency: int = 16
) -> None:
    rng = random.Random(seed)
    evening = evening_zones()
    # most visitors in the experiment's daypart (even when one zone alone is in it), all zones seen
    zones = evening * (48 // max(1, len(evening))) + ZONES
    semaphore = asyncio.Semaphore(concurrency)
    transport = None if app is None else httpx.ASGITransport(app=app)
    # A jar that refuses every cookie: each visitor carries its own (see visit).
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    # No keep-alive: every request is a new connection, which either worker may accept.
    async with httpx.AsyncClient(
        base_url=url or "http://site.test",
        transport=transport,
        timeout=10,
        cookies=no_cookies,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:

        async def one() -> None:
            async with semaphore:
                await visit(client, rng, zones, tally)

        await asyncio.gather(*(one() for _ in range(visitors)))


def stored(url: str) -> tuple[Counter[Key], Counter[Key], Counter[Key]]:
    async def read() -> tuple[Counter[Key], Counter[Key], Counter[Key]]:
        store = store_from_url(url)
        try:
            counts = await store.counts("evening-offer")
        finally:
            await store.close()
        exposures: Counter[Key] = Counter()
        conversions: Counter[Key] = Counter()
        revenue: Counter[Key] = Counter()
        for key, cell in counts.cells.items():
            exposures[key] = cell.exposures
            conversions[key] = cell.conversions.get("booked", 0)
            revenue[key] = round(cell.revenue.get("booked", 0.0))
        return +exposures, +conversions, +revenue

    return asyncio.run(read())


def wait_for(url: str, tally: Tally, seconds: float = 30.0) -> tuple[Counter[Key], ...]:
    deadline = time.monotonic() + seconds
    while True:
        found = stored(url)
        if found == (tally.exposures, tally.conversions, tally.revenue):
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


@pytest.mark.slow
def test_two_uvicorn_workers_count_2000_visitors_exactly(redis_url: str, rules_path: Path) -> None:
    env = {
        "DAYPART_TEST_RULES": str(rules_path),
        "DAYPART_STORE": redis_url,
        "DAYPART_SECRET": "shared-secret-of-both-workers-0123",
    }
    tally = Tally()
    with uvicorn_server("tests.middleware.site:app", env, workers=2) as url:
        asyncio.run(drive(url, None, 2000, seed=7, tally=tally))
        found = wait_for(redis_url, tally)
    assert set(tally.statuses) == {200}
    assert len(tally.workers) == 2  # both workers served and recorded
    assert sum(tally.exposures.values()) > 300  # the experiment really ran
    assert len({device for _, device, *_ in tally.exposures}) == 2  # desktop and tablet
    assert found == (tally.exposures, tally.conversions, tally.revenue)


@pytest.fixture
def outage_redis() -> Iterator[RedisServer]:
    server = RedisServer(keep_data=True)
    server.start()
    yield server
    server.cleanup()


@pytest.mark.slow
def test_redis_outage_keeps_pages_serving_and_counts_exact(
    outage_redis: RedisServer, rules_path: Path
) -> None:
    app = AdaptiveMiddleware(
        echo_app(),
        rules=rules_path,
        store=outage_redis.url,
        secret="outage-secret-0123456789",
        flush_interval=0.05,
        evaluate_interval=None,
    )
    tally = Tally()

    async def run() -> None:
        await drive(None, app, 400, seed=11, tally=tally, concurrency=4)
        outage_redis.stop()
        await drive(None, app, 400, seed=12, tally=tally, concurrency=4)
        for _ in range(100):  # make sure the recorder has met the outage
            if app.runtime.recorder.stats.failures:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # "a few seconds" of outage in all
        outage_redis.start()
        await drive(None, app, 400, seed=13, tally=tally, concurrency=4)
        for _ in range(300):  # recovery: the recorder retries with backoff
            if app.runtime.recorder.pending == 0:
                break
            await asyncio.sleep(0.1)
        await app.background.stop()

    asyncio.run(run())
    assert set(tally.statuses) == {200}
    assert app.runtime.recorder.stats.failures > 0  # the outage really hit the recorder
    assert app.runtime.recorder.stats.dropped == 0  # within the buffer bound, nothing was lost
    assert tally.slowest < 1.0  # no page waited for Redis (in-process pages take ~1 ms)
    assert stored(outage_redis.url) == (tally.exposures, tally.conversions, tally.revenue)
