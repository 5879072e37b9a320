from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import settings

from tests.redis_server import RedisCluster, RedisServer

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


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """The suite's private Redis Cluster: three masters with one replica each, started once
    per session (about 5 s). Tests must not kill its nodes: the failover test starts its own.
    A node timeout of 5 s (the default is 15 s) spreads the replicas' roles through the
    cluster in a few seconds at start-up yet is far above any stall of a loaded machine."""
    cluster = RedisCluster(masters=3, replicas=1, node_timeout_ms=5000)
    cluster.start()
    yield cluster
    cluster.cleanup()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """``redis+cluster://`` URL of the suite's cluster, every master emptied before each test."""
    redis_cluster.flush()
    return redis_cluster.url
