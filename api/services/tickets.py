"""Tickets: idempotent creation, human-friendly ids, routing, SLA and lifecycle.

A ticket always starts at the partner's own desk; `route` records where it goes if
the partner escalates it (`api/services/routing.py`). Creation is idempotent on
`idempotency_key`: a retried message or a channel redelivery returns the ticket that
already exists instead of filing a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.models import (
    Customer,
    Partner,
    ProductKind,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
    utcnow,
)
from api.services.routing import PARTNER_DESK, route, sla_due

PUBLIC_ID_PREFIX = "CSP-"

# Allowed status changes. "escalated" means escalated to Microsoft, with a case number.
S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset(
        {S.TRIAGED, S.ESCALATED, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED}
    ),
    S.TRIAGED: frozenset({S.ESCALATED, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.ESCALATED: frozenset({S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.WAITING_ON_CUSTOMER: frozenset({S.TRIAGED, S.ESCALATED, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.CLOSED, S.TRIAGED}),  # reopen goes back to triage
    S.CLOSED: frozenset(),
}


class TicketError(ValueError):
    """A ticket change that the lifecycle or the data does not allow."""


@dataclass(frozen=True)
class NewTicket:
    """What the escalation conversation (or the API) collected."""

    partner_id: int
    requester: str
    category: TicketCategory
    topic: str
    summary: str
    description: str
    idempotency_key: str
    customer_id: Optional[int] = None
    conversation_id: Optional[str] = None
    product: Optional[str] = None
    product_kind: Optional[ProductKind] = None
    severity: Severity = Severity.C
    customer_24x7: bool = False
    identifiers: Optional[dict[str, Any]] = None
    transcript_excerpt: Optional[list[dict[str, str]]] = None
    steps_tried: Optional[list[str]] = None


def public_id_for(ticket_id: int) -> str:
    return f"{PUBLIC_ID_PREFIX}{ticket_id:06d}"


def create_ticket(
    session: Session, *, new: NewTicket, today: Optional[date] = None
) -> tuple[Ticket, bool]:
    """File a ticket; return (ticket, created). Idempotent on `new.idempotency_key`."""
    existing = ticket_by_idempotency_key(session, key=new.idempotency_key)
    if existing is not None:
        return existing, False
    if new.severity is Severity.A and not new.customer_24x7:
        raise TicketError("severity A needs the customer's commitment to work 24x7")
    partner = session.get(Partner, new.partner_id)
    if partner is None:
        raise TicketError(f"unknown partner {new.partner_id}")
    if new.customer_id is not None:
        customer = session.get(Customer, new.customer_id)
        if customer is None or customer.partner_id != partner.id:
            raise TicketError("the customer does not belong to this partner")
    opened = utcnow()
    decision = route(
        new.category,
        product_kind=new.product_kind,
        programs=set(partner.active_programs(today or opened.date())),
    )
    packet = {
        "partner": {"id": partner.id, "name": partner.name, "mpn_id": partner.mpn_id},
        "tenant_id": _tenant_of(session, new.customer_id),
        "category": new.category.value,
        "topic": new.topic,
        "product": new.product,
        "product_kind": new.product_kind.value if new.product_kind else None,
        "severity": new.severity.value,
        "customer_24x7_commitment": new.customer_24x7,
        "identifiers": new.identifiers or {},
        "transcript_excerpt": new.transcript_excerpt or [],
        "steps_tried": new.steps_tried or [],
        "routing": {
            "first_stop": PARTNER_DESK,
            "escalate_to": decision.escalate_to,
            "escalate_to_name": decision.escalate_to_name,
            "explanation": decision.explanation,
        },
    }
    ticket = Ticket(
        public_id=f"pending-{uuid.uuid4()}",
        idempotency_key=new.idempotency_key,
        partner_id=partner.id,
        customer_id=new.customer_id,
        requester=new.requester,
        conversation_id=new.conversation_id,
        category=new.category,
        topic=new.topic,
        product=new.product,
        severity=new.severity,
        status=TicketStatus.NEW,
        route=decision.route,
        summary=new.summary[:300],
        description=new.description,
        packet=packet,
        sla_due_at=sla_due(
            PARTNER_DESK, new.severity, opened_at=opened, timezone=partner.timezone
        ),
        created_at=opened,
        updated_at=opened,
    )
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
            ticket.public_id = public_id_for(ticket.id)
            session.flush()
    except IntegrityError:
        # Another delivery of the same message won the race: return its ticket.
        again = ticket_by_idempotency_key(session, key=new.idempotency_key)
        if again is None:
            raise
        return again, False
    return ticket, True


def _tenant_of(session: Session, customer_id: Optional[int]) -> Optional[str]:
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    return customer.tenant_id if customer else None


def ticket_by_idempotency_key(session: Session, *, key: str) -> Optional[Ticket]:
    return session.scalars(select(Ticket).where(Ticket.idempotency_key == key)).first()


def ticket_by_public_id(session: Session, *, public_id: str) -> Optional[Ticket]:
    return session.scalars(
        select(Ticket).where(Ticket.public_id == public_id.strip().upper())
    ).first()


def tickets_of_requester(
    session: Session, *, requester: str, limit: int = 10
) -> list[Ticket]:
    """A chatter's own tickets, newest first."""
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.requester == requester)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def change_status(
    ticket: Ticket,
    status: TicketStatus,
    *,
    microsoft_case_number: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Ticket:
    """Move a ticket along its lifecycle, refusing changes it does not allow."""
    if status == ticket.status:
        return ticket
    if status not in TRANSITIONS[ticket.status]:
        raise TicketError(
            f"a {ticket.status.value} ticket cannot become {status.value}"
        )
    if status is TicketStatus.ESCALATED:
        case = (microsoft_case_number or ticket.microsoft_case_number or "").strip()
        if not case:
            raise TicketError("escalating to Microsoft needs the Microsoft case number")
        ticket.microsoft_case_number = case
        if ticket.route == PARTNER_DESK:
            raise TicketError(
                "this partner has no Microsoft route for this issue; it stays with "
                "the partner's desk"
            )
    ticket.status = status
    ticket.updated_at = now or utcnow()
    return ticket
