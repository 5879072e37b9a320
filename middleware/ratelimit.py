"""Rate limits for the public beacon: a token bucket per key (a visitor, a client address).

Hand-written rather than the ``limits`` library: its in-memory storage keeps a counter
and an expiry per key until the window ends (a timer thread cleans up), so a flood of
distinct keys grows memory for as long as the window lasts. Here the buckets live in a
``RecentKeys`` memory bounded in bytes; forgetting a key only gives it a full bucket,
which is what an idle key would have anyway.
"""

from __future__ import annotations

from daypart.middleware.bounded import RecentKeys

# A bucket and its key: the dict entry, a key of up to 64 characters, a two-float list.
_BUCKET_BYTES = 56 + 113 + 72 + 2 * 24
MAX_KEY = 64


class RateLimit:
    """At most ``count`` requests per ``seconds`` per key, in bursts of up to ``count``."""

    __slots__ = ("_buckets", "capacity", "per_second", "refused")

    def __init__(self, count: int, seconds: float, *, budget: int = 1 << 20) -> None:
        if count < 1 or not seconds > 0:
            raise ValueError(
                f"a rate limit needs a count of at least 1 per a positive number of seconds; "
                f"got {count} per {seconds}"
            )
        self.capacity = float(count)
        self.per_second = count / seconds
        self._buckets: RecentKeys[str, list[float]] = RecentKeys(budget, _BUCKET_BYTES)
        self.refused = 0  # requests refused so far

    def wait(self, key: str, now: float) -> float:
        """0 when a request under ``key`` may go ahead now (and takes its token), else the
        seconds until it may."""
        key = key[:MAX_KEY]
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets.put(key, [self.capacity - 1.0, now])
            return 0.0
        tokens, then = bucket
        tokens = min(self.capacity, tokens + max(0.0, now - then) * self.per_second)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        self.refused += 1
        return (1.0 - tokens) / self.per_second
