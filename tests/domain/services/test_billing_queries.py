"""api.domain.services.billing: series, periods, previous invoices, seat additions."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.domain.models import Customer, Invoice, Partner
from api.domain.services.billing import (
    billed_total,
    invoice_for_partner,
    invoices_in_period,
    seat_additions,
    series_info,
    unpaid_invoices,
)


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def test_series() -> None:
    g, d = series_info("G000024135"), series_info("d000007323")
    assert g is not None and g.name == "new commerce" and "8th" in g.availability_rule
    assert (
        d is not None
        and d.name == "legacy licence-based"
        and "2 days" in d.availability_rule
    )
    assert series_info("X000024135") is None and series_info("") is None


def test_invoices_in_a_period_start_inside_it(seeded_session: Session) -> None:
    adventure = customer(seeded_session, "adventure-works.com")
    october = invoices_in_period(
        seeded_session,
        customer_id=adventure.id,
        start=date(2026, 10, 1),
        end=date(2026, 10, 31),
    )
    assert sorted(i.number[0] for i in october) == ["D", "G"]
    assert all(
        date(2026, 10, 1) <= i.billing_period_start <= date(2026, 10, 31)
        for i in october
    )
    # A week falls inside a monthly period: the invoices that cover it.
    week = invoices_in_period(
        seeded_session,
        customer_id=adventure.id,
        start=date(2026, 10, 5),
        end=date(2026, 10, 11),
    )
    assert {i.number[0] for i in week} == {"D", "G"}


def test_invoice_for_partner_is_scoped(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    number = seeded_db.case("partially_paid_invoice").invoice_number or ""  # Fabrikam's
    northwind = seeded_session.scalars(
        select(Partner).where(Partner.slug == "northwind")
    ).one()
    fabrikam = seeded_session.scalars(
        select(Partner).where(Partner.slug == "fabrikam")
    ).one()
    assert (
        invoice_for_partner(seeded_session, partner_id=northwind.id, number=number)
        is None
    )
    found = invoice_for_partner(
        seeded_session, partner_id=fabrikam.id, number=number.lower()
    )
    assert found is not None and found.number == number


def test_seat_additions_come_from_add_quantity_lines(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    sub_id = seeded_db.case("seat_increase").subscription_id or ""
    assert seat_additions(seeded_session, subscription_id=sub_id) == [
        (date(2026, 7, 20), 5)
    ]
    reduced = seeded_db.case("seat_reduction").subscription_id or ""
    assert seat_additions(seeded_session, subscription_id=reduced) == []


def test_unpaid_and_billed_totals(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    alpine = customer(seeded_session, "alpineskihouse.com")
    assert len(unpaid_invoices(seeded_session, customer_id=alpine.id)) == 3
    contoso = customer(seeded_session, "contoso.com")
    invoices = seeded_session.scalars(
        select(Invoice).where(Invoice.customer_id == contoso.id)
    )
    assert billed_total(seeded_session, customer_id=contoso.id) == sum(
        i.total for i in invoices
    )
