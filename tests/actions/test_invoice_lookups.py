"""action_invoice_lookup for partner staff, by period, and its PDF links.

Figures are read from the demo database (DEMO_ANCHOR = 2026-11-15), never written down.
"""

from __future__ import annotations

import re
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.identity import ACTING_FOR_SLOT
from actions.invoices import CURRENT_INVOICE_SLOT, ActionInvoiceLookup
from api.demo.seed import DemoSummary
from api.documents.links import SALT, verify_link
from api.domain.models import Invoice
from api.domain.services.billing import latest_invoice
from api.settings import get_settings
from tests.actions.billing_helpers import (
    FB_BILLING_ADMIN,
    LW_INACTIVE_SALES,
    NW_BILLING_ADMIN,
    NW_GLOBAL_ADMIN,
    NW_HELPDESK,
    customer,
    d,
    invoice,
    leaks,
    midday,
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
    entity_list: Optional[list[tuple[str, str]]] = None,
    slots: Optional[dict[str, Any]] = None,
) -> tuple[str, dict[str, Any], list[str]]:
    tracker = make_tracker(
        session_metadata=signed_in(token),
        text=text,
        entities=entities,
        entity_list=entity_list,
        slots=slots,
    )
    texts, events, dispatcher = await run(
        ActionInvoiceLookup(clock=midday(summary.anchor)), tracker
    )
    return "\n".join(texts), slot_events(events), responses(dispatcher)


# --------------------------------------------------------------------------- staff


async def test_staff_ask_for_a_named_customers_latest_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    latest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert latest is not None

    said, slots, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        "latest invoice for Contoso",
        entities={"customer": "Contoso"},
    )

    assert names == ["utter_invoice_latest"]
    assert "The latest invoice for Contoso Ltd is" in said
    assert latest.number in said and money(latest.total, latest.currency) in said
    assert slots == {
        ACTING_FOR_SLOT: str(contoso.id),
        CURRENT_INVOICE_SLOT: latest.number,
    }


async def test_staff_follow_up_uses_the_remembered_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    said, _, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN, platform="slack"),
        "and the one for last month?",
        entities={"billing_period": "last month"},
        slots={ACTING_FOR_SLOT: str(contoso.id)},
    )
    october = next(
        i
        for i in contoso.invoices
        if i.billing_period_start.isoformat() == "2026-10-01"
    )
    assert names == ["utter_invoice_found"]
    assert october.number in said and "for Contoso Ltd" in said


async def test_staff_of_partner_1_cannot_see_partner_2s_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    woodgrove = customer(seeded_session, "woodgrovebank.com")  # Fabrikam's

    said, slots, names = await ask(
        seeded_db,
        staff_token(NW_GLOBAL_ADMIN),
        "invoice for Woodgrove Bank last month",
        entities={"customer": "Woodgrove Bank", "billing_period": "last month"},
    )

    assert names == ["utter_customer_not_found"]
    assert (
        'I can\'t find a customer called "Woodgrove Bank" among your customers' in said
    )
    assert slots == {}
    # Only the name they typed is echoed: no domain, tenant, number or amount.
    assert leaks(said, woodgrove, list(woodgrove.invoices)) == ["Woodgrove Bank"]
    assert woodgrove.domain not in said and woodgrove.tenant_id not in said

    # Exactly the answer a customer that exists nowhere gets.
    unknown, _, _ = await ask(
        seeded_db,
        staff_token(NW_GLOBAL_ADMIN),
        "invoice for Nowhere Bank last month",
        entities={"customer": "Nowhere Bank", "billing_period": "last month"},
    )
    assert unknown == said.replace("Woodgrove Bank", "Nowhere Bank")


async def test_staff_find_an_invoice_by_number_among_their_own_customers(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("seat_increase")  # Contoso, Northwind
    assert case.invoice_number
    owner = customer(seeded_session, case.domain)

    said, slots, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        f"show invoice {case.invoice_number}",
        entities={"invoice_number": case.invoice_number},
    )

    assert names == ["utter_invoice_found"]
    assert f"Here is invoice {case.invoice_number} for Contoso Ltd" in said
    assert slots[ACTING_FOR_SLOT] == str(owner.id)


async def test_staff_cannot_read_another_partners_invoice_by_number(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("partially_paid_invoice")  # Woodgrove, Fabrikam
    assert case.invoice_number
    theirs = invoice(seeded_session, case.invoice_number)

    said, slots, names = await ask(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        f"show invoice {theirs.number}",
        entities={"invoice_number": theirs.number},
    )

    assert names == ["utter_invoice_not_found"]
    assert leaks(said, theirs.customer) == []
    assert money(theirs.total, theirs.currency) not in said
    assert slots == {CURRENT_INVOICE_SLOT: None}
    # ... while Fabrikam's own billing admin sees it.
    mine, _, names = await ask(
        seeded_db,
        staff_token(FB_BILLING_ADMIN),
        f"show invoice {theirs.number}",
        entities={"invoice_number": theirs.number},
    )
    assert names == ["utter_invoice_found"] and "Woodgrove Bank" in mine


async def test_roles_without_invoice_access_are_told_who_can(
    seeded_db: DemoSummary,
) -> None:
    said, slots, names = await ask(
        seeded_db,
        staff_token(NW_HELPDESK),
        "latest invoice for Contoso",
        entities={"customer": "Contoso"},
    )
    assert names == ["utter_not_permitted"]
    assert "Helpdesk agent" in said and "Global admin or Billing admin" in said
    # the reason, for a following "why?"; the customer, for a following question
    # the role allows ("what subscriptions do they have?")
    assert set(slots) == {"last_reason", "acting_for_customer_id"}
    assert "Helpdesk agent" in slots["last_reason"]


async def test_inactive_staff_get_general_answers_only(seeded_db: DemoSummary) -> None:
    said, slots, names = await ask(
        seeded_db,
        staff_token(LW_INACTIVE_SALES),
        "latest invoice for Trey Research",
        entities={"customer": "Trey Research"},
    )
    assert names == ["utter_invoice_general", "utter_staff_inactive"]
    assert "no longer active" in said and slots == {}


# --------------------------------------------------------------------------- periods


async def test_last_month_for_a_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("usage_invoice")  # Tailspin, October 2026
    said, slots, names = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        "invoice for last month",
        entities={"billing_period": "last month"},
    )
    assert names == ["utter_invoice_found"]
    assert case.invoice_number and case.invoice_number in said
    assert "1 October 2026 to 31 October 2026" in said
    assert slots == {CURRENT_INVOICE_SLOT: case.invoice_number}


async def test_a_quarter_lists_its_invoices(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    q3 = [
        i
        for i in contoso.invoices
        if i.document_type.value == "invoice"
        and "2026-07-01" <= i.billing_period_start.isoformat() <= "2026-09-30"
    ]
    assert len(q3) == 3
    said, slots, names = await ask(
        seeded_db,
        customer_token(contoso.tenant_id),
        "invoices for Q3 2026",
        entities={"billing_period": "Q3 2026"},
    )
    assert names == ["utter_invoice_list"]
    assert "There are 3 invoices on your account for Q3 2026" in said
    for item in q3:
        assert item.number in said and money(item.total, item.currency) in said
    assert said.count("/documents/invoices/") == 3
    assert slots == {CURRENT_INVOICE_SLOT: q3[-1].number}


async def test_a_month_with_a_legacy_and_a_new_commerce_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("legacy_invoice")  # Adventure Works: D on the 17th, and G
    said, _, names = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        "invoices for October",
        entities={"billing_period": "October"},
    )
    assert names == ["utter_invoice_list"]
    assert case.invoice_number and case.invoice_number in said
    assert case.related_invoice_number and case.related_invoice_number in said


async def test_a_legacy_number_is_read_with_d_series_semantics(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("legacy_invoice")
    assert case.invoice_number
    legacy = invoice(seeded_session, case.invoice_number)
    said, _, _ = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        f"invoice {legacy.number}",
        entities={"invoice_number": legacy.number},
    )
    assert "D-series (legacy licence-based)" in said
    assert "billing anniversary date (17 October 2026)" in said
    assert f"this one became available on {d(legacy.available_on)}" in said
    assert d(legacy.available_on) == "19 October 2026"


async def test_this_months_bill_is_the_newest_invoice(seeded_db: DemoSummary) -> None:
    """The month is invoiced once it is over: "this month's bill" is the newest
    invoice, with a word on when this month's will come."""
    case = seeded_db.case("usage_invoice")
    newest = case.invoice_number
    said, slots, names = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        "show me this month's bill",
        entities={"billing_period": "this month"},
    )
    assert names == ["utter_period_is_current", "utter_invoice_found"]
    assert "by 8 December 2026" in said and f"invoice {newest}" in said
    assert slots == {CURRENT_INVOICE_SLOT: newest}


@pytest.mark.parametrize(
    ("period", "response", "expected"),
    [
        ("next month", "utter_period_future", "December 2026 hasn't started yet"),
        ("Q1 2031", "utter_period_future", "Q1 2031"),
        ("FY26", "utter_period_not_understood", '"FY26"'),
        ("2019", "utter_no_invoice_in_period", "the year 2019"),
    ],
)
async def test_periods_without_invoices_get_a_clear_answer(
    seeded_db: DemoSummary, period: str, response: str, expected: str
) -> None:
    case = seeded_db.case("usage_invoice")
    said, slots, names = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        f"invoice for {period}",
        entities={"billing_period": period},
    )
    assert names == [response]
    assert expected in said
    assert slots == {}


async def test_two_periods_in_one_message(seeded_db: DemoSummary) -> None:
    case = seeded_db.case("usage_invoice")
    said, _, names = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        "invoices for September and October",
        entity_list=[("billing_period", "September"), ("billing_period", "October")],
    )
    assert names == ["utter_invoice_list"]
    assert "There are 2 invoices" in said


# --------------------------------------------------------------------------- PDF


async def test_the_pdf_link_is_signed_for_this_invoice_and_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("overdue_invoice")
    assert case.invoice_number
    overdue = invoice(seeded_session, case.invoice_number)
    said, _, _ = await ask(
        seeded_db,
        customer_token(case.tenant_id),
        f"invoice {overdue.number}",
        entities={"invoice_number": overdue.number},
    )
    url = re.search(r"https?://[^\s)]+", said)
    assert url is not None
    parts = urlsplit(url.group())
    assert url.group().startswith(get_settings().base_url)
    assert parts.path == f"/documents/invoices/{overdue.id}.pdf"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["customer"] == str(overdue.customer_id)
    secret, ttl = (
        get_settings().link_signing_secret,
        get_settings().pdf_link_ttl_seconds,
    )
    # Minted at the conversation's clock, which is the demo's day, not today.
    _, minted = URLSafeTimedSerializer(secret, salt=SALT).loads(
        query["token"], return_timestamp=True
    )
    verify_link(
        secret,
        invoice_id=overdue.id,
        customer_id=overdue.customer_id,
        token=query["token"],
        max_age_seconds=ttl,
        now=minted.timestamp() + ttl - 60,
    )
    assert "link valid for 30 minutes" in said
    assert "Status: overdue by 45 days" in said


def test_every_demo_invoice_number_has_a_known_series(seeded_session: Session) -> None:
    numbers = seeded_session.scalars(select(Invoice.number)).all()
    assert numbers and {n[0] for n in numbers} == {"D", "G"}
