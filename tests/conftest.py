from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import settings

from tests.redis_server import RedisServer

# The same examples on every run and machine: a property that fails, fails in CI and on
# the laptop alike (and the failing example is printed for a test of its own).
settings.register_profile("daypart", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("daypart")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the suite's private Redis, emptied before each test."""
    if redis_server.process is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
