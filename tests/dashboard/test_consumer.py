"""The transcript consumer's storage and the broker transcript source, on SQLite
and on PostgreSQL (the production profile's database).

The consumer against a real RabbitMQ, with Rasa publishing, is in
tests/production/test_production_profile.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone

import pika
import pytest
from pika.exceptions import AMQPConnectionError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tenacity import RetryCallState

from api.dashboard import rasa_events as ev
from api.dashboard.consumer import TranscriptConsumer
from api.dashboard.ingest import ingest, sender_hash
from api.dashboard.models import (
    Conversation,
    ConversationTurn,
    PrivacyDeletion,
    TranscriptEvent,
)
from api.dashboard.reconcile import reconcile
from api.dashboard.transcripts import (
    BrokerTranscriptSource,
    SQLTrackerSource,
    event_row,
    store_events,
    transcript_source,
)
from api.domain.db import get_engine, get_sessionmaker
from api.domain.migrate import upgrade
from api.settings import Settings
from tests.conftest import reset_caches
from tests.dashboard.conftest import Tracker


def message(sender_id: str, event: dict) -> bytes:
    """A broker message as Rasa's PikaEventBroker publishes it."""
    return json.dumps({"sender_id": sender_id, **event}).encode()


def conversation_messages(sender_id: str, start: float) -> list[bytes]:
    return [
        message(sender_id, ev.session_started(start)),
        message(sender_id, ev.action("action_listen", start + 1)),
        message(
            sender_id,
            ev.user("show me my latest invoice", start + 2, intent="ask_invoice"),
        ),
        message(sender_id, ev.bot("Invoice G000000001: 10.00 USD", start + 3)),
    ]


def test_a_message_becomes_a_row_and_junk_is_skipped() -> None:
    row = event_row(message("s-1", ev.bot("hi", 5.0)))
    assert row is not None
    assert (row["sender_id"], row["type_name"], row["timestamp"]) == ("s-1", "bot", 5.0)
    assert "sender_id" not in json.loads(row["data"])
    assert event_row(b"not json") is None
    assert event_row(json.dumps({"event": "bot"}).encode()) is None  # no sender
    assert event_row(json.dumps(["a"]).encode()) is None


def test_stored_events_keep_arrival_order_and_redeliveries_are_no_ops(
    db_session: Session,
) -> None:
    bodies = conversation_messages("s-1", 100.0)
    assert store_events(db_session, [*bodies, b"junk"]) == 4
    db_session.commit()
    assert store_events(db_session, bodies[1:]) == 3  # redelivered after a crash
    db_session.commit()
    kinds = db_session.scalars(
        select(TranscriptEvent.type_name).order_by(TranscriptEvent.id)
    ).all()
    assert kinds == ["session_started", "action", "user", "bot"]


def test_the_ingester_reads_the_broker_copy(db_session: Session) -> None:
    store_events(db_session, conversation_messages("s-1", 100.0))
    store_events(db_session, conversation_messages("s-2", 200.0))
    db_session.commit()
    source = BrokerTranscriptSource(get_engine())
    assert [e.id for e in source.events_after(0, 3)] == [1, 2, 3]
    report = ingest(db_session, source)
    db_session.commit()
    assert report.events_read == 8
    conversation = db_session.scalars(
        select(Conversation).where(Conversation.sender_id == "s-1")
    ).one()
    assert (conversation.user_turns, conversation.bot_turns) == (1, 1)
    # Nothing new: the position moved past every event.
    assert ingest(db_session, source).events_read == 0


def test_deleting_a_conversation_deletes_the_broker_copy(db_session: Session) -> None:
    store_events(db_session, conversation_messages("s-1", 100.0))
    store_events(db_session, conversation_messages("s-2", 200.0))
    db_session.commit()
    source = BrokerTranscriptSource(get_engine())
    assert source.delete_conversation("s-1", up_to_timestamp=101.5) == 2
    assert source.delete_conversation("s-1") == 2
    left = db_session.scalar(select(func.count()).select_from(TranscriptEvent))
    assert left == 4


def test_the_source_follows_the_broker_setting(database_url: str) -> None:
    assert isinstance(
        transcript_source(Settings(database_url=database_url)), SQLTrackerSource
    )
    with_broker = Settings(
        database_url=database_url, rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/"
    )
    assert isinstance(transcript_source(with_broker), BrokerTranscriptSource)


@pytest.fixture
def pg_session(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """A session on a migrated scratch PostgreSQL database (`DATABASE_URL`)."""
    upgrade(postgres_url)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    reset_caches()
    try:
        with get_sessionmaker()() as session:
            yield session
    finally:
        reset_caches()


def test_postgresql_keeps_arrival_order_across_a_batch_and_redeliveries(
    pg_session: Session,
) -> None:
    # Three conversations interleaved in one batch, as replicas publish them.
    streams = [conversation_messages(f"s-{n}", 100.0 * n) for n in (1, 2, 3)]
    batch = [body for turn in zip(*streams) for body in turn]
    assert store_events(pg_session, batch) == 12
    pg_session.commit()
    stored = pg_session.execute(
        select(TranscriptEvent.sender_id, TranscriptEvent.type_name).order_by(
            TranscriptEvent.id
        )
    ).all()
    expected = []
    for body in batch:
        event = json.loads(body)
        expected.append((event["sender_id"], event["event"]))
    assert [tuple(row) for row in stored] == expected

    source = BrokerTranscriptSource(get_engine())
    assert ingest(pg_session, source).events_read == 12
    pg_session.commit()
    turns = pg_session.scalar(select(func.count()).select_from(ConversationTurn))

    # A redelivered batch (old and new events mixed) adds only the new ones.
    more = [
        message("s-1", ev.user("and the one before?", 150.0, intent="ask_invoice")),
        message("s-4", ev.user("hello", 400.0, intent="greet")),
    ]
    assert store_events(pg_session, [*batch[:5], *more]) == 7
    pg_session.commit()
    assert ingest(pg_session, source).events_read == 2
    pg_session.commit()
    assert (
        pg_session.scalar(select(func.count()).select_from(ConversationTurn))
        == (turns or 0) + 2
    )
    users = dict(
        pg_session.execute(select(Conversation.sender_id, Conversation.user_turns))
        .tuples()
        .all()
    )
    assert users == {"s-1": 2, "s-2": 1, "s-3": 1, "s-4": 1}


def test_postgresql_skips_events_older_than_a_privacy_deletion(
    pg_session: Session,
) -> None:
    pg_session.add(
        PrivacyDeletion(
            sender_hash=sender_hash("s-1"),
            deleted_by="dpo@partner.example",
            deleted_at=datetime.fromtimestamp(102.5, tz=timezone.utc),
            tracker_events_deleted=0,
        )
    )
    pg_session.commit()
    store_events(pg_session, conversation_messages("s-1", 100.0))
    store_events(pg_session, conversation_messages("s-2", 100.0))
    pg_session.commit()
    report = ingest(pg_session, BrokerTranscriptSource(get_engine()))
    pg_session.commit()
    assert report.purged_events == 3  # s-1's events up to 102.5
    users = dict(
        pg_session.execute(select(Conversation.sender_id, Conversation.bot_turns))
        .tuples()
        .all()
    )
    assert users == {"s-1": 1, "s-2": 1}


def invoice_exchange(start: float) -> list[dict]:
    return [
        ev.session_started(start),
        ev.action("action_listen", start + 1),
        ev.user("show me my latest invoice", start + 2, intent="ask_invoice"),
        ev.bot("Invoice G000000001: 10.00 USD", start + 3),
    ]


def test_events_never_published_are_restored_from_the_tracker_store(
    db_session: Session, tracker: Tracker
) -> None:
    one, two = invoice_exchange(100.0), invoice_exchange(200.0)
    tracker.add("s-1", one)
    tracker.add("s-2", two)
    # The broker delivered s-2, and only the start of s-1: its replica died
    # holding the rest.
    store_events(
        db_session,
        [message("s-1", e) for e in one[:2]] + [message("s-2", e) for e in two],
    )
    db_session.commit()
    engine = SQLTrackerSource.from_settings().engine
    report = reconcile(db_session, engine, now=1000.0)
    db_session.commit()
    assert (report.read, report.restored) == (8, 2)
    rows = db_session.scalars(
        select(TranscriptEvent.type_name).where(TranscriptEvent.sender_id == "s-1")
    ).all()
    assert sorted(rows) == ["action", "bot", "session_started", "user"]
    ingest(db_session, BrokerTranscriptSource(get_engine()))
    db_session.commit()
    turns = dict(
        db_session.execute(select(Conversation.sender_id, Conversation.user_turns))
        .tuples()
        .all()
    )
    assert turns == {"s-1": 1, "s-2": 1}

    # Nothing twice: the next run starts after what it compared.
    assert reconcile(db_session, engine, now=1000.0).read == 0
    # An event younger than the grace period is left to its replica for now.
    tracker.add("s-1", [ev.user("and my payments?", 950.0, intent="ask_payment")])
    assert reconcile(db_session, engine, now=1000.0).read == 0
    later = reconcile(db_session, engine, now=2000.0)
    db_session.commit()
    assert (later.read, later.restored) == (1, 1)
    count = db_session.scalar(select(func.count()).select_from(TranscriptEvent))
    assert count == 9


def test_the_consumer_reconciles_on_its_interval(
    db_session: Session, tracker: Tracker
) -> None:
    tracker.add("s-1", invoice_exchange(100.0))
    consumer = TranscriptConsumer(
        Settings(transcript_reconcile_seconds=3600), run_ingest=True
    )
    consumer.reconcile_if_due()
    conversation = db_session.scalars(
        select(Conversation).where(Conversation.sender_id == "s-1")
    ).one()
    assert conversation.user_turns == 1  # restored, then ingested
    tracker.add("s-2", invoice_exchange(200.0))
    consumer.reconcile_if_due()  # not due for another hour
    assert db_session.scalar(select(func.count()).select_from(TranscriptEvent)) == 4
    off = TranscriptConsumer(Settings(transcript_reconcile_seconds=0))
    off.reconcile_if_due()
    assert db_session.scalar(select(func.count()).select_from(TranscriptEvent)) == 4


def test_a_backlog_is_read_over_several_runs(
    db_session: Session, tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.dashboard.reconcile.BATCH", 3)
    for n in range(3):
        tracker.add(f"s-{n}", invoice_exchange(100.0 * (n + 1)))
    engine = SQLTrackerSource.from_settings().engine
    first = reconcile(db_session, engine, now=1000.0, seconds=0)
    assert (first.read, first.caught_up) == (3, False)
    consumer = TranscriptConsumer(Settings(transcript_reconcile_seconds=3600))
    monkeypatch.setattr("api.dashboard.reconcile.SECONDS_PER_RUN", 0.0)
    db_session.commit()
    runs = 0
    while db_session.scalar(select(func.count()).select_from(TranscriptEvent)) < 12:
        consumer.reconcile_if_due()  # due again at once while behind
        runs += 1
        assert runs < 10
    assert runs == 3


# --------------------------------------------------------------------------- reconnects


class ScriptedBroker:
    """Stands in for one connect-and-consume round of the consumer: each call takes
    the next outcome ("down", "cancelled", "stop" or an exception to raise)."""

    def __init__(self, consumer: TranscriptConsumer, outcomes: list[object]) -> None:
        self.consumer = consumer
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self, params: pika.URLParameters) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if outcome == "down":
            raise AMQPConnectionError("connection refused")
        if outcome == "stop":  # SIGTERM while consuming
            self.consumer.stopping = True
        elif outcome == "stop, down":  # SIGTERM while the broker is away
            self.consumer.stopping = True
            raise AMQPConnectionError("connection refused")
        elif isinstance(outcome, Exception):
            raise outcome


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> TranscriptConsumer:
    monkeypatch.setattr("api.dashboard.consumer.RECONNECT_SECONDS", 0.0)
    return TranscriptConsumer(
        Settings(rabbitmq_url="amqp://guest:guest@127.0.0.1:1/"), run_ingest=False
    )


def run_against(
    consumer: TranscriptConsumer,
    outcomes: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> ScriptedBroker:
    broker = ScriptedBroker(consumer, outcomes)
    monkeypatch.setattr(consumer, "connect_and_consume", broker)
    consumer.run()
    return broker


def test_the_consumer_reconnects_until_the_broker_is_back(
    consumer: TranscriptConsumer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.dashboard.consumer"):
        broker = run_against(consumer, ["down", "down", "down", "stop"], monkeypatch)
    assert broker.calls == 4
    assert [r.getMessage() for r in caplog.records] == [
        "RabbitMQ not reachable or connection lost (connection refused); "
        "reconnecting in 0 s"
    ] * 3


def test_a_cancelled_consumer_reconnects(
    consumer: TranscriptConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = run_against(consumer, ["cancelled", "down", "stop"], monkeypatch)
    assert broker.calls == 3


def test_stopping_while_the_broker_is_away_ends_quietly(
    consumer: TranscriptConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = run_against(consumer, ["down", "stop, down"], monkeypatch)
    assert broker.calls == 2


def test_a_failure_that_is_not_the_brokers_is_not_retried(
    consumer: TranscriptConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RuntimeError, match="database"):
        run_against(consumer, [RuntimeError("database"), "stop"], monkeypatch)
    assert consumer.stopping is False


def test_a_real_connection_attempt_fails_over_to_a_retry(
    consumer: TranscriptConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1: pika's own error each time; SIGTERM comes during
    # the second wait.
    failures: list[BaseException | None] = []

    def note(state: RetryCallState) -> None:
        failures.append(state.outcome.exception() if state.outcome else None)
        if len(failures) == 2:
            consumer.stopping = True

    monkeypatch.setattr("api.dashboard.consumer._log_reconnect", note)
    consumer.run()
    assert len(failures) == 2
    assert all(isinstance(failure, AMQPConnectionError) for failure in failures)
