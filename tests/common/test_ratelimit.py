"""Rate limits on the `limits` library (common/ratelimit.py), in the app's
environment (tests/bot/channels/test_rate_limits.py runs the same module in Rasa's,
whose `limits` release is older). Shared counts against the local Redis
(127.0.0.1:6379), under a unique key prefix deleted afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from common.ratelimit import RateLimit, RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_burst_then_the_period() -> None:
    limiter = RateLimiter(RateLimit(messages=4, period_seconds=2, burst=2))
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert 1 <= limiter.retry_after("a") <= 2
    assert limiter.retry_after("b") == 0 and limiter.allow("b")
    time.sleep(1.1)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]


def test_limiters_on_one_redis_share_the_count(redis_prefix: str) -> None:
    limit = RateLimit(messages=3, period_seconds=60, burst=3)
    workers = [
        RateLimiter(limit, storage_url=REDIS_URL, prefix=redis_prefix, namespace="p")
        for _ in range(2)
    ]
    assert [w.allow("198.51.100.1") for w in workers * 2] == [True] * 3 + [False]
    assert 50 <= workers[0].retry_after("198.51.100.1") <= 60
    # Another namespace (another purpose) counts apart.
    other = RateLimiter(
        limit, storage_url=REDIS_URL, prefix=redis_prefix, namespace="q"
    )
    assert other.allow("198.51.100.1")


def test_a_dead_redis_falls_back_to_the_process() -> None:
    limiter = RateLimiter(
        RateLimit(messages=2, period_seconds=60, burst=2),
        storage_url="redis://127.0.0.1:1/0",
    )
    started = time.perf_counter()
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert time.perf_counter() - started < 2.0
