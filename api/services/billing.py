"""Billing queries, always scoped to one customer so no answer leaks another's data."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Customer, DocumentType, Invoice


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


def invoice_by_number(
    session: Session, *, customer_id: int, number: str
) -> Optional[Invoice]:
    """The invoice numbered `number`, only if it belongs to `customer_id`."""
    return session.scalars(
        select(Invoice).where(
            Invoice.customer_id == customer_id, Invoice.number == number.upper()
        )
    ).first()
