"""The store, chosen by URL:

    memory://                                  in-process (development, one process)
    redis://[:password@]host[:port][/db]       one Redis
    rediss://...                               the same over TLS
    redis+cluster://host:port                  Redis Cluster (any node; the rest is found)
    rediss+cluster://...                       the same over TLS

Options go in the query or as keywords: ``prefix`` (default ``daypart:``) and
``visitor_ttl`` (seconds de-duplication marks are kept, default 90 days) for every store;
Redis URLs pass any other option to redis-py (``socket_timeout``, ``max_connections``...).

    store_from_url("redis://localhost:6379/0?prefix=shop:&visitor_ttl=2592000")
"""

from __future__ import annotations

from typing import Any

from daypart.experiments.store.base import Store
from daypart.experiments.store.errors import StoreError
from daypart.experiments.store.memory import MemoryStore
from daypart.experiments.store.redis import RedisStore

__all__ = ["SCHEMES", "MemoryStore", "RedisStore", "Store", "store_from_url"]

SCHEMES: dict[str, type[Store]] = {
    "memory": MemoryStore,
    "redis": RedisStore,
    "rediss": RedisStore,
    "redis+cluster": RedisStore,
    "rediss+cluster": RedisStore,
}


def store_from_url(url: str, **options: Any) -> Store:
    """The store a URL names; raises ``StoreError`` for an unknown scheme or option."""
    scheme, separator, _ = url.partition("://")
    store_class = SCHEMES.get(scheme.lower()) if separator else None
    if store_class is None:
        expected = ", ".join(f"{name}://" for name in SCHEMES)
        raise StoreError(f"unknown store URL {url!r}; expected one of {expected}")
    return store_class.from_url(url, **options)
