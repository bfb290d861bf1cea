"""Ticket creation (idempotent, routed, with SLA and packet) and its lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.domain.db import make_engine
from api.domain.models import (
    Base,
    BillingModel,
    Customer,
    Partner,
    ProductKind,
    Severity,
    SupportEntitlement,
    SupportProgram,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from api.domain.services.tickets import (
    NewTicket,
    TicketError,
    change_status,
    create_ticket,
    tickets_of_requester,
)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'tickets.db'}")
    Base.metadata.create_all(engine)
    make = sessionmaker(bind=engine, expire_on_commit=False)
    with make.begin() as session:
        for slug, programs in (("premier", [SupportProgram.PREMIER]), ("none", [])):
            partner = Partner(
                slug=slug,
                name=f"{slug} partner",
                mpn_id=f"mpn-{slug}",
                billing_model=BillingModel.DIRECT,
                country="US",
                currency="USD",
                support_offer="",
                support_hours="",
                support_contact_method="",
                support_email=f"desk@{slug}.example",
                support_pricing="",
                collections_policy="",
            )
            partner.entitlements = [
                SupportEntitlement(program=p, valid_from=date(2020, 1, 1))
                for p in programs
            ]
            partner.customers = [
                Customer(
                    name=f"{slug} customer",
                    domain=f"{slug}-customer.example",
                    tenant_id=f"00000000-0000-0000-0000-00000000000{len(slug)}",
                    billing_email="b@example.com",
                    country="US",
                    currency="USD",
                )
            ]
            session.add(partner)
    yield make
    engine.dispose()


def ids(session: Session, slug: str) -> tuple[int, int]:
    partner = session.scalars(select(Partner).where(Partner.slug == slug)).one()
    return partner.id, partner.customers[0].id


def new_ticket(partner_id: int, customer_id: int, **overrides: object) -> NewTicket:
    fields: dict = {
        "partner_id": partner_id,
        "customer_id": customer_id,
        "requester": "customer:t:alex",
        "category": TicketCategory.TECHNICAL,
        "topic": "technical_issue",
        "summary": "Outlook cannot connect",
        "description": "Since this morning nobody can open Outlook.",
        "idempotency_key": "conv-1:msg-7",
        "product": "Exchange Online",
        "product_kind": ProductKind.LICENSE,
        "severity": Severity.B,
        "identifiers": {"subscription_id": "abc"},
        "steps_tried": ["restarted Outlook"],
    }
    fields.update(overrides)
    return NewTicket(**fields)


def test_a_ticket_is_routed_and_has_an_id_an_sla_and_a_packet(factory) -> None:
    with factory.begin() as session:
        partner_id, customer_id = ids(session, "premier")
        ticket, created = create_ticket(
            session, new=new_ticket(partner_id, customer_id)
        )
        assert created
        assert ticket.public_id == f"CSP-{ticket.id:06d}"
        assert ticket.route == "premier_support_for_partners"
        assert ticket.status is TicketStatus.NEW
        assert ticket.sla_due_at is not None and ticket.sla_due_at > ticket.created_at
        packet = ticket.packet
        assert packet["tenant_id"] == ticket_customer_tenant(session, customer_id)
        assert packet["partner"]["mpn_id"] == "mpn-premier"
        assert packet["identifiers"] == {"subscription_id": "abc"}
        assert packet["steps_tried"] == ["restarted Outlook"]
        assert packet["routing"]["first_stop"] == "partner_desk"


def ticket_customer_tenant(session: Session, customer_id: int) -> str:
    customer = session.get(Customer, customer_id)
    assert customer is not None
    return customer.tenant_id


def test_no_entitlement_keeps_the_ticket_with_the_partner(factory) -> None:
    with factory.begin() as session:
        partner_id, customer_id = ids(session, "none")
        ticket, _ = create_ticket(session, new=new_ticket(partner_id, customer_id))
        assert ticket.route == "partner_desk"
        assert "no Microsoft technical route" in ticket.packet["routing"]["explanation"]
        with pytest.raises(TicketError, match="no Microsoft route"):
            change_status(ticket, TicketStatus.ESCALATED, microsoft_case_number="123")


def test_the_same_message_delivered_twice_files_one_ticket(factory) -> None:
    with factory.begin() as session:
        partner_id, customer_id = ids(session, "premier")
    first_key = new_ticket(partner_id, customer_id)

    def deliver(_: int) -> str:
        with factory.begin() as session:
            ticket, _created = create_ticket(session, new=first_key)
            return ticket.public_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        public_ids = set(pool.map(deliver, range(8)))
    assert len(public_ids) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_sev_a_needs_the_24x7_commitment(factory) -> None:
    with factory.begin() as session:
        partner_id, customer_id = ids(session, "premier")
        with pytest.raises(TicketError, match="24x7"):
            create_ticket(
                session, new=new_ticket(partner_id, customer_id, severity=Severity.A)
            )
        ticket, _ = create_ticket(
            session,
            new=new_ticket(
                partner_id,
                customer_id,
                severity=Severity.A,
                customer_24x7=True,
                idempotency_key="k-a",
            ),
        )
        assert ticket.packet["customer_24x7_commitment"] is True


def test_a_customer_of_another_partner_is_refused(factory) -> None:
    with factory.begin() as session:
        partner_id, _ = ids(session, "premier")
        _, other_customer = ids(session, "none")
        with pytest.raises(TicketError, match="does not belong"):
            create_ticket(session, new=new_ticket(partner_id, other_customer))


def test_lifecycle(factory) -> None:
    with factory.begin() as session:
        partner_id, customer_id = ids(session, "premier")
        ticket, _ = create_ticket(session, new=new_ticket(partner_id, customer_id))
        change_status(ticket, TicketStatus.TRIAGED)
        with pytest.raises(TicketError, match="case number"):
            change_status(ticket, TicketStatus.ESCALATED)
        change_status(
            ticket, TicketStatus.ESCALATED, microsoft_case_number="2611240010001"
        )
        assert ticket.microsoft_case_number == "2611240010001"
        change_status(ticket, TicketStatus.RESOLVED)
        change_status(ticket, TicketStatus.CLOSED)
        with pytest.raises(TicketError, match="closed ticket cannot"):
            change_status(ticket, TicketStatus.TRIAGED)


def test_a_chatter_sees_only_their_own_tickets(factory) -> None:
    with factory.begin() as session:
        partner_id, customer_id = ids(session, "premier")
        create_ticket(session, new=new_ticket(partner_id, customer_id))
        create_ticket(
            session,
            new=new_ticket(
                partner_id,
                customer_id,
                requester="customer:t:sam",
                idempotency_key="other",
            ),
        )
        mine = tickets_of_requester(session, requester="customer:t:alex")
        assert [t.requester for t in mine] == ["customer:t:alex"]
