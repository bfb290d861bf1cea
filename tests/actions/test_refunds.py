"""Refunds and cancellations: eligibility, the request form, and the ticket.

Demo (DEMO_ANCHOR = 2026-11-15): Trey Research's Microsoft 365 Copilot was bought 3
days ago (inside its 7 days = 168 hours: refundable); its Business Central Essentials
20 days ago (not). Contoso has nothing inside a window. Each demo subscription was
bought at its own time of day, in the partner's zone (Litware: America/Chicago).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.forms import FAILURES_SLOT
from actions.identity import ACTING_FOR_SLOT
from actions.refunds import (
    AMOUNT_SLOT,
    CONFIRM_SLOT,
    KIND_SLOT,
    POSSIBLE_SLOT,
    REASON_SLOT,
    SEATS_SLOT,
    SUBSCRIPTION_SLOT,
    ActionAskCancellationConfirm,
    ActionAskCancellationSeats,
    ActionAskCancellationSubscription,
    ActionCancellationOptions,
    ActionSubmitCancellation,
    ValidateCancellationForm,
    parse_count,
)
from api.demo.seed import DemoSummary
from api.domain.models import (
    ChargeType,
    InvoiceLine,
    Subscription,
    Ticket,
    TicketCategory,
)
from api.domain.services.billing import latest_invoice
from tests.actions.billing_helpers import (
    LW_BILLING_ADMIN,
    NW_ADMIN_AGENT,
    NW_BILLING_ADMIN,
    NW_HELPDESK,
    customer,
    midday,
    responses,
    run,
    slot_events,
)
from tests.actions.helpers import (
    customer_token,
    make_tracker,
    render,
    signed_in,
    staff_token,
)

FORM_DOMAIN: dict[str, Any] = {
    "forms": {
        "cancellation_form": {
            "required_slots": [
                SUBSCRIPTION_SLOT,
                SEATS_SLOT,
                REASON_SLOT,
                CONFIRM_SLOT,
            ]
        }
    },
    "slots": {},
}


def subscription(session: Session, domain: str, product: str) -> Subscription:
    owner = customer(session, domain)
    return next(s for s in owner.subscriptions if s.product_name == product)


def trey_token() -> str:
    return customer_token("657df504-2367-5ce7-bc98-e2ea4e8224cf")


async def options(
    summary: DemoSummary,
    token: Optional[str],
    text: str,
    intent: str = "request_refund",
    **tracker_args: Any,
) -> tuple[str, dict[str, Any], list[str]]:
    tracker = make_tracker(
        session_metadata=signed_in(token), text=text, intent=intent, **tracker_args
    )
    texts, events, dispatcher = await run(
        ActionCancellationOptions(clock=midday(summary.anchor)), tracker
    )
    return "\n".join(texts), slot_events(events), responses(dispatcher)


# --------------------------------------------------------------------------- options


async def test_a_customer_inside_the_window_is_told_the_day_and_the_seats(
    seeded_db: DemoSummary,
) -> None:
    said, slots, names = await options(seeded_db, trey_token(), "I want a refund")
    assert names == ["utter_cancellation_eligibility"]
    assert re.search(
        r"Microsoft 365 Copilot \(5 seats\): bought on 12 November 2026, so you can "
        r"still cancel up to 5 seats for a prorated refund, until Thursday 19 "
        r"November 2026 at \d\d:\d\d CST \(7 days after the purchase\)\.",
        said,
    )
    assert re.search(
        r"Dynamics 365 Business Central Essentials \(4 seats\): bought on 26 October "
        r"2026; its 7 days cancellation window closed on Monday 2 November 2026 at "
        r"\d\d:\d\d CST",
        said,
    )
    assert slots[POSSIBLE_SLOT] is True and slots[KIND_SLOT] == "refund"
    assert all(slots[s] is None for s in (SUBSCRIPTION_SLOT, SEATS_SLOT, REASON_SLOT))


async def test_nothing_eligible_says_why_and_does_not_start_the_form(
    seeded_db: DemoSummary,
) -> None:
    said, slots, names = await options(
        seeded_db, customer_token("7d42ce78-d321-5d35-b202-3916176fc7ed"), "refund pls"
    )
    assert names == [
        "utter_cancellation_eligibility",
        "utter_cancellation_not_possible",
    ]
    assert "Azure plan: Azure is billed for what was used" in said
    assert re.search(
        r"cancellation window closed on Tuesday 10 November 2026 at \d\d:\d\d PST",
        said,
    )
    assert slots[POSSIBLE_SLOT] is False


async def test_a_named_product_is_checked_and_preselected(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    said, slots, names = await options(
        seeded_db,
        trey_token(),
        "cancel Copilot",
        intent="cancel_subscription",
        entities={"product": "Copilot"},
    )
    assert names == ["utter_cancellation_eligibility_one"]
    assert re.search(r"until Thursday 19 November 2026 at \d\d:\d\d CST", said)
    assert slots[SUBSCRIPTION_SLOT] == copilot.id
    assert slots[POSSIBLE_SLOT] is True and slots[KIND_SLOT] == "cancellation"

    said, slots, names = await options(
        seeded_db,
        trey_token(),
        "cancel Business Central",
        intent="cancel_subscription",
        entities={"product": "Business Central"},
    )
    # Not Business Central; but the Copilot bought this week still can be.
    assert names == [
        "utter_cancellation_eligibility_one",
        "utter_cancellation_others_possible",
    ]
    assert re.search(r"window closed on Monday 2 November 2026 at \d\d:\d\d CST", said)
    assert "Microsoft 365 Copilot (5 seats): bought on 12 November 2026" in said
    assert "nothing on your account can be cancelled" not in said.lower()
    assert slots[POSSIBLE_SLOT] is False
    assert "closed" in slots["last_reason"]  # "why not?" next


async def test_an_absurd_amount_is_refused_plainly(seeded_db: DemoSummary) -> None:
    said, slots, names = await options(
        seeded_db, trey_token(), "refund 10 billion dollars"
    )
    assert names == ["utter_refund_amount_impossible"]
    assert "I can't file a refund of that amount" in said
    assert "more than everything ever billed to your account" in said
    assert slots[POSSIBLE_SLOT] is False


async def test_a_plausible_amount_is_kept_for_the_ticket(
    seeded_db: DemoSummary,
) -> None:
    _, slots, _ = await options(seeded_db, trey_token(), "please refund the $150")
    assert slots[AMOUNT_SLOT] == "$150" and slots[POSSIBLE_SLOT] is True


async def test_adding_seats_is_explained_not_filed(seeded_db: DemoSummary) -> None:
    said, slots, names = await options(
        seeded_db, trey_token(), "I need to add more licenses", intent="change_seats"
    )
    assert names == ["utter_seats_add_info"]
    assert "Litware Partners" in said and slots[POSSIBLE_SLOT] is False


async def test_a_seat_reduction_inside_the_window(seeded_db: DemoSummary) -> None:
    _, slots, names = await options(
        seeded_db, trey_token(), "I want to reduce our licences", intent="change_seats"
    )
    assert names == ["utter_cancellation_eligibility"]
    assert slots[KIND_SLOT] == "seat_reduction" and slots[POSSIBLE_SLOT] is True


async def test_recently_added_seats_keep_their_own_window(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    e3 = subscription(seeded_session, "contoso.com", "Microsoft 365 E3")
    latest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert latest is not None
    added = seeded_db.anchor - timedelta(days=2)
    latest.lines.append(
        InvoiceLine(
            subscription_id=e3.id,
            order_id=e3.order_id,
            product_name=e3.product_name,
            sku=e3.sku,
            charge_type=ChargeType.ADD_QUANTITY,
            description="10 seats added",
            quantity=10,
            unit_price=e3.unit_price,
            subtotal=Decimal("100.00"),
            tax=Decimal("0.00"),
            total=Decimal("100.00"),
            charge_start=added,
            charge_end=added + timedelta(days=20),
        )
    )
    seeded_session.commit()
    said, slots, _ = await options(
        seeded_db, customer_token(contoso.tenant_id), "refund"
    )
    assert (
        "10 seats added on 13 November 2026 are still inside their own 7 days" in said
    )
    assert "you can cancel 10 seats for a prorated refund" in said
    assert slots[POSSIBLE_SLOT] is True


@pytest.mark.parametrize(
    ("slack_id", "intent", "allowed"),
    [
        (NW_BILLING_ADMIN, "request_refund", True),
        (NW_BILLING_ADMIN, "cancel_subscription", False),  # no change_subscription
        (NW_ADMIN_AGENT, "cancel_subscription", True),
        (NW_ADMIN_AGENT, "request_refund", False),  # no request_refund
        (NW_HELPDESK, "request_refund", False),
    ],
)
async def test_the_permission_table_decides_who_may_ask(
    seeded_db: DemoSummary, slack_id: str, intent: str, allowed: bool
) -> None:
    said, slots, names = await options(
        seeded_db,
        staff_token(slack_id),
        "refund for Contoso",
        intent=intent,
        entities={"customer": "Contoso"},
    )
    if allowed:
        assert names[0] == "utter_cancellation_eligibility"
    else:
        assert names == ["utter_not_permitted"]
        assert "Partner Center role" in said
    assert slots[POSSIBLE_SLOT] is False  # Contoso has nothing eligible anyway


async def test_anonymous_chatters_get_the_rules_in_general(
    seeded_db: DemoSummary,
) -> None:
    said, slots, names = await options(seeded_db, None, "I want a refund")
    assert names == ["utter_refunds_general", "utter_sign_in_needed"]
    assert "within 7 days of purchase or renewal" in said
    assert slots == {POSSIBLE_SLOT: False}


# --------------------------------------------------------------------------- form


def form_tracker(
    token: str,
    *,
    text: str,
    requested: str,
    slots: Optional[dict[str, Any]] = None,
    intent: str = "inform",
    candidate: Any = None,
    message_id: Optional[str] = None,
) -> Tracker:
    all_slots = {KIND_SLOT: "refund", "requested_slot": requested, **(slots or {})}
    tracker = make_tracker(
        session_metadata=signed_in(token),
        text=text,
        intent=intent,
        slots=all_slots,
        message_id=message_id,
        active_loop="cancellation_form",
    )
    value = text if candidate is None else candidate
    tracker.events = [{"event": "slot", "name": requested, "value": value}]
    tracker.slots[requested] = value
    return tracker


async def validate(
    summary: DemoSummary, tracker: Tracker
) -> tuple[dict[str, Any], list[str], list[str]]:
    dispatcher = CollectingDispatcher()
    action = ValidateCancellationForm(clock=midday(summary.anchor))
    events = await action.run(dispatcher, tracker, FORM_DOMAIN)
    return slot_events(events), responses(dispatcher), render(dispatcher)


# Copilot is the only eligible subscription: number 1 in the list.
@pytest.mark.parametrize("answer", ["copilot", "1", "Microsoft 365 Copilot", "ID"])
async def test_the_subscription_answer_is_matched_to_an_eligible_one(
    seeded_db: DemoSummary, seeded_session: Session, answer: str
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    text = copilot.id if answer == "ID" else answer
    slots, names, _ = await validate(
        seeded_db,
        form_tracker(trey_token(), text=text, requested=SUBSCRIPTION_SLOT),
    )
    assert slots[SUBSCRIPTION_SLOT] == copilot.id and names == []
    assert slots[FAILURES_SLOT] is None


async def test_bad_subscription_answers_are_explained_after_two_failures(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    e3 = subscription(seeded_session, "treyresearch.net", "Microsoft 365 E3")
    contoso_e3 = subscription(seeded_session, "contoso.com", "Microsoft 365 E3")
    # Not eligible (E3), and another customer's subscription id: both refused.
    slots, names, texts = await validate(
        seeded_db, form_tracker(trey_token(), text=e3.id, requested=SUBSCRIPTION_SLOT)
    )
    assert slots[SUBSCRIPTION_SLOT] is None
    assert names == ["utter_invalid_cancellation_subscription"]
    assert re.search(
        r"1\. Microsoft 365 Copilot \(up to 5 seats, until Thursday 19 November 2026 "
        r"at \d\d:\d\d CST\)",
        texts[0],
    )
    assert slots[FAILURES_SLOT] == {SUBSCRIPTION_SLOT: 1}

    slots, names, texts = await validate(
        seeded_db,
        form_tracker(
            trey_token(),
            text=contoso_e3.id,
            requested=SUBSCRIPTION_SLOT,
            slots={FAILURES_SLOT: {SUBSCRIPTION_SLOT: 1}},
        ),
    )
    assert slots[SUBSCRIPTION_SLOT] is None
    assert names == [
        "utter_invalid_cancellation_subscription",
        "utter_explain_cancellation_subscription",
    ]
    assert "Contoso" not in "\n".join(texts)
    assert slots[FAILURES_SLOT] == {SUBSCRIPTION_SLOT: 0}  # explained: count anew


@pytest.mark.parametrize(
    ("answer", "expected", "problem"),
    [
        ("3", "3", None),
        ("3 seats please", "3", None),
        ("five", "5", None),
        ("all of them", "5", None),
        ("6", None, True),
        ("0", None, True),
        ("10 billion", None, True),
        ("lots", None, True),
    ],
)
async def test_seats_must_be_between_one_and_what_the_window_allows(
    seeded_db: DemoSummary,
    seeded_session: Session,
    answer: str,
    expected: Optional[str],
    problem: Optional[bool],
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    slots, names, texts = await validate(
        seeded_db,
        form_tracker(
            trey_token(),
            text=answer,
            requested=SEATS_SLOT,
            slots={SUBSCRIPTION_SLOT: copilot.id},
        ),
    )
    assert slots[SEATS_SLOT] == expected
    if problem:
        assert names == ["utter_invalid_cancellation_seats"]
        assert "between 1 and 5 seats of Microsoft 365 Copilot" in texts[0]
        assert f"not {answer}" not in texts[0]  # what was typed is never echoed


async def test_a_reason_needs_a_few_words(seeded_db: DemoSummary) -> None:
    slots, names, _ = await validate(
        seeded_db, form_tracker(trey_token(), text="x", requested=REASON_SLOT)
    )
    assert slots[REASON_SLOT] is None
    assert names == ["utter_invalid_cancellation_reason_short"]
    slots, names, _ = await validate(
        seeded_db,
        form_tracker(
            trey_token(), text="  bought by   mistake ", requested=REASON_SLOT
        ),
    )
    assert slots[REASON_SLOT] == "bought by mistake" and names == []


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False)])
async def test_the_confirmation_comes_from_yes_or_no(
    seeded_db: DemoSummary, value: bool, expected: bool
) -> None:
    """`cancellation_confirm` is filled by the affirm / deny intents (from_intent
    mappings in domain/refunds.yml); the validation keeps what they set."""
    slots, names, _ = await validate(
        seeded_db,
        form_tracker(
            trey_token(),
            text="yes" if value else "no",
            requested=CONFIRM_SLOT,
            intent="affirm" if value else "deny",
            candidate=value,
        ),
    )
    assert slots[CONFIRM_SLOT] is expected and names == []


async def form_turn(
    summary: DemoSummary, tracker: Tracker
) -> tuple[list[dict[str, Any]], list[str]]:
    """The validation action as Rasa runs it for a message inside the form."""
    dispatcher = CollectingDispatcher()
    action = ValidateCancellationForm(clock=midday(summary.anchor))
    events = await action.run(dispatcher, tracker, FORM_DOMAIN)
    return events, responses(dispatcher)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("stop", "stop"),
        ("never mind", "stop"),
        ("I need to talk to a person", "request_human"),
        ("why do you need that?", "ask_why"),
        ("wait, what's my latest invoice?", "ask_invoice"),
        ("no", "deny"),
    ],
)
async def test_leaving_and_other_questions_are_never_taken_as_an_answer(
    seeded_db: DemoSummary, text: str, intent: str
) -> None:
    """The form returns nothing, so Rasa rejects it: the rule for the intent
    answers (a person, "why?", the invoice, or leaving), and the form asks again."""
    tracker = make_tracker(
        session_metadata=signed_in(trey_token()),
        text=text,
        intent=intent,
        slots={KIND_SLOT: "refund", "requested_slot": REASON_SLOT},
        active_loop="cancellation_form",
    )
    events, names = await form_turn(seeded_db, tracker)
    assert events == [] and names == []


async def test_a_correction_changes_the_field_it_corrects(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """ "no wait, only 2 seats" while the form asks for the reason changes the
    seats, not the reason."""
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = make_tracker(
        session_metadata=signed_in(trey_token()),
        text="no wait, only 2 seats",
        intent="change_seats",
        slots={
            KIND_SLOT: "refund",
            "requested_slot": REASON_SLOT,
            SUBSCRIPTION_SLOT: copilot.id,
            SEATS_SLOT: "5",
        },
        active_loop="cancellation_form",
    )
    events, _ = await form_turn(seeded_db, tracker)
    assert slot_events(events) == {SEATS_SLOT: "2"}


async def test_the_questions_offer_only_eligible_subscriptions(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = make_tracker(
        session_metadata=signed_in(trey_token()), slots={KIND_SLOT: "refund"}
    )
    texts, _, dispatcher = await run(
        ActionAskCancellationSubscription(clock=midday(seeded_db.anchor)), tracker
    )
    assert dispatcher.messages[0]["buttons"] == [
        {"title": "Microsoft 365 Copilot (up to 5 seats)", "payload": copilot.id}
    ]
    tracker = make_tracker(
        session_metadata=signed_in(trey_token()),
        slots={KIND_SLOT: "refund", SUBSCRIPTION_SLOT: copilot.id},
    )
    texts, _, _ = await run(
        ActionAskCancellationSeats(clock=midday(seeded_db.anchor)), tracker
    )
    assert "You have 5 seats; up to 5 can be cancelled" in texts[0]
    tracker = make_tracker(
        session_metadata=signed_in(trey_token()),
        slots={
            KIND_SLOT: "refund",
            SUBSCRIPTION_SLOT: copilot.id,
            SEATS_SLOT: "2",
            REASON_SLOT: "bought too many",
        },
    )
    texts, _, dispatcher = await run(
        ActionAskCancellationConfirm(clock=midday(seeded_db.anchor)), tracker
    )
    assert (
        "file a refund request to cancel 2 seats of Microsoft 365 Copilot for "
        "Trey Research?" in texts[0]
    )
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        "/affirm",
        "/deny",
    ]


# --------------------------------------------------------------------------- submit


def confirmed(
    token: str, copilot_id: str, *, message_id: Optional[str], confirm: Any = True
) -> Tracker:
    return make_tracker(
        session_metadata=signed_in(token),
        text="yes",
        intent="affirm",
        sender_id="refund-chat-1",
        message_id=message_id,
        slots={
            KIND_SLOT: "refund",
            SUBSCRIPTION_SLOT: copilot_id,
            SEATS_SLOT: "2",
            REASON_SLOT: "bought too many",
            CONFIRM_SLOT: confirm,
            AMOUNT_SLOT: "$60",
        },
    )


async def test_a_confirmed_request_files_one_commercial_ticket(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    submit = ActionSubmitCancellation(clock=midday(seeded_db.anchor))

    texts, events, _ = await run(
        submit, confirmed(trey_token(), copilot.id, message_id="msg-42")
    )

    tickets = seeded_session.scalars(select(Ticket)).all()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket.category is TicketCategory.COMMERCIAL and ticket.topic == "refund"
    assert ticket.customer_id == copilot.customer_id
    assert ticket.idempotency_key == "refund-chat-1:msg-42"
    assert ticket.requester.startswith("customer:657df504")
    assert ticket.packet["identifiers"]["subscription_id"] == copilot.id
    assert ticket.packet["identifiers"]["seats"] == 2
    assert "bought too many" in ticket.description and "$60" in ticket.description
    assert f"ticket {ticket.public_id}" in texts[0]
    assert "cancel 2 seats of Microsoft 365 Copilot" in texts[0]
    assert slot_events(events)[SUBSCRIPTION_SLOT] is None

    # The same confirmation delivered again files nothing new.
    again, _, dispatcher = await run(
        submit, confirmed(trey_token(), copilot.id, message_id="msg-42")
    )
    assert responses(dispatcher) == ["utter_cancellation_already_filed"]
    assert ticket.public_id in again[0]
    seeded_session.expire_all()
    assert len(seeded_session.scalars(select(Ticket)).all()) == 1


async def test_a_declined_request_files_nothing(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    submit = ActionSubmitCancellation(clock=midday(seeded_db.anchor))
    _, _, dispatcher = await run(
        submit, confirmed(trey_token(), copilot.id, message_id="m1", confirm=False)
    )
    assert responses(dispatcher) == ["utter_cancellation_not_filed"]
    assert seeded_session.scalars(select(Ticket)).all() == []


async def test_a_window_that_closed_before_the_yes_files_nothing(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    later = ActionSubmitCancellation(clock=midday(seeded_db.anchor + timedelta(days=5)))
    _, _, dispatcher = await run(
        later, confirmed(trey_token(), copilot.id, message_id="m")
    )
    assert responses(dispatcher) == ["utter_cancellation_choice_expired"]
    assert seeded_session.scalars(select(Ticket)).all() == []


async def test_staff_file_for_the_remembered_customer_only(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    trey = customer(seeded_session, "treyresearch.net")
    copilot = subscription(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = confirmed(staff_token(LW_BILLING_ADMIN), copilot.id, message_id="s1")
    tracker.slots[ACTING_FOR_SLOT] = str(trey.id)
    await run(ActionSubmitCancellation(clock=midday(seeded_db.anchor)), tracker)
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert (
        ticket.customer_id == trey.id and ticket.requester == "staff:slack:U0LW0BILL1"
    )
    assert "Miriam Graham" in ticket.description

    # Northwind staff cannot file for Litware's customer, whatever the slots say.
    other = confirmed(staff_token(NW_BILLING_ADMIN), copilot.id, message_id="s2")
    other.slots[ACTING_FOR_SLOT] = str(trey.id)
    _, _, dispatcher = await run(
        ActionSubmitCancellation(clock=midday(seeded_db.anchor)), other
    )
    assert responses(dispatcher) == ["utter_name_the_customer"]
    assert len(seeded_session.scalars(select(Ticket)).all()) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("1,200 seats", 1200),
        ("10 billion", 10_000_000_000),
        ("two", 2),
        ("none", None),
    ],
)
def test_counts_in_words_and_digits(text: str, expected: Optional[int]) -> None:
    assert parse_count(text) == expected


async def test_activation_with_reset_slots_says_nothing(seeded_db: DemoSummary) -> None:
    # At activation the form validates the slots action_cancellation_options just
    # reset to None: no question has been answered, so no complaint either.
    tracker = make_tracker(
        session_metadata=signed_in(trey_token()),
        text="I want a refund",
        intent="request_refund",
        slots={KIND_SLOT: "refund"},
    )
    tracker.events = [
        {"event": "slot", "name": slot, "value": None}
        for slot in (SUBSCRIPTION_SLOT, SEATS_SLOT, REASON_SLOT, CONFIRM_SLOT)
    ] + [{"event": "slot", "name": POSSIBLE_SLOT, "value": True}]
    slots, names, _ = await validate(seeded_db, tracker)
    assert names == []
    assert all(
        slots.get(s) is None for s in (SUBSCRIPTION_SLOT, SEATS_SLOT, REASON_SLOT)
    )
