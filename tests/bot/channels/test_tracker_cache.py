"""The tracker store's in-memory conversations (bot/stores.py), in Rasa's
environment: what a replica keeps must never hide what another replica wrote, lose
an event, write one twice or publish one twice.

Two stores on one SQLite file stand for two replicas on one database; the
end-to-end proof with PostgreSQL and real replicas is in tests/faults/.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import OperationalError

from bot.stores import KeptTracker, ResilientSQLTrackerStore

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, invoice]
slots:
  invoice_number:
    type: text
    mappings: [{type: custom}]
actions: [action_invoice_lookup]
"""
)


class Broker:
    """An event broker that keeps what it is given."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.published.append(event)


def store(path: Path, **kwargs: Any) -> ResilientSQLTrackerStore:
    return ResilientSQLTrackerStore(
        domain=DOMAIN, dialect="sqlite", db=str(path), retry_seconds=5, **kwargs
    )


def turn(tracker: DialogueStateTracker, text: str, invoice: str) -> None:
    """One exchange appended to a tracker, as the processor appends it."""
    tracker.update(UserUttered(text, {"name": "invoice"}))
    tracker.update(ActionExecuted("action_invoice_lookup"))
    tracker.update(BotUttered(f"Invoice {invoice}"))
    tracker.update(SlotSet("invoice_number", invoice))
    tracker.update(ActionExecuted("action_listen"))


def started(
    replica: ResilientSQLTrackerStore, sender: str = "conv", invoice: str = "D1"
) -> DialogueStateTracker:
    """A new conversation with one exchange, saved: as after its first message."""
    tracker = run(replica.get_or_create_tracker(sender))
    turn(tracker, "my invoice", invoice)
    run(replica.save(tracker))
    return tracker


def rows(path: Path, sender: str) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return list(
            db.execute(
                "SELECT type_name, data FROM events WHERE sender_id = ? ORDER BY id",
                (sender,),
            )
        )


def as_rows(events: list[Event]) -> list[str]:
    return [e.type_name for e in events]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_next_message_gets_the_kept_tracker_and_writes_only_its_new_events(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tracker.db"
    replica = store(db)
    tracker = started(replica)

    again = run(replica.retrieve("conv"))
    assert again is tracker  # no read and replay of the stored events
    turn(again, "and the next", "D2")
    run(replica.save(again))

    stored = rows(db, "conv")
    assert [t for t, _ in stored] == as_rows(list(tracker.events))
    # What Rasa's own store reads back is the same conversation.
    plain = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db))
    assert list(run(plain.retrieve("conv")).events) == list(tracker.events)
    assert run(plain.retrieve("conv")).get_slot("invoice_number") == "D2"


def test_a_conversation_another_replica_answered_is_read_again(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    first, second = store(db), store(db)
    tracker = started(first)

    # The conversation moves to the other replica for a message (a failover) ...
    elsewhere = run(second.retrieve("conv"))
    assert elsewhere is not tracker
    turn(elsewhere, "the other one", "D2")
    run(second.save(elsewhere))

    # ... and back: the first replica must not answer from what it kept.
    back = run(first.retrieve("conv"))
    assert back is not tracker
    assert isinstance(back, KeptTracker) and isinstance(tracker, KeptTracker)
    assert back.get_slot("invoice_number") == "D2"
    assert list(back.events) == list(elsewhere.events)
    turn(back, "and again", "D3")
    run(first.save(back))
    assert [t for t, _ in rows(db, "conv")] == as_rows(list(back.events))


def test_rows_deleted_behind_a_replica_are_noticed(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    replica = store(db)
    started(replica)
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM events WHERE sender_id = 'conv'")
    assert run(replica.retrieve("conv")) is None


def test_an_unsaved_change_is_never_served_to_the_next_reader(tmp_path: Path) -> None:
    """A message whose handling failed before the save leaves nothing behind."""
    db = tmp_path / "tracker.db"
    replica = store(db)
    started(replica)

    taken = run(replica.retrieve("conv"))
    turn(taken, "this turn fails", "D9")  # ... and is never saved

    fresh = run(replica.retrieve("conv"))
    assert fresh is not taken
    assert fresh.get_slot("invoice_number") == "D1"
    assert len(fresh.events) == len(rows(db, "conv"))


def test_a_tracker_saved_midway_and_changed_again_is_not_served(
    tmp_path: Path,
) -> None:
    """Rasa saves a new conversation as soon as it creates it, then goes on
    appending to the same object: a reader meanwhile gets the stored version."""
    db = tmp_path / "tracker.db"
    replica = store(db)
    tracker = run(replica.get_or_create_tracker("conv"))  # saved inside
    turn(tracker, "still being handled", "D1")
    meanwhile = run(replica.retrieve("conv"))
    assert meanwhile is not tracker
    assert meanwhile.get_slot("invoice_number") is None
    run(replica.save(tracker))
    assert [t for t, _ in rows(db, "conv")] == as_rows(list(tracker.events))


def test_the_broker_gets_each_new_event_once_as_rasas_store_publishes_it(
    tmp_path: Path,
) -> None:
    ours, rasas = Broker(), Broker()
    replica = store(tmp_path / "ours.db", event_broker=ours)
    plain = SQLTrackerStore(
        domain=DOMAIN,
        dialect="sqlite",
        db=str(tmp_path / "rasa.db"),
        event_broker=rasas,
    )
    events = [ActionExecuted("action_listen"), SessionStarted()]
    for number, current in enumerate((replica, plain)):
        tracker = DialogueStateTracker.from_events("conv", events, DOMAIN.slots)
        run(current.save(tracker))
        for invoice in ("D1", "D2"):
            tracker = run(current.retrieve("conv"))
            turn(tracker, f"invoice {invoice}", invoice)
            run(current.save(tracker))

    def untimed(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "timestamp"} for e in published]

    assert untimed(ours.published) == untimed(rasas.published)
    assert len(ours.published) == len(events) + 2 * 5


def test_a_save_retried_after_a_dropped_connection_publishes_and_writes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Broker()
    db = tmp_path / "tracker.db"
    replica = store(db, event_broker=broker)
    tracker = run(replica.get_or_create_tracker("conv"))
    published_before = len(broker.published)
    turn(tracker, "my invoice", "D1")

    original = replica._row
    failures = iter([OperationalError("INSERT", {}, Exception("connection lost"))])

    def flaky(sender_id: str, event: Event) -> dict[str, Any]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return original(sender_id, event)

    monkeypatch.setattr(replica, "_row", flaky)
    run(replica.save(tracker))

    assert [t for t, _ in rows(db, "conv")] == as_rows(list(tracker.events))
    assert len(broker.published) - published_before == 5


def test_the_cache_is_bounded_and_can_be_turned_off(tmp_path: Path) -> None:
    bounded = store(tmp_path / "a.db", cache_size=2)
    trackers = {}
    for sender in ("one", "two", "three"):
        trackers[sender] = started(bounded, sender)
    assert run(bounded.retrieve("one")) is not trackers["one"]  # the oldest went
    assert run(bounded.retrieve("three")) is trackers["three"]

    off = store(tmp_path / "b.db", cache_size=0)
    tracker = started(off)
    again = run(off.retrieve("conv"))
    assert again is not tracker
    assert list(again.events) == list(tracker.events)


def test_the_cache_size_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_TRACKER_CACHE_SIZE", "7")
    assert store(tmp_path / "a.db").cache_size == 7


def test_a_tracker_created_elsewhere_is_kept_as_a_kept_tracker(tmp_path: Path) -> None:
    """Rasa's wrappers around the store create a new conversation's tracker."""
    replica = store(tmp_path / "tracker.db")
    tracker = DialogueStateTracker("conv", DOMAIN.slots)
    turn(tracker, "hi", "D1")
    run(replica.save(tracker))
    again = run(replica.retrieve("conv"))
    assert again is tracker and isinstance(again, KeptTracker)
    assert again.get_slot("invoice_number") == "D1"


def test_exists_does_not_take_the_kept_tracker(tmp_path: Path) -> None:
    replica = store(tmp_path / "tracker.db")
    tracker = started(replica)
    assert run(replica.exists("conv"))
    assert not run(replica.exists("nobody"))
    assert run(replica.retrieve("conv")) is tracker


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    replica = store(db)
    run(replica.get_or_create_tracker("conv"))
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
