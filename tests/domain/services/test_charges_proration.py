"""A prorated line's days come from its columns; nothing reads its description."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Optional

from api.domain.models import (
    BillingFrequency,
    ChargeType,
    DocumentType,
    Invoice,
    InvoiceLine,
)
from api.domain.services.charges import compare_invoices


def added_seats(
    description: str, prorated_days: Optional[int], cycle_days: Optional[int]
) -> Invoice:
    line = InvoiceLine(
        subscription_id="sub-1",
        product_name="Microsoft 365 E3",
        sku="CFQ7TTC0LFLX:0001",
        charge_type=ChargeType.ADD_QUANTITY,
        description=description,
        quantity=5,
        unit_price=Decimal("37.80"),
        subtotal=Decimal("140.23"),
        tax=Decimal("0.00"),
        total=Decimal("140.23"),
        charge_start=date(2026, 7, 20),
        charge_end=date(2026, 8, 11),
        billing_cycle=BillingFrequency.MONTHLY,
        prorated_days=prorated_days,
        cycle_days=cycle_days,
    )
    return Invoice(
        number="G000000001",
        customer_id=1,
        document_type=DocumentType.INVOICE,
        currency="USD",
        subtotal=line.subtotal,
        tax_total=Decimal("0.00"),
        total=line.total,
        lines=[line],
    )


def proration(invoice: Invoice) -> tuple[Optional[int], Optional[int]]:
    (item,) = compare_invoices(invoice, None).items
    assert item.kind == "prorated_seats_added"
    return item.days, item.cycle_days


def test_the_days_are_the_lines_columns_whatever_the_description_says() -> None:
    assert proration(added_seats("5 seats added", 23, 31)) == (23, 31)
    assert proration(
        added_seats("5 seats added, prorated 2/9 days of the billing cycle", 23, 31)
    ) == (23, 31)


def test_without_the_columns_the_cycle_is_unknown_even_if_the_text_names_it() -> None:
    # A line from another source: its dates give the days, and the words
    # "prorated 23/31 days" are for people only.
    assert proration(
        added_seats(
            "5 seats added, prorated 23/31 days of the billing cycle", None, None
        )
    ) == (23, None)
