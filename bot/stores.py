"""Rasa's SQL tracker store and Redis lock store, made to survive a restart of
PostgreSQL and the death of a replica (issue 8).

What Rasa 3.6.21 does on its own: `SQLTrackerStore` pools connections without
checking them, so after PostgreSQL restarts, the first read of every replica fails on
a dead pooled connection. Rasa wraps every tracker store in `FailSafeTrackerStore`,
which then answers "no such conversation": the message is handled as the first of a
new conversation (a form in progress, the signed-in user's context: gone), and
`SQLTrackerStore.save` then skips as many of its events as the database already holds
for the conversation, so the message and the bot's answer are lost. Found by
tests/faults/test_stores.py.

`ResilientSQLTrackerStore` checks a pooled connection before using it
(`pool_pre_ping`) and retries a read or write that fails on the connection for up to
`retry_seconds` (default 15 s, RASA_TRACKER_RETRY_SECONDS), so a restart is waited
out instead of turned into a lost message. Use it in endpoints.yml:

    tracker_store:
      type: bot.stores.ResilientSQLTrackerStore
      dialect: postgresql
      ...          # as for `type: SQL`

A longer outage still ends in Rasa's fallback (gaps: docs/production.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.exc import DBAPIError, OperationalError

logger = logging.getLogger(__name__)

DEFAULT_RETRY_SECONDS = 15.0
RETRY_PAUSE_SECONDS = 0.5

T = TypeVar("T")

# Set while a save is retried, so its events go to the event broker only once.
_streamed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tracker_store_streamed", default=False
)


def _is_connection_error(error: Exception) -> bool:
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class ResilientSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that waits out a database restart."""

    def __init__(
        self, *args: Any, retry_seconds: Optional[float] = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, pool_pre_ping=True, **create_engine_kwargs(url)
        )
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        configured = retry_seconds
        if configured is None:
            configured = float(
                os.environ.get("RASA_TRACKER_RETRY_SECONDS") or DEFAULT_RETRY_SECONDS
            )
        self.retry_seconds = float(configured)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except (OperationalError, DBAPIError) as error:
                if not _is_connection_error(error) or time.monotonic() >= deadline:
                    raise
                logger.warning(
                    "Tracker store %s failed on the database connection (attempt "
                    "%d), retrying: %s",
                    what,
                    attempt,
                    str(error).splitlines()[0],
                )
                self.engine.dispose()  # drop every pooled connection
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        parent = super().retrieve
        return await self._retrying("read", lambda: parent(sender_id))

    async def retrieve_full_tracker(
        self, conversation_id: str
    ) -> Optional[DialogueStateTracker]:
        parent = super().retrieve_full_tracker
        return await self._retrying("read", lambda: parent(conversation_id))

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        if _streamed.get():
            return  # a retried save: the broker has these events already
        await super().stream_events(tracker)

    async def save(self, tracker: DialogueStateTracker) -> None:
        parent = super().save
        attempts = 0

        async def attempt() -> None:
            nonlocal attempts
            token = _streamed.set(attempts > 0)
            attempts += 1
            try:
                await parent(tracker)
            finally:
                _streamed.reset(token)

        await self._retrying("write", attempt)


class ResilientRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose waiting messages cannot wait forever.

    Rasa's lock is a queue of tickets that expire after the lock lifetime
    (TICKET_LOCK_LIFETIME, 60 s). When a replica dies holding the lock, its ticket
    expires, and the next one is served. But a waiting message's own ticket expires
    too, and when both go in the same clean-up, Rasa 3.6.21 waits for a ticket
    that no longer exists, forever (until the channel gives up): found by
    tests/faults/test_stores.py, killing a replica while a second message for the
    same conversation was queued. Here a message whose ticket expired while it
    waited takes a new one.

        lock_store:
          type: bot.stores.ResilientRedisLockStore
          url: ...       # as for `type: redis`
    """

    def __init__(
        self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any
    ) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            while True:
                lock = self.get_lock(conversation_id)
                if lock is None:
                    raise LockError(
                        f"Could not acquire lock for conversation_id "
                        f"'{conversation_id}'."
                    )
                if not lock.is_locked(ticket):
                    break
                if all(t.number != ticket for t in lock.tickets):
                    logger.warning(
                        "The lock ticket of a message in conversation %s expired "
                        "while it waited; queueing it again",
                        conversation_id,
                    )
                    ticket = self.issue_ticket(conversation_id, lock_lifetime)
                    continue
                await asyncio.sleep(wait_time_in_seconds)
                self.update_lock(conversation_id)
            yield lock
        finally:
            self.cleanup(conversation_id, ticket)
