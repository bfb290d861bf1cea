"""Microsoft's invoices to the demo partners, derived from the demo's customer
invoices (docs/billing.md, "Whose invoice is whose").

    report = seed_microsoft_invoices(session, anchor=anchor, scenario=scenario)

For every demo partner that Microsoft bills (direct-bill partners and indirect
providers; an indirect reseller is billed by its provider), one invoice a month, as
the Partner Center sync would store it (`partner_center_invoices` and their lines):

* a line for each charge of that month's customer invoices (by their billing
  period), for the same customer and subscription, at Microsoft's price: the
  partner's price x 100 / (100 + markup_percent), to the cent; a charge the demo
  puts twice on a customer's invoice (a billing error the partner credits back) is
  one line, and the partner's credit notes are not Microsoft's;
* dated `invoice_day` of the following month, due `payment_terms_days` later; only
  the months whose invoice date has come by the anchor;
* numbered `G` + 9 digits from `first_number`, in date order then partner order;
* every one paid (Partner Center gives the paid amount negative) except each
  partner's latest.

So a customer's share of a Microsoft invoice is what its partner bought for it that
month. Seeding again writes nothing (each invoice keeps a fingerprint of its lines).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.demo.scenario import MicrosoftInvoices, Scenario
from api.domain.models import (
    CENT,
    BillingModel,
    Commerce,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    Partner,
    PartnerCenterInvoice,
    PartnerCenterInvoiceLine,
    Subscription,
)

# Our charge types in Partner Center's words (its reconciliation line items).
CHARGE_TYPES = {
    "new": "new",
    "renew": "renew",
    "cycle_charge": "cycleCharge",
    "add_quantity": "addQuantity",
    "remove_quantity": "removeQuantity",
    "cancel": "cancelImmediate",
    "one_time": "oneTime",
    "usage": "usage",
    "credit": "credit",
}
BILLED_BY_MICROSOFT = (BillingModel.DIRECT, BillingModel.INDIRECT_PROVIDER)


@dataclass
class MicrosoftSeedReport:
    written: int = 0
    unchanged: int = 0
    lines: int = 0


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def _at_cost(amount: Decimal, rule: MicrosoftInvoices) -> Decimal:
    return (amount * 100 / (100 + rule.markup_percent)).quantize(CENT, ROUND_HALF_UP)


def _line_key(line: InvoiceLine) -> tuple[Any, ...]:
    return (
        line.subscription_id,
        line.charge_type,
        line.charge_start,
        line.charge_end,
        line.quantity,
        line.unit_price,
        line.subtotal,
        line.product_name,
    )


def _microsoft_lines(
    invoices: Iterable[Invoice],
    subscriptions: dict[str, Subscription],
    rule: MicrosoftInvoices,
) -> list[dict[str, Any]]:
    """Microsoft's lines for the charges of `invoices` (one customer's, in order)."""
    lines: list[dict[str, Any]] = []
    for invoice in invoices:
        customer = invoice.customer
        seen: set[tuple[Any, ...]] = set()
        for line in invoice.lines:
            key = _line_key(line)
            if key in seen:  # charged twice by the partner, once by Microsoft
                continue
            seen.add(key)
            sub = subscriptions.get(line.subscription_id or "")
            legacy = sub is not None and sub.commerce is Commerce.LEGACY
            subtotal = _at_cost(line.subtotal, rule)
            tax = _at_cost(line.tax, rule)
            unit_price = _at_cost(line.unit_price, rule)
            charge_type = CHARGE_TYPES[line.charge_type.value]
            provider = "office" if legacy else "one_time"
            raw = {
                "billingProvider": provider,
                "customerId": customer.tenant_id,
                "customerName": customer.name,
                "customerDomainName": customer.domain,
                "subscriptionId": line.subscription_id,
                "orderId": line.order_id,
                "productName": line.product_name,
                "skuName": line.sku,
                "chargeType": charge_type,
                "quantity": line.quantity,
                "unitPrice": str(unit_price),
                "subtotal": str(subtotal),
                "taxTotal": str(tax),
                "totalForCustomer": str(subtotal + tax),
                "currency": invoice.currency,
                "chargeStartDate": line.charge_start.isoformat(),
                "chargeEndDate": line.charge_end.isoformat(),
                "billingFrequency": (
                    line.billing_cycle.value if line.billing_cycle else None
                ),
            }
            lines.append(
                {
                    "billing_provider": provider,
                    "customer_tenant_id": customer.tenant_id,
                    "customer_id": customer.id,
                    "customer_name": customer.name,
                    "customer_domain": customer.domain,
                    "subscription_id": line.subscription_id,
                    "order_id": line.order_id,
                    "product_name": line.product_name,
                    "sku_name": line.sku,
                    "charge_type": charge_type,
                    "quantity": float(line.quantity),
                    "unit_price": unit_price,
                    "subtotal": subtotal,
                    "tax": tax,
                    "total": subtotal + tax,
                    "currency": invoice.currency,
                    "charge_start": line.charge_start,
                    "charge_end": line.charge_end,
                    "billing_frequency": raw["billingFrequency"],
                    "raw": raw,
                }
            )
    return lines


def _digest(header: dict[str, Any], lines: list[dict[str, Any]]) -> str:
    hasher = hashlib.sha256(repr(sorted(header.items())).encode())
    for line in lines:
        hasher.update(
            repr(sorted((k, v) for k, v in line.items() if k != "raw")).encode()
        )
    return hasher.hexdigest()


def seed_microsoft_invoices(
    session: Session, *, anchor: date, scenario: Scenario
) -> MicrosoftSeedReport:
    """Write (or bring up to date) Microsoft's invoices to the demo partners.

    Flushes, never commits. Running it again with the same data writes nothing.
    """
    rule = scenario.manifest.microsoft_invoices
    report = MicrosoftSeedReport()
    partners = [
        partner
        for slug in scenario.manifest.partners
        for partner in session.scalars(select(Partner).where(Partner.slug == slug))
        if partner.billing_model in BILLED_BY_MICROSOFT
    ]
    # (month, partner order) -> that month's customer invoices of the partner
    planned: dict[tuple[date, int], list[Invoice]] = {}
    for order, partner in enumerate(partners):
        invoices = session.scalars(
            select(Invoice)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(
                Customer.partner_id == partner.id,
                Invoice.document_type == DocumentType.INVOICE,
            )
            .options(selectinload(Invoice.lines), selectinload(Invoice.customer))
            .order_by(Customer.name, Invoice.billing_period_start, Invoice.number)
        ).all()
        for invoice in invoices:
            month = _month(invoice.billing_period_start)
            if _next_month(month).replace(day=rule.invoice_day) <= anchor:
                planned.setdefault((month, order), []).append(invoice)
    subscriptions = {
        sub.id: sub
        for sub in session.scalars(
            select(Subscription)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Customer.partner_id.in_([p.id for p in partners]))
        )
    }
    latest: dict[int, date] = {}
    for month, order in planned:
        latest[order] = max(latest.get(order, month), month)

    for number, (month, order) in enumerate(sorted(planned), start=rule.first_number):
        partner = partners[order]
        lines = _microsoft_lines(planned[(month, order)], subscriptions, rule)
        total = sum((line["total"] for line in lines), Decimal("0.00"))
        issued = _next_month(month).replace(day=rule.invoice_day)
        header = {
            "partner_id": partner.id,
            "number": f"G{number:09d}",
            "document_type": DocumentType.INVOICE,
            "amends_of": None,
            "invoice_type": "OneTime",
            "invoice_date": issued,
            "billing_period_start": month,
            "billing_period_end": _next_month(month) - timedelta(days=1),
            "currency": partner.currency,
            "total_charges": total,
            "paid_amount": Decimal("0.00") if month == latest[order] else -total,
            "due_date": issued + timedelta(days=rule.payment_terms_days),
        }
        digest = _digest(header, lines)
        existing: Optional[PartnerCenterInvoice] = session.scalars(
            select(PartnerCenterInvoice).where(
                PartnerCenterInvoice.partner_id == partner.id,
                PartnerCenterInvoice.number == header["number"],
            )
        ).first()
        if existing is not None and existing.lines_digest == digest:
            report.unchanged += 1
            continue
        if existing is None:
            existing = PartnerCenterInvoice(**header)
            session.add(existing)
        else:
            for key, value in header.items():
                setattr(existing, key, value)
            existing.lines.clear()
        existing.lines_digest = digest
        existing.lines.extend(
            PartnerCenterInvoiceLine(position=position, **line)
            for position, line in enumerate(lines, start=1)
        )
        report.written += 1
        report.lines += len(lines)
    session.flush()
    return report


__all__ = ["MicrosoftSeedReport", "seed_microsoft_invoices"]
