"""action_explain_charges: the comparison with the previous invoice, in words."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from sqlalchemy.orm import Session

from actions.charges import ActionExplainCharges
from actions.identity import ACTING_FOR_SLOT
from actions.invoices import CURRENT_INVOICE_SLOT
from api.demo.seed import DemoSummary
from tests.actions.billing_helpers import (
    NW_BILLING_ADMIN,
    NW_SALES,
    customer,
    invoice,
    leaks,
    midday,
    money,
    responses,
    run,
    slot_events,
)
from tests.actions.helpers import customer_token, make_tracker, signed_in, staff_token

CONTOSO = "7d42ce78-d321-5d35-b202-3916176fc7ed"


async def explain(
    summary: DemoSummary,
    token: Optional[str],
    text: str = "why is my bill so high?",
    **tracker_args: Any,
) -> tuple[str, dict[str, Any], list[str]]:
    tracker = make_tracker(
        session_metadata=signed_in(token),
        text=text,
        intent="explain_charges",
        **tracker_args,
    )
    texts, events, dispatcher = await run(
        ActionExplainCharges(clock=midday(summary.anchor)), tracker
    )
    return "\n".join(texts), slot_events(events), responses(dispatcher)


async def test_a_seat_increase_is_explained_with_its_proration(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("seat_increase")
    assert case.invoice_number
    said, slots, names = await explain(
        seeded_db,
        customer_token(case.tenant_id),
        entities={"invoice_number": case.invoice_number},
    )
    assert names == ["utter_charges_explained_less"]  # other changes outweigh it
    assert (
        "Microsoft 365 E3: 5 seats added on 20 July 2026, charged pro rata for "
        "20 July 2026 to 11 August 2026, 23 of 31 days of the billing cycle: "
        "+140.23 USD" in said
    )
    assert slots == {CURRENT_INVOICE_SLOT: case.invoice_number}


async def test_a_price_rise_at_renewal(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("price_rise")
    assert case.invoice_number and case.related_invoice_number
    said, _, _ = await explain(
        seeded_db,
        customer_token(case.tenant_id),
        entities={"invoice_number": case.invoice_number},
    )
    assert f"than the previous invoice, {case.related_invoice_number}" in said
    assert (
        "Microsoft 365 E3: price per seat 36.00 -> 37.80 (+5.0%) at renewal on "
        "12 May 2026, for 40 seats: +72.00 USD" in said
    )


async def test_the_items_add_up_to_the_difference(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    assert case.related_invoice_number and case.invoice_number
    amended = invoice(seeded_session, case.related_invoice_number)
    said, _, names = await explain(
        seeded_db,
        customer_token(case.tenant_id),
        entities={"invoice_number": amended.number},
    )
    assert names == ["utter_charges_explained_more", "utter_charges_credit_note"]
    assert "charged a second time" in said and "a duplicate: +480.00 USD" in said
    assert "Together: +803.21 USD." in said
    assert "803.21 USD more than the previous invoice" in said
    assert f"Credit note {case.invoice_number} (-528.48 USD" in said


async def test_a_credit_note_is_explained_by_its_own_lines(
    seeded_db: DemoSummary,
) -> None:
    case = seeded_db.case("credit_note")
    assert case.invoice_number
    said, _, names = await explain(
        seeded_db,
        customer_token(case.tenant_id),
        entities={"invoice_number": case.invoice_number},
    )
    assert names == ["utter_charges_credit_note_explained"]
    assert f"corrects {case.related_invoice_number}" in said
    assert "Tax: -48.48 USD" in said


@pytest.mark.parametrize(
    ("case_key", "expected"),
    [
        ("seat_reduction", "5 seats removed on 13 June 2026, credited pro rata"),
        ("cancelled_subscription", "cancelled on 16 April 2026, the rest of the cycle"),
        ("one_time_service", "one-time charge on 22 December 2025: +2,400.00 GBP"),
        ("marketplace_saas", "new subscription, 12 x 3.00"),
        ("usage_invoice", "Azure plan usage:"),
    ],
)
async def test_each_kind_of_change_is_named(
    seeded_db: DemoSummary, case_key: str, expected: str
) -> None:
    case = seeded_db.case(case_key)
    assert case.invoice_number
    said, _, _ = await explain(
        seeded_db,
        customer_token(case.tenant_id),
        entities={"invoice_number": case.invoice_number},
    )
    assert expected in said


async def test_annual_billing_not_on_this_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    woodgrove = customer(seeded_session, "woodgrovebank.com")
    february = next(
        i
        for i in woodgrove.invoices
        if i.billing_period_start.isoformat() == "2026-02-01"
    )
    said, _, _ = await explain(
        seeded_db,
        customer_token(woodgrove.tenant_id),
        entities={"invoice_number": february.number},
    )
    assert "(it is billed once a year): -6,408.00 GBP" in said


async def test_without_a_number_the_invoice_in_the_conversation_is_used(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("price_rise")
    assert case.invoice_number
    said, _, _ = await explain(
        seeded_db,
        customer_token(case.tenant_id),
        slots={CURRENT_INVOICE_SLOT: case.invoice_number},
    )
    assert f"Invoice {case.invoice_number}" in said
    # ... unless it is not on this account (another customer's number in the slot).
    other = seeded_db.case("usage_invoice")
    said, slots, _ = await explain(
        seeded_db,
        customer_token(other.tenant_id),
        slots={CURRENT_INVOICE_SLOT: case.invoice_number},
    )
    assert case.invoice_number not in said
    assert slots[CURRENT_INVOICE_SLOT] == other.invoice_number  # its own latest


async def test_a_period_picks_that_months_invoice(seeded_db: DemoSummary) -> None:
    said, _, _ = await explain(
        seeded_db,
        customer_token(CONTOSO),
        text="why was the July bill different",
        entities={"billing_period": "July"},
    )
    assert "(1 July 2026 to 31 July 2026)" in said


async def test_another_customers_invoice_is_not_explained(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    theirs = seeded_db.case("partially_paid_invoice")  # Woodgrove's
    assert theirs.invoice_number
    said, slots, names = await explain(
        seeded_db,
        customer_token(CONTOSO),
        entities={"invoice_number": theirs.invoice_number},
    )
    assert names == ["utter_invoice_not_found"]
    owner = customer(seeded_session, theirs.domain)
    assert leaks(said, owner) == []
    assert slots == {CURRENT_INVOICE_SLOT: None}


async def test_staff_get_it_for_their_customer_and_sales_agents_do_not(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    said, slots, _ = await explain(
        seeded_db,
        staff_token(NW_BILLING_ADMIN),
        text="explain Contoso's last invoice",
        entities={"customer": "Contoso"},
    )
    latest = max(
        (i for i in contoso.invoices if i.document_type.value == "invoice"),
        key=lambda i: i.invoice_date,
    )
    assert f"Invoice {latest.number}" in said and money(latest.total, "USD") in said
    assert slots[ACTING_FOR_SLOT] == str(contoso.id)
    said, _, names = await explain(
        seeded_db,
        staff_token(NW_SALES),
        text="explain Contoso's last invoice",
        entities={"customer": "Contoso"},
    )
    assert names == ["utter_not_permitted"]


async def test_anonymous_chatters_get_a_general_explanation(
    seeded_db: DemoSummary,
) -> None:
    said, slots, names = await explain(seeded_db, None)
    assert names == ["utter_charges_general", "utter_sign_in_needed"]
    assert "pro rata" in said and slots == {}
