"""Stopping the background jobs when a cancellation is swallowed on the way.

On Python 3.11, ``asyncio.wait_for`` (which redis-py wraps around every command when a
socket timeout is set) can lose a cancellation that arrives as the command completes; the
job then carries on, and a shutdown that awaits it waits forever (it once hung the suite).
"""

from __future__ import annotations

import asyncio

import pytest

from daypart.middleware.background import stop_tasks


async def _swallows(times: int, lost: list[int]) -> None:
    """A job loop whose first ``times`` cancellations are lost, as wait_for loses them."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if len(lost) >= times:
                raise
            lost.append(1)  # swallowed: the loop goes on


def test_a_swallowed_cancellation_is_sent_again() -> None:
    async def run() -> tuple[int, bool, bool]:
        lost: list[int] = []
        stubborn = asyncio.create_task(_swallows(2, lost))
        plain = asyncio.create_task(asyncio.sleep(60))
        await asyncio.sleep(0.05)
        left = await asyncio.wait_for(stop_tasks([stubborn, plain], within=5.0), 10.0)
        return left, stubborn.cancelled(), plain.cancelled()

    assert asyncio.run(run()) == (0, True, True)


def test_stop_gives_up_on_a_job_that_never_ends() -> None:
    async def run() -> tuple[int, bool, int]:
        lost: list[int] = []
        stubborn = asyncio.create_task(_swallows(1000, lost))
        await asyncio.sleep(0.02)
        left = await asyncio.wait_for(stop_tasks([stubborn], within=0.5), 10.0)
        done, cancelled = stubborn.done(), len(lost)
        lost.extend([1] * 1000)  # the test's own cleanup: the next cancellation ends it
        stubborn.cancel()
        await asyncio.wait([stubborn])
        return left, done, cancelled

    left, done, cancelled = asyncio.run(run())
    assert (left, done) == (1, False)
    assert cancelled >= 2  # cancelled again while it ran, not once and then awaited


def test_a_job_that_failed_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("bad job")

    async def run() -> int:
        task = asyncio.create_task(boom())
        await asyncio.sleep(0)
        return await stop_tasks([task], within=1.0)

    assert asyncio.run(run()) == 0
    assert any("bad job" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
