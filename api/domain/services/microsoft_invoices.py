"""Microsoft's invoices to a partner (brought in by the Partner Center sync), and a
customer's share of one: the questions partner staff ask ("what is on Microsoft's
latest invoice?", "how much of it is Contoso?"). A customer never sees these.

    invoice = latest_microsoft_invoice(session, partner_id=partner.id)
    share = customer_share(invoice, customer_id=customer.id)   # lines, subtotal, tax, total
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.models import (
    CENT,
    DocumentType,
    PartnerCenterInvoice,
    PartnerCenterInvoiceLine,
)


def latest_microsoft_invoice(
    session: Session, *, partner_id: int
) -> Optional[PartnerCenterInvoice]:
    """Microsoft's most recent invoice to the partner (credit notes excluded)."""
    return session.scalars(
        select(PartnerCenterInvoice)
        .where(
            PartnerCenterInvoice.partner_id == partner_id,
            PartnerCenterInvoice.document_type == DocumentType.INVOICE,
        )
        .order_by(
            PartnerCenterInvoice.invoice_date.desc(), PartnerCenterInvoice.id.desc()
        )
    ).first()


def microsoft_invoice(
    session: Session, *, partner_id: int, number: str
) -> Optional[PartnerCenterInvoice]:
    """One of Microsoft's invoices (or credit notes) to the partner, by number."""
    return session.scalars(
        select(PartnerCenterInvoice).where(
            PartnerCenterInvoice.partner_id == partner_id,
            PartnerCenterInvoice.number == number.strip().upper(),
        )
    ).first()


@dataclass
class Share:
    """What part of a Microsoft invoice one customer accounts for."""

    invoice_number: str
    currency: str
    lines: list[PartnerCenterInvoiceLine] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal("0")).quantize(CENT)

    @property
    def tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), Decimal("0")).quantize(CENT)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0")).quantize(CENT)


def customer_share(invoice: PartnerCenterInvoice, *, customer_id: int) -> Share:
    """The lines of `invoice` for one customer, and their sums."""
    return Share(
        invoice_number=invoice.number,
        currency=invoice.currency,
        lines=[line for line in invoice.lines if line.customer_id == customer_id],
    )


def shares_by_customer(invoice: PartnerCenterInvoice) -> list[tuple[str, Share]]:
    """Every customer's share of `invoice`, largest first; lines for a customer
    the desk does not have are grouped under the name Partner Center gives."""
    groups: dict[str, Share] = {}
    for line in invoice.lines:
        name = (
            line.customer.name
            if line.customer is not None
            else (line.customer_name or line.customer_tenant_id or "?")
        )
        share = groups.setdefault(name, Share(invoice.number, invoice.currency))
        share.lines.append(line)
    return sorted(groups.items(), key=lambda item: (-item[1].total, item[0]))
