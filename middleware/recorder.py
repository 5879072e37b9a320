"""Buffered recording: the request path appends, a background task writes in batches.

A request never waits for the store. Records are written at least once: a batch that
fails is retried with exponential backoff, and re-applying a record is harmless because
the store de-duplicates every exposure and conversion per visitor. The buffer is bounded;
a record that does not fit is dropped *and counted*, never lost silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from daypart.experiments.store.base import Record, Store
from daypart.experiments.store.errors import StoreError

logger = logging.getLogger("daypart.recorder")


@dataclass(slots=True)
class RecorderStats:
    written: int = 0  # records the store applied or recognised as duplicates
    duplicates: int = 0
    dropped: int = 0  # did not fit in the buffer
    batches: int = 0  # store round trips that succeeded
    failures: int = 0  # store round trips that failed (and will be retried)
    last_error: str | None = None

    def to_dict(self) -> dict[str, int | str | None]:
        return asdict(self)  # the recorder adds ``pending``, which it alone knows


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = 500,
        interval: float = 0.5,
        max_buffer: int = 200_000,
        max_backoff: float = 10.0,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer")
        self.store = store
        self.batch_size = batch_size
        self.interval = interval
        self.max_buffer = max_buffer
        self.max_backoff = max_backoff
        self.stats = RecorderStats()
        self._buffer: deque[Record] = deque()
        self._wake: asyncio.Event | None = None
        self._flushing = asyncio.Lock()
        # Told of every batch the store took and how long it took (the metrics' counters).
        self.on_batch: Callable[[Sequence[Record], float], None] | None = None

    def add(self, record: Record) -> None:
        if len(self._buffer) >= self.max_buffer:
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 10_000 == 0:
                logger.error(
                    "daypart: record buffer full (%d); %d records dropped so far",
                    self.max_buffer,
                    self.stats.dropped,
                )
            return
        self._buffer.append(record)
        if self._wake is not None and len(self._buffer) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self, *, full_batches_only: bool = False) -> None:
        """Write everything buffered now (or only whole batches, leaving a remainder for
        the next round); raises StoreError if the store fails."""
        async with self._flushing:
            while len(self._buffer) >= (self.batch_size if full_batches_only else 1):
                batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
                started = time.perf_counter()
                try:
                    result = await self.store.record(batch)
                except StoreError as exc:
                    self.stats.failures += 1
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    raise
                # Only now are they safe: records added meanwhile sit behind this batch.
                for _ in batch:
                    self._buffer.popleft()
                self.stats.batches += 1
                self.stats.written += len(batch)
                self.stats.duplicates += result.duplicates
                if self.on_batch is not None:
                    self.on_batch(batch, time.perf_counter() - started)

    async def run(self) -> None:
        """Flush every ``interval`` or as soon as a batch is full, until cancelled."""
        self._wake = asyncio.Event()
        backoff = 0.0
        while True:
            woken = False
            if backoff:
                # The store failed: wait it out, however full the buffer gets meanwhile.
                await asyncio.sleep(backoff)
            else:
                with contextlib.suppress(TimeoutError):
                    woken = await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                # Woken by a full batch: send whole batches only, so that a busy site makes
                # one round trip per batch_size records; on the interval, send everything.
                await self.flush(full_batches_only=woken)
                if backoff:
                    logger.warning("daypart: store reachable again; buffer flushed")
                backoff = 0.0
            except StoreError as exc:
                backoff = min(self.max_backoff, max(0.2, backoff * 2))
                logger.warning(
                    "daypart: store write failed (%s); %d records kept, retry in %.1f s",
                    exc,
                    len(self._buffer),
                    backoff,
                )
