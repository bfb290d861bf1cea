"""api.domain.services.billing: customer lookup and invoice queries scoped to one customer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.domain.models import Customer, DocumentType, Invoice
from api.domain.services.billing import (
    customer_by_tenant,
    invoice_by_number,
    latest_invoice,
)
from tests.conftest import DEMO_ANCHOR


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def test_customer_by_tenant(seeded_session: Session, seeded_db: DemoSummary) -> None:
    case = seeded_db.case("overdue_invoice")
    found = customer_by_tenant(seeded_session, tenant_id=case.tenant_id)
    assert found is not None and found.domain == case.domain
    upper = customer_by_tenant(seeded_session, tenant_id=case.tenant_id.upper())
    assert upper is not None and upper.id == found.id
    assert (
        customer_by_tenant(
            seeded_session, tenant_id="00000000-0000-0000-0000-000000000000"
        )
        is None
    )


def test_latest_invoice_is_the_newest_invoice(seeded_session: Session) -> None:
    contoso = customer(seeded_session, "contoso.com")
    latest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert latest is not None
    newest = max(
        (i for i in contoso.invoices if i.document_type is DocumentType.INVOICE),
        key=lambda i: i.invoice_date,
    )
    assert latest.number == newest.number
    assert latest.billing_period_start == date(2026, 10, 1)
    assert latest.invoice_date <= DEMO_ANCHOR


def test_latest_invoice_skips_a_newer_credit_note(seeded_session: Session) -> None:
    contoso = customer(seeded_session, "contoso.com")
    before = latest_invoice(seeded_session, customer_id=contoso.id)
    assert before is not None
    contoso.invoices.append(
        Invoice(
            number="G999999999",
            document_type=DocumentType.CREDIT_NOTE,
            amends_of=before,
            invoice_date=DEMO_ANCHOR,
            billing_period_start=before.billing_period_start,
            billing_period_end=before.billing_period_end,
            available_on=DEMO_ANCHOR,
            due_date=DEMO_ANCHOR,
            currency="USD",
            subtotal=Decimal("-1.00"),
            tax_total=Decimal("0.00"),
            total=Decimal("-1.00"),
        )
    )
    seeded_session.flush()
    after = latest_invoice(seeded_session, customer_id=contoso.id)
    assert after is not None and after.number == before.number


def test_latest_invoice_of_a_customer_without_invoices(seeded_session: Session) -> None:
    contoso = customer(seeded_session, "contoso.com")
    lonely = Customer(
        name="New Customer",
        domain="new.example",
        tenant_id="11111111-1111-1111-1111-111111111111",
        billing_email="ap@new.example",
        country="US",
        currency="USD",
        partner_id=contoso.partner_id,
    )
    seeded_session.add(lonely)
    seeded_session.flush()
    assert latest_invoice(seeded_session, customer_id=lonely.id) is None


def test_invoice_by_number_is_scoped_to_the_customer(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    number = seeded_db.case("overdue_invoice").invoice_number
    assert number is not None
    alpine = customer(seeded_session, "alpineskihouse.com")
    contoso = customer(seeded_session, "contoso.com")

    own = invoice_by_number(seeded_session, customer_id=alpine.id, number=number)
    assert own is not None and own.customer_id == alpine.id
    lower = invoice_by_number(
        seeded_session, customer_id=alpine.id, number=number.lower()
    )
    assert lower is not None and lower.id == own.id
    # The same, real number asked for by another customer: nothing.
    assert (
        invoice_by_number(seeded_session, customer_id=contoso.id, number=number) is None
    )
    assert (
        invoice_by_number(seeded_session, customer_id=alpine.id, number="G000000000")
        is None
    )
