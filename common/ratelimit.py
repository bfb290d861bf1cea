"""Token buckets per key (a chatter, a client address), in process memory.

Standard library only: the chat channels (bot/channels/, inside Rasa's environment)
and the API both use it.

    limiter = RateLimiter(RateLimit(messages=20, period_seconds=60, burst=10))
    if not limiter.allow("slack:T1:U1"):
        ...  # over the limit: answer politely, do not process

Each key has a bucket of `burst` tokens, refilled at `messages / period_seconds`
tokens a second; a message takes one. So a chatter can send `burst` messages at
once, and `messages` per period for as long as they like. Buckets that have refilled
completely hold no information and are dropped, and at most `max_keys` are kept (the
least recently used go first), so memory stays bounded whatever the traffic.

Per process: with several processes each keeps its own buckets (see
docs/channels.md, "Rate limits", for what that means behind the sticky proxy).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 50_000


@dataclass(frozen=True)
class RateLimit:
    """`messages` per `period_seconds` sustained, up to `burst` at once."""

    messages: int
    period_seconds: float
    burst: int

    def __post_init__(self) -> None:
        if self.messages < 1 or self.burst < 1 or self.period_seconds <= 0:
            raise ValueError(
                "a rate limit needs messages >= 1, burst >= 1 and period > 0, "
                f"not {self.messages}/{self.period_seconds}s burst {self.burst}"
            )

    @property
    def per_second(self) -> float:
        return self.messages / self.period_seconds


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key; thread-safe (the API runs sync routes in threads)."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        elapsed = max(0.0, now - bucket.at)
        return min(
            float(self.limit.burst), bucket.tokens + elapsed * self.limit.per_second
        )

    def allow(self, key: str) -> bool:
        """Take a token for `key`: True if it had one (go ahead), False if over."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            tokens = (
                float(self.limit.burst)
                if bucket is None
                else self._refilled(bucket, now)
            )
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = _Bucket(tokens, now)
            self._buckets.move_to_end(key)
            self._prune(now)
            return allowed

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key` has a token again (0 if it has one now)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0
            missing = 1.0 - self._refilled(bucket, self._clock())
            if missing <= 0:
                return 0
            return max(1, math.ceil(missing / self.limit.per_second))

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        # Oldest first: drop buckets that are full again (nothing to remember), and
        # the least recently used beyond max_keys.
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            full = self._refilled(bucket, now) >= self.limit.burst
            if not full and len(self._buckets) <= self.max_keys:
                break
            del self._buckets[key]
