"""Deleting a conversation on a privacy request removes it from every store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.dashboard.auth import create_lead
from api.dashboard.corrections import record_correction
from api.dashboard.ingest import ingest, sender_hash
from api.dashboard.models import (
    Conversation,
    ConversationTopic,
    ConversationTurn,
    Correction,
    PrivacyDeletion,
    TurnKind,
)
from api.dashboard.privacy import delete_conversation
from api.dashboard.transcripts import SQLTrackerSource
from api.domain.db import get_sessionmaker
from api.domain.models import Customer, Ticket, TicketCategory
from api.domain.services.tickets import NewTicket, create_ticket
from tests.dashboard.conftest import Tracker
from tests.dashboard.helpers import Conversation as Script

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc).timestamp()


def count(session: Session, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return int(session.scalar(query) or 0)


@pytest.fixture
def session(seeded_db: object, tracker: Tracker) -> Iterator[Session]:
    for sender in ("gone", "kept"):
        tracker.add(
            sender,
            Script(start=T0)
            .exchange(
                f"{sender}: charged twice, card 4111 1111 1111 1111", "request_refund"
            )
            .events,
        )
    with get_sessionmaker()() as db:
        customer = db.scalars(select(Customer)).first()
        assert customer is not None
        for sender in ("gone", "kept"):
            create_ticket(
                db,
                new=NewTicket(
                    partner_id=customer.partner_id,
                    customer_id=customer.id,
                    requester="customer:t:u",
                    category=TicketCategory.COMMERCIAL,
                    topic="refund",
                    summary="Charged twice, card 4111111111111111",
                    description="Please refund",
                    idempotency_key=f"{sender}:msg-1",
                    conversation_id=sender,
                    transcript_excerpt=[{"from": "user", "text": "charged twice"}],
                ),
            )
        db.commit()
        ingest(db, SQLTrackerSource.from_settings())
        author = create_lead(db, "a@lead.example", "a-password-1234")
        conversation = db.scalars(
            select(Conversation).where(Conversation.sender_id == "gone")
        ).one()
        turn = db.scalars(
            select(ConversationTurn).where(
                ConversationTurn.conversation_id == conversation.id,
                ConversationTurn.kind == TurnKind.USER,
            )
        ).first()
        assert turn is not None
        record_correction(
            db,
            conversation=conversation,
            event_id=turn.event_id,
            intent="request_refund",
            annotated_text="",
            author=author,
        )
        db.commit()
        yield db


def test_delete_everywhere(session: Session, tracker: Tracker) -> None:
    gone = session.scalars(
        select(Conversation).where(Conversation.sender_id == "gone")
    ).one()
    gone_id = gone.id
    report = delete_conversation(
        session,
        SQLTrackerSource.from_settings(),
        sender_id="gone",
        deleted_by="dpo@partner.example",
    )
    session.commit()
    assert (
        report.tracker_events_deleted,
        report.tickets_scrubbed,
        report.review_rows_deleted,
    ) == (len(Script(start=T0).exchange("x", "greet").events), 1, 1)

    assert tracker.count("gone") == 0 and tracker.count("kept") > 0
    assert count(session, Conversation, sender_id="gone") == 0
    for model in (ConversationTurn, ConversationTopic, Correction):
        assert count(session, model, conversation_id=gone_id) == 0
    assert count(session, Conversation, sender_id="kept") == 1

    assert count(session, Ticket) == 2  # the ticket stays
    scrubbed, kept = sorted(
        session.scalars(select(Ticket)), key=lambda t: t.conversation_id or ""
    )
    assert scrubbed.conversation_id is None and kept.conversation_id == "kept"
    assert (
        scrubbed.packet["transcript_excerpt"] == []
        and "transcript_removed_at" in scrubbed.packet
    )
    assert kept.packet["transcript_excerpt"] != []
    assert (
        "gone" not in scrubbed.idempotency_key
        and scrubbed.idempotency_key.startswith("privacy:")
    )
    assert "4111" not in scrubbed.summary
    assert scrubbed.status == kept.status  # the ticket itself goes on

    audit = session.scalars(select(PrivacyDeletion)).one()
    assert (
        audit.sender_hash == sender_hash("gone")
        and audit.deleted_by == "dpo@partner.example"
    )
    assert audit.tracker_events_deleted == report.tracker_events_deleted


def test_events_written_back_after_the_deletion_are_purged(
    session: Session, tracker: Tracker
) -> None:
    source = SQLTrackerSource.from_settings()
    delete_conversation(session, source, sender_id="gone", deleted_by="dpo@x.example")
    session.commit()
    # A racing Rasa save writes the old events back (their old timestamps) ...
    tracker.add("gone", Script(start=T0).exchange("old message", "greet").events)
    # ... and later the same sender id starts a genuinely new conversation.
    later = datetime.now(timezone.utc).timestamp() + 60
    tracker.add(
        "gone", Script(start=later).exchange("a new question", "ask_invoice").events
    )
    report = ingest(session, source)
    session.commit()
    assert report.purged_events == len(Script(start=T0).exchange("x", "greet").events)
    revived = session.scalars(
        select(Conversation).where(Conversation.sender_id == "gone")
    ).one()
    texts = [
        t.text
        for t in session.scalars(
            select(ConversationTurn).where(
                ConversationTurn.conversation_id == revived.id,
                ConversationTurn.kind == TurnKind.USER,
            )
        )
    ]
    assert texts == ["a new question"]
    assert tracker.count("gone") == len(
        Script(start=later).exchange("x", "greet").events
    )
