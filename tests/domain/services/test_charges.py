"""api.domain.services.charges: what changed between two invoices, and that it adds up."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.domain.models import Customer, DocumentType, Invoice
from api.domain.services.billing import credit_notes_amending, previous_invoice
from api.domain.services.charges import (
    ChargeComparison,
    ComparisonError,
    compare_invoices,
    explain_credit_note,
)


def numbered(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def compare(session: Session, number: str) -> ChargeComparison:
    invoice = numbered(session, number)
    return compare_invoices(
        invoice,
        previous_invoice(session, invoice=invoice),
        credit_notes=credit_notes_amending(session, invoice=invoice),
    )


def kinds(comparison: ChargeComparison) -> list[str]:
    return [item.kind for item in comparison.items]


def test_every_consecutive_pair_in_the_demo_adds_up(seeded_session: Session) -> None:
    pairs = 0
    for customer in seeded_session.scalars(select(Customer)):
        for series in ("D", "G"):
            invoices = sorted(
                (
                    i
                    for i in customer.invoices
                    if i.series == series and i.document_type is DocumentType.INVOICE
                ),
                key=lambda i: (i.invoice_date, i.number),
            )
            for before, after in pairwise(invoices):
                assert previous_invoice(seeded_session, invoice=after) is before
                comparison = compare_invoices(after, before)
                assert comparison.items_total == after.total - before.total, (
                    after.number
                )
                assert "other" not in kinds(comparison), after.number
                pairs += 1
            if invoices:  # the first of a series is compared with nothing
                first = compare_invoices(invoices[0], None)
                assert first.items_total == invoices[0].total
                assert "other" not in kinds(first)
    assert pairs > 100


def test_seat_increase_mid_cycle(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    comparison = compare(
        seeded_session, seeded_db.case("seat_increase").invoice_number or ""
    )
    added = next(i for i in comparison.items if i.kind == "prorated_seats_added")
    assert added.amount == Decimal("140.23")
    assert (added.seats_after, added.days, added.cycle_days) == (5, 23, 31)
    assert added.start is not None and added.start.isoformat() == "2026-07-20"


def test_next_month_the_added_seats_are_in_the_cycle_charge(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    comparison = compare(seeded_session, case.related_invoice_number or "")
    seats = next(i for i in comparison.items if i.kind == "seats_added")
    assert (seats.seats_before, seats.seats_after, seats.amount) == (
        40,
        45,
        Decimal("189.00"),
    )
    gone = next(i for i in comparison.items if i.kind == "prorated_not_repeated")
    assert gone.amount == Decimal("-140.23")
    duplicate = next(i for i in comparison.items if i.kind == "duplicate_charge")
    assert duplicate.amount == Decimal("480.00")
    assert [n.number for n in comparison.credit_notes] == [case.invoice_number]
    assert comparison.balanced


def test_price_rise(seeded_db: DemoSummary, seeded_session: Session) -> None:
    comparison = compare(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    rise = next(i for i in comparison.items if i.kind == "price_change")
    assert (rise.price_before, rise.price_after) == (Decimal("36.00"), Decimal("37.80"))
    assert rise.amount == Decimal("72.00") and rise.charge_type == "renew"
    assert "seats_added" not in kinds(comparison)


def test_seat_reduction_and_cancellation_are_negative(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    reduction = compare(
        seeded_session, seeded_db.case("seat_reduction").invoice_number or ""
    )
    removed = next(i for i in reduction.items if i.kind == "prorated_seats_removed")
    assert removed.amount == Decimal("-81.45") and (
        removed.days,
        removed.cycle_days,
    ) == (27, 30)
    cancelled = compare(
        seeded_session, seeded_db.case("cancelled_subscription").invoice_number or ""
    )
    cancel = next(i for i in cancelled.items if i.kind == "prorated_cancellation")
    assert cancel.amount == Decimal("-13.44")


def test_one_time_charge_and_its_absence_next_month(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    number = seeded_db.case("one_time_service").invoice_number or ""
    with_it = compare(seeded_session, number)
    assert next(i for i in with_it.items if i.kind == "one_time").amount == Decimal(
        "2400.00"
    )
    tailspin = numbered(seeded_session, number).customer
    following = sorted(
        (
            i
            for i in tailspin.invoices
            if i.invoice_date > numbered(seeded_session, number).invoice_date
        ),
        key=lambda i: i.invoice_date,
    )[0]
    after = compare(seeded_session, following.number)
    gone = next(i for i in after.items if i.kind == "one_time_not_repeated")
    assert gone.amount == Decimal("-2400.00")


def test_usage_names_the_meters_that_moved(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    comparison = compare(
        seeded_session, seeded_db.case("usage_invoice").invoice_number or ""
    )
    usage = next(i for i in comparison.items if i.kind == "usage")
    assert usage.before is not None and usage.after is not None
    assert usage.amount == usage.after - usage.before
    assert sum((m.amount for m in usage.meters), Decimal(0)) == usage.amount
    assert all(abs(a.amount) >= abs(b.amount) for a, b in pairwise(usage.meters))


def test_new_product_and_tax(seeded_db: DemoSummary, seeded_session: Session) -> None:
    comparison = compare(
        seeded_session, seeded_db.case("marketplace_saas").invoice_number or ""
    )
    assert kinds(comparison) == ["new_product", "tax"]
    new = comparison.items[0]
    assert (new.seats_after, new.price_after, new.amount) == (
        12,
        Decimal("3.00"),
        Decimal("36.00"),
    )
    assert comparison.items[1].amount == Decimal("2.25")


def test_a_credit_note_explained_by_its_lines(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    note = numbered(seeded_session, seeded_db.case("credit_note").invoice_number or "")
    comparison = explain_credit_note(note)
    assert comparison.items_total == note.total == Decimal("-528.48")
    with pytest.raises(ComparisonError):
        compare_invoices(note, None)
    with pytest.raises(ComparisonError):
        explain_credit_note(
            numbered(seeded_session, seeded_db.case("price_rise").invoice_number or "")
        )


def test_invoices_of_different_customers_or_series_are_not_compared(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    woodgrove = numbered(
        seeded_session, seeded_db.case("partially_paid_invoice").invoice_number or ""
    )
    with pytest.raises(ComparisonError):
        compare_invoices(contoso, woodgrove)
    legacy = numbered(
        seeded_session, seeded_db.case("legacy_invoice").invoice_number or ""
    )
    new = numbered(
        seeded_session, seeded_db.case("legacy_invoice").related_invoice_number or ""
    )
    with pytest.raises(ComparisonError):
        compare_invoices(new, legacy)
    # The previous invoice of a D invoice is a D invoice, even with G invoices between.
    before = previous_invoice(seeded_session, invoice=legacy)
    assert before is not None and before.series == "D"
