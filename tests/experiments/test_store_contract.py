"""The store contract, run against every backend: memory, one Redis, and a real Redis
Cluster of three masters with one replica each (``tests/conftest.py``). The contract's
experiments live on different masters (asserted below), so a batch's pipeline fans out
over several nodes; ``tests/middleware/test_cluster_failover.py`` kills a master.

Tests are plain functions around ``asyncio.run``: each scenario opens its stores inside
the loop it runs on and closes them there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.crc import key_slot

from daypart.experiments.store import MemoryStore, RedisStore, Store, store_from_url
from daypart.experiments.store.base import (
    DAILY_RETENTION_DAYS,
    Conversion,
    Exposure,
    Record,
    Segment,
    VisitorWindow,
)
from daypart.experiments.store.errors import StoreError, StoreUnavailable
from tests.redis_server import RedisCluster, RedisServer, free_port

EVENING = Segment("desktop", "evening")
COMMUTE = Segment("mobile", "train_home")


def exposure(visitor: str, arm: str = "control", experiment: str = "offer") -> Exposure:
    return Exposure(experiment, arm, EVENING, visitor)


def conversion(
    visitor: str,
    goal: str = "booked",
    value: float | None = None,
    arm: str = "control",
    experiment: str = "offer",
) -> Conversion:
    return Conversion(experiment, arm, EVENING, visitor, goal, value)


class Clock:
    """Wall time plus an offset tests can move: real sleeps (lock expiry in Redis) and
    jumps (de-duplication generations) both work, on every backend."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Backend:
    name: str
    url: str
    clock: Clock = field(default_factory=Clock)

    @contextlib.asynccontextmanager
    async def open(self, **options: Any) -> AsyncIterator[Store]:
        store = store_from_url(self.url, **{"clock": self.clock, **options})
        try:
            yield store
        finally:
            await store.close()


async def keys_of(store: Store, pattern: str) -> list[str]:
    assert isinstance(store, RedisStore)
    return sorted([key async for key in store.client.scan_iter(match=pattern, count=1000)])


@pytest.fixture(params=["memory", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory", "memory://")
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    return Backend(request.param, url)


# -- the contract ------------------------------------------------------------------------


class TestStoreContract:
    def test_exposure_counted_once_per_visitor(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                first = await store.record([exposure("v1"), exposure("v1"), exposure("v2")])
                assert (first.counted, first.duplicates) == (2, 1)
                # A later batch (or the same batch retried after a failure) adds nothing
                # for visitors already counted, whatever arm it claims.
                again = await store.record([exposure("v2"), exposure("v1", arm="offer")])
                assert (again.counted, again.duplicates) == (0, 2)
                other = await store.record([exposure("v1", experiment="banner")])
                assert other.counted == 1  # once per experiment, not once overall
                counts = await store.counts("offer")
                assert counts.experiment == "offer"
                assert {key: cell.exposures for key, cell in counts.cells.items()} == {
                    ("control", "desktop", "evening", ""): 2
                }

        asyncio.run(scenario())

    def test_conversion_counted_once_per_visitor_goal_and_experiment(
        self, backend: Backend
    ) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                result = await store.record(
                    [
                        exposure("v1"),
                        conversion("v1"),
                        conversion("v1"),  # duplicate within the batch
                        conversion("v1", goal="shared"),
                        conversion("v1", experiment="banner"),
                        conversion("v2"),  # converts without an exposure in the store
                    ]
                )
                assert (result.counted, result.duplicates) == (5, 1)
                assert (await store.record([conversion("v1"), conversion("v2")])).counted == 0
                cell = (await store.counts("offer")).cells[("control", "desktop", "evening", "")]
                assert cell.exposures == 1
                assert cell.conversions == {"booked": 2, "shared": 1}
                assert cell.revenue == {}
                banner = (await store.counts("banner")).cells
                assert banner[("control", "desktop", "evening", "")].conversions == {"booked": 1}

        asyncio.run(scenario())

    def test_revenue_sums_and_squares(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                await store.record(
                    [
                        conversion("v1", value=10.0),
                        conversion("v1", value=99.0),  # duplicate: its value is not added
                        conversion("v2", value=2.5),
                        conversion("v3"),  # no value
                        conversion("v4", value=0.1),
                        conversion("v5", value=float("nan")),  # counted, value ignored
                        conversion("v6", value=1e200),  # its square overflows: ignored
                    ]
                )
                cell = (await store.counts("offer")).cells[("control", "desktop", "evening", "")]
                assert cell.conversions == {"booked": 6}
                assert cell.revenue["booked"] == pytest.approx(12.6, rel=1e-12)
                assert cell.revenue_sq["booked"] == pytest.approx(106.26, rel=1e-12)

        asyncio.run(scenario())

    def test_segments_and_arms_kept_apart(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                await store.record(
                    [
                        Exposure("offer", "control", EVENING, "v1"),
                        Exposure("offer", "control", COMMUTE, "v2"),
                        Exposure("offer", "treat", COMMUTE, "v3"),
                        Exposure("offer", "treat", COMMUTE, "v4"),
                        Conversion("offer", "treat", COMMUTE, "v4", "booked", 5.0),
                    ]
                )
                cells = (await store.counts("offer")).cells
                assert sorted(cells) == [
                    ("control", "desktop", "evening", ""),
                    ("control", "mobile", "train_home", ""),
                    ("treat", "mobile", "train_home", ""),
                ]
                assert cells[("control", "desktop", "evening", "")].exposures == 1
                assert cells[("control", "mobile", "train_home", "")].exposures == 1
                treat = cells[("treat", "mobile", "train_home", "")]
                assert (treat.exposures, treat.conversions, treat.revenue) == (
                    2,
                    {"booked": 1},
                    {"booked": 5.0},
                )
                assert (await store.counts("nothing-yet")).cells == {}

        asyncio.run(scenario())

    def test_channels_kept_apart_and_cells_without_a_channel_beside_them(
        self, backend: Backend
    ) -> None:
        email, ads = Segment("desktop", "evening", "email"), Segment("desktop", "evening", "ads")

        async def scenario() -> None:
            async with backend.open() as store:
                await store.record(
                    [
                        Exposure("offer", "control", EVENING, "v1"),  # before channels
                        Exposure("offer", "control", email, "v2"),
                        Exposure("offer", "control", email, "v3"),
                        Exposure("offer", "control", ads, "v4"),
                        Exposure("offer", "treat", ads, "v5"),
                        Conversion("offer", "control", email, "v2", "booked", 30.0),
                        Conversion("offer", "treat", ads, "v5", "booked", 12.5),
                        Conversion("offer", "control", EVENING, "v1", "booked"),
                        Exposure("offer", "control", email, "v2"),  # counted once, still
                        Exposure("offer", "control", ads, "v2"),  # whatever its channel
                    ]
                )
                cells = (await store.counts("offer")).cells
                assert {key: (c.exposures, c.conversions) for key, c in cells.items()} == {
                    ("control", "desktop", "evening", ""): (1, {"booked": 1}),
                    ("control", "desktop", "evening", "email"): (2, {"booked": 1}),
                    ("control", "desktop", "evening", "ads"): (1, {}),
                    ("treat", "desktop", "evening", "ads"): (1, {"booked": 1}),
                }
                email_cell = cells[("control", "desktop", "evening", "email")]
                assert email_cell.revenue == {"booked": 30.0}
                assert email_cell.revenue_sq == {"booked": 900.0}

        asyncio.run(scenario())

    def test_daily_counts_per_day_and_arm(self, backend: Backend) -> None:
        monday, tuesday = 739579, 739580  # date(2025, 12, 1).toordinal() and the day after

        async def scenario() -> None:
            async with backend.open() as store:
                await store.record(
                    [
                        Exposure("offer", "control", EVENING, "v1", monday),
                        Exposure("offer", "treat", COMMUTE, "v2", monday),
                        Exposure("offer", "treat", EVENING, "v3", tuesday),
                        Exposure("offer", "treat", EVENING, "v3", tuesday),  # duplicate
                        Conversion("offer", "treat", COMMUTE, "v2", "booked", 40.0, tuesday),
                        Exposure("offer", "control", EVENING, "v4"),  # no day
                        Exposure("banner", "control", EVENING, "v1", monday),
                    ]
                )
                days = await store.daily("offer", monday - 10, tuesday + 10)
                assert sorted(days) == [monday, tuesday]
                assert days[monday]["control"].exposures == 1
                assert days[monday]["treat"].exposures == 1
                treat = days[tuesday]["treat"]
                assert (treat.exposures, treat.conversions, treat.revenue) == (
                    1,
                    {"booked": 1},
                    {"booked": 40.0},
                )
                assert treat.revenue_sq == {"booked": 1600.0}
                assert "control" not in days[tuesday]
                assert await store.daily("offer", tuesday, tuesday) == {tuesday: days[tuesday]}
                assert await store.daily("offer", monday + 100, monday + 200) == {}
                # The segment counters count every record, with or without a day.
                cells = (await store.counts("offer")).cells
                assert cells[("control", "desktop", "evening", "")].exposures == 2
                await store.reset("offer")
                assert await store.daily("offer", monday, tuesday) == {}
                assert list(await store.daily("banner", monday, tuesday)) == [monday]

        asyncio.run(scenario())

    def test_daily_cells_count_each_segment_per_day(self, backend: Backend) -> None:
        monday, tuesday = 739655, 739656
        called = Segment("desktop", "evening", "callcenter")

        async def scenario() -> None:
            async with backend.open() as store:
                await store.record(
                    [
                        Exposure("offer", "control", EVENING, "v1", monday),
                        Exposure("offer", "treat", COMMUTE, "v2", monday),
                        Exposure("offer", "treat", COMMUTE, "v3", tuesday),
                        Exposure("offer", "treat", COMMUTE, "v3", tuesday),  # duplicate
                        Exposure("offer", "treat", called, "v4", tuesday),
                        Conversion("offer", "treat", COMMUTE, "v2", "booked", 40.0, tuesday),
                        Exposure("offer", "control", EVENING, "v5"),  # no day
                    ]
                )
                cells = await store.daily_cells("offer", monday - 3, tuesday + 3)
                commute = ("treat", COMMUTE.device, COMMUTE.daypart, "")
                assert {day: sorted(found) for day, found in cells.items()} == {
                    monday: sorted([("control", "desktop", "evening", ""), commute]),
                    # Channels pooled: the call centre's desktop evening is desktop evening.
                    tuesday: sorted([commute, ("treat", "desktop", "evening", "")]),
                }
                assert cells[monday][commute].exposures == 1
                assert cells[tuesday][commute].exposures == 1
                assert cells[tuesday][commute].conversions == {"booked": 1}
                # The arm's day counts are as they were: the cells' fields are not in them.
                days = await store.daily("offer", monday, tuesday)
                assert sorted(days[tuesday]) == ["treat"]
                assert days[tuesday]["treat"].exposures == 2
                assert days[tuesday]["treat"].conversions == {"booked": 1}
                await store.reset("offer")
                assert await store.daily_cells("offer", monday, tuesday) == {}

        asyncio.run(scenario())

    def test_daily_counts_are_bounded(self, backend: Backend) -> None:
        first = 739579

        async def scenario() -> None:
            async with backend.open() as store:
                batch = [
                    Exposure("offer", "control", EVENING, f"v{day}", first + day)
                    for day in range(0, DAILY_RETENTION_DAYS + 30, 10)
                ]
                await store.record(batch)
                last = first + DAILY_RETENTION_DAYS + 29
                days = await store.daily("offer", first, last)
                # A read covers at most the retention, the newest days.
                assert min(days) > last - DAILY_RETENTION_DAYS
                assert len(days) == DAILY_RETENTION_DAYS // 10

        asyncio.run(scenario())

    def test_visitor_marks_expire_after_the_ttl(self, backend: Backend) -> None:
        ttl = 30.0
        window = VisitorWindow(ttl)

        async def scenario() -> None:
            async with backend.open(visitor_ttl=ttl) as store:
                batch: list[Record] = [exposure("v1"), conversion("v1")]
                assert (await store.record(batch)).counted == 2
                backend.clock.advance(ttl - 0.5)
                assert (await store.record(batch)).duplicates == 2  # still remembered
                backend.clock.advance(window.period + 1.0)
                assert (await store.record(batch)).counted == 2  # forgotten: counted anew
                assert (await store.record(batch)).duplicates == 2
                cell = (await store.counts("offer")).cells[("control", "desktop", "evening", "")]
                assert (cell.exposures, cell.conversions) == (2, {"booked": 2})

        asyncio.run(scenario())

    def test_state_compare_and_set(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                assert await store.get_state("offer") is None
                first = {"stage": 0, "status": "running", "version": 1}
                assert not await store.set_state("offer", first, expected_version=0)
                assert await store.set_state("offer", first, expected_version=None)
                # None means "only if absent": a second creator loses.
                assert not await store.set_state("offer", first, expected_version=None)
                second = {**first, "stage": 1, "version": 2}
                assert await store.set_state("offer", second, expected_version=1)
                stale = {**first, "stage": 2, "version": 2}
                assert not await store.set_state("offer", stale, expected_version=1)
                assert await store.get_state("offer") == second
                returned = await store.get_state("offer")
                assert returned is not None
                dict(returned)["stage"] = 99  # a copy: changing it changes nothing stored
                assert await store.get_state("offer") == second
                with pytest.raises(ValueError, match="version"):
                    await store.set_state("offer", {"stage": 3}, expected_version=2)

        asyncio.run(scenario())

    def test_audit_log_keeps_order_and_ids(self, backend: Backend) -> None:
        def order(entry_id: str) -> tuple[int, int]:
            millis, sequence = entry_id.split("-")
            return int(millis), int(sequence)

        async def scenario() -> None:
            async with backend.open() as store:
                assert await store.audit("offer") == []
                ids = [
                    await store.append_audit("offer", {"action": action, "actor": "test"})
                    for action in ("start", "advance", "rollback")
                ]
                assert [order(i) for i in ids] == sorted({order(i) for i in ids})
                entries = await store.audit("offer")
                assert entries == [
                    (ids[0], {"action": "start", "actor": "test"}),
                    (ids[1], {"action": "advance", "actor": "test"}),
                    (ids[2], {"action": "rollback", "actor": "test"}),
                ]
                assert [i for i, _ in await store.audit("offer", count=2)] == ids[1:]
                assert await store.audit("offer", count=0) == []
                assert await store.audit("banner") == []
                with pytest.raises(ValueError, match="field"):
                    await store.append_audit("offer", {})

        asyncio.run(scenario())

    def test_locks(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                assert await store.acquire_lock("evaluator", "a", 0.5)
                assert not await store.acquire_lock("evaluator", "b", 30)
                assert await store.acquire_lock("evaluator", "a", 30)  # renewed for 30 s
                await asyncio.sleep(0.6)  # past the first TTL: only the renewal holds it
                assert not await store.acquire_lock("evaluator", "b", 30)
                await store.release_lock("evaluator", "b")  # not b's to release
                assert not await store.acquire_lock("evaluator", "b", 30)
                assert await store.acquire_lock("other", "b", 30)  # locks are independent
                await store.release_lock("evaluator", "a")
                assert await store.acquire_lock("evaluator", "b", 0.05)
                await asyncio.sleep(0.15)  # b's lock expires by itself
                assert await store.acquire_lock("evaluator", "a", 30)
                with pytest.raises(ValueError, match="TTL"):
                    await store.acquire_lock("evaluator", "a", 0)

        asyncio.run(scenario())

    def test_reset_forgets_one_experiment(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                for name in ("offer", "banner"):
                    batch = [exposure(f"v{i}", experiment=name) for i in range(50)] + [
                        conversion("v1", experiment=name, value=3.0)
                    ]
                    await store.record(batch)
                    await store.set_state(name, {"version": 1}, expected_version=None)
                    await store.append_audit(name, {"action": "start"})
                await store.reset("offer")
                assert (await store.counts("offer")).cells == {}
                assert await store.get_state("offer") is None
                assert await store.audit("offer") == []
                assert await store.experiments() == ["banner"]
                # Its de-duplication marks went too: the same visitor counts again.
                assert (await store.record([exposure("v1")])).counted == 1
                banner = (await store.counts("banner")).cells[("control", "desktop", "evening", "")]
                assert (banner.exposures, banner.conversions) == (50, {"booked": 1})
                assert await store.get_state("banner") == {"version": 1}
                if isinstance(store, RedisStore):
                    await store.reset("offer")
                    assert await keys_of(store, "*{offer}*") == []

        asyncio.run(scenario())

    def test_experiments_lists_names_with_counts_or_state(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open() as store:
                assert await store.experiments() == []
                await store.record([exposure("v1", experiment="zebra")])
                await store.set_state("alpha", {"version": 1}, expected_version=None)
                await store.set_state("ghost", {"version": 1}, expected_version=7)  # refused
                await store.record([conversion("v1", experiment="middle")])
                assert await store.experiments() == ["alpha", "middle", "zebra"]

        asyncio.run(scenario())

    def test_prefixes_isolate_stores(self, backend: Backend) -> None:
        async def scenario() -> None:
            async with backend.open(prefix="one:") as one, backend.open(prefix="two:") as two:
                assert (one.prefix, two.prefix) == ("one:", "two:")
                await one.record([exposure("v1")])
                await one.set_state("offer", {"version": 1}, expected_version=None)
                await one.append_audit("offer", {"action": "start"})
                assert await one.acquire_lock("evaluator", "a", 30)
                assert (await two.record([exposure("v1")])).counted == 1  # own marks
                assert await two.get_state("offer") is None
                assert await two.audit("offer") == []
                assert await two.acquire_lock("evaluator", "b", 30)
                await two.reset("offer")
                assert (await one.counts("offer")).cells[
                    ("control", "desktop", "evening", "")
                ].exposures == 1
                assert await one.experiments() == ["offer"]
                assert await two.experiments() == []

        asyncio.run(scenario())

    def test_url_options(self, backend: Backend) -> None:
        separator = "&" if "?" in backend.url else "?"

        async def scenario() -> None:
            url = f"{backend.url}{separator}prefix=myapp:&visitor_ttl=86400"
            for store in (store_from_url(url), store_from_url(url, prefix="code:")):
                try:
                    assert isinstance(store, MemoryStore | RedisStore)
                    assert store.window.ttl == 86400.0
                    assert store.prefix in ("myapp:", "code:")  # keywords beat the URL
                finally:
                    await store.close()
            default = store_from_url(backend.url)
            try:
                assert isinstance(default, MemoryStore | RedisStore)
                assert (default.prefix, default.window.ttl) == ("daypart:", 90 * 24 * 3600)
            finally:
                await default.close()
            for bad in ("visitor_ttl=0", "visitor_ttl=-5", "visitor_ttl=soon", "colour=red"):
                with pytest.raises(StoreError, match=r"visitor_ttl|colour"):
                    store_from_url(f"{backend.url}{separator}{bad}")
            with pytest.raises(StoreError, match="colour"):
                store_from_url(backend.url, colour="red")

        asyncio.run(scenario())


@pytest.mark.parametrize(
    "url", ["mongodb://localhost/0", "localhost:6379", "", "memcached://x", "redis:/x"]
)
def test_unknown_store_url(url: str) -> None:
    with pytest.raises(StoreError, match=r"memory://.*redis://.*rediss://.*redis\+cluster://"):
        store_from_url(url)


def test_store_from_url_picks_the_client() -> None:
    async def scenario() -> None:
        for url, client_type in [
            ("redis://localhost:6379/2", redis.asyncio.Redis),
            ("rediss://localhost:6380/0", redis.asyncio.Redis),
            ("redis+cluster://localhost:7000", redis.asyncio.RedisCluster),
        ]:
            store = store_from_url(url)
            try:
                assert isinstance(store, RedisStore)
                assert isinstance(store.client, client_type)
            finally:
                await store.close()
        assert isinstance(store_from_url("memory://"), MemoryStore)

    asyncio.run(scenario())


# -- Redis only ------------------------------------------------------------------------------


@pytest.fixture(params=["redis", "cluster"])
def redis_backend(request: pytest.FixtureRequest) -> Backend:
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    return Backend(request.param, url)


class CountingConnection(redis.asyncio.Connection):
    """Counts writes to the socket: each is one round trip (a pipeline writes once)."""

    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


class TestRedisStore:
    def test_one_experiment_lives_in_one_cluster_slot(self, redis_backend: Backend) -> None:
        async def scenario() -> None:
            async with redis_backend.open() as store:
                await store.record(
                    [exposure(f"visitor-{i}") for i in range(200)]
                    + [conversion(f"visitor-{i}", value=1.0) for i in range(20)]
                )
                await store.set_state("offer", {"version": 1}, expected_version=None)
                await store.append_audit("offer", {"action": "start"})
                keys = await keys_of(store, "daypart:{offer}:*")
                assert len(keys) > 100  # the marks spread over many shards, in one slot
                assert {key_slot(key.encode()) for key in keys} == {key_slot(b"offer")}
                kinds = {key.split(":")[2] for key in keys}
                assert kinds == {"counts", "state", "audit", "seen"}

        asyncio.run(scenario())

    def test_daily_counts_expire_after_the_retention(self, redis_backend: Backend) -> None:
        day = 739579  # 2025-12-01

        async def scenario() -> None:
            async with redis_backend.open() as store:
                assert isinstance(store, RedisStore)
                await store.record([Exposure("offer", "control", EVENING, "v1", day)])
                expiry = await store.client.pexpiretime(f"{store.prefix}{{offer}}:day:{day}")
                end_of_day = (day - date(1970, 1, 1).toordinal() + 1) * 86_400_000
                assert expiry == end_of_day + DAILY_RETENTION_DAYS * 86_400_000

        asyncio.run(scenario())

    def test_visitor_marks_carry_a_ttl(self, redis_backend: Backend) -> None:
        ttl = 600.0

        async def scenario() -> None:
            async with redis_backend.open(visitor_ttl=ttl) as store:
                assert isinstance(store, RedisStore)
                await store.record([exposure("v1"), conversion("v2")])
                marks = await keys_of(store, "daypart:{offer}:seen:*")
                assert marks
                for key in marks:
                    millis = await store.client.pttl(key)
                    assert ttl * 1000 - 5000 < millis <= (ttl + store.window.period) * 1000
                for key in await keys_of(store, "daypart:{offer}:c*"):
                    assert await store.client.ttl(key) == -1  # the counts stay

        asyncio.run(scenario())

    def test_counts_fields_written_before_channels_still_read(self, redis_backend: Backend) -> None:
        async def scenario() -> None:
            async with redis_backend.open() as store:
                assert isinstance(store, RedisStore)
                counts = f"{store.prefix}{{offer}}:counts"
                # Fields exactly as a daypart without channels wrote them ...
                await store.client.hset(
                    counts,
                    mapping={
                        "control|desktop|evening|exposures": 40,
                        "control|desktop|evening|conv|booked": 4,
                        "control|desktop|evening|rev|booked": "100.5",
                        "control|desktop|evening|rev2|booked": "2600.25",
                    },
                )
                # ... and, beside them, cells recorded once the rules declare channels.
                email = Segment("desktop", "evening", "email")
                await store.record(
                    [
                        Exposure("offer", "control", email, "v1"),
                        Conversion("offer", "control", email, "v1", "booked", 8.0),
                        Exposure("offer", "control", EVENING, "v2"),
                    ]
                )
                cells = (await store.counts("offer")).cells
                old = cells[("control", "desktop", "evening", "")]
                assert (old.exposures, old.conversions) == (41, {"booked": 4})
                assert (old.revenue, old.revenue_sq) == ({"booked": 100.5}, {"booked": 2600.25})
                new = cells[("control", "desktop", "evening", "email")]
                assert (new.exposures, new.conversions, new.revenue) == (
                    1,
                    {"booked": 1},
                    {"booked": 8.0},
                )
                # The channel rides in the daypart part of the field: a daypart without
                # channels reading these counts sees "evening@email" as a daypart, and
                # loses nothing.
                assert sorted(await store.client.hkeys(counts)) == [
                    "control|desktop|evening@email|conv|booked",
                    "control|desktop|evening@email|exposures",
                    "control|desktop|evening@email|rev2|booked",
                    "control|desktop|evening@email|rev|booked",
                    "control|desktop|evening|conv|booked",
                    "control|desktop|evening|exposures",
                    "control|desktop|evening|rev2|booked",
                    "control|desktop|evening|rev|booked",
                ]

        asyncio.run(scenario())

    def test_scripts_reload_after_script_flush(self, redis_backend: Backend) -> None:
        async def scenario() -> None:
            async with redis_backend.open() as store:
                assert isinstance(store, RedisStore)
                assert (await store.record([exposure("v1")])).counted == 1
                await store.client.script_flush()
                assert (await store.record([exposure("v1"), exposure("v2")])).counted == 1
                await store.client.script_flush()
                assert await store.set_state("offer", {"version": 1}, expected_version=None)
                await store.client.script_flush()
                assert await store.acquire_lock("evaluator", "a", 30)
                await store.client.script_flush()
                await store.release_lock("evaluator", "a")
                assert await store.acquire_lock("evaluator", "b", 30)

        asyncio.run(scenario())

    def test_unreachable_redis_raises_store_unavailable_quickly(self) -> None:
        async def scenario() -> None:
            store = store_from_url(f"redis://127.0.0.1:{free_port()}/0")
            try:
                calls: list[Callable[[], Awaitable[object]]] = [
                    store.ping,
                    lambda: store.record([exposure("v1")]),
                    lambda: store.counts("offer"),
                    store.experiments,
                    lambda: store.get_state("offer"),
                    lambda: store.set_state("offer", {"version": 1}, expected_version=None),
                    lambda: store.append_audit("offer", {"action": "start"}),
                    lambda: store.audit("offer"),
                    lambda: store.acquire_lock("evaluator", "a", 30),
                    lambda: store.release_lock("evaluator", "a"),
                    lambda: store.reset("offer"),
                ]
                for call in calls:
                    started = time.monotonic()
                    with pytest.raises(StoreUnavailable) as caught:
                        await call()
                    assert not isinstance(caught.value, redis.RedisError)
                    assert isinstance(caught.value.__cause__, redis.ConnectionError)
                    assert time.monotonic() - started < 2.0
            finally:
                await store.close()

        asyncio.run(scenario())

    def test_other_redis_errors_become_store_errors(self, redis_backend: Backend) -> None:
        async def scenario() -> None:
            async with redis_backend.open() as store:
                assert isinstance(store, RedisStore)
                await store.client.set("daypart:{offer}:counts", "not a hash")
                for call in (store.counts("offer"), store.record([exposure("v1")])):
                    with pytest.raises(StoreError) as caught:
                        await call
                    assert type(caught.value) is StoreError  # not StoreUnavailable
                    assert isinstance(caught.value.__cause__, redis.ResponseError)

        asyncio.run(scenario())

    def test_reconnects_after_a_restart(self, redis_url: str, redis_server: RedisServer) -> None:
        async def scenario() -> None:
            async with Backend("redis", redis_url).open() as store:
                assert (await store.record([exposure("v1")])).counted == 1
                redis_server.stop()
                try:
                    with pytest.raises(StoreUnavailable):
                        await store.record([exposure("v2")])
                finally:
                    redis_server.start()
                # A fresh, empty Redis without the scripts: the pool reconnects and the
                # scripts are loaded again, with no help from the caller.
                assert (await store.record([exposure("v2")])).counted == 1
                await store.ping()

        asyncio.run(scenario())

    def test_record_is_one_round_trip_per_batch(self, redis_url: str) -> None:
        async def scenario() -> None:
            backend = Backend("redis", redis_url)
            async with backend.open(connection_class=CountingConnection) as store:
                await store.record([exposure("warm-up")])  # connect, load the script
                batch: list[Record] = []
                for i in range(500):
                    name = ("offer", "banner", "footer")[i % 3]
                    batch.append(exposure(f"v{i}", experiment=name))
                    if i % 10 == 0:
                        batch.append(conversion(f"v{i}", experiment=name, value=2.0))
                CountingConnection.writes = 0
                result = await store.record(batch)
                assert result.counted == len(batch)
                assert CountingConnection.writes == 1
                assert (await store.record(batch)).duplicates == len(batch)
                assert CountingConnection.writes == 2
                await store.record([])
                assert CountingConnection.writes == 2

        asyncio.run(scenario())


# -- Redis Cluster only ----------------------------------------------------------------------

# Experiments the contract's scenarios record to, together in one batch: on the suite's
# cluster they live on three different masters (the first test checks), so those batches
# are pipelines over several nodes. The registry (no hash tag) has a slot of its own.
SPREAD = ("offer", "banner", "zebra")


def counts_key(experiment: str) -> str:
    return f"daypart:{{{experiment}}}:counts"


def commandstats(node: RedisServer) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, as the node itself counted them."""
    with node.client() as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


class TestRedisCluster:
    def test_contract_experiments_live_on_different_masters(
        self, redis_cluster: RedisCluster
    ) -> None:
        masters = redis_cluster.master_nodes()
        assert len(masters) == 3
        owners = {name: redis_cluster.master_of(counts_key(name)) for name in SPREAD}
        assert sorted(owner.address for owner in owners.values()) == sorted(
            master.address for master in masters
        )
        # All of one experiment's keys share its slot, so its master, whatever the kind.
        for name, owner in owners.items():
            for kind in ("state", "audit", "seen:9:17"):
                assert redis_cluster.master_of(f"daypart:{{{name}}}:{kind}") is owner

    def test_one_batch_writes_to_every_master(
        self, redis_cluster: RedisCluster, redis_cluster_url: str
    ) -> None:
        masters = redis_cluster.master_nodes()
        calls: dict[str, dict[str, int]] = {}

        async def scenario() -> None:
            async with Backend("cluster", redis_cluster_url).open() as store:
                await store.record([exposure("warm-up", experiment=name) for name in SPREAD])
                for master in masters:
                    with master.client() as client:
                        client.config_resetstat()
                batch: list[Record] = []
                for i in range(600):
                    name = SPREAD[i % 3]
                    batch.append(exposure(f"v{i}", experiment=name))
                    if i % 10 == 0:
                        batch.append(conversion(f"v{i}", experiment=name, value=2.0))
                assert (await store.record(batch)).counted == len(batch)
                for master in masters:
                    stats = commandstats(master)
                    calls[master.address] = {
                        name: stats[name] for name in ("evalsha", "eval", "sadd") if name in stats
                    }
                for name in SPREAD:
                    cell = (await store.counts(name)).cells[("control", "desktop", "evening", "")]
                    assert (cell.exposures, cell.conversions) == (201, {"booked": 20})
                assert await store.experiments() == sorted(SPREAD)

        asyncio.run(scenario())
        registry = redis_cluster.master_of("daypart:experiments")
        for master in masters:
            # One script call per experiment, on the master holding that experiment, and the
            # registry's SADD on its own: one record() call was a pipeline over three nodes.
            assert calls[master.address] == {"evalsha": 1} | (
                {"sadd": 1} if master is registry else {}
            )
            with master.client() as client:
                tags = {key.split("}")[0] for key in client.scan_iter() if "{" in key}
            [own] = [name for name in SPREAD if redis_cluster.master_of(counts_key(name)) is master]
            assert tags == {f"daypart:{{{own}"}

    def test_an_experiment_resharded_to_another_master_keeps_counts_and_marks(
        self, redis_cluster: RedisCluster, redis_cluster_url: str
    ) -> None:
        slot = key_slot(b"offer")
        home = redis_cluster.master_of(counts_key("offer"))

        async def scenario() -> None:
            async with Backend("cluster", redis_cluster_url).open() as store:
                first: list[Record] = [exposure(f"v{i}") for i in range(300)]
                first += [conversion(f"v{i}", value=1.5) for i in range(0, 300, 10)]
                assert (await store.record(first)).counted == 330
                await store.set_state("offer", {"version": 1}, expected_version=None)
                away = next(m for m in redis_cluster.master_nodes() if m is not home)
                redis_cluster.move_slot(slot, away)
                # The store's client still sends the slot to the old master: MOVED, followed.
                again = await store.record([*first, exposure("v300"), conversion("v300")])
                assert (again.counted, again.duplicates) == (2, 330)  # the marks moved too
                assert redis_cluster.master_of(counts_key("offer")) is away
                cell = (await store.counts("offer")).cells[("control", "desktop", "evening", "")]
                assert (cell.exposures, cell.conversions) == (301, {"booked": 31})
                assert cell.revenue == {"booked": pytest.approx(45.0)}
                assert await store.set_state("offer", {"version": 2}, expected_version=1)
                marks = await keys_of(store, "daypart:{offer}:seen:*")
                assert marks
                assert isinstance(store, RedisStore)
                for key in marks:
                    assert await store.client.pttl(key) > 0  # MIGRATE kept the expiry

        try:
            asyncio.run(scenario())
        finally:
            redis_cluster.move_slot(slot, home)
