"""Rate limits per key (a chatter, a client address), on the `limits` library.

Imported by the chat channels (bot/channels/, inside Rasa's environment) and the API
(api/web/deps.py)::

    limiter = RateLimiter(RateLimit(messages=20, period_seconds=60, burst=8))
    if not limiter.allow("customer:contoso:alex"):
        ...  # over the limit: answer politely, do not process

A `RateLimit` is `messages` per `period_seconds`, of which at most `burst` within
`period_seconds * burst / messages` (the time the sustained rate takes to earn a
burst): by default 20 messages a minute, at most 8 of them in 24 s. Both are
`limits` moving windows, which count exactly what was admitted in the last window
(no refill arithmetic of our own). A burst at or above `messages` adds nothing: the
period's window already allows that many.

Where the counts live: with a Redis URL (REDIS_URL, the production profile) in
Redis, so every process (the Rasa replicas, the API's workers) shares one count per
key; without one, in this process's memory. If Redis stops answering, the limiter
counts in this process for `REDIS_RETRY_SECONDS` and says so in the log, then tries
Redis again: a limit per process is better than none, and a dead Redis must not
stall every message for its connection timeout.

The `limits` releases differ between the two environments (Rasa's pins `packaging`
below what newer ones need); this module uses only what both offer.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

MEMORY = "memory://"
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_RETRY_SECONDS = 30.0
# What a storage that cannot be reached raises (limits wraps nothing by default).
STORAGE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


@dataclass(frozen=True)
class RateLimit:
    """`messages` per `period_seconds`, at most `burst` of them at once."""

    messages: int
    period_seconds: float
    burst: int

    def __post_init__(self) -> None:
        if self.messages < 1 or self.burst < 1 or self.period_seconds <= 0:
            raise ValueError(
                "a rate limit needs messages >= 1, burst >= 1 and period > 0, "
                f"not {self.messages}/{self.period_seconds}s burst {self.burst}"
            )

    def items(self) -> list[RateLimitItem]:
        """The moving windows that make up the limit, shortest first."""
        period = max(1, math.ceil(self.period_seconds))
        sustained = RateLimitItemPerSecond(self.messages, period)
        if self.burst >= self.messages:
            return [sustained]
        window = max(1, round(self.period_seconds * self.burst / self.messages))
        return [RateLimitItemPerSecond(self.burst, window), sustained]


class RateLimiter:
    """Admits or refuses a key against a `RateLimit`; thread-safe (the API runs
    sync routes in threads).

    `storage_url`: "" or `memory://` for this process, `redis://...` to share.
    `prefix` and `namespace` go into every key, so that limits of different
    purposes (chat, public API routes) and deployments sharing a Redis never mix.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        storage_url: str = "",
        prefix: str = "cspdesk",
        namespace: str = "limit",
    ) -> None:
        self.limit = limit
        self.items = limit.items()
        self.identifiers = (prefix, namespace)
        self.shared = bool(storage_url) and storage_url != MEMORY
        self._storage = self._make_storage(storage_url)
        self._strategy = MovingWindowRateLimiter(self._storage)
        # Kept referenced: some `limits` releases hold the storage weakly.
        self._local_storage = storage_from_string(MEMORY)
        self._local = MovingWindowRateLimiter(self._local_storage)
        self._redis_down_until = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _make_storage(url: str) -> Any:
        if not url or url == MEMORY:
            return storage_from_string(MEMORY)
        return storage_from_string(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )

    def _strategy_now(self) -> MovingWindowRateLimiter:
        if self.shared and time.monotonic() < self._redis_down_until:
            return self._local
        return self._strategy

    def _storage_failed(self, exc: BaseException) -> None:
        with self._lock:
            if time.monotonic() < self._redis_down_until:
                return
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        logger.warning(
            "Rate limits: Redis did not answer (%s); counting in this process "
            "for %.0f s",
            type(exc).__name__,
            REDIS_RETRY_SECONDS,
        )

    def allow(self, key: str) -> bool:
        """Count a message of `key`: True if it is within the limit (go ahead),
        False if over (a refused message is not counted)."""
        strategy = self._strategy_now()
        try:
            return self._hit(strategy, key)
        except STORAGE_ERRORS as exc:
            if strategy is self._local:
                raise
            self._storage_failed(exc)
            return self._hit(self._local, key)

    def _hit(self, strategy: MovingWindowRateLimiter, key: str) -> bool:
        ids = (*self.identifiers, key)
        # Test every window before taking from any, so that a message refused by
        # the longer window does not use up the shorter one.
        if not all(strategy.test(item, *ids) for item in self.items):
            return False
        return all([strategy.hit(item, *ids) for item in self.items])

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key` may send again (0 if it may now)."""
        strategy = self._strategy_now()
        ids = (*self.identifiers, key)
        wait = 0.0
        try:
            for item in self.items:
                reset, remaining = strategy.get_window_stats(item, *ids)
                if remaining <= 0:
                    wait = max(wait, reset - time.time())
        except STORAGE_ERRORS as exc:
            self._storage_failed(exc)
            return 1
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def reset(self, key: str) -> None:
        """Forget `key`'s count (tests, an operator's override)."""
        ids = (*self.identifiers, key)
        for strategy in (self._strategy, self._local):
            for item in self.items:
                strategy.clear(item, *ids)
