"""Memory bounded in bytes, for everything a worker remembers about requests.

An entry count is no bound when one key can be a 60 KB path: every cache or memory keyed
by request data (paths, Cookie headers, visitors, client addresses) counts the bytes its
entries hold and stays within a budget, however hostile the traffic.

``ByteBudgetCache`` is a plain ``dict`` for lookups (``cache.get(key)`` is the C method,
no extra frame on the request path); only a miss pays for the accounting, in
``remember``. When the budget is reached the cache starts afresh: a site's working set
is refilled in a few requests, and forgetting everything at once is O(1) per entry where
an LRU would cost a linked list per entry. ``RecentKeys`` keeps two generations instead,
for memories whose purpose is to remember the most recent keys (replays, rate limits).
"""

from __future__ import annotations

import sys
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# What a dict entry costs beyond its key and value: the hash, key and value slots and
# the index, with the table kept at most two-thirds full (CPython 3.11–3.13).
DICT_ENTRY = 56


def str_bytes(text: str | bytes) -> int:
    """The bytes a str or bytes object holds (its header included)."""
    return sys.getsizeof(text)


class ByteBudgetCache(dict[K, V]):
    """A dict whose entries' sizes add up to at most ``budget`` bytes; an entry larger
    than ``largest`` bytes is not kept at all (it would push out many small ones)."""

    __slots__ = ("budget", "largest", "used")

    def __init__(self, budget: int, largest: int) -> None:
        super().__init__()
        self.budget = budget
        self.largest = largest
        self.used = 0

    def remember(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` under ``key``; ``size`` is what key and value hold, in bytes."""
        size += DICT_ENTRY
        if size > self.largest:
            return
        if self.used + size > self.budget:
            self.clear()
        self[key] = value
        self.used += size

    def clear(self) -> None:
        super().clear()
        self.used = 0


class RecentKeys(Generic[K, V]):
    """The most recent keys (and a value each) within ``budget`` bytes, for keys of a
    bounded size (``entry_bytes``: what one key, its value and their dict entry hold).

    Two generations: when the newer one is full, the older is forgotten and the newer
    takes its place; a key found in the older is moved to the newer. So the latest half
    of the budget's worth of keys is always known, and adding, finding or forgetting a
    key costs O(1)."""

    __slots__ = ("_newer", "_older", "per_generation")

    def __init__(self, budget: int, entry_bytes: int) -> None:
        self.per_generation = max(1, budget // 2 // entry_bytes)
        self._newer: dict[K, V] = {}
        self._older: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        found = self._newer.get(key)
        if found is None:
            found = self._older.pop(key, None)
            if found is not None:
                self.put(key, found)
        return found

    def put(self, key: K, value: V) -> None:
        if key not in self._newer and len(self._newer) >= self.per_generation:
            self._older, self._newer = self._newer, {}
        self._newer[key] = value

    def __len__(self) -> int:
        return len(self._newer) + len(self._older)
