"""A bounded, in-process set of recently seen ids (Slack event ids, Teams activity
ids), so that a platform's retry of something already handled is acknowledged but
never processed twice.

In-process only: with several Rasa replicas, route each workspace or tenant to one
replica, or move this to Redis (SET NX with an expiry).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

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
