"""Payments, suspended access, support info and subscriptions: the answers from the
partner's profile and the customer's invoices."""

from __future__ import annotations

import re
from typing import Any, Optional

import pytest
from rasa_sdk import Action
from sqlalchemy.orm import Session

from actions.access import ActionAccessSuspended
from actions.invoices import CURRENT_INVOICE_SLOT
from actions.payments import (
    ActionPaymentFailed,
    ActionPaymentMethods,
    ActionPaymentStatus,
)
from actions.subscriptions import ActionSubscriptions
from actions.support import ActionSupportInfo
from api.demo.seed import DemoSummary
from tests.actions.billing_helpers import (
    FB_BILLING_ADMIN,
    NW_BILLING_ADMIN,
    NW_SALES,
    NW_USER_ADMIN,
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

ALPINE = "6be19536-7e21-5f70-a07d-d2ef6f25ce59"
CONTOSO = "7d42ce78-d321-5d35-b202-3916176fc7ed"
WOODGROVE = "3b54e058-a443-593c-8eb6-dc4b030736f2"
TREY = "657df504-2367-5ce7-bc98-e2ea4e8224cf"


async def ask(
    summary: DemoSummary,
    action_class: type[Action],
    token: Optional[str],
    text: str = "hello",
    **tracker_args: Any,
) -> tuple[str, dict[str, Any], list[str]]:
    tracker = make_tracker(session_metadata=signed_in(token), text=text, **tracker_args)
    action = action_class(clock=midday(summary.anchor))  # type: ignore[call-arg]
    texts, events, dispatcher = await run(action, tracker)
    return "\n".join(texts), slot_events(events), responses(dispatcher)


# --------------------------------------------------------------------------- status


async def test_an_overdue_account_hears_the_timeline_and_the_policy(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("overdue_invoice")
    assert case.invoice_number
    overdue = invoice(seeded_session, case.invoice_number)
    said, slots, names = await ask(
        seeded_db, ActionPaymentStatus, customer_token(ALPINE)
    )
    assert names == [
        "utter_payment_account_status",
        "utter_collections_suspension_reached",
        "utter_collections_policy",
    ]
    assert (
        f"{overdue.number} (August 2026): 407.48 USD to pay by 1 October 2026, overdue by 45 days"
        in said
    )
    assert (
        "past the 30 days after which the collections policy suspends access (since 31 October 2026)"
        in said
    )
    assert "Suspended new-commerce subscriptions are still billed" in said
    assert "Microsoft suspends a partner's CSP account" not in said  # customers: no
    assert slots == {CURRENT_INVOICE_SLOT: overdue.number}


async def test_staff_also_hear_about_microsofts_60_days(
    seeded_db: DemoSummary,
) -> None:
    said, _, names = await ask(
        seeded_db,
        ActionPaymentStatus,
        staff_token(NW_BILLING_ADMIN),
        "is Alpine Ski House overdue?",
        entities={"customer": "Alpine Ski House"},
    )
    assert names[-1] == "utter_partner_suspension_note"
    assert "more than 60 days overdue" in said
    assert "Outstanding on Alpine Ski House: 1,222.44 USD." in said


async def test_the_timeline_before_suspension(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    # The September invoice is 15 days overdue: reminder passed, suspension ahead.
    case = seeded_db.case("overdue_invoice")
    assert case.related_invoice_number
    said, _, names = await ask(
        seeded_db,
        ActionPaymentStatus,
        customer_token(ALPINE),
        entities={"invoice_number": case.related_invoice_number},
    )
    assert names[:2] == ["utter_payment_invoice_open", "utter_collections_timeline"]
    assert "is 15 days overdue" in said
    assert "a reminder is due on 7 November 2026" in said
    assert "would be suspended on 30 November 2026 (15 days from now)" in said


async def test_a_partly_paid_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("partially_paid_invoice")
    assert case.invoice_number
    partial = invoice(seeded_session, case.invoice_number)
    said, _, names = await ask(
        seeded_db,
        ActionPaymentStatus,
        customer_token(WOODGROVE),
        entities={"invoice_number": partial.number},
    )
    assert names == ["utter_payment_invoice_open", "utter_payment_received_so_far"]
    assert "partially paid: 2,136.46 GBP paid, 1,424.30 GBP outstanding" in said
    assert "Received so far: 2,136.46 GBP on 8 November 2026" in said


async def test_a_paid_invoice_says_when_and_how(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("price_rise")
    assert case.invoice_number
    paid = invoice(seeded_session, case.invoice_number)
    payment = paid.payments[0]
    said, _, names = await ask(
        seeded_db,
        ActionPaymentStatus,
        customer_token(CONTOSO),
        entities={"invoice_number": paid.number},
    )
    assert names == ["utter_payment_invoice_paid"]
    assert (
        f"received {money(payment.amount, 'USD')} on {d(payment.received_on)} ({payment.method})"
        in said
    )


async def test_another_customers_invoice_is_not_found(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    theirs = invoice(
        seeded_session, seeded_db.case("overdue_invoice").invoice_number or ""
    )
    said, slots, names = await ask(
        seeded_db,
        ActionPaymentStatus,
        customer_token(CONTOSO),
        entities={"invoice_number": theirs.number},
    )
    assert names == ["utter_invoice_not_found"]
    assert leaks(said, theirs.customer) == [] and slots == {}


# --------------------------------------------------------------------------- methods


async def test_how_to_pay_comes_from_the_partners_profile(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    woodgrove = customer(seeded_session, "woodgrovebank.com")
    said, _, names = await ask(
        seeded_db, ActionPaymentMethods, customer_token(WOODGROVE)
    )
    assert names == ["utter_payment_methods", "utter_payment_next_due"]
    assert "Fabrikam IT Solutions accepts: BACS bank transfer or Direct Debit." in said
    assert woodgrove.partner.payment_instructions in said
    assert "1,424.30 GBP, due 16 December 2026" in said


async def test_a_failed_payment_before_the_due_date(seeded_db: DemoSummary) -> None:
    said, _, names = await ask(
        seeded_db,
        ActionPaymentFailed,
        customer_token(WOODGROVE),
        "my card was declined",
    )
    assert names == [
        "utter_payment_failed_sorry",
        "utter_payment_next_due",
        "utter_payment_methods",
        "utter_payment_failed_if_unpaid",
    ]
    assert "pay by 16 December 2026" in said
    assert "a reminder follows on 26 December 2026" in said  # Fabrikam: 10 days
    assert "suspended on 30 January 2027" in said  # 45 days


async def test_a_failed_payment_when_already_overdue(seeded_db: DemoSummary) -> None:
    _, _, names = await ask(seeded_db, ActionPaymentFailed, customer_token(ALPINE))
    assert "utter_collections_suspension_reached" in names
    assert "utter_collections_policy" in names


async def test_payments_are_not_for_sales_agents(seeded_db: DemoSummary) -> None:
    said, _, names = await ask(
        seeded_db,
        ActionPaymentStatus,
        staff_token(NW_SALES),
        entities={"customer": "Contoso"},
    )
    assert names == ["utter_not_permitted"]
    assert "see payment status, due dates and how to pay" in said


# --------------------------------------------------------------------------- access


async def test_suspended_access_names_the_overdue_invoice_and_the_way_back(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("suspended_subscription")
    assert case.invoice_number
    said, slots, names = await ask(
        seeded_db, ActionAccessSuspended, customer_token(ALPINE)
    )
    assert names == [
        "utter_suspended_which",
        "utter_suspended_cause",
        "utter_suspended_means",
        "utter_suspended_restore",
    ]
    assert "Microsoft 365 Business Premium (since 31 October 2026)" in said
    assert f"invoice {case.invoice_number} (407.48 USD) was due 1 October 2026" in said
    assert "2 overdue invoices come to 814.96 USD" in said
    assert "administrators keep the data, and it's still billed" in said
    assert "To restore access, pay the overdue balance" in said
    assert "until 8 August 2027" in said
    assert slots[CURRENT_INVOICE_SLOT] == case.invoice_number
    # "why?" next gets the reason: the overdue invoice and the policy.
    assert case.invoice_number in slots["last_reason"]


async def test_not_suspended(seeded_db: DemoSummary) -> None:
    said, _, names = await ask(
        seeded_db, ActionAccessSuspended, customer_token(CONTOSO)
    )
    assert names == ["utter_suspended_none"]
    assert "technical problem" in said


async def test_a_sales_agent_sees_the_suspension_but_not_the_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("suspended_subscription")
    said, _, names = await ask(
        seeded_db,
        ActionAccessSuspended,
        staff_token(NW_SALES),
        entities={"customer": "Alpine"},
    )
    assert "utter_suspended_cause_hidden" in names
    assert case.invoice_number and case.invoice_number not in said
    assert "a Global admin or Billing admin can tell you" in said
    assert names[-1] == "utter_partner_suspension_note"


# --------------------------------------------------------------------------- support


@pytest.mark.parametrize(
    ("token_for", "partner_phrase"),
    [
        ("customer", "Support from Litware Partners"),
        ("staff", "What Fabrikam IT Solutions tells"),
    ],
)
async def test_support_info_from_the_profile(
    seeded_db: DemoSummary, seeded_session: Session, token_for: str, partner_phrase: str
) -> None:
    token = (
        customer_token(TREY)
        if token_for == "customer"
        else staff_token(FB_BILLING_ADMIN)
    )
    said, _, _ = await ask(
        seeded_db, ActionSupportInfo, token, "what are your support hours"
    )
    assert partner_phrase in said
    if token_for == "customer":
        trey = customer(seeded_session, "treyresearch.net")
        partner = trey.partner
        for value in (
            partner.support_hours,
            partner.support_email,
            partner.support_pricing,
        ):
            assert value in said


async def test_support_info_for_everyone_in_staff(seeded_db: DemoSummary) -> None:
    # Even a User management admin (who sees no billing data) may read it.
    _, _, names = await ask(seeded_db, ActionSupportInfo, staff_token(NW_USER_ADMIN))
    assert names == ["utter_support_info_staff"]
    _, _, names = await ask(seeded_db, ActionSupportInfo, None)
    assert names == ["utter_support_info_general", "utter_sign_in_needed"]


# --------------------------------------------------------------------------- subscriptions


async def test_subscriptions_with_their_cancellation_windows(
    seeded_db: DemoSummary,
) -> None:
    said, _, names = await ask(seeded_db, ActionSubscriptions, customer_token(TREY))
    assert names == ["utter_subscriptions", "utter_subscriptions_in_window"]
    assert "Microsoft 365 Copilot: 5 seats, active, monthly billing" in said
    assert "bought on 12 November 2026" in said
    # 7 days = 168 hours from the moment of purchase, in the partner's time zone:
    assert re.search(r"until Thursday 19 November 2026 at \d\d:\d\d CST", said)


async def test_subscriptions_show_a_suspension(seeded_db: DemoSummary) -> None:
    said, _, _ = await ask(seeded_db, ActionSubscriptions, customer_token(ALPINE))
    assert "suspended since 31 October 2026" in said


# --------------------------------------------------------------------------- aspects
# A question about one part of the support profile, of paying, or of a suspension
# gets that part, not the whole block.


async def test_phone_number_gets_the_phone_number_only(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    partner = customer(seeded_session, "contoso.com").partner
    said, _, names = await ask(
        seeded_db,
        ActionSupportInfo,
        customer_token(CONTOSO),
        "phone number?",
        entities={"aspect": "phone"},
    )
    assert names == ["utter_support_phone"]
    assert "You can call Northwind Cloud Services on +1 425 555 0100" in said
    assert partner.support_pricing not in said and partner.support_offer not in said


async def test_weekends_at_northwind_are_24x7_by_phone_for_severity_a(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    partner = customer(seeded_session, "contoso.com").partner
    said, slots, names = await ask(
        seeded_db,
        ActionSupportInfo,
        customer_token(CONTOSO),
        "are you open on weekends?",
        entities={"aspect": "weekend"},
    )
    assert names == ["utter_support_weekend_open"]
    assert partner.support_hours in said  # "...; 24x7 by phone for Severity A ..."
    assert "24x7 by phone for Severity A" in said
    assert partner.support_offer not in said
    assert "last_reason" not in slots


async def test_weekends_at_litware_are_closed_and_why_is_remembered(
    seeded_db: DemoSummary,
) -> None:
    said, slots, names = await ask(
        seeded_db,
        ActionSupportInfo,
        customer_token(TREY),
        "do u do support on saturdays",
        entities={"aspect": "weekend"},
    )
    assert names == ["utter_support_weekend_closed"]
    assert said.startswith("No, Litware Partners isn't open at weekends")
    assert "Monday to Friday, 9:00-17:00 Central Time" in said
    assert slots["last_reason"] == (
        "Litware Partners' support hours are Monday to Friday, 9:00-17:00 Central Time."
    )


async def test_several_parts_asked_get_one_answer_each(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    partner = customer(seeded_session, "woodgrovebank.com").partner
    said, _, names = await ask(
        seeded_db,
        ActionSupportInfo,
        customer_token(WOODGROVE),
        "how much is technical support, and what's your email?",
        entity_list=[("aspect", "price"), ("aspect", "email")],
    )
    assert names == ["utter_support_email", "utter_support_price"]
    assert partner.support_email in said and partner.support_pricing in said
    assert partner.support_offer not in said


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("can I pay in euros?", {"aspect": "currency"}),
        ("do you take euros", None),  # NLU missed the aspect: the word is enough
    ],
)
async def test_paying_in_euros_for_a_usd_customer_is_a_no_with_the_reason(
    seeded_db: DemoSummary, text: str, entities: Optional[dict[str, str]]
) -> None:
    said, slots, names = await ask(
        seeded_db,
        ActionPaymentMethods,
        customer_token(CONTOSO),
        text,
        entities=entities,
    )
    assert names[:2] == ["utter_payment_currency_not_accepted", "utter_payment_methods"]
    assert said.startswith(
        "No: Northwind Cloud Services invoices you in USD, so a payment in EUR "
        "can't be accepted."
    )
    assert slots["last_reason"] == (
        "Northwind Cloud Services invoices you in USD, and a payment must be in the "
        "invoice's currency."
    )


async def test_paying_in_the_invoices_currency_is_a_yes(seeded_db: DemoSummary) -> None:
    said, slots, names = await ask(
        seeded_db,
        ActionPaymentMethods,
        customer_token(WOODGROVE),
        "can we pay in pounds?",
        entities={"aspect": "currency"},
    )
    assert names[0] == "utter_payment_currency"
    assert "Your invoices from Fabrikam IT Solutions are in GBP" in said
    assert "last_reason" not in slots


@pytest.mark.parametrize(
    ("tenant", "aspect", "response", "said_first"),
    [
        (
            CONTOSO,
            "card",
            "utter_payment_method_accepted",
            "Yes: Northwind Cloud Services accepts Credit card.",
        ),
        (
            CONTOSO,
            "bank_transfer",
            "utter_payment_method_accepted",
            "Yes: Northwind Cloud Services accepts ACH bank transfer.",
        ),
        (
            WOODGROVE,
            "card",
            "utter_payment_method_not_accepted",
            "No, Fabrikam IT Solutions doesn't take payment by card.",
        ),
        (
            WOODGROVE,
            "direct_debit",
            "utter_payment_method_accepted",
            "Yes: Fabrikam IT Solutions accepts Direct Debit.",
        ),
    ],
)
async def test_a_payment_method_gets_a_yes_or_no_from_the_profile(
    seeded_db: DemoSummary, tenant: str, aspect: str, response: str, said_first: str
) -> None:
    said, slots, names = await ask(
        seeded_db,
        ActionPaymentMethods,
        customer_token(tenant),
        "can we pay that way?",
        entities={"aspect": aspect},
    )
    assert names[:2] == [response, "utter_payment_methods"]
    assert said.startswith(said_first)
    assert ("last_reason" in slots) is (response == "utter_payment_method_not_accepted")


async def test_will_we_lose_our_data_is_answered_first_during_a_suspension(
    seeded_db: DemoSummary,
) -> None:
    """Alpine Ski House's new-commerce subscription is suspended: the data is kept,
    which is said first; the rest of the suspension follows, not repeated."""
    said, _, names = await ask(
        seeded_db,
        ActionAccessSuspended,
        customer_token(ALPINE),
        "will we lose our data?",
        entities={"aspect": "data"},
    )
    assert names == [
        "utter_suspended_aspect_data",
        "utter_suspended_which",
        "utter_suspended_cause",
        "utter_suspended_restore",
    ]
    assert said.startswith(
        "Your data isn't lost: while Microsoft 365 Business Premium (since 31 "
        "October 2026) is suspended, users can't sign in, but administrators keep "
        "access to the data"
    )
    assert "before 8 August 2027" in said
    assert "deleted" not in said  # that is legacy subscriptions only


@pytest.mark.parametrize(
    ("text", "aspect", "first", "restore_again"),
    [
        (
            "are we still being charged?",
            "billing_continues",
            "Yes: a suspended new-commerce subscription is still billed",
            True,
        ),
        (
            "how do we get access back?",
            "reactivate",
            "To get access back: pay the overdue balance; Northwind Cloud Services "
            "then reactivates the subscription, which it can do until 8 August 2027.",
            False,
        ),
    ],
)
async def test_other_parts_of_a_suspension_are_answered_first(
    seeded_db: DemoSummary, text: str, aspect: str, first: str, restore_again: bool
) -> None:
    said, _, names = await ask(
        seeded_db,
        ActionAccessSuspended,
        customer_token(ALPINE),
        text,
        entities={"aspect": aspect},
    )
    assert names[0] == f"utter_suspended_aspect_{aspect}"
    assert said.startswith(first)
    assert ("utter_suspended_restore" in names) is restore_again
    assert "utter_suspended_means" not in names


async def test_data_question_without_a_suspension(seeded_db: DemoSummary) -> None:
    _, _, names = await ask(
        seeded_db,
        ActionAccessSuspended,
        customer_token(CONTOSO),
        "will we lose our data?",
        entities={"aspect": "data"},
    )
    assert names == ["utter_suspended_none"]
