"""Recently seen ids (Slack event ids, Teams activity ids), so that a platform's
retry of something already handled is acknowledged but never processed twice.

`SeenIds` is a bounded set in the process. With several Rasa replicas a retry may
reach another replica (Slack and Teams post from addresses the proxy cannot tie to
a conversation), so when `REDIS_URL` is set (the production profile) the channels use
`SharedSeenIds`: the same check-and-set as one Redis `SET key 1 NX EX ttl`, shared by
every replica. If Redis does not answer, it falls back to the process's own set and
says so in the log: a retry that reaches another replica then may be processed
twice (ticket filing is idempotent on its own), but no message is dropped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Union

import redis

from common import channels as config

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3600.0
DEFAULT_MAX_ENTRIES = 10_000


class SeenIds:
    """Remembers ids for `ttl` seconds, at most `max_entries` of them (oldest go)."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.ttl and len(self._seen) <= self.max_entries:
                break
            del self._seen[oldest]

    def __contains__(self, key: object) -> bool:
        self._expire(self._clock())
        return key in self._seen

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._seen)

    def add(self, key: str) -> bool:
        """Remember `key`; True if it is new, False if it was seen within the TTL.

        Check-and-set in one step, with no await in between, so two concurrent
        deliveries of the same id cannot both be new.
        """
        now = self._clock()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        self._expire(now)
        return True


class SharedSeenIds:
    """`SeenIds` shared by every process that uses the same Redis and prefix."""

    def __init__(
        self,
        url: str,
        prefix: str = "cspdesk",
        ttl: float = DEFAULT_TTL_SECONDS,
        timeout_seconds: float = 1.0,
    ) -> None:
        self.prefix = prefix
        self.ttl = ttl
        self.local = SeenIds(ttl=ttl)  # when Redis does not answer
        # A blocking client, as Rasa's own Redis lock store uses: one round trip
        # per webhook delivery, and `add` stays one step with no await inside.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )

    def key(self, seen: str) -> str:
        return f"{self.prefix}:seen:{seen}"

    def add(self, key: str) -> bool:
        """Remember `key`; True if no process saw it within the TTL."""
        try:
            new = self.client.set(self.key(key), 1, nx=True, ex=max(int(self.ttl), 1))
        except redis.RedisError as exc:
            logger.warning(
                "Redis did not answer (%s); de-duplicating in this process only", exc
            )
            return self.local.add(key)
        self.local.add(key)  # so this process still knows it if Redis goes away
        return bool(new)


SeenSet = Union[SeenIds, SharedSeenIds]


def seen_ids() -> SeenSet:
    """The channels' set: shared in Redis when REDIS_URL is set, else in-process."""
    url, prefix = config.shared_redis()
    return SharedSeenIds(url, prefix) if url else SeenIds()
