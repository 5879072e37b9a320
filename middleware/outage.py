"""Logs of a store outage: one line when the store goes down, one every few minutes while
it stays down (how long, how many records wait), one when it is back.

The recorder's retries, the rollout-state reads and the evaluator all meet a store that
is down; they report here instead of logging each attempt (or a traceback a minute).
Durations are real elapsed time (``time.monotonic``), not the middleware's clock: an
injected clock may stand still or jump.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("daypart.store")

SUMMARY_EVERY = 300.0  # seconds between "still down" lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StoreOutage:
    def __init__(
        self,
        pending: Callable[[], int],
        *,
        every: float = SUMMARY_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pending = pending  # records waiting in the buffer
        self.every = every
        self.monotonic = monotonic
        self.since: float | None = None  # when the store went down; None while it is up
        self._last_line = 0.0
        self._failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, error: Exception, doing: str) -> None:
        """A store call failed while ``doing`` something ("writing records", ...)."""
        now = self.monotonic()
        self._failures += 1
        if self.since is None:
            self.since = self._last_line = now
            self._failures = 1
            logger.error(
                "daypart: store unreachable while %s (%s: %s); pages are still served, "
                "%d records wait in the buffer and are retried",
                doing,
                type(error).__name__,
                error,
                self.pending(),
            )
        elif now - self._last_line >= self.every:
            self._last_line = now
            logger.error(
                "daypart: store still down for %s, %d records waiting, %d failed attempts "
                "(last: %s: %s)",
                _duration(now - self.since),
                self.pending(),
                self._failures,
                type(error).__name__,
                error,
            )

    def succeeded(self) -> None:
        """A store call succeeded: the store is up."""
        if self.since is None:
            return
        down_for = self.monotonic() - self.since
        self.since = None
        logger.warning(
            "daypart: store reachable again after %s; %d records waiting are being written",
            _duration(down_for),
            self.pending(),
        )
