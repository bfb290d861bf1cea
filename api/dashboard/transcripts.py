"""Where conversations come from: Rasa's tracker store, behind one interface.

``TranscriptSource`` is what the ingester needs: the events after a position, in
order, and a way to delete one conversation's events (privacy requests). Two
implementations, chosen by ``transcript_source()``:

- ``SQLTrackerSource`` reads Rasa's ``SQLTrackerStore`` table (the embedded profile:
  SQLite) with SQLAlchemy 2 Core over a separate engine;
- ``BrokerTranscriptSource`` reads ``transcript_events`` in our database, which the
  transcript consumer (``api/dashboard/consumer.py``) fills from the RabbitMQ event
  broker with ``store_events`` (the production profile: whenever ``RABBITMQ_URL`` is set). Deleting a
  conversation deletes it there and in Rasa's tracker store.

The table, as Rasa 3.6 creates it (``rasa/core/tracker_store.py``)::

    events(id INTEGER PK, sender_id VARCHAR(255), type_name VARCHAR(255),
           timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255),
           data TEXT)   -- data: the event's JSON (Event.as_dict())
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol, cast

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from api.dashboard.models import TranscriptEvent
from api.domain.db import get_engine
from api.domain.models import utcnow
from api.settings import ROOT, Settings, get_settings

logger = logging.getLogger(__name__)

# Rasa's table, described for SQLAlchemy Core only (never created by our migrations).
TRACKER_METADATA = MetaData()
EVENTS = Table(
    "events",
    TRACKER_METADATA,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


@dataclass(frozen=True)
class TrackerEvent:
    """One stored Rasa event."""

    id: int
    sender_id: str
    type_name: str
    timestamp: float
    data: dict[str, Any] = field(default_factory=dict)


class TranscriptSource(Protocol):
    """What the ingester and the privacy deletion need from a store of events."""

    @property
    def name(self) -> str:
        """A stable name; the ingester keeps its position per name."""
        ...

    def events_after(self, after_id: int, limit: int) -> Sequence[TrackerEvent]:
        """Up to ``limit`` events with ``id > after_id``, in id order."""
        ...

    def delete_conversation(
        self, sender_id: str, *, up_to_timestamp: Optional[float] = None
    ) -> int:
        """Delete a conversation's events (all, or those up to a time); return how
        many were deleted."""
        ...


def tracker_url(settings: Settings) -> str:
    """The tracker store's SQLAlchemy URL: ``RASA_TRACKER_URL``, else the SQLite
    file ``RASA_TRACKER_DB`` (relative to the repository root)."""
    if settings.rasa_tracker_url:
        return settings.rasa_tracker_url
    path = Path(settings.rasa_tracker_db)
    if not path.is_absolute():
        path = ROOT / path
    return f"sqlite:///{path}"


def make_tracker_engine(url: str) -> Engine:
    """An engine for Rasa's database. Unlike ``api.domain.db.make_engine`` it changes
    nothing in a database that another program owns (no journal-mode pragma)."""
    if url.startswith("sqlite"):
        return create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}
        )
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def parse_event_data(raw: Optional[str]) -> dict[str, Any]:
    """The ``data`` column as a dict (an empty one when it is not JSON)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tracker_events(rows: Any) -> list[TrackerEvent]:
    """Rows of (id, sender_id, type_name, timestamp, data) as TrackerEvents."""
    return [
        TrackerEvent(
            id=int(row.id),
            sender_id=str(row.sender_id),
            type_name=str(row.type_name),
            timestamp=float(row.timestamp or 0.0),
            data=parse_event_data(row.data),
        )
        for row in rows
    ]


def event_row(body: bytes) -> Optional[dict[str, Any]]:
    """The ``transcript_events`` row of one broker message, or None when it is not
    a Rasa event (not JSON, no sender id or event type)."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    sender_id = event.pop("sender_id", None)
    kind = event.get("event")
    if not isinstance(sender_id, str) or not sender_id or not isinstance(kind, str):
        return None
    timestamp = event.get("timestamp")
    return {
        "sender_id": sender_id[:255],
        "type_name": kind[:255],
        "timestamp": float(timestamp) if isinstance(timestamp, (int, float)) else 0.0,
        "data": json.dumps(event),
        "digest": hashlib.sha256(body).hexdigest(),
        "received_at": utcnow(),
    }


def store_events(session: Session, bodies: Sequence[bytes]) -> int:
    """Append the events of ``bodies`` (in order) to ``transcript_events``; skip
    malformed messages and ones already stored. Returns how many were read as
    events. The caller commits."""
    rows = [row for row in (event_row(body) for body in bodies) if row is not None]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = cast(Table, TranscriptEvent.__table__)
    if dialect == "postgresql":
        statement: Any = pg_insert(table).on_conflict_do_nothing(
            index_elements=["digest"]
        )
    elif dialect == "sqlite":
        statement = sqlite_insert(table).on_conflict_do_nothing(
            index_elements=["digest"]
        )
    else:  # pragma: no cover - PostgreSQL in production, SQLite in tests
        statement = insert(table)
    # A Core executemany: the driver runs one INSERT per row, in order (psycopg
    # pipelines them in one round trip), so the ids keep the arrival order.
    session.execute(statement, rows)
    return len(rows)


class SQLTrackerSource:
    """``TranscriptSource`` over Rasa's ``SQLTrackerStore`` table."""

    def __init__(self, engine: Engine, *, name: Optional[str] = None) -> None:
        self.engine = engine
        self._name = name or f"sql-tracker:{engine.url.render_as_string()}"

    @classmethod
    def from_settings(cls, settings: Optional[Settings] = None) -> SQLTrackerSource:
        url = tracker_url(settings or get_settings())
        return cls(make_tracker_engine(url), name="rasa-tracker-store")

    @property
    def name(self) -> str:
        return self._name

    def _absent(self) -> bool:
        """A SQLite file that Rasa has not created yet (never create it here)."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database:
            return False
        return url.database != ":memory:" and not Path(url.database).exists()

    def events_after(self, after_id: int, limit: int) -> list[TrackerEvent]:
        query = (
            select(
                EVENTS.c.id,
                EVENTS.c.sender_id,
                EVENTS.c.type_name,
                EVENTS.c.timestamp,
                EVENTS.c.data,
            )
            .where(EVENTS.c.id > after_id)
            .order_by(EVENTS.c.id)
            .limit(limit)
        )
        if self._absent():
            return []
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except (OperationalError, ProgrammingError) as exc:
            # Rasa has not created its table yet (it does on its first start).
            if _missing_table(exc):
                return []
            raise
        return _tracker_events(rows)

    def delete_conversation(
        self, sender_id: str, *, up_to_timestamp: Optional[float] = None
    ) -> int:
        statement = delete(EVENTS).where(EVENTS.c.sender_id == sender_id)
        if up_to_timestamp is not None:
            statement = statement.where(EVENTS.c.timestamp <= up_to_timestamp)
        if self._absent():
            return 0
        try:
            with self.engine.begin() as connection:
                return int(connection.execute(statement).rowcount or 0)
        except (OperationalError, ProgrammingError) as exc:
            if _missing_table(exc):
                return 0
            raise


class BrokerTranscriptSource:
    """``TranscriptSource`` over ``transcript_events`` (our database), which the
    transcript consumer appends to from the event broker.

    Ids are assigned in arrival order by the one consumer, which commits batch after
    batch, so reading ``id > position`` misses nothing; run exactly one consumer per
    queue (deploy/k8s: ``replicas: 1``).
    """

    def __init__(
        self, engine: Engine, *, tracker: Optional[TranscriptSource] = None
    ) -> None:
        self.engine = engine
        self.tracker = tracker

    @classmethod
    def from_settings(
        cls, settings: Optional[Settings] = None
    ) -> BrokerTranscriptSource:
        settings = settings or get_settings()
        return cls(get_engine(), tracker=SQLTrackerSource.from_settings(settings))

    @property
    def name(self) -> str:
        return "rasa-event-broker"

    def events_after(self, after_id: int, limit: int) -> list[TrackerEvent]:
        query = (
            select(
                TranscriptEvent.id,
                TranscriptEvent.sender_id,
                TranscriptEvent.type_name,
                TranscriptEvent.timestamp,
                TranscriptEvent.data,
            )
            .where(TranscriptEvent.id > after_id)
            .order_by(TranscriptEvent.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return _tracker_events(rows)

    def delete_conversation(
        self, sender_id: str, *, up_to_timestamp: Optional[float] = None
    ) -> int:
        statement = delete(TranscriptEvent).where(
            TranscriptEvent.sender_id == sender_id
        )
        if up_to_timestamp is not None:
            statement = statement.where(TranscriptEvent.timestamp <= up_to_timestamp)
        with self.engine.begin() as connection:
            deleted = int(connection.execute(statement).rowcount or 0)
        if self.tracker is not None:
            # Rasa's own copy goes too; the count reported is the tracker store's
            # when it has one (what the audit has always counted).
            in_tracker = self.tracker.delete_conversation(
                sender_id, up_to_timestamp=up_to_timestamp
            )
            return in_tracker or deleted
        return deleted


def transcript_source(settings: Optional[Settings] = None) -> TranscriptSource:
    """Where the review dashboard reads conversations: the event broker's copy when
    a broker is configured (production profile), else Rasa's tracker store."""
    settings = settings or get_settings()
    if settings.transcripts_from_broker:
        return BrokerTranscriptSource.from_settings(settings)
    return SQLTrackerSource.from_settings(settings)


def _missing_table(exc: Exception) -> bool:
    text = str(exc).lower()
    return "no such table" in text or "does not exist" in text
