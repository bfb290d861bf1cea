"""action_microsoft_invoice: Microsoft's invoices to the partner, for partner staff
(Global and Billing admins), and a customer's share of one.

Figures are read from the seeded demo (DEMO_ANCHOR = 2026-11-15), never written down.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, Optional

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.identity import ACTING_FOR_SLOT
from actions.microsoft_invoices import ActionMicrosoftInvoice
from api.demo.seed import DemoSummary
from api.domain.models import Partner, PartnerCenterInvoice
from api.domain.services.microsoft_invoices import (
    customer_share,
    latest_microsoft_invoice,
    shares_by_customer,
)
from tests.actions.billing_helpers import (
    FB_BILLING_ADMIN,
    LW_BILLING_ADMIN,
    NW_BILLING_ADMIN,
    NW_GLOBAL_ADMIN,
    NW_HELPDESK,
    NW_SALES,
    customer,
    d,
    money,
    responses,
    run,
    slot_events,
)
from tests.actions.helpers import customer_token, make_tracker, signed_in, staff_token


async def ask(
    summary: DemoSummary,
    token: Optional[str],
    text: str,
    *,
    entities: Optional[dict[str, str]] = None,
    slots: Optional[dict[str, Any]] = None,
) -> tuple[str, dict[str, Any], list[str]]:
    tracker = make_tracker(
        session_metadata=signed_in(token),
        intent="ask_microsoft_invoice",
        text=text,
        entities=entities,
        slots=slots,
    )
    from tests.actions.billing_helpers import midday

    texts, events, dispatcher = await run(
        ActionMicrosoftInvoice(clock=midday(summary.anchor)), tracker
    )
    return "\n".join(texts), slot_events(events), responses(dispatcher)


def partner(session: Session, slug: str) -> Partner:
    return session.scalars(select(Partner).where(Partner.slug == slug)).one()


def latest(session: Session, slug: str) -> PartnerCenterInvoice:
    found = latest_microsoft_invoice(session, partner_id=partner(session, slug).id)
    assert found is not None
    return found


@pytest.mark.parametrize("who", [NW_BILLING_ADMIN, NW_GLOBAL_ADMIN])
async def test_the_latest_microsoft_invoice(
    seeded_db: DemoSummary, seeded_session: Session, who: str
) -> None:
    invoice = latest(seeded_session, "northwind")
    said, slots, names = await ask(
        seeded_db, staff_token(who), "what's Microsoft's latest invoice to us?"
    )
    assert names == ["utter_microsoft_invoice_latest"]
    name = partner(seeded_session, "northwind").name
    assert f"The latest Microsoft invoice to {name} is {invoice.number}" in said
    assert money(invoice.total_charges, invoice.currency) in said
    assert invoice.due_date is not None and d(invoice.due_date) in said
    assert d(invoice.invoice_date) in said
    assert "Status: not paid yet" in said
    # The biggest customers' shares, largest first, with their amounts.
    shares = shares_by_customer(invoice)
    biggest, share = shares[0]
    assert f"Biggest customer shares: {biggest} " in said
    assert money(share.total, invoice.currency) in said
    assert said.index(shares[0][0]) < said.index(shares[1][0])
    assert said.endswith(f"and {len(shares) - 3} more customer") == (len(shares) == 4)
    assert ACTING_FOR_SLOT not in slots


async def test_an_earlier_month_is_paid(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoices = seeded_session.scalars(
        select(PartnerCenterInvoice)
        .where(
            PartnerCenterInvoice.partner_id == partner(seeded_session, "northwind").id
        )
        .order_by(PartnerCenterInvoice.invoice_date)
    ).all()
    september = next(i for i in invoices if str(i.billing_period_start) == "2026-09-01")
    said, _, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        "how much did Microsoft bill us for September?",
        entities={"billing_period": "September"},
    )
    assert names == ["utter_microsoft_invoice_found"]
    assert september.number in said and "Status: paid" in said
    assert money(september.total_charges, september.currency) in said

    by_number, _, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        f"show me Microsoft invoice {september.number}",
        entities={"invoice_number": september.number},
    )
    assert names == ["utter_microsoft_invoice_found"] and september.number in by_number

    missing, _, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        "Microsoft invoice G051999999",
        entities={"invoice_number": "G051999999"},
    )
    assert names == ["utter_microsoft_invoice_not_found"]
    assert latest(seeded_session, "northwind").number in missing


async def test_a_named_customers_share(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = latest(seeded_session, "northwind")
    contoso = customer(seeded_session, "contoso.com")
    share = customer_share(invoice, customer_id=contoso.id)
    assert share.lines

    said, slots, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        "what's Contoso's share of the Partner Center invoice?",
        entities={"customer": "Contoso"},
    )
    assert names == ["utter_microsoft_invoice_share"]
    assert f"Contoso Ltd's share of Microsoft's invoice {invoice.number}" in said
    assert money(share.total, invoice.currency) in said
    assert money(invoice.total_charges, invoice.currency) in said
    products: dict[str, Decimal] = defaultdict(Decimal)
    for line in share.lines:
        products[line.product_name] += line.total
    for product, total in products.items():
        assert f"- {product}: {money(total, invoice.currency)}" in said
    assert slots == {ACTING_FOR_SLOT: str(contoso.id)}
    # another customer's products are not in it
    for name, other in shares_by_customer(invoice):
        if name != "Contoso Ltd":
            assert money(other.total, invoice.currency) not in said.split("\n", 1)[1]


async def test_another_partners_customer_is_not_found(
    seeded_db: DemoSummary,
) -> None:
    said, _, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        "what's Woodgrove Bank's share of Microsoft's invoice?",
        entities={"customer": "Woodgrove Bank"},
    )
    assert names == ["utter_customer_not_found"]
    assert "Woodgrove" in said and "GBP" not in said


async def test_each_partner_sees_only_its_own(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    northwind = latest(seeded_session, "northwind")
    fabrikam = latest(seeded_session, "fabrikam")
    said, _, _ = await ask(
        seeded_db, staff_token(FB_BILLING_ADMIN), "Microsoft's latest invoice?"
    )
    assert fabrikam.number in said and northwind.number not in said
    said, _, _ = await ask(
        seeded_db,
        staff_token(FB_BILLING_ADMIN),
        f"Microsoft invoice {northwind.number}",
        entities={"invoice_number": northwind.number},
    )
    assert "can't find a Microsoft invoice" in said
    assert money(northwind.total_charges, northwind.currency) not in said


@pytest.mark.parametrize("who", [NW_HELPDESK, NW_SALES])
async def test_roles_without_the_capability_are_told_who_can(
    seeded_db: DemoSummary, seeded_session: Session, who: str
) -> None:
    invoice = latest(seeded_session, "northwind")
    said, slots, names = await ask(
        seeded_db, staff_token(who), "what's Microsoft's latest invoice to us?"
    )
    assert names == ["utter_not_permitted"]
    assert "Global admin or Billing admin" in said
    assert invoice.number not in said
    assert "last_reason" in slots


async def test_a_customer_is_never_shown_one(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    invoice = latest(seeded_session, "northwind")
    said, slots, names = await ask(
        seeded_db,
        customer_token(contoso.tenant_id),
        "how much did Microsoft bill Northwind for us?",
    )
    assert names == ["utter_microsoft_invoice_not_for_customers"]
    assert invoice.number not in said
    assert partner(seeded_session, "northwind").name in said
    assert "last_reason" in slots


async def test_an_indirect_reseller_is_billed_by_its_provider(
    seeded_db: DemoSummary,
) -> None:
    said, _, names = await ask(
        seeded_db, staff_token(LW_BILLING_ADMIN), "Microsoft's latest invoice?"
    )
    assert names == ["utter_microsoft_invoice_reseller"]
    assert "indirect provider" in said


async def test_anonymous_chatters_get_the_general_answer(
    seeded_db: DemoSummary,
) -> None:
    _, _, names = await ask(seeded_db, None, "Microsoft's latest invoice?")
    assert names[0] == "utter_microsoft_invoice_general"
