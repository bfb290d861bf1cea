"""How amounts, dates and invoice states are written."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from actions.formatting import (
    format_date,
    format_money,
    format_period,
    invoice_status,
    local_today,
)
from api.domain.models import DocumentType, Invoice


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("1234.5"), "eur", "1,234.50 EUR"),
        (Decimal("0"), "USD", "0.00 USD"),
        (Decimal("-50.005"), "GBP", "-50.01 GBP"),
        (Decimal("1000000"), "JPY", "1,000,000.00 JPY"),
    ],
)
def test_money_keeps_the_currency_code(
    amount: Decimal, currency: str, expected: str
) -> None:
    assert format_money(amount, currency) == expected


def test_dates_name_the_month() -> None:
    assert format_date(date(2025, 3, 4)) == "4 March 2025"
    assert (
        format_period(date(2025, 3, 1), date(2025, 3, 31))
        == "1 March 2025 to 31 March 2025"
    )


def test_today_is_the_partners_date() -> None:
    late_evening_utc = datetime(2025, 3, 31, 23, 30, tzinfo=timezone.utc)
    assert local_today(late_evening_utc, "Europe/Berlin") == date(2025, 4, 1)
    assert local_today(late_evening_utc, "America/New_York") == date(2025, 3, 31)
    assert local_today(late_evening_utc, "Not/AZone") == date(2025, 3, 31)


def _invoice(total: str, paid: str, due: date, credit: bool = False) -> Invoice:
    return Invoice(
        number="G000000001",
        document_type=DocumentType.CREDIT_NOTE if credit else DocumentType.INVOICE,
        due_date=due,
        currency="EUR",
        total=Decimal(total),
        paid_amount=Decimal(paid),
    )


DUE = date(2025, 4, 30)


@pytest.mark.parametrize(
    ("total", "paid", "today", "expected"),
    [
        ("100.00", "100.00", date(2025, 5, 20), "paid"),
        ("100.00", "0.00", date(2025, 4, 20), "unpaid, due in 10 days"),
        ("100.00", "0.00", date(2025, 4, 29), "unpaid, due in 1 day"),
        ("100.00", "0.00", DUE, "unpaid, due today"),
        (
            "100.00",
            "40.00",
            date(2025, 4, 20),
            "partially paid: 40.00 EUR paid, 60.00 EUR outstanding",
        ),
        (
            "100.00",
            "0.00",
            date(2025, 5, 1),
            "overdue by 1 day (100.00 EUR outstanding)",
        ),
        (
            "100.00",
            "40.00",
            date(2025, 5, 12),
            "overdue by 12 days (40.00 EUR paid, 60.00 EUR outstanding)",
        ),
    ],
)
def test_invoice_status_in_words(
    total: str, paid: str, today: date, expected: str
) -> None:
    assert invoice_status(_invoice(total, paid, DUE), today) == expected


def test_a_credit_note_is_called_one() -> None:
    note = _invoice("-20.00", "0.00", DUE, credit=True)
    assert invoice_status(note, date(2025, 6, 1)) == "credit note"
