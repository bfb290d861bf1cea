"""The demo's Microsoft invoices to its partners (api/demo/microsoft.py): one a
month for each partner Microsoft bills, each customer's share derived from what the
partner invoiced that customer, seeded again without change."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.demo.microsoft import seed_microsoft_invoices
from api.demo.scenario import load_scenario
from api.demo.seed import DemoSummary
from api.domain.models import (
    CENT,
    Customer,
    DocumentType,
    Invoice,
    Partner,
    PartnerCenterInvoice,
    PartnerCenterInvoiceLine,
)
from api.domain.services.billing import latest_invoice
from api.domain.services.microsoft_invoices import (
    customer_share,
    latest_microsoft_invoice,
    shares_by_customer,
)


def microsoft_invoices(session: Session, slug: str) -> list[PartnerCenterInvoice]:
    return list(
        session.scalars(
            select(PartnerCenterInvoice)
            .join(Partner, Partner.id == PartnerCenterInvoice.partner_id)
            .where(Partner.slug == slug)
            .order_by(PartnerCenterInvoice.invoice_date)
        )
    )


def test_one_a_month_for_each_partner_microsoft_bills(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    assert seeded_db.microsoft_invoices == 24
    northwind = microsoft_invoices(seeded_session, "northwind")
    fabrikam = microsoft_invoices(seeded_session, "fabrikam")
    # litware is an indirect reseller: its provider bills it, not Microsoft.
    assert microsoft_invoices(seeded_session, "litware") == []
    assert len(northwind) == len(fabrikam) == 12
    months = [invoice.billing_period_start for invoice in northwind]
    assert len(set(months)) == 12 and all(month.day == 1 for month in months)
    # The anchor is 2026-11-15: October's invoice (dated 6 November) is the latest.
    latest = latest_microsoft_invoice(
        seeded_session, partner_id=northwind[0].partner_id
    )
    assert latest is northwind[-1]
    assert latest.number == "G051000023"
    assert str(latest.billing_period_start) == "2026-10-01"
    assert str(latest.invoice_date) == "2026-11-06"
    assert latest.due_date == latest.invoice_date + timedelta(days=60)
    assert latest.paid_amount == 0
    assert all(inv.paid_amount == -inv.total_charges != 0 for inv in northwind[:-1])
    numbers = sorted(inv.number for inv in northwind + fabrikam)
    assert numbers == [f"G{51000001 + i:09d}" for i in range(24)]
    for invoice in northwind + fabrikam:
        assert invoice.document_type is DocumentType.INVOICE
        assert invoice.total_charges == sum(line.total for line in invoice.lines)


def test_each_customers_share_is_what_the_partner_bought_for_it(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    markup = load_scenario().manifest.microsoft_invoices.markup_percent
    for slug in ("northwind", "fabrikam"):
        for invoice in microsoft_invoices(seeded_session, slug):
            sold = seeded_session.scalars(
                select(Invoice)
                .join(Customer, Customer.id == Invoice.customer_id)
                .where(
                    Customer.partner_id == invoice.partner_id,
                    Invoice.document_type == DocumentType.INVOICE,
                    Invoice.billing_period_start >= invoice.billing_period_start,
                    Invoice.billing_period_start <= invoice.billing_period_end,
                )
            ).all()
            expected: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
            for customer_invoice in sold:
                seen = set()
                for line in customer_invoice.lines:
                    key = (
                        line.subscription_id,
                        line.charge_type,
                        line.charge_start,
                        line.charge_end,
                        line.quantity,
                        line.subtotal,
                    )
                    if key in seen:
                        continue
                    seen.add(key)
                    cost = (line.subtotal * 100 / (100 + markup)).quantize(
                        CENT, ROUND_HALF_UP
                    )
                    expected[customer_invoice.customer_id].append(
                        (line.subscription_id or "", cost)
                    )
            assert expected, invoice.number
            shares = shares_by_customer(invoice)
            assert len(shares) == len(expected)
            for customer_id, wanted in expected.items():
                share = customer_share(invoice, customer_id=customer_id)
                got = sorted(
                    (line.subscription_id or "", line.subtotal) for line in share.lines
                )
                assert got == sorted(wanted), (invoice.number, customer_id)
                subs = {
                    sub.id
                    for sub in seeded_session.get(Customer, customer_id).subscriptions
                }  # type: ignore[union-attr]
                assert {s for s, _ in got if s} <= subs


def test_the_duplicate_charge_is_billed_once_by_microsoft(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    # contoso's Teams Phone charge is on its invoice twice (credited back later).
    contoso = seeded_session.scalars(
        select(Customer).where(Customer.domain == "contoso.com")
    ).one()
    doubled = [
        invoice
        for invoice in contoso.invoices
        if invoice.document_type is DocumentType.INVOICE
        and len(
            {(ln.product_name, ln.charge_type, ln.charge_start) for ln in invoice.lines}
        )
        < len(invoice.lines)
    ]
    assert len(doubled) == 1
    month = doubled[0].billing_period_start.replace(day=1)
    microsoft = next(
        inv
        for inv in microsoft_invoices(seeded_session, "northwind")
        if inv.billing_period_start == month
    )
    share = customer_share(microsoft, customer_id=contoso.id)
    assert len(share.lines) == len(doubled[0].lines) - 1


def test_seeding_again_changes_nothing(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    def snapshot() -> list[tuple[object, ...]]:
        return list(
            seeded_session.execute(
                select(
                    PartnerCenterInvoiceLine.id,
                    PartnerCenterInvoiceLine.invoice_id,
                    PartnerCenterInvoiceLine.subtotal,
                ).order_by(PartnerCenterInvoiceLine.id)
            ).tuples()
        )

    before = snapshot()
    report = seed_microsoft_invoices(
        seeded_session, anchor=seeded_db.anchor, scenario=load_scenario()
    )
    assert (report.written, report.unchanged) == (0, 24)
    assert snapshot() == before

    # A customer invoice corrected: only that month's Microsoft invoice is rewritten.
    contoso = seeded_session.scalars(
        select(Customer).where(Customer.domain == "contoso.com")
    ).one()
    newest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert newest is not None
    line = newest.lines[0]
    line.subtotal += Decimal("11.50")
    seeded_session.flush()
    report = seed_microsoft_invoices(
        seeded_session, anchor=seeded_db.anchor, scenario=load_scenario()
    )
    assert (report.written, report.unchanged) == (1, 23)
    assert (
        seeded_session.scalar(select(func.count()).select_from(PartnerCenterInvoice))
        == 24
    )
