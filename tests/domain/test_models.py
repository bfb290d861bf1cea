"""The domain model: money in cents, invoice payment status, series, entitlements."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from api.domain.models import (
    BillingModel,
    Customer,
    DocumentType,
    Invoice,
    Partner,
    Severity,
    SupportEntitlement,
    SupportProgram,
    Ticket,
    TicketCategory,
)


def make_partner(slug: str = "p") -> Partner:
    return Partner(
        slug=slug,
        name=f"{slug} partner",
        mpn_id=f"mpn-{slug}",
        billing_model=BillingModel.DIRECT,
        country="US",
        currency="USD",
        support_offer="offer",
        support_hours="hours",
        support_contact_method="chat",
        support_email=f"desk@{slug}.example",
        support_pricing="free",
        collections_policy="policy",
    )


def make_invoice(
    *,
    total: str = "100.00",
    paid: str = "0.00",
    due: date = date(2026, 11, 30),
    number: str = "G000000001",
    document_type: DocumentType = DocumentType.INVOICE,
) -> Invoice:
    return Invoice(
        number=number,
        document_type=document_type,
        invoice_date=due - timedelta(days=30),
        billing_period_start=date(2026, 10, 1),
        billing_period_end=date(2026, 10, 31),
        available_on=due - timedelta(days=23),
        due_date=due,
        currency="USD",
        subtotal=Decimal(total),
        tax_total=Decimal("0.00"),
        total=Decimal(total),
        paid_amount=Decimal(paid),
    )


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("amount", "stored_cents"),
    [
        ("1234.56", 123456),
        ("0.01", 1),
        ("-528.48", -52848),
        ("0", 0),
        ("99999999999.99", 9999999999999),  # beyond 32-bit cents: BIGINT
    ],
)
def test_money_round_trips_through_integer_cents(
    db_session: Session, amount: str, stored_cents: int
) -> None:
    customer = Customer(
        name="Money Ltd",
        domain="money.example",
        tenant_id="00000000-0000-0000-0000-000000000001",
        billing_email="ap@money.example",
        country="US",
        currency="USD",
    )
    partner = make_partner()
    partner.customers.append(customer)
    invoice = make_invoice(total=amount)
    customer.invoices.append(invoice)
    db_session.add(partner)
    db_session.commit()

    raw = db_session.execute(
        text("SELECT total FROM invoices WHERE id = :id"), {"id": invoice.id}
    ).scalar_one()
    assert raw == stored_cents
    db_session.expire_all()
    loaded = db_session.scalars(select(Invoice)).one()
    assert loaded.total == Decimal(amount)
    assert str(loaded.total) == f"{Decimal(amount):.2f}"  # always two places


def test_money_reads_back_as_decimal_with_two_places(db_session: Session) -> None:
    partner = make_partner()
    db_session.add(partner)
    db_session.flush()
    db_session.execute(
        text(
            "INSERT INTO customers (partner_id, name, domain, tenant_id, "
            "billing_email, country, currency) VALUES (:p, 'X', 'x.example', "
            "'00000000-0000-0000-0000-000000000002', 'ap@x.example', 'US', 'USD')"
        ),
        {"p": partner.id},
    )
    customer_id = db_session.execute(text("SELECT id FROM customers")).scalar_one()
    db_session.execute(
        text(
            "INSERT INTO invoices (number, customer_id, document_type, invoice_date, "
            "billing_period_start, billing_period_end, available_on, due_date, "
            "currency, subtotal, tax_total, total, paid_amount) VALUES ('G000000009', "
            ":c, 'invoice', '2026-11-01', '2026-10-01', '2026-10-31', '2026-11-08', "
            "'2026-12-01', 'USD', 1000, 5, 1005, 0)"
        ),
        {"c": customer_id},
    )
    invoice = db_session.scalars(select(Invoice)).one()
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("10.00"),
        Decimal("0.05"),
        Decimal("10.05"),
    )
    assert invoice.total.as_tuple().exponent == -2


# --------------------------------------------------------------------------- invoices


@pytest.mark.parametrize(
    ("total", "paid", "today", "status", "days"),
    [
        ("100.00", "0.00", date(2026, 11, 15), "unpaid", 0),
        ("100.00", "0.00", date(2026, 11, 30), "unpaid", 0),  # the due date itself
        ("100.00", "0.00", date(2026, 12, 1), "overdue", 1),
        ("100.00", "0.00", date(2027, 1, 14), "overdue", 45),
        ("100.00", "40.00", date(2026, 11, 15), "partially_paid", 0),
        ("100.00", "40.00", date(2026, 12, 10), "overdue", 10),
        ("100.00", "100.00", date(2027, 6, 1), "paid", 0),
        ("100.00", "120.00", date(2027, 6, 1), "paid", 0),  # overpaid
    ],
)
def test_payment_status_and_days_overdue(
    total: str, paid: str, today: date, status: str, days: int
) -> None:
    invoice = make_invoice(total=total, paid=paid, due=date(2026, 11, 30))
    assert invoice.payment_status(today) == status
    assert invoice.days_overdue(today) == days


def test_credit_note_is_never_overdue() -> None:
    note = make_invoice(total="-528.48", document_type=DocumentType.CREDIT_NOTE)
    assert note.payment_status(date(2030, 1, 1)) == "credit"
    assert note.days_overdue(date(2030, 1, 1)) == 0
    assert note.balance == Decimal("-528.48")


def test_balance_is_total_minus_paid() -> None:
    invoice = make_invoice(total="3560.76", paid="2136.46")
    assert invoice.balance == Decimal("1424.30")


@pytest.mark.parametrize(
    ("number", "series"), [("G000024135", "G"), ("D000007301", "D")]
)
def test_series_is_the_first_letter_of_the_number(number: str, series: str) -> None:
    assert make_invoice(number=number).series == series


# --------------------------------------------------------------------------- partners


def test_active_programs_respect_validity_dates() -> None:
    partner = make_partner()
    partner.entitlements = [
        SupportEntitlement(
            program=SupportProgram.ADVANCED,
            valid_from=date(2026, 4, 1),
            valid_to=date(2027, 3, 31),
        ),
        SupportEntitlement(
            program=SupportProgram.SIGNATURE_CLOUD,
            valid_from=date(2019, 7, 1),
            valid_to=date(2022, 9, 30),
        ),
        SupportEntitlement(
            program=SupportProgram.PARTNER_CLOUD, valid_from=date(2025, 1, 1)
        ),
    ]
    assert partner.active_programs(date(2026, 11, 15)) == [
        SupportProgram.ADVANCED,
        SupportProgram.PARTNER_CLOUD,
    ]
    assert partner.active_programs(date(2027, 3, 31)) == [
        SupportProgram.ADVANCED,
        SupportProgram.PARTNER_CLOUD,
    ]
    assert partner.active_programs(date(2027, 4, 1)) == [SupportProgram.PARTNER_CLOUD]
    assert partner.active_programs(date(2022, 9, 30)) == [
        SupportProgram.SIGNATURE_CLOUD
    ]


def test_enum_columns_refuse_unknown_values(db_session: Session) -> None:
    partner = make_partner()
    db_session.add(partner)
    db_session.flush()
    with pytest.raises(IntegrityError, match="CHECK constraint failed"):
        db_session.execute(
            text("UPDATE partners SET billing_model = 'tier3' WHERE id = :id"),
            {"id": partner.id},
        )


def test_timestamps_must_be_timezone_aware(db_session: Session) -> None:
    partner = make_partner()
    db_session.add(partner)
    db_session.flush()
    ticket = Ticket(
        public_id="CSP-000001",
        idempotency_key="k1",
        partner_id=partner.id,
        requester="customer:t:u",
        category=TicketCategory.COMMERCIAL,
        topic="invoice",
        severity=Severity.C,
        route="partner_billing",
        summary="s",
        description="d",
        created_at=datetime(2026, 11, 15, 12, 0),  # naive
    )
    db_session.add(ticket)
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()
    db_session.rollback()

    aware = datetime(2026, 11, 15, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    partner = make_partner("q")
    db_session.add(partner)
    db_session.flush()
    ticket = Ticket(
        public_id="CSP-000002",
        idempotency_key="k2",
        partner_id=partner.id,
        requester="customer:t:u",
        category=TicketCategory.COMMERCIAL,
        topic="invoice",
        route="partner_billing",
        summary="s",
        description="d",
        created_at=aware,
    )
    db_session.add(ticket)
    db_session.commit()
    db_session.expire_all()
    loaded = db_session.get(Ticket, ticket.id)
    assert loaded is not None
    assert loaded.created_at == aware
    assert loaded.created_at.tzinfo == timezone.utc
