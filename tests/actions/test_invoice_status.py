"""How an invoice's payment state is written (actions/invoices.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from actions.invoices import invoice_status
from api.domain.models import DocumentType, Invoice


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
