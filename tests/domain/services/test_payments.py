"""api.domain.services.payments: the collections timeline and the suspension report."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.domain.models import Customer, Invoice, SubscriptionStatus
from api.domain.services.billing import subscriptions_of, unpaid_invoices
from api.domain.services.payments import (
    account_status,
    collections_policy,
    collections_timeline,
    microsoft_suspension_days,
    suspension_report,
)


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def numbered(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def test_the_policy_table_loads() -> None:
    assert microsoft_suspension_days() == 60
    policy = collections_policy().suspended_subscription
    assert policy.new_commerce_still_billed  # a suspended subscription is billed
    assert policy.legacy_data_deleted_after_days == 90


def test_timeline_stages_follow_the_partners_policy(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    overdue = numbered(
        seeded_session, seeded_db.case("overdue_invoice").invoice_number or ""
    )
    partner = overdue.customer.partner  # Northwind: 7 / 30 days
    due = overdue.due_date
    assert collections_timeline(overdue, partner, today=due).stage == "not_due"
    early = collections_timeline(overdue, partner, today=due + timedelta(days=3))
    assert early.stage == "overdue" and early.days_overdue == 3
    assert early.reminder_on == due + timedelta(days=7)
    assert early.suspend_on == due + timedelta(days=30)
    assert early.days_until_suspension == 27
    assert (
        collections_timeline(overdue, partner, today=due + timedelta(days=7)).stage
        == "reminded"
    )
    late = collections_timeline(overdue, partner, today=seeded_db.anchor)
    assert late.stage == "suspension_due" and late.days_overdue == 45
    assert late.balance == overdue.total


def test_a_paid_invoice_is_paid(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    paid = numbered(seeded_session, seeded_db.case("price_rise").invoice_number or "")
    timeline = collections_timeline(paid, paid.customer.partner, today=seeded_db.anchor)
    assert timeline.stage == "paid"


def test_account_status(seeded_db: DemoSummary, seeded_session: Session) -> None:
    alpine = customer(seeded_session, "alpineskihouse.com")
    status = account_status(
        unpaid_invoices(seeded_session, customer_id=alpine.id),
        today=seeded_db.anchor,
        currency=alpine.currency,
    )
    assert [i.number for i in status.overdue] == [
        seeded_db.case("overdue_invoice").invoice_number,
        seeded_db.case("overdue_invoice").related_invoice_number,
    ]
    assert status.oldest_overdue is status.overdue[0]
    assert status.next_due is not None and status.next_due.due_date > seeded_db.anchor
    assert status.outstanding == Decimal("1222.44")
    assert status.overdue_amount == Decimal("814.96")


def test_suspension_report_names_the_invoice_in_the_reason(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    alpine = customer(seeded_session, "alpineskihouse.com")
    status = account_status(
        unpaid_invoices(seeded_session, customer_id=alpine.id),
        today=seeded_db.anchor,
        currency=alpine.currency,
    )
    report = suspension_report(
        subscriptions_of(seeded_session, customer_id=alpine.id), status
    )
    assert [s.status for s in report.suspended] == [SubscriptionStatus.SUSPENDED]
    assert report.cause is not None
    assert (
        report.cause.number == seeded_db.case("suspended_subscription").invoice_number
    )
    assert report.still_billed and report.reactivate_before == date(2027, 8, 8)


def test_a_reason_naming_someone_elses_invoice_is_not_trusted(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    alpine = customer(seeded_session, "alpineskihouse.com")
    sub = alpine.subscriptions[0]
    other = seeded_db.case("partially_paid_invoice").invoice_number
    sub.suspension_reason = f"Non-payment: invoice {other}"
    status = account_status(
        unpaid_invoices(seeded_session, customer_id=alpine.id),
        today=seeded_db.anchor,
        currency=alpine.currency,
    )
    report = suspension_report([sub], status)
    assert report.cause is not None and report.cause.customer_id == alpine.id
    assert report.cause.number != other


def test_nothing_suspended(seeded_db: DemoSummary, seeded_session: Session) -> None:
    contoso = customer(seeded_session, "contoso.com")
    status = account_status([], today=seeded_db.anchor, currency="USD")
    report = suspension_report(
        subscriptions_of(seeded_session, customer_id=contoso.id), status
    )
    assert report.suspended == [] and report.cause is None and not report.still_billed
