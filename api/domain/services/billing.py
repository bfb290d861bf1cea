"""Billing queries, always scoped to one customer (or, for partner staff, to one
partner's customers) so no answer leaks another's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.domain.models import (
    ChargeType,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    Subscription,
)


def customer_by_tenant(session: Session, *, tenant_id: str) -> Optional[Customer]:
    """The customer whose Entra tenant id is `tenant_id`, if any."""
    return session.scalars(
        select(Customer).where(Customer.tenant_id == tenant_id.lower())
    ).first()


def latest_invoice(session: Session, *, customer_id: int) -> Optional[Invoice]:
    """The customer's most recent invoice (credit notes excluded)."""
    return session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.document_type == DocumentType.INVOICE,
        )
        .order_by(Invoice.invoice_date.desc(), Invoice.id.desc())
        .limit(1)
    ).first()


def latest_invoice_for_product(
    session: Session, *, customer_id: int, product: str
) -> Optional[Invoice]:
    """The customer's most recent invoice with a line for `product` (a product
    name or part of one, any case), or None."""
    return session.scalars(
        select(Invoice)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.document_type == DocumentType.INVOICE,
            InvoiceLine.product_name.icontains(product, autoescape=True),
        )
        .order_by(Invoice.invoice_date.desc(), Invoice.id.desc())
        .limit(1)
    ).first()


def invoice_by_number(
    session: Session, *, customer_id: int, number: str
) -> Optional[Invoice]:
    """The invoice numbered `number`, only if it belongs to `customer_id`."""
    return session.scalars(
        select(Invoice).where(
            Invoice.customer_id == customer_id, Invoice.number == number.upper()
        )
    ).first()


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class SeriesInfo:
    """What an invoice number's series says (docs/domain.md, "Microsoft's invoices to
    the partner").

    `G` = new commerce: a calendar month, available by the 8th of the next month.
    `D` = legacy licence-based: a month from the billing anniversary, available two
    days after it.
    """

    series: str
    name: str
    period_rule: str
    availability_rule: str


SERIES: dict[str, SeriesInfo] = {
    "G": SeriesInfo(
        "G",
        "new commerce",
        "covers a calendar month",
        "available by the 8th of the following month",
    ),
    "D": SeriesInfo(
        "D",
        "legacy licence-based",
        "covers a month from your billing anniversary date",
        "available 2 days after the billing anniversary",
    ),
}


def series_info(number: str) -> Optional[SeriesInfo]:
    """The series of an invoice number (`G...` or `D...`), if it is a known one."""
    return SERIES.get(number[:1].upper()) if number else None


# --------------------------------------------------------------------------- lookups


def invoice_for_partner(
    session: Session, *, partner_id: int, number: str
) -> Optional[Invoice]:
    """The invoice numbered `number`, only if one of `partner_id`'s customers has it."""
    return session.scalars(
        select(Invoice)
        .join(Customer, Invoice.customer_id == Customer.id)
        .where(Customer.partner_id == partner_id, Invoice.number == number.upper())
    ).first()


def invoices_in_period(
    session: Session, *, customer_id: int, start: date, end: date
) -> list[Invoice]:
    """The customer's invoices whose billing period starts between `start` and `end`
    (both inclusive), oldest first; credit notes excluded.

    For a range shorter than a month (a week), invoices whose period merely overlaps
    it are returned instead, since no monthly period starts inside most weeks.
    """
    base = select(Invoice).where(
        Invoice.customer_id == customer_id,
        Invoice.document_type == DocumentType.INVOICE,
    )
    order = (Invoice.billing_period_start, Invoice.number)
    found = list(
        session.scalars(
            base.where(
                Invoice.billing_period_start >= start,
                Invoice.billing_period_start <= end,
            ).order_by(*order)
        )
    )
    if found or (end - start).days >= 27:
        return found
    return list(
        session.scalars(
            base.where(
                Invoice.billing_period_start <= end,
                Invoice.billing_period_end >= start,
            ).order_by(*order)
        )
    )


def previous_invoice(session: Session, *, invoice: Invoice) -> Optional[Invoice]:
    """The invoice before `invoice`: same customer, same series (D or G), not a
    credit note, the latest dated before it."""
    return session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == invoice.customer_id,
            Invoice.document_type == DocumentType.INVOICE,
            Invoice.number.startswith(invoice.series),
            Invoice.id != invoice.id,
            or_(
                Invoice.invoice_date < invoice.invoice_date,
                and_(
                    Invoice.invoice_date == invoice.invoice_date,
                    Invoice.number < invoice.number,
                ),
            ),
        )
        .order_by(Invoice.invoice_date.desc(), Invoice.number.desc())
        .limit(1)
    ).first()


def credit_notes_amending(session: Session, *, invoice: Invoice) -> list[Invoice]:
    """The customer's credit notes that amend `invoice`."""
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.customer_id == invoice.customer_id,
                Invoice.document_type == DocumentType.CREDIT_NOTE,
                Invoice.amends_of_id == invoice.id,
            )
            .order_by(Invoice.invoice_date, Invoice.number)
        )
    )


def unpaid_invoices(session: Session, *, customer_id: int) -> list[Invoice]:
    """The customer's invoices with money still to pay, oldest due first."""
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.document_type == DocumentType.INVOICE,
        )
        .order_by(Invoice.due_date, Invoice.number)
    )
    return [invoice for invoice in invoices if invoice.balance > 0]


def billed_total(session: Session, *, customer_id: int) -> Decimal:
    """Everything ever invoiced to the customer, credit notes deducted."""
    total = sum(
        (
            invoice.total
            for invoice in session.scalars(
                select(Invoice).where(Invoice.customer_id == customer_id)
            )
        ),
        Decimal("0.00"),
    )
    return total


def subscriptions_of(session: Session, *, customer_id: int) -> list[Subscription]:
    """The customer's subscriptions, by product name; those Partner Center no longer
    lists (marked by the sync, api/partner_center/sync.py) are left out."""
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.customer_id == customer_id,
                Subscription.partner_center_removed_at.is_(None),
            )
            .order_by(Subscription.product_name, Subscription.id)
        )
    )


def seat_additions(session: Session, *, subscription_id: str) -> list[tuple[date, int]]:
    """(date added, seats) of every seat addition billed on an `add_quantity` line."""
    lines = session.scalars(
        select(InvoiceLine)
        .where(
            InvoiceLine.subscription_id == subscription_id,
            InvoiceLine.charge_type == ChargeType.ADD_QUANTITY,
        )
        .order_by(InvoiceLine.charge_start)
    )
    return [(line.charge_start, line.quantity) for line in lines if line.quantity > 0]
