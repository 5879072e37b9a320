"""Buffered recording: the request path appends, a background task writes in batches.

A request never waits for the store. Records are written at least once: a batch that
fails is retried with exponential backoff, and re-applying a record is harmless because
the store de-duplicates every exposure and conversion per visitor. The buffer is bounded;
a record that does not fit is dropped *and counted*, never lost silently.

A conversion this worker already buffered (same visitor, experiment and goal) is a
replay: the store would count it once anyway, so it is dropped before it takes a buffer
slot (and a store write). Otherwise one cookie replayed during an outage could fill the
buffer and push real records out. The memory of recent conversions is bounded in bytes.

An outage is logged by ``StoreOutage``: one line when the store goes down, a summary
every few minutes, one line when it is back; never one line per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from daypart.experiments.store.base import Conversion, Record, Store
from daypart.experiments.store.errors import StoreError
from daypart.middleware.bounded import RecentKeys
from daypart.middleware.outage import StoreOutage

logger = logging.getLogger("daypart.recorder")

REPLAY_MEMORY_BYTES = 4 << 20
# One remembered conversion: the dict entry, a 3-tuple key, the visitor id of up to 32
# characters (experiment and goal names are the rule set's own strings): some 10,000 to
# 20,000 of the latest conversions.
_REPLAY_ENTRY = 56 + 64 + 81


@dataclass(slots=True)
class RecorderStats:
    written: int = 0  # records the store applied or recognised as duplicates
    duplicates: int = 0
    dropped: int = 0  # did not fit in the buffer
    replays: int = 0  # conversions this worker had already buffered: never written twice
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
        replay_memory: int = REPLAY_MEMORY_BYTES,
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
        self._running = False
        self._flushing = asyncio.Lock()
        # Told of every batch the store took and how long it took (the metrics' counters).
        self.on_batch: Callable[[Sequence[Record], float], None] | None = None
        self._converted: RecentKeys[tuple[str, str, str], bool] = RecentKeys(
            replay_memory, _REPLAY_ENTRY
        )
        self.outage = StoreOutage(lambda: len(self._buffer))

    def add(self, record: Record) -> None:
        converted = None
        if type(record) is Conversion:
            converted = (record.experiment, record.visitor, record.goal)
            if self._converted.get(converted):
                self.stats.replays += 1
                return
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
        if converted is not None:
            self._converted.put(converted, True)
        if self._wake is not None and len(self._buffer) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self, *, full_batches_only: bool = False) -> None:
        """Write everything buffered now (or only whole batches, leaving a remainder for
        the next round); raises StoreError if the store fails. Reports to ``outage``."""
        async with self._flushing:
            while len(self._buffer) >= (self.batch_size if full_batches_only else 1):
                batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
                started = time.perf_counter()
                try:
                    result = await self.store.record(batch)
                except StoreError as exc:
                    self.stats.failures += 1
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    self.outage.failed(exc, "writing records")
                    raise
                self.outage.succeeded()
                # Only now are they safe: records added meanwhile sit behind this batch.
                for _ in batch:
                    self._buffer.popleft()
                self.stats.batches += 1
                self.stats.written += len(batch)
                self.stats.duplicates += result.duplicates
                if self.on_batch is not None:
                    self.on_batch(batch, time.perf_counter() - started)

    def stop(self) -> None:
        """End ``run``'s loop at its next turn (the caller also cancels it)."""
        self._running = False

    async def run(self) -> None:
        """Flush every ``interval`` or as soon as a batch is full, until cancelled."""
        self._wake = asyncio.Event()
        self._running = True
        backoff = 0.0
        while self._running:  # stop() clears it, in case a cancellation was swallowed
            woken = False
            if backoff:
                # The store failed: wait it out, however full the buffer gets meanwhile.
                await asyncio.sleep(backoff)
            else:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        woken = await self._wake.wait()
            self._wake.clear()
            try:
                # Woken by a full batch: send whole batches only, so that a busy site makes
                # one round trip per batch_size records; on the interval, send everything.
                await self.flush(full_batches_only=woken)
                backoff = 0.0
            except StoreError:  # logged by self.outage: once, then every few minutes
                backoff = min(self.max_backoff, max(0.2, backoff * 2))
