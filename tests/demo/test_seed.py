"""The demo data: deterministic, arithmetically exact, and holding every notable case."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.demo.seed import Clock, DemoAlreadySeeded, DemoSummary, add_months, seed_demo
from api.domain.db import make_engine
from api.domain.models import (
    BillingFrequency,
    ChargeType,
    Commerce,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    Partner,
    PartnerRole,
    PartnerUser,
    Payment,
    ProductKind,
    Subscription,
    SubscriptionStatus,
    SupportEntitlement,
    SupportProgram,
)
from api.settings import get_settings
from tests.conftest import DEMO_ANCHOR, copy_database, sqlite_url

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAGE_ROLES = {
    PartnerRole.GLOBAL_ADMIN,
    PartnerRole.USER_MANAGEMENT_ADMIN,
    PartnerRole.HELPDESK_AGENT,
    PartnerRole.BILLING_ADMIN,
    PartnerRole.SALES_AGENT,
}
PRORATED = {ChargeType.ADD_QUANTITY, ChargeType.REMOVE_QUANTITY, ChargeType.CANCEL}


def snapshot(session: Session) -> list[tuple[object, ...]]:
    """Everything seeded, as comparable tuples (ids of rows excluded)."""
    rows: list[tuple[object, ...]] = []
    for partner in session.scalars(select(Partner).order_by(Partner.slug)):
        rows.append((partner.slug, partner.name, partner.mpn_id, partner.support_offer))
        rows += [
            (u.email, u.role, u.aad_object_id, u.slack_user_id) for u in partner.users
        ]
        rows += [(e.program, e.valid_from, e.valid_to) for e in partner.entitlements]
    for sub in session.scalars(select(Subscription).order_by(Subscription.id)):
        rows.append(
            (
                sub.id,
                sub.order_id,
                sub.customer.tenant_id,
                sub.seats,
                sub.unit_price,
                sub.status,
                sub.order_date,
                sub.renewal_date,
                sub.suspended_on,
            )
        )
    for invoice in session.scalars(select(Invoice).order_by(Invoice.number)):
        rows.append(
            (
                invoice.number,
                invoice.customer.domain,
                invoice.document_type,
                invoice.invoice_date,
                invoice.billing_period_start,
                invoice.billing_period_end,
                invoice.due_date,
                invoice.total,
                invoice.tax_total,
                invoice.paid_amount,
                invoice.amends_of.number if invoice.amends_of else None,
            )
        )
        rows += [
            (
                line.sku,
                line.charge_type,
                line.quantity,
                line.unit_price,
                line.subtotal,
                line.tax,
                line.charge_start,
                line.charge_end,
                line.subscription_id,
                line.description,
            )
            for line in invoice.lines
        ]
        rows += [
            (p.amount, p.received_on, p.method, p.reference) for p in invoice.payments
        ]
    return rows


def seed_copy(template: Path, target: Path, anchor: date) -> list[tuple[object, ...]]:
    engine = make_engine(sqlite_url(copy_database(template, target)))
    try:
        with Session(engine) as session:
            seed_demo(session, anchor=anchor)
            session.commit()
        with Session(engine) as session:
            return snapshot(session)
    finally:
        engine.dispose()


def invoice(session: Session, number: str | None) -> Invoice:
    assert number is not None
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


# --------------------------------------------------------------------------- determinism


def test_two_seeds_at_the_same_anchor_are_identical(
    migrated_template: Path, tmp_path: Path
) -> None:
    first = seed_copy(migrated_template, tmp_path / "one.db", DEMO_ANCHOR)
    second = seed_copy(migrated_template, tmp_path / "two.db", DEMO_ANCHOR)
    assert len(first) > 500
    assert first == second


def test_another_anchor_moves_the_data(migrated_template: Path, tmp_path: Path) -> None:
    first = seed_copy(migrated_template, tmp_path / "one.db", DEMO_ANCHOR)
    later = seed_copy(migrated_template, tmp_path / "two.db", date(2027, 2, 20))
    assert first != later


def test_seeding_twice_is_refused(seeded_session: Session) -> None:
    with pytest.raises(DemoAlreadySeeded):
        seed_demo(seeded_session, anchor=DEMO_ANCHOR)


def test_summary_counts_match_the_database(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    def count(model: type) -> int:
        return seeded_session.scalar(select(func.count()).select_from(model)) or 0

    assert seeded_db.anchor == DEMO_ANCHOR
    assert count(Partner) == seeded_db.partners >= 3
    assert count(SupportEntitlement) == seeded_db.support_entitlements
    assert count(PartnerUser) == seeded_db.partner_users
    assert count(Customer) == seeded_db.customers >= 8
    assert count(Subscription) == seeded_db.subscriptions
    assert count(Invoice) == seeded_db.invoices + seeded_db.credit_notes
    assert count(InvoiceLine) == seeded_db.invoice_lines
    assert count(Payment) == seeded_db.payments


# --------------------------------------------------------------------------- arithmetic


def test_every_invoice_adds_up(seeded_session: Session) -> None:
    invoices = seeded_session.scalars(select(Invoice)).all()
    assert invoices
    for inv in invoices:
        assert inv.lines, inv.number
        for line in inv.lines:
            assert line.total == line.subtotal + line.tax, inv.number
            if line.charge_type in PRORATED:
                full = line.quantity * line.unit_price
                assert abs(line.subtotal) <= abs(full), inv.number
                assert (line.subtotal < 0) == (line.quantity < 0), inv.number
            else:
                assert line.subtotal == line.quantity * line.unit_price, inv.number
        assert inv.subtotal == sum(line.subtotal for line in inv.lines), inv.number
        assert inv.tax_total == sum(line.tax for line in inv.lines), inv.number
        assert inv.total == inv.subtotal + inv.tax_total, inv.number
        assert inv.paid_amount == sum(p.amount for p in inv.payments), inv.number


def test_seat_increase_is_prorated_by_days(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("seat_increase")
    inv = invoice(seeded_session, case.invoice_number)
    (added,) = [ln for ln in inv.lines if ln.charge_type is ChargeType.ADD_QUANTITY]
    (cycle,) = [
        ln
        for ln in inv.lines
        if ln.subscription_id == case.subscription_id
        and ln.charge_type is ChargeType.CYCLE_CHARGE
    ]
    assert added.quantity == 5
    assert added.charge_end == cycle.charge_end
    assert cycle.charge_start < added.charge_start <= cycle.charge_end
    days = (added.charge_end - added.charge_start).days + 1
    cycle_days = (cycle.charge_end - cycle.charge_start).days + 1
    expected = (5 * added.unit_price * days / cycle_days).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert added.subtotal == expected
    # For the fixed anchor: 5 x 37.80 for 23 of 31 days.
    assert (added.charge_start, days, cycle_days, added.subtotal) == (
        date(2026, 7, 20),
        23,
        31,
        Decimal("140.23"),
    )
    sub = seeded_session.get(Subscription, case.subscription_id)
    assert sub is not None and sub.seats == cycle.quantity + 5


def test_seat_increase_on_annual_billing_is_prorated_over_the_year(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("seat_increase_annual_billing")
    inv = invoice(seeded_session, case.invoice_number)
    (added,) = [ln for ln in inv.lines if ln.charge_type is ChargeType.ADD_QUANTITY]
    sub = seeded_session.get(Subscription, case.subscription_id)
    assert sub is not None and sub.billing_frequency is BillingFrequency.ANNUAL
    assert added.unit_price == sub.unit_price * 12
    assert Decimal(0) < added.subtotal < added.quantity * added.unit_price


def test_seat_reduction_within_seven_days_of_renewal(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    inv = invoice(seeded_session, seeded_db.case("seat_reduction").invoice_number)
    (renewal,) = [ln for ln in inv.lines if ln.charge_type is ChargeType.RENEW]
    (removed,) = [
        ln for ln in inv.lines if ln.charge_type is ChargeType.REMOVE_QUANTITY
    ]
    assert removed.quantity < 0 and removed.subtotal < 0 and removed.tax <= 0
    assert 0 < (removed.charge_start - renewal.charge_start).days <= 7


def test_price_rise_of_five_percent_at_renewal(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("price_rise")

    def e3_price(number: str | None) -> Decimal:
        inv = invoice(seeded_session, number)
        (line,) = [
            ln
            for ln in inv.lines
            if ln.subscription_id == case.subscription_id
            and ln.charge_type in (ChargeType.RENEW, ChargeType.CYCLE_CHARGE)
        ]
        return line.unit_price

    before = e3_price(case.related_invoice_number)
    after = e3_price(case.invoice_number)
    assert after == (before * Decimal("1.05")).quantize(Decimal("0.01"))
    assert after > before


def test_one_time_charges(seeded_session: Session, seeded_db: DemoSummary) -> None:
    service = invoice(seeded_session, seeded_db.case("one_time_service").invoice_number)
    assert any(
        ln.charge_type is ChargeType.ONE_TIME and ln.subscription_id is None
        for ln in service.lines
    )
    licence_case = seeded_db.case("perpetual_licence")
    licence = invoice(seeded_session, licence_case.invoice_number)
    sub = seeded_session.get(Subscription, licence_case.subscription_id)
    assert sub is not None and sub.product_kind is ProductKind.PERPETUAL_SOFTWARE
    assert any(
        ln.charge_type is ChargeType.ONE_TIME and ln.subscription_id == sub.id
        for ln in licence.lines
    )


def test_credit_note_amends_the_invoice_with_the_duplicate_charge(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("credit_note")
    note = invoice(seeded_session, case.invoice_number)
    amended = invoice(seeded_session, case.related_invoice_number)
    assert note.document_type is DocumentType.CREDIT_NOTE
    assert note.amends_of_id == amended.id
    assert note.customer_id == amended.customer_id
    assert amended.document_type is DocumentType.INVOICE
    assert note.total < 0 and note.subtotal < 0 and note.tax_total < 0
    assert note.invoice_date > amended.invoice_date
    duplicated = [
        ln for ln in amended.lines if ln.subscription_id == case.subscription_id
    ]
    assert len(duplicated) == 2
    assert duplicated[0].total == duplicated[1].total == -note.total
    assert [ln.charge_type for ln in note.lines] == [ChargeType.CREDIT]
    credit_notes = seeded_session.scalars(
        select(Invoice).where(Invoice.document_type == DocumentType.CREDIT_NOTE)
    ).all()
    assert [n.number for n in credit_notes] == [note.number]


def test_every_charge_type_appears(seeded_session: Session) -> None:
    present = set(seeded_session.scalars(select(InvoiceLine.charge_type).distinct()))
    assert present == set(ChargeType)


# --------------------------------------------------------------------------- numbers


def test_invoice_numbers_and_calendars(seeded_session: Session) -> None:
    pattern = re.compile(get_settings().invoice_number_pattern)
    invoices = seeded_session.scalars(select(Invoice)).all()
    numbers = [inv.number for inv in invoices]
    assert len(numbers) == len(set(numbers))
    series = {inv.series for inv in invoices}
    assert series == {"D", "G"}
    for inv in invoices:
        assert pattern.fullmatch(inv.number) and len(inv.number) == 10
        assert inv.available_on <= DEMO_ANCHOR, inv.number
        if inv.document_type is DocumentType.CREDIT_NOTE:
            continue
        if inv.series == "G":  # calendar month, available by the 8th
            assert inv.billing_period_start.day == 1
            assert inv.billing_period_end == add_months(
                inv.billing_period_start, 1
            ) - timedelta(days=1)
            assert inv.available_on.day <= 8
            assert inv.available_on > inv.billing_period_end
        else:  # from the billing anniversary, available 2 days later
            assert inv.invoice_date == inv.billing_period_start
            assert inv.available_on == inv.invoice_date + timedelta(days=2)
        sub_ids = {ln.subscription_id for ln in inv.lines if ln.subscription_id}
        commerce = set(
            seeded_session.scalars(
                select(Subscription.commerce).where(Subscription.id.in_(sub_ids))
            )
        )
        assert commerce <= {Commerce.LEGACY if inv.series == "D" else Commerce.NEW}


def test_a_year_of_monthly_invoices_before_the_anchor(seeded_session: Session) -> None:
    contoso = seeded_session.scalars(
        select(Customer).where(Customer.domain == "contoso.com")
    ).one()
    monthly = [i for i in contoso.invoices if i.document_type is DocumentType.INVOICE]
    assert len(monthly) == 12
    periods = sorted(i.billing_period_start for i in monthly)
    assert periods == [add_months(date(2025, 11, 1), n) for n in range(12)]
    clock = Clock.for_anchor(DEMO_ANCHOR)
    assert clock.latest_g_month == date(2026, 10, 1)


# --------------------------------------------------------------------------- collections


def test_overdue_invoice_and_suspended_subscription(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    overdue_case = seeded_db.case("overdue_invoice")
    overdue = invoice(seeded_session, overdue_case.invoice_number)
    partner = overdue.customer.partner
    assert overdue.payment_status(DEMO_ANCHOR) == "overdue"
    assert overdue.paid_amount == 0 and overdue.payments == []
    assert overdue.days_overdue(DEMO_ANCHOR) > partner.suspend_after_days_overdue

    suspended_case = seeded_db.case("suspended_subscription")
    assert suspended_case.tenant_id == overdue_case.tenant_id
    sub = seeded_session.get(Subscription, suspended_case.subscription_id)
    assert sub is not None
    assert sub.status is SubscriptionStatus.SUSPENDED
    assert sub.customer_id == overdue.customer_id
    assert sub.suspended_on == overdue.due_date + timedelta(
        days=partner.suspend_after_days_overdue
    )
    assert sub.suspended_on <= DEMO_ANCHOR
    assert sub.suspension_reason and overdue.number in sub.suspension_reason
    suspended = seeded_session.scalars(
        select(Subscription).where(Subscription.status == SubscriptionStatus.SUSPENDED)
    ).all()
    assert [s.id for s in suspended] == [sub.id]


def test_only_the_overdue_customer_is_overdue(seeded_session: Session) -> None:
    overdue = [
        inv
        for inv in seeded_session.scalars(select(Invoice))
        if inv.payment_status(DEMO_ANCHOR) == "overdue"
    ]
    assert overdue
    assert {inv.customer.domain for inv in overdue} == {"alpineskihouse.com"}


def test_partially_paid_invoice(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    inv = invoice(
        seeded_session, seeded_db.case("partially_paid_invoice").invoice_number
    )
    assert inv.payment_status(DEMO_ANCHOR) == "partially_paid"
    assert 0 < inv.paid_amount < inv.total
    assert len(inv.payments) == 1 and inv.payments[0].amount == inv.paid_amount


def test_payments_are_received_between_availability_and_the_anchor(
    seeded_session: Session,
) -> None:
    payments = seeded_session.scalars(select(Payment)).all()
    assert len(payments) > 50
    for payment in payments:
        inv = payment.invoice
        assert inv.available_on <= payment.received_on <= DEMO_ANCHOR
        assert payment.method in inv.customer.partner.payment_methods
    paid = [
        inv
        for inv in seeded_session.scalars(select(Invoice))
        if inv.payment_status(DEMO_ANCHOR) == "paid"
    ]
    assert paid and all(inv.paid_amount == inv.total for inv in paid)


# --------------------------------------------------------------------------- orders


def test_recent_orders_inside_and_outside_the_cancellation_window(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    inside = seeded_session.get(
        Subscription, seeded_db.case("order_in_cancellation_window").subscription_id
    )
    outside = seeded_session.get(
        Subscription,
        seeded_db.case("order_outside_cancellation_window").subscription_id,
    )
    assert inside is not None and outside is not None
    assert inside.order_date == DEMO_ANCHOR - timedelta(days=3)
    assert outside.order_date == DEMO_ANCHOR - timedelta(days=20)
    assert inside.status is outside.status is SubscriptionStatus.ACTIVE


def test_cancelled_subscription_has_a_prorated_refund(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("cancelled_subscription")
    sub = seeded_session.get(Subscription, case.subscription_id)
    assert sub is not None and sub.status is SubscriptionStatus.CANCELLED
    inv = invoice(seeded_session, case.invoice_number)
    (cancel,) = [ln for ln in inv.lines if ln.charge_type is ChargeType.CANCEL]
    assert cancel.subtotal < 0 and cancel.subscription_id == sub.id
    later = seeded_session.scalars(
        select(InvoiceLine).where(
            InvoiceLine.subscription_id == sub.id,
            InvoiceLine.charge_start > cancel.charge_start,
        )
    ).all()
    assert later == []


# --------------------------------------------------------------------------- partners


def test_partners_and_their_support_entitlements(seeded_session: Session) -> None:
    partners = {p.slug: p for p in seeded_session.scalars(select(Partner))}
    assert len(partners) >= 3
    programs = {
        slug: set(p.active_programs(DEMO_ANCHOR)) for slug, p in partners.items()
    }
    assert programs["northwind"] == {SupportProgram.PREMIER}
    assert programs["fabrikam"] == {
        SupportProgram.ADVANCED,
        SupportProgram.PARTNER_CLOUD,
    }
    assert programs["litware"] == set()
    assert partners["litware"].entitlements == []
    for partner in partners.values():
        assert partner.support_offer and partner.support_hours
        assert partner.support_contact_method and partner.support_pricing
        assert "@" in partner.support_email and partner.support_phone
        assert partner.payment_methods and partner.payment_instructions
        assert partner.collections_policy
        assert 0 < partner.reminder_after_days < partner.suspend_after_days_overdue
        assert partner.customers


def test_staff_cover_every_partner_center_role(seeded_session: Session) -> None:
    users = seeded_session.scalars(select(PartnerUser)).all()
    assert {u.role for u in users} >= PAGE_ROLES
    assert all(GUID.match(u.aad_object_id or "") for u in users)
    assert all(re.fullmatch(r"U0[A-Z0-9]{8}", u.slack_user_id or "") for u in users)
    assert len({u.aad_object_id for u in users}) == len(users)
    alex = seeded_session.scalars(
        select(PartnerUser).where(PartnerUser.slack_user_id == "U0NW0BILL1")
    ).one()
    assert alex.role is PartnerRole.BILLING_ADMIN and alex.partner.slug == "northwind"


def test_customers_and_their_subscriptions(seeded_session: Session) -> None:
    customers = seeded_session.scalars(select(Customer)).all()
    assert len(customers) >= 8
    assert all(GUID.match(c.tenant_id) for c in customers)
    assert all(c.currency == c.partner.currency for c in customers)
    assert len({c.partner_id for c in customers}) >= 3
    subs = seeded_session.scalars(select(Subscription)).all()
    assert {s.product_kind for s in subs} >= {
        ProductKind.LICENSE,
        ProductKind.AZURE_PLAN,
        ProductKind.PERPETUAL_SOFTWARE,
        ProductKind.SAAS,
    }
    assert {s.commerce for s in subs} == {Commerce.LEGACY, Commerce.NEW}
    assert {s.billing_frequency for s in subs} >= {
        BillingFrequency.MONTHLY,
        BillingFrequency.ANNUAL,
        BillingFrequency.ONE_TIME,
    }
    names = " ".join(s.product_name for s in subs)
    for product in (
        "Microsoft 365 E3",
        "Microsoft 365 E5",
        "Business Premium",
        "Dynamics 365 Sales",
        "Teams Phone",
        "Azure plan",
        "Windows Server 2022 Standard",
    ):
        assert product in names


def test_every_case_names_existing_rows(
    seeded_session: Session, seeded_db: DemoSummary
) -> None:
    assert len(seeded_db.cases) >= 12
    for case in seeded_db.cases.values():
        customer = seeded_session.scalars(
            select(Customer).where(Customer.tenant_id == case.tenant_id)
        ).one()
        assert customer.domain == case.domain
        for number in (case.invoice_number, case.related_invoice_number):
            if number:
                assert invoice(seeded_session, number).customer_id == customer.id
        if case.subscription_id:
            sub = seeded_session.get(Subscription, case.subscription_id)
            assert sub is not None and sub.customer_id == customer.id


def test_docs_name_the_cases_of_the_test_anchor(seeded_db: DemoSummary) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "demo-data.md").read_text()
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in doc.splitlines()
        if line.startswith("| `")
    }
    assert set(seeded_db.cases) <= set(rows)
    for key, case in seeded_db.cases.items():
        for number in (case.invoice_number, case.related_invoice_number):
            if number:
                assert number in rows[key], (key, number)
        assert case.tenant_id in doc
