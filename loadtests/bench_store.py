"""``python -m loadtests.bench_store``: what the Redis store costs, measured on a real Redis.

- records per second written by ``RedisStore.record`` in batches of 500 (one pipeline,
  one script call per experiment, per batch);
- Redis round trips per 1,000 requests when a simulated site feeds the real
  ``Recorder`` (socket writes counted at the connection, so nothing is guessed);
- Redis memory per million visitors: ``used_memory`` before and after recording
  200,000 distinct visitors, scaled, next to the one-key-per-visitor design it replaced;
- the counters of one experiment at their largest: ``MEMORY USAGE`` of its counts hash
  with every cell filled (2 arms × 3 devices × 7 dayparts, one goal with values), without
  channels and with the most channels the rules allow (32 listed, ``other``, ``direct``);
  and one day's counts (kept 400 days: per arm, and per arm and segment with channels
  pooled) with the most channels and every cell filled.

With no URL it starts a private redis-server and removes it afterwards. With a URL it
writes only under its own prefix and deletes what it wrote; memory figures are then as
noisy as the server is busy.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio

from daypart.experiments.store import RedisStore, store_from_url
from daypart.experiments.store.base import Conversion, Exposure, Record, Segment
from daypart.middleware.recorder import Recorder
from tests.redis_server import RedisServer

BATCH = 500
SEGMENTS = [
    Segment(device, daypart)
    for device in ("mobile", "tablet", "desktop")
    for daypart in ("train_home", "evening", "night", "other")
]


class CountingConnection(redis.asyncio.Connection):
    """Counts writes to the socket: one per round trip (a pipeline is written once)."""

    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


def visitor_ids(count: int, seed: int) -> list[str]:
    """Distinct ids shaped like the middleware's (16 url-safe characters, 96 bits)."""
    rng = random.Random(seed)
    ids = {base64.urlsafe_b64encode(rng.randbytes(12)).decode() for _ in range(count)}
    return sorted(ids)


def synthetic_records(exposures: int, conversions: int, experiment: str) -> list[Record]:
    rng = random.Random(7)
    records: list[Record] = []
    every = max(1, exposures // max(1, conversions))
    for i, visitor in enumerate(visitor_ids(exposures, seed=len(experiment))):
        segment = SEGMENTS[i % len(SEGMENTS)]
        arm = "control" if i % 2 else "offer"
        records.append(Exposure(experiment, arm, segment, visitor))
        if i % every == 0 and conversions:
            value = round(rng.uniform(20, 400), 2)
            records.append(Conversion(experiment, arm, segment, visitor, "booked", value))
    return records


async def records_per_second(store: RedisStore) -> float:
    records = synthetic_records(50_000, 10_000, "throughput")
    await store.record(records[:1])  # connect and load the script outside the clock
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        await store.record(records[start : start + BATCH])
    return len(records) / (time.perf_counter() - started)


async def round_trips_per_1000_requests(
    store: RedisStore, experiment: str, requests_per_second: int, seconds: float
) -> tuple[float, float]:
    """Run a site's worth of records through the real Recorder; returns round trips and
    recorder batches per 1,000 requests. A request of a new visitor in the experiment
    makes an exposure (30% of requests); 3% of requests convert."""
    recorder = Recorder(store, batch_size=BATCH, interval=0.5)
    rng = random.Random(requests_per_second)
    await store.ping()  # connected before counting
    CountingConnection.writes = 0
    task = asyncio.create_task(recorder.run())
    tick = 0.01
    per_tick = max(1, round(requests_per_second * tick))
    total = 0
    started = time.perf_counter()
    visitors: list[str] = []
    while total < requests_per_second * seconds:
        for _ in range(per_tick):
            total += 1
            if rng.random() < 0.30:
                visitor = f"{total:016d}"
                visitors.append(visitor)
                recorder.add(Exposure(experiment, "offer", SEGMENTS[total % 12], visitor))
            if visitors and rng.random() < 0.03:
                visitor = visitors[rng.randrange(len(visitors))]
                recorder.add(Conversion(experiment, "offer", SEGMENTS[0], visitor, "booked", 120.0))
        # Pace by the wall clock, so the recorder sees a real arrival rate.
        await asyncio.sleep(max(0.0, started + total / requests_per_second - time.perf_counter()))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await recorder.flush()
    per_1000 = 1000 / total
    return CountingConnection.writes * per_1000, recorder.stats.batches * per_1000


async def used_memory(store: RedisStore) -> int:
    info = await store.client.info("memory")
    return int(info["used_memory"])


async def megabytes_per_million_visitors(store: RedisStore) -> tuple[float, float]:
    """(this store's design, one key with a TTL per visitor) in MB per million visitors."""
    visitors = 200_000
    records = synthetic_records(visitors, 0, "evening-offer")
    await asyncio.sleep(0.2)  # let the server settle (lazy frees) before the baseline
    before = await used_memory(store)
    for start in range(0, len(records), BATCH):
        await store.record(records[start : start + BATCH])
    ours = await used_memory(store) - before
    await store.reset("evening-offer")

    await asyncio.sleep(0.2)
    before = await used_memory(store)
    ttl = int(store.window.ttl * 1000)
    client = store.client
    ids = [record.visitor for record in records]
    for start in range(0, visitors, 5000):
        pipe = client.pipeline(transaction=False)
        for visitor in ids[start : start + 5000]:
            pipe.set(f"{store.prefix}{{naive}}:seen:{visitor}", 1, px=ttl)
        await pipe.execute()
    naive = await used_memory(store) - before
    pattern = f"{store.prefix}{{naive}}:*"
    keys = [key async for key in client.scan_iter(match=pattern, count=5000)]
    for start in range(0, len(keys), 5000):
        await client.unlink(*keys[start : start + 5000])
    scale = 1_000_000 / visitors / 2**20
    return ours * scale, naive * scale


async def counts_kilobytes(
    store: RedisStore, channels: Sequence[str], day: int | None = None
) -> float:
    """MEMORY USAGE of one experiment's counts hash with every cell counted once; with a
    ``day``, of that day's hash instead."""
    name = f"grid-{len(channels)}{'' if day is None else '-day'}"
    dayparts = ("morning", "lunch", "train_home", "evening", "night", "weekend", "other")
    records: list[Record] = []
    for arm in ("control", "offer"):
        for device in ("mobile", "tablet", "desktop"):
            for daypart in dayparts:
                for channel in channels:
                    visitor = f"{arm}-{device}-{daypart}-{channel}"
                    segment = Segment(device, daypart, channel)
                    records.append(Exposure(name, arm, segment, visitor, day))
                    records.append(Conversion(name, arm, segment, visitor, "booked", 120.5, day))
    for start in range(0, len(records), BATCH):
        await store.record(records[start : start + BATCH])
    key = "counts" if day is None else f"day:{day}"
    usage = await store.client.memory_usage(f"{store.prefix}{{{name}}}:{key}")
    return float(usage or 0) / 1024


async def _measure(url: str) -> dict[str, float]:
    prefix = f"bench{os.getpid()}:"
    store = store_from_url(url, prefix=prefix, connection_class=CountingConnection)
    if not isinstance(store, RedisStore):
        raise SystemExit(f"{url!r} is not a Redis URL")
    results: dict[str, float] = {}
    try:
        results["records/s (batches of 500)"] = await records_per_second(store)
        for rate in (10_000, 1_000):
            trips, batches = await round_trips_per_1000_requests(
                store, f"load-{rate}", rate, seconds=2.0
            )
            results[f"round trips/1000 requests at {rate} req/s"] = trips
            results[f"recorder batches/1000 requests at {rate} req/s"] = batches
        ours, naive = await megabytes_per_million_visitors(store)
        results["MB per million visitors"] = ours
        results["MB per million visitors, key per visitor"] = naive
        results["kB of counters per experiment, every cell"] = await counts_kilobytes(store, [""])
        most = [*(f"channel-{i:02d}" for i in range(32)), "other", "direct"]
        results["kB of counters per experiment, 34 channels"] = await counts_kilobytes(store, most)
        results["kB of one day's counts, 34 channels"] = await counts_kilobytes(
            store, most, day=740_000
        )
    finally:
        for name in await store.experiments():
            await store.reset(name)
        await store.client.delete(f"{prefix}experiments")
        await store.close()
    return results


def measure(redis_url: str | None = None) -> dict[str, float]:
    server = None
    if redis_url is None:
        server = RedisServer()
        server.start()
        redis_url = server.url
    try:
        return asyncio.run(_measure(redis_url))
    finally:
        if server is not None:
            server.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", help="a Redis URL (default: start a private redis-server)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.redis)
    if args.json:
        print(json.dumps(figures))
    else:
        for label, value in figures.items():
            print(f"{label:<48} {value:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
