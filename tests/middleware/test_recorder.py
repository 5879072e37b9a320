"""The buffered recorder: bounded, batched, and patient with a store that is down."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from daypart.experiments.store import MemoryStore, store_from_url
from daypart.experiments.store.base import Exposure, Segment
from daypart.experiments.store.errors import StoreError
from daypart.middleware.recorder import Recorder
from tests.redis_server import free_port


def exposure(i: int) -> Exposure:
    return Exposure("e", "control", Segment("desktop", "evening"), f"visitor-{i}")


def test_a_full_buffer_drops_and_counts_never_silently() -> None:
    recorder = Recorder(MemoryStore(), batch_size=10, max_buffer=100)
    for i in range(150):
        recorder.add(exposure(i))
    assert (recorder.pending, recorder.stats.dropped) == (100, 50)
    asyncio.run(recorder.flush())
    assert (recorder.pending, recorder.stats.written, recorder.stats.batches) == (0, 100, 10)


def test_whole_batches_leave_the_remainder_for_the_next_round() -> None:
    store = MemoryStore()
    recorder = Recorder(store, batch_size=10)
    for i in range(25):
        recorder.add(exposure(i))
    asyncio.run(recorder.flush(full_batches_only=True))
    assert (recorder.stats.batches, recorder.pending) == (2, 5)
    asyncio.run(recorder.flush())
    assert recorder.pending == 0
    counts = asyncio.run(store.counts("e"))
    assert counts.cells[("control", "desktop", "evening", "")].exposures == 25


def test_an_unreachable_store_is_retried_with_backoff_and_nothing_is_lost() -> None:
    store = store_from_url(f"redis://127.0.0.1:{free_port()}/0")
    recorder = Recorder(store, batch_size=5, interval=0.05, max_backoff=10.0)

    async def run() -> None:
        task = asyncio.create_task(recorder.run())
        for i in range(200):  # a busy site: the buffer is "full" again and again
            recorder.add(exposure(i))
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with pytest.raises(StoreError):
            await recorder.flush()
        await store.close()

    asyncio.run(run())
    assert recorder.pending == 200
    assert recorder.stats.dropped == 0
    # ~1 s of traffic: backoff 0.2, 0.4, 0.8 s means a handful of attempts, not hundreds
    assert 1 <= recorder.stats.failures <= 6
    assert recorder.stats.last_error is not None
    assert "StoreUnavailable" in recorder.stats.last_error
