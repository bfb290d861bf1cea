"""Rasa's SQL tracker store and Redis lock store, made to survive a restart of
PostgreSQL and the death of a replica.

What Rasa 3.6.21 does on its own: `SQLTrackerStore` pools connections without
checking them, so after PostgreSQL restarts, the first read of every replica fails on
a dead pooled connection. Rasa wraps every tracker store in `FailSafeTrackerStore`,
which then answers "no such conversation": the message is handled as the first of a
new conversation (a form in progress, the signed-in user's context: gone), and
`SQLTrackerStore.save` then skips as many of its events as the database already holds
for the conversation, so the message and the bot's answer are lost. Found by
tests/faults/test_stores.py.

`ResilientSQLTrackerStore` retries a read or write that fails on the connection,
with a fresh pool, for up to `retry_seconds` (default 15 s,
RASA_TRACKER_RETRY_SECONDS), so a restart is waited out instead of turned into a lost
message. (It does not ping each pooled connection before use, `pool_pre_ping`: that
is a round trip per read and per write, and the first failed statement after a
restart is retried anyway.) Use it in endpoints.yml:

    tracker_store:
      type: bot.stores.ResilientSQLTrackerStore
      dialect: postgresql
      ...          # as for `type: SQL`

A longer outage still ends in Rasa's fallback (gaps: docs/production.md).

It also keeps each replica's recent conversations in memory. Rasa reads a
conversation's events from the database, decodes them and replays every one into a
new tracker for each message, then counts the rows again to save, and with an event
broker replays the stored conversation once more to find what to publish: ~30 % of a
reply's CPU in the load benchmark (docs/production.md, "Where a reply's CPU goes").
Here a saved tracker stays in memory (at most `cache_size` conversations, default 1000,
RASA_TRACKER_CACHE_SIZE; 0 turns it off) with what the database held when it was
saved: the conversation's row count and largest event id. The next message reads
those two numbers (one indexed query) and uses the kept tracker only when they are
unchanged, so a conversation that another replica answered meanwhile, or one whose
rows were deleted, is read from the database as before. A save writes, and
publishes, exactly the events appended since the tracker was read.

Reads and writes run in worker threads (one for SQLite, whose writers would otherwise
wait for each other in sleeps; four for PostgreSQL), so Rasa's event loop serves other
conversations while the database answers (Rasa's own store blocks the loop for every
round trip). A save publishes its events to the event broker after they are stored.

The trackers it hands out are `KeptTracker`s: Rasa's tracker with a `copy()` that
copies the tracker's state instead of replaying every event into a new one (Rasa
copies the tracker before every action it runs: ~11 % of Rasa's CPU in long
conversations).

SQLite (the embedded profile) runs in WAL mode: a commit is one fsync, not three,
and the dashboard can read transcripts while Rasa writes.

No chat token is stored, published or kept: a token is a credential for an hour,
and the tracker store, the broker's queue and the dashboard keep conversations for
much longer. Before a save writes anything, the chat token in each new event's
metadata (the user's message, its parse data, the `session_started_metadata` slot
and its `SlotSet`) is swapped for its receipt (`common.identity.scrub_metadata`: the
same claims, expired when the message arrived; the review dashboard still sees who
chatted), in the kept tracker too. Actions are unaffected: they run before the save,
on the message's own token (actions/identity.py).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.constants import SESSION_START_METADATA_SLOT
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.exc import DBAPIError, OperationalError

from common import settings as S
from common.identity import CHAT_TOKEN_KEY, scrub_metadata

logger = logging.getLogger(__name__)

RETRY_PAUSE_SECONDS = 0.5
DATABASE_THREADS = 4  # at most the connection pool's size (5)

T = TypeVar("T")

# The attribute of a tracker object that says what of it the database holds.
_STORED = "_csp_stored"


@dataclass(frozen=True)
class Footprint:
    """A conversation's rows in the events table: how many, and the largest id."""

    rows: int
    last_id: Optional[int]


@dataclass(frozen=True)
class Stored:
    """The database holds a tracker's first `events` events, and held `footprint`
    for its conversation when the tracker was read or saved."""

    events: int
    footprint: Footprint


def stored(tracker: DialogueStateTracker) -> Optional[Stored]:
    return getattr(tracker, _STORED, None)


# Events after which `applied_events` is not the earlier list plus the new events.
_REWRITING = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted)


@dataclass
class EventCursor:
    """How far a tracker's events were read, for `applied_events` without going
    over the whole conversation again (KeptTracker, bot/policies.py)."""

    seen: int = 0
    last_seen: Optional[Event] = None
    loop_names: set[str] = field(default_factory=set)  # forms among the events

    def new_events(self, tracker: DialogueStateTracker) -> Optional[list[Event]]:
        """The tracker's events since the cursor, when `applied_events()` is what
        it was then plus them: none of them is a restart, a session start, a
        rewind or an undo, a form's action or a new form (what `applied_events`
        does not just append). Otherwise None."""
        events = tracker.events
        if events.maxlen is not None or not 0 < self.seen <= len(events):
            return None
        if events[self.seen - 1] is not self.last_seen:
            return None
        new = list(itertools.islice(events, self.seen, None))
        for event in new:
            if isinstance(event, _REWRITING):
                return None
            if isinstance(event, ActiveLoop) and event.name:
                if event.name not in self.loop_names:
                    return None
            elif (
                isinstance(event, ActionExecuted)
                and event.action_name in self.loop_names
            ):
                return None
        return new

    def saw(self, tracker: DialogueStateTracker, new: Optional[list[Event]]) -> None:
        """Remember how far the tracker's events were read (`new`: the events read
        since the last call, or None when all were)."""
        events = tracker.events
        self.seen = len(events)
        self.last_seen = events[-1] if events else None
        if new is None:
            self.loop_names = set()
            new = list(events)
        self.loop_names.update(
            e.name for e in new if isinstance(e, ActiveLoop) and e.name
        )


@dataclass
class _Applied:
    cursor: EventCursor
    applied: list[Event]


_APPLIED = "_csp_applied"


class KeptTracker(DialogueStateTracker):
    """Rasa's tracker, copied without replaying its events.

    `DialogueStateTracker.copy()` builds a new tracker and applies every event of
    the conversation to it again. Here the copy takes the tracker's state as it is
    (the state Rasa's own attributes hold, which must be what replaying the events
    gives), with its own event list, slots and loop, so changing either tracker
    leaves the other alone. What Rasa's copy leaves unset stays unset (the
    model and assistant ids, the sender source), and the caches this module and
    bot/policies.py keep on a tracker are not carried over. Checked against Rasa's
    copy on every training and test story (tests/bot/dialogue/test_tracker_copy.py).
    """

    def applied_events(self) -> list[Event]:
        """Rasa's `applied_events`, continuing from the last call when the events
        since are ones it just appends (`EventCursor`); Rasa calls it several
        times per message, and each went over the whole conversation."""
        kept: Optional[_Applied] = vars(self).get(_APPLIED)
        new = kept.cursor.new_events(self) if kept is not None else None
        if kept is None or new is None:
            kept = _Applied(EventCursor(), super().applied_events())
            kept.cursor.saw(self, None)
            setattr(self, _APPLIED, kept)
        elif new:
            kept.applied.extend(new)
            kept.cursor.saw(self, new)
        return list(kept.applied)

    def copy(self) -> DialogueStateTracker:
        duplicate = copy.copy(self)
        state = vars(duplicate)
        for name in [name for name in state if name.startswith("_csp_")]:
            del state[name]
        duplicate.events = self._create_events(list(self.events))
        if type(self.slots) is dict:
            duplicate.slots = {name: copy.copy(s) for name, s in self.slots.items()}
        else:
            duplicate.slots = copy.deepcopy(self.slots)
        duplicate.active_loop = copy.copy(self.active_loop)
        duplicate.latest_action = (
            dict(self.latest_action) if self.latest_action is not None else None
        )
        duplicate.sender_source = None
        duplicate.model_id = None
        duplicate.assistant_id = None
        return duplicate


def _has_token(value: Any) -> bool:
    return isinstance(value, dict) and CHAT_TOKEN_KEY in value


def scrub_tokens(tracker: DialogueStateTracker, start: int, secret: str) -> None:
    """Swap the chat tokens of the tracker's events from `start` on, and of its
    `session_started_metadata` slot, for their receipts (module docstring). New
    dicts replace the old ones: the message's own metadata dict is left as it was."""
    for event in itertools.islice(tracker.events, start, None):
        at = float(getattr(event, "timestamp", None) or time.time())
        if _has_token(event.metadata):
            event.metadata = scrub_metadata(event.metadata, secret, at)
        if isinstance(event, UserUttered) and _has_token(
            event.parse_data.get("metadata")
        ):
            event.parse_data["metadata"] = event.metadata
        if (
            isinstance(event, SlotSet)
            and event.key == SESSION_START_METADATA_SLOT
            and _has_token(event.value)
        ):
            event.value = scrub_metadata(event.value, secret, at)
    slot = tracker.slots.get(SESSION_START_METADATA_SLOT)
    if slot is not None and _has_token(slot.value):
        slot.value = scrub_metadata(slot.value, secret, time.time())


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # WAL: still durable at each commit
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _is_connection_error(error: Exception) -> bool:
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class ResilientSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that waits out a database restart and keeps recent
    conversations in memory."""

    def __init__(
        self,
        *args: Any,
        retry_seconds: Optional[float] = None,
        cache_size: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        if url.get_backend_name() == "sqlite":
            # reads and writes run in worker threads: pooled connections that any
            # thread may use (one at a time), instead of a new connection per call
            self.engine = sa.create_engine(
                url,
                poolclass=sa.pool.QueuePool,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            # one writer at a time: concurrent SQLite writers wait in sleeps
            self._threads = ThreadPoolExecutor(1, thread_name_prefix="tracker-store")
        else:
            self.engine = sa.create_engine(url, **create_engine_kwargs(url))
            self._threads = ThreadPoolExecutor(
                DATABASE_THREADS, thread_name_prefix="tracker-store"
            )
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        configured = retry_seconds
        if configured is None:
            configured = S.RASA_TRACKER_RETRY_SECONDS.get()
        self.retry_seconds = float(configured)
        if cache_size is None:
            cache_size = S.RASA_TRACKER_CACHE_SIZE.get()
        self.cache_size = max(0, int(cache_size))
        self._kept: OrderedDict[str, DialogueStateTracker] = OrderedDict()
        self._chat_token_secret = S.CHAT_TOKEN_SECRET.get()
        table = self.SQLEvent.__table__
        self._footprint_query = sa.select(
            sa.func.count(table.c.id), sa.func.max(table.c.id)
        ).where(table.c.sender_id == sa.bindparam("sender_id"))
        self._insert = sa.insert(table)

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

    def _in_thread(self, call: Callable[..., T], *args: Any) -> Awaitable[T]:
        return asyncio.get_running_loop().run_in_executor(self._threads, call, *args)

    # ------------------------------------------------------------------ reading

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._retrying("read", lambda: self._read(sender_id))

    async def retrieve_full_tracker(
        self, conversation_id: str
    ) -> Optional[DialogueStateTracker]:
        parent = super().retrieve_full_tracker
        return await self._retrying("read", lambda: parent(conversation_id))

    async def exists(self, conversation_id: str) -> bool:
        if conversation_id in self._kept:
            return True
        return await self._retrying("read", lambda: self._exists(conversation_id))

    async def _exists(self, conversation_id: str) -> bool:
        def count() -> int:
            with self.session_scope() as session:
                return self._footprint(session, conversation_id).rows

        return await self._in_thread(count) > 0

    async def _read(self, sender_id: str) -> Optional[DialogueStateTracker]:
        # Taken out of the cache: whoever reads it owns it until it is saved again.
        kept = self._kept.pop(sender_id, None)
        return await self._in_thread(self._read_database, sender_id, kept)

    def _read_database(
        self, sender_id: str, kept: Optional[DialogueStateTracker]
    ) -> Optional[DialogueStateTracker]:
        with self.session_scope() as session:
            footprint = self._footprint(session, sender_id)
            if kept is not None and self._unchanged(kept, footprint):
                return kept
            rows = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=False
            ).all()
            events = [json.loads(row.data) for row in rows]
        if not (self.domain and events):
            return None
        tracker = KeptTracker.from_dict(sender_id, events, self.domain.slots)
        if len(tracker.events) == len(events):  # every stored event was understood
            setattr(tracker, _STORED, Stored(len(events), footprint))
        return tracker

    def init_tracker(self, sender_id: str) -> DialogueStateTracker:
        return KeptTracker(
            sender_id, self.domain.slots, max_event_history=self.max_event_history
        )

    @staticmethod
    def _unchanged(tracker: DialogueStateTracker, footprint: Footprint) -> bool:
        """The kept tracker is the database's conversation, nothing added since."""
        mark = stored(tracker)
        return (
            mark is not None
            and mark.footprint == footprint
            and mark.events == len(tracker.events)
        )

    def _footprint(self, session: Any, sender_id: str) -> Footprint:
        rows, last_id = session.execute(
            self._footprint_query, {"sender_id": sender_id}
        ).one()
        return Footprint(int(rows or 0), last_id)

    # ------------------------------------------------------------------ writing

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Saving publishes the new events itself, once they are stored (`save`)."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the events the database lacks, then publish them to the event
        broker: once, even when the write was retried, and only once stored (Rasa
        publishes first, so a failed write left published events that were never
        stored)."""
        mark = stored(tracker)
        # Events up to the mark were saved (and scrubbed) before, or read from the
        # database, which holds none with a token.
        scrub_tokens(tracker, mark.events if mark else 0, self._chat_token_secret)
        adding: list[list[Event]] = []  # the new events, as the first attempt saw them
        footprint = await self._retrying(
            "write", lambda: self._in_thread(self._write, tracker, adding)
        )
        if self.event_broker is not None and adding:
            await self._stream_new_events(
                self.event_broker, adding[0], tracker.sender_id
            )
        setattr(tracker, _STORED, Stored(len(tracker.events), footprint))
        if type(tracker) is DialogueStateTracker:
            # A new conversation's tracker: the wrappers Rasa puts around a tracker
            # store create it themselves. KeptTracker only adds behaviour.
            tracker.__class__ = KeptTracker
        self._keep(tracker)

    def _write(
        self, tracker: DialogueStateTracker, adding: list[list[Event]]
    ) -> Footprint:
        """One attempt at the write, in a worker thread; returns the conversation's
        footprint after it."""
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            footprint = self._footprint(session, sender_id)
            mark = stored(tracker)
            if mark is not None and mark.footprint == footprint:
                new = list(itertools.islice(tracker.events, mark.events, None))
            else:  # read elsewhere, or the database changed: Rasa's own count
                new = list(self._additional_events(session, tracker))
            if not adding:
                adding.append(new)
            if new:
                session.execute(self._insert, [self._row(sender_id, e) for e in new])
                footprint = self._footprint(session, sender_id)
            session.commit()
        return footprint

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        """The events table's row for an event, as Rasa's `save` writes it."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {})
            .get("intent", {})
            .get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    def _keep(self, tracker: DialogueStateTracker) -> None:
        if not self.cache_size:
            return
        self._kept[tracker.sender_id] = tracker
        self._kept.move_to_end(tracker.sender_id)
        while len(self._kept) > self.cache_size:
            self._kept.popitem(last=False)


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
