"""Ticket queries, assignment and product kinds, on the demo data."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.models import (
    Customer,
    PartnerUser,
    ProductKind,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from api.domain.services.tickets import (
    NewTicket,
    TicketError,
    TicketFilters,
    assign_ticket,
    change_status,
    create_ticket,
    list_tickets,
    product_kind_for,
)


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def staff(session: Session, email: str) -> PartnerUser:
    return session.scalars(select(PartnerUser).where(PartnerUser.email == email)).one()


def file(session: Session, domain: str, key: str, **fields: Any) -> Ticket:
    found = customer(session, domain)
    values: dict[str, Any] = {
        "partner_id": found.partner_id,
        "customer_id": found.id,
        "requester": "customer:t:alex",
        "category": TicketCategory.TECHNICAL,
        "topic": "technical_issue",
        "summary": "Outlook is down",
        "description": "Outlook is down",
        "idempotency_key": key,
    }
    values.update(fields)
    ticket, _ = create_ticket(session, new=NewTicket(**values))
    return ticket


def test_filters(seeded_session: Session) -> None:
    a = file(seeded_session, "contoso.com", "a", severity=Severity.B)
    b = file(
        seeded_session,
        "contoso.com",
        "b",
        category=TicketCategory.COMMERCIAL,
        topic="refund",
    )
    c = file(seeded_session, "proseware.com", "c")
    change_status(c, TicketStatus.TRIAGED)
    seeded_session.flush()

    def ids(**filters: Any) -> set[str]:
        found = list_tickets(seeded_session, filters=TicketFilters(**filters))
        return {t.public_id for t in found}

    assert ids() == {a.public_id, b.public_id, c.public_id}
    assert ids(partner_id=a.partner_id) == {a.public_id, b.public_id}
    assert ids(customer_id=c.customer_id) == {c.public_id}
    assert ids(category=TicketCategory.COMMERCIAL) == {b.public_id}
    assert ids(severity=Severity.B) == {a.public_id}
    assert ids(status=TicketStatus.TRIAGED) == {c.public_id}
    newest_first = list_tickets(seeded_session, filters=TicketFilters(), limit=2)
    assert [t.public_id for t in newest_first] == [c.public_id, b.public_id]


def test_assignment_stays_inside_the_partner(seeded_session: Session) -> None:
    ticket = file(seeded_session, "contoso.com", "a")  # Northwind
    diego = staff(seeded_session, "diego.siciliani@northwindtraders.com")
    assign_ticket(ticket, diego)
    assert ticket.assigned_to_id == diego.id
    assign_ticket(ticket, None)
    assert ticket.assigned_to_id is None

    adele = staff(seeded_session, "adele.vance@fabrikam.com")
    with pytest.raises(TicketError, match="another partner"):
        assign_ticket(ticket, adele)
    lynne = staff(seeded_session, "lynne.robbins@northwindtraders.com")
    with pytest.raises(TicketError, match="Sales agent may not work on tickets"):
        assign_ticket(ticket, lynne)


def test_an_inactive_user_cannot_be_assigned(seeded_session: Session) -> None:
    ticket = file(seeded_session, "proseware.com", "a")  # Litware
    joni = staff(seeded_session, "joni.sherman@litwareinc.com")
    assert not joni.active
    with pytest.raises(TicketError, match="no longer active"):
        assign_ticket(ticket, joni)


def test_product_kinds_come_from_the_policy_then_the_subscriptions(
    seeded_session: Session,
) -> None:
    wingtip = customer(seeded_session, "wingtiptoys.com")
    assert (
        product_kind_for(seeded_session, product="Outlook", customer_id=wingtip.id)
        is ProductKind.LICENSE
    )
    # Not in the policy, but one of Wingtip's own subscriptions.
    assert (
        product_kind_for(
            seeded_session, product="Relecloud Backup", customer_id=wingtip.id
        )
        is ProductKind.SAAS
    )
    assert (
        product_kind_for(seeded_session, product="a toaster", customer_id=None) is None
    )
    assert (
        product_kind_for(seeded_session, product=None, customer_id=wingtip.id) is None
    )
