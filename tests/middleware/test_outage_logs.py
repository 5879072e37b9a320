"""Logs during a store outage: one line when it goes down, a summary while it stays down,
one line when it is back; no line per retry, no traceback per evaluation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest

from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.outage import StoreOutage
from tests.middleware.conftest import LAPTOP, TUESDAY_2100, Clock, get_scope, no_body
from tests.redis_server import RedisServer

MakeApp = Callable[..., AdaptiveMiddleware]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start without disturbing the others."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


def test_an_outage_is_three_kinds_of_line(
    make_app: MakeApp, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        store=own_redis.url,
        clock=Clock(TUESDAY_2100),  # laptops enter the evening experiment: records
        flush_interval=0.05,
        state_interval=0.1,
        evaluate_interval=0.2,
    )
    recorder = app.runtime.recorder
    recorder.outage.every = 1.0  # a summary every second instead of every 5 minutes

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def visitors(seconds: float) -> None:
        for _ in range(int(seconds / 0.02)):
            await app(get_scope("/", [(b"user-agent", LAPTOP.encode())]), no_body, send)
            await asyncio.sleep(0.02)

    async def run() -> None:
        await app.background.start()
        try:
            await visitors(0.5)
            own_redis.stop()
            await visitors(3.5)
            assert recorder.pending > 0
            await asyncio.to_thread(own_redis.start)
            for _ in range(400):  # the recorder's backoff is at most 10 s
                if recorder.pending == 0:
                    break
                await asyncio.sleep(0.05)
            assert recorder.pending == 0
        finally:
            await app.background.stop()

    with caplog.at_level(logging.DEBUG, logger="daypart"):
        asyncio.run(run())
    ours = [r for r in caplog.records if r.name.startswith("daypart")]
    messages = [r.getMessage() for r in ours]
    down = [m for m in messages if "store unreachable" in m]
    still = [m for m in messages if "store still down" in m]
    back = [m for m in messages if "store reachable again" in m]
    assert len(down) == 1, messages
    assert 1 <= len(still) <= 4, messages
    assert len(back) == 1, messages
    assert "records wait in the buffer" in down[0]
    assert "records waiting" in still[0]
    assert not [r for r in ours if r.exc_info], "no tracebacks during an outage"
    assert len(ours) <= len(down) + len(still) + len(back) + 1, messages


def test_outage_lines_are_spaced_by_real_time() -> None:
    now = [100.0]
    outage = StoreOutage(lambda: 7, every=300.0, monotonic=lambda: now[0])
    logger = logging.getLogger("daypart.store")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    try:
        outage.succeeded()  # up and staying up: nothing to say
        for _ in range(1000):  # a retry every 0.9 s for 15 minutes
            outage.failed(ConnectionError("refused"), "writing records")
            now[0] += 0.9
        outage.succeeded()
        outage.succeeded()
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1 + 2 + 1
    assert "store unreachable while writing records" in records[0]
    assert records[1].startswith("daypart: store still down for 5 min, 7 records waiting")
    assert "after 15 min" in records[-1]
