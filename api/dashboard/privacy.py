"""Deleting a conversation on a privacy request, from every store that holds it.

1. Rasa's tracker store: ``DELETE FROM events WHERE sender_id = ?``.
2. Tickets filed from it stay (they are the partner's business records: a billing
   dispute, an SLA, maybe a Microsoft case), but lose what came from the chat: the
   packet's ``transcript_excerpt`` is emptied, ``conversation_id`` is set to NULL so
   nothing links the ticket back to the conversation, an idempotency key that
   contains the sender id is replaced by its hash, and summary and description go
   through ``redact``.
3. The review tables: the conversation, its turns, topics and corrections.
4. The helpdesk webhooks' outbox: the conversation's events and their deliveries
   (their bodies hold what was said), sent or not. What a helpdesk already
   received is the partner's to delete.

What is kept is an audit row (``privacy_deletions``): when, by whom, how many rows,
and the SHA-256 of the sender id, so that the ingester skips, and purges again, any
old event of that conversation that a racing Rasa save writes back.

Rasa has no delete endpoint and its in-memory lock store cannot be taken from
outside, so a conversation still in progress can be written back by its next
message; docs/dashboard.md says how to run this safely in production.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.dashboard.ingest import sender_hash, tickets_of
from api.dashboard.models import Conversation, PrivacyDeletion
from api.dashboard.transcripts import TranscriptSource
from api.domain.models import Ticket, utcnow
from api.domain.services.webhooks import delete_conversation_events
from common.redaction import redact

PRIVACY_KEY_PREFIX = "privacy:"


@dataclass(frozen=True)
class DeletionReport:
    tracker_events_deleted: int
    tickets_scrubbed: int
    review_rows_deleted: int
    webhook_events_deleted: int = 0


def scrub_ticket(ticket: Ticket, sender_id: str, *, now: datetime) -> None:
    """Remove a deleted conversation's content and link from a ticket."""
    packet = dict(ticket.packet or {})
    packet["transcript_excerpt"] = []
    packet["transcript_removed_at"] = now.isoformat(timespec="seconds")
    ticket.packet = packet  # a new dict, so that the JSON column is saved
    ticket.conversation_id = None
    if sender_id and sender_id in ticket.idempotency_key:
        digest = hashlib.sha256(ticket.idempotency_key.encode("utf-8")).hexdigest()
        ticket.idempotency_key = PRIVACY_KEY_PREFIX + digest
    ticket.summary = redact(ticket.summary)
    ticket.description = redact(ticket.description)
    ticket.updated_at = now


def delete_conversation(
    session: Session,
    source: TranscriptSource,
    *,
    sender_id: str,
    deleted_by: str,
    now: Optional[datetime] = None,
) -> DeletionReport:
    """Delete one conversation everywhere; the caller commits ``session``.

    The tracker store is changed last (it commits on its own engine), after our own
    changes have been flushed, so a failure before it leaves everything in place and
    the request can simply be repeated.
    """
    now = now or utcnow()
    # Before the tickets are scrubbed: their events are found by the conversation.
    webhook_events = delete_conversation_events(session, sender_id)
    tickets = tickets_of(session, sender_id)
    for ticket in tickets:
        scrub_ticket(ticket, sender_id, now=now)
    conversation_ids = list(
        session.scalars(
            select(Conversation.id).where(Conversation.sender_id == sender_id)
        )
    )
    if conversation_ids:
        # Turns, topics and corrections go with it (ON DELETE CASCADE).
        session.execute(
            delete(Conversation).where(Conversation.id.in_(conversation_ids))
        )
    audit = PrivacyDeletion(
        sender_hash=sender_hash(sender_id),
        deleted_at=now,
        deleted_by=deleted_by,
        tickets_scrubbed=len(tickets),
        tracker_events_deleted=0,
    )
    session.add(audit)
    session.flush()
    deleted = source.delete_conversation(sender_id)
    audit.tracker_events_deleted = deleted
    session.flush()
    return DeletionReport(
        tracker_events_deleted=deleted,
        tickets_scrubbed=len(tickets),
        review_rows_deleted=len(conversation_ids),
        webhook_events_deleted=webhook_events,
    )
