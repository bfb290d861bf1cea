"""The cancellation dialogue around the form: a named subscription gets its own facts,
corrections go to the seats, another product asked about inside the form is answered
there, and "what can I do instead?" after a refusal gets the alternatives.

Demo at DEMO_ANCHOR (2026-11-15): Trey Research's Copilot is inside its window,
its Business Central and E3 are not; Wingtip Toys' Windows Server is a perpetual
licence; Coho Winery's Exchange Online was cancelled; Fourth Coffee has nothing
inside a window.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.base import CURRENT_SUBSCRIPTION_SLOT, LAST_REASON_SLOT
from actions.conversation import ActionCapabilities
from actions.refunds import (
    CONFIRM_SLOT,
    KIND_SLOT,
    POSSIBLE_SLOT,
    REASON_SLOT,
    SEATS_SLOT,
    SUBSCRIPTION_SLOT,
    ActionAskCancellationReason,
    ActionCancellationOptions,
    ValidateCancellationForm,
    corrected_seats,
    seats_in_request,
    strip_back_to,
    wants_alternatives,
)
from actions.subscriptions import ActionSubscriptions
from api.demo.seed import DemoSummary
from api.domain.models import Subscription, SubscriptionStatus
from common.formatting import format_date
from tests.actions.billing_helpers import customer, midday, responses, run, slot_events
from tests.actions.helpers import customer_token, make_tracker, render, signed_in

FORM_DOMAIN: dict[str, Any] = {
    "forms": {
        "cancellation_form": {
            "required_slots": [SUBSCRIPTION_SLOT, SEATS_SLOT, REASON_SLOT, CONFIRM_SLOT]
        }
    },
    "slots": {},
}


def token(session: Session, domain: str) -> str:
    return customer_token(customer(session, domain).tenant_id)


def sub(session: Session, domain: str, product_start: str) -> Subscription:
    owner = customer(session, domain)
    return next(
        s for s in owner.subscriptions if s.product_name.startswith(product_start)
    )


def tracker_for(
    session: Session,
    domain: str,
    text: str,
    intent: str,
    *,
    products: Optional[list[str]] = None,
    slots: Optional[dict[str, Any]] = None,
    active_loop: Optional[str] = None,
    events: Optional[list[dict[str, Any]]] = None,
) -> Tracker:
    tracker = make_tracker(
        session_metadata=signed_in(token(session, domain)),
        text=text,
        intent=intent,
        entity_list=[("product", p) for p in products or []],
        slots=slots,
        active_loop=active_loop,
    )
    tracker.events = list(events or [])
    return tracker


async def options_for(
    summary: DemoSummary, tracker: Tracker
) -> tuple[str, dict[str, Any], list[str]]:
    texts, events, dispatcher = await run(
        ActionCancellationOptions(clock=midday(summary.anchor)), tracker
    )
    return "\n".join(texts), slot_events(events), responses(dispatcher)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "seats"),
    [
        ("cancel 2 Copilot seats please", "2"),
        ("Reduce Trey Research's Copilot subscription by 4 seats", "4"),
        ("remove three Microsoft 365 Copilot licences", "3"),
        ("can I drop 5 seats of Business Premium?", "5"),
        ("can we give back all the copilot licences", "all"),
        ("cancel Microsoft 365 E3", None),  # 365 is part of the name
        ("until when can I cancel Copilot?", None),
        ("cancel Windows Server 2022 licences", None),
    ],
)
def test_the_seats_a_request_names(text: str, seats: Optional[str]) -> None:
    assert seats_in_request(text, []) == seats


@pytest.mark.parametrize(
    ("text", "seats"),
    [
        ("reduce Copilot to 3 seats", "2"),
        ("can we go from 5 to 4 Copilot licences", "1"),
        ("we only want to keep 1", "4"),
        ("bring it down to 0", "all"),
        ("cancel 2 of our 5 Copilot seats", "2"),
    ],
)
def test_the_seats_a_request_keeps_are_taken_from_the_total(
    text: str, seats: Optional[str]
) -> None:
    assert seats_in_request(text, [], total=5) == seats


@pytest.mark.parametrize(
    ("text", "seats"),
    [
        ("no wait, only 3 seats", "3"),
        ("actually just 2, sorry", "2"),
        ("sorry, 2 not 4", "2"),
        ("not 4 but 2", "2"),
        ("make it 3 instead of 4", "3"),
        ("oops, I meant 1 seat", "1"),
        ("the team that needed them was reorganised", None),
        ("we closed 2 offices", None),  # a reason with a number is no correction
    ],
)
def test_the_seats_a_correction_gives(text: str, seats: Optional[str]) -> None:
    assert corrected_seats(text, []) == seats


def test_back_to_the_request_is_no_part_of_the_reason() -> None:
    assert (
        strip_back_to("ok back to the cancellation. the pilot project ended early")
        == "the pilot project ended early"
    )
    assert strip_back_to("bought by mistake") == "bought by mistake"


# --------------------------------------------------------------------------- named


async def test_a_cancelled_subscription_is_said_to_be_already_cancelled(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    exchange = sub(seeded_session, "cohowinery.com", "Exchange Online")
    assert exchange.status is SubscriptionStatus.CANCELLED
    said, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "cohowinery.com",
            "I want to cancel Exchange Online",
            "cancel_subscription",
            products=["Exchange Online"],
        ),
    )
    assert exchange.term_end_date is not None
    assert (
        f"{exchange.product_name} was already cancelled on "
        f"{format_date(exchange.term_end_date)}" in said
    )
    assert slots[POSSIBLE_SLOT] is False and slots.get(SEATS_SLOT) is None
    assert slots[CURRENT_SUBSCRIPTION_SLOT] == exchange.id


async def test_a_perpetual_licence_never_renews_and_has_its_own_window(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    server = sub(seeded_session, "wingtiptoys.com", "Windows Server")
    said, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "wingtiptoys.com",
            "how do I stop the Windows Server licences from renewing?",
            "cancel_subscription",
            products=["Windows Server"],
        ),
    )
    assert server.product_name in said
    assert "perpetual licence" in said and "never renews" in said
    assert "30 days" in said
    assert "auto-renewal can be turned off" not in said
    assert slots[CURRENT_SUBSCRIPTION_SLOT] == server.id


async def test_a_product_the_account_does_not_have_is_said_so(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    said, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "treyresearch.net",
            "cancel Teams Phone",
            "cancel_subscription",
            products=["Teams Phone"],
        ),
    )
    assert "There's no Teams Phone subscription on your account." in said
    assert "Microsoft 365 Copilot" in said  # and what can be cancelled
    assert slots[POSSIBLE_SLOT] is True


async def test_a_product_named_without_the_entity_is_found_by_its_words(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    # NLU may read "Relecloud Backup" as a customer name: the words still match.
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    said, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "treyresearch.net",
            "what's the cancellation window on the copilot thing?",
            "request_refund",
        ),
    )
    assert slots[SUBSCRIPTION_SLOT] == copilot.id
    assert "Business Central" not in said
    assert "(7 days after the purchase)" in said


async def test_seats_in_the_first_message_fill_the_form(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    _, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "treyresearch.net",
            "cancel 2 Copilot seats please",
            "change_seats",
            products=["Copilot"],
        ),
    )
    assert slots[SUBSCRIPTION_SLOT] == copilot.id and slots[SEATS_SLOT] == "2"
    # More than the window allows: asked, not guessed.
    _, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "treyresearch.net",
            "cancel 9 Copilot seats",
            "change_seats",
            products=["Copilot"],
        ),
    )
    assert slots.get(SEATS_SLOT) is None


async def test_it_is_the_subscription_just_discussed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    texts, events, _ = await run(
        ActionSubscriptions(clock=midday(seeded_db.anchor)),
        tracker_for(
            seeded_session,
            "treyresearch.net",
            "tell me about our Copilot subscription",
            "ask_subscription",
            products=["Copilot"],
        ),
    )
    said = "\n".join(texts)
    assert "Microsoft 365 Copilot: 5 seats" in said and "Business Central" not in said
    assert slot_events(events)[CURRENT_SUBSCRIPTION_SLOT] == copilot.id
    said, slots, _ = await options_for(
        seeded_db,
        tracker_for(
            seeded_session,
            "treyresearch.net",
            "can I still cancel it?",
            "cancel_subscription",
            slots={CURRENT_SUBSCRIPTION_SLOT: copilot.id},
        ),
    )
    assert slots[SUBSCRIPTION_SLOT] == copilot.id
    assert "Business Central" not in said


async def test_why_not_names_what_can_still_be_cancelled(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    tracker = tracker_for(
        seeded_session,
        "treyresearch.net",
        "cancel Business Central for a refund",
        "request_refund",
        products=["Dynamics 365 Business Central"],
    )
    _, events, _ = await run(
        ActionCancellationOptions(clock=midday(seeded_db.anchor)), tracker
    )
    reason = slot_events(events)[LAST_REASON_SLOT]
    assert "cancellation window closed on" in reason
    assert "These can still be cancelled for a refund: Microsoft 365 Copilot" in reason


# --------------------------------------------------------------------------- form


def form_tracker(
    session: Session,
    domain: str,
    text: str,
    intent: str,
    requested: str,
    slots: dict[str, Any],
    products: Optional[list[str]] = None,
) -> Tracker:
    return tracker_for(
        session,
        domain,
        text,
        intent,
        products=products,
        slots={KIND_SLOT: "refund", "requested_slot": requested, **slots},
        active_loop="cancellation_form",
    )


async def validate(
    summary: DemoSummary, tracker: Tracker
) -> tuple[list[dict[str, Any]], list[str]]:
    dispatcher = CollectingDispatcher()
    action = ValidateCancellationForm(clock=midday(summary.anchor))
    events = await action.run(dispatcher, tracker, FORM_DOMAIN)
    return events, render(dispatcher)


@pytest.mark.parametrize(
    ("text", "intent", "seats_before", "requested", "wanted"),
    [
        ("no wait, only 3 seats", "change_seats", "4", REASON_SLOT, "3"),
        ("sorry, 2 not 4", "deny", "4", REASON_SLOT, "2"),
        ("actually just 2, sorry", "stop", "5", REASON_SLOT, "2"),
        ("actually just 2, sorry", "stop", None, SEATS_SLOT, "2"),
        ("no, 2", "deny", None, SEATS_SLOT, "2"),
        ("sorry, not 4 but 2", "deny", None, SEATS_SLOT, "2"),
        ("no wait, keep 3", "deny", "4", REASON_SLOT, "2"),  # 5 seats, 3 kept
        ("3 actually", "change_seats", "4", REASON_SLOT, "3"),
        ("can we make it 3 instead?", "change_seats", "4", REASON_SLOT, "3"),
        ("no, 3", "deny", "4", REASON_SLOT, "3"),
        ("how about 2?", "follow_up", "3", REASON_SLOT, "2"),
        ("make it 3", "nlu_fallback", "4", REASON_SLOT, "3"),
    ],
)
async def test_a_correction_sets_the_seats_and_never_leaves(
    seeded_db: DemoSummary,
    seeded_session: Session,
    text: str,
    intent: str,
    seats_before: Optional[str],
    requested: str,
    wanted: str,
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        text,
        intent,
        requested,
        {SUBSCRIPTION_SLOT: copilot.id, SEATS_SLOT: seats_before},
    )
    events, _ = await validate(seeded_db, tracker)
    slots = slot_events(events)
    assert slots[SEATS_SLOT] == wanted
    assert slots.get(REASON_SLOT) is None  # never taken as the reason


async def test_forget_it_still_leaves(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "forget it, I'll keep them all",
        "stop",
        REASON_SLOT,
        {SUBSCRIPTION_SLOT: copilot.id, SEATS_SLOT: "2"},
    )
    events, _ = await validate(seeded_db, tracker)
    assert events == []  # rejected: the stop rule leaves the form


async def test_another_product_inside_the_form_is_answered_and_the_form_goes_on(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    central = sub(seeded_session, "treyresearch.net", "Dynamics 365 Business Central")
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "and Business Central?",
        "follow_up",
        SEATS_SLOT,
        {SUBSCRIPTION_SLOT: copilot.id},
        products=["Dynamics 365 Business Central"],
    )
    events, texts = await validate(seeded_db, tracker)
    said = "\n".join(texts)
    assert "Dynamics 365 Business Central Essentials (4 seats)" in said
    assert "cancellation window closed on" in said
    assert "Back to your request about Microsoft 365 Copilot:" in said
    slots = slot_events(events)
    assert SEATS_SLOT in slots and slots[SEATS_SLOT] is None  # asked again
    assert SUBSCRIPTION_SLOT not in slots  # still Copilot
    assert slots[CURRENT_SUBSCRIPTION_SLOT] == central.id
    assert "These can still be cancelled" in slots[LAST_REASON_SLOT]


async def test_a_closed_product_at_the_choice_is_explained_not_refused(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    e3 = sub(seeded_session, "treyresearch.net", "Microsoft 365 E3")
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "what about the E3 licences?",
        "follow_up",
        SUBSCRIPTION_SLOT,
        {},
        products=["Microsoft 365 E3"],
    )
    events, texts = await validate(seeded_db, tracker)
    said = "\n".join(texts)
    assert "Microsoft 365 E3 (15 seats)" in said
    assert e3.term_end_date and f"It renews on {format_date(e3.term_end_date)}" in said
    assert "That isn't one of the subscriptions" not in said
    assert slot_events(events)[SUBSCRIPTION_SLOT] is None


async def test_the_reason_question_says_back_the_seats(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "sorry, 2 not 4",
        "deny",
        REASON_SLOT,
        {SUBSCRIPTION_SLOT: copilot.id, SEATS_SLOT: "2"},
    )
    texts, _, _ = await run(
        ActionAskCancellationReason(clock=midday(seeded_db.anchor)), tracker
    )
    assert texts[-1].startswith(
        "Cancelling 2 seats of Microsoft 365 Copilot (you have 5 seats). In a few words"
    )


# --------------------------------------------------------------------------- instead


def after_refusal(reason: str) -> list[dict[str, Any]]:
    return [
        {"event": "user", "parse_data": {"intent": {"name": "change_seats"}}},
        {"event": "action", "name": "action_cancellation_options"},
        {"event": "slot", "name": LAST_REASON_SLOT, "value": reason},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "parse_data": {"intent": {"name": "ask_why"}}},
        {"event": "action", "name": "action_explain_why"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "parse_data": {"intent": {"name": "ask_capabilities"}}},
    ]


async def test_what_to_do_instead_after_a_refusal(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    premium = sub(seeded_session, "fourthcoffee.com", "Microsoft 365 Business Premium")
    tracker = tracker_for(
        seeded_session,
        "fourthcoffee.com",
        "so what can I do instead",
        "ask_capabilities",
        slots={
            LAST_REASON_SLOT: "its window closed",
            CURRENT_SUBSCRIPTION_SLOT: premium.id,
        },
        events=after_refusal("its window closed"),
    )
    assert wants_alternatives(tracker)
    dispatcher = CollectingDispatcher()
    action = ActionCapabilities()
    await action.run(dispatcher, tracker, {})
    said = "\n".join(render(dispatcher))
    assert premium.term_end_date is not None
    day = format_date(premium.term_end_date)
    assert f"it renews on {day}" in said
    assert "turn off its auto-renewal" in said and "reduce its seats" in said
    assert "I can:" not in said  # not the capabilities list


async def test_what_can_you_do_without_a_refusal_is_the_capabilities(
    seeded_session: Session,
) -> None:
    tracker = tracker_for(
        seeded_session, "fourthcoffee.com", "what can I do here?", "ask_capabilities"
    )
    assert not wants_alternatives(tracker)


async def test_asking_for_another_eligible_product_switches_the_form(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    central = sub(seeded_session, "treyresearch.net", "Dynamics 365 Business Central")
    # Business Central is outside its window: asked for, it is explained, the form
    # stays on Copilot; Copilot named while the form is on it is just an answer.
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "cancel Business Central instead",
        "cancel_subscription",
        SEATS_SLOT,
        {SUBSCRIPTION_SLOT: copilot.id},
        products=["Dynamics 365 Business Central"],
    )
    events, texts = await validate(seeded_db, tracker)
    slots = slot_events(events)
    assert SUBSCRIPTION_SLOT not in slots
    assert slots[CURRENT_SUBSCRIPTION_SLOT] == central.id
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "cancel 2 copilot seats",
        "change_seats",
        SEATS_SLOT,
        {SUBSCRIPTION_SLOT: copilot.id},
        products=["Copilot"],
    )
    events, texts = await validate(seeded_db, tracker)
    assert slot_events(events)[SEATS_SLOT] == "2" and texts == []


async def test_a_reason_that_sounds_like_another_topic_is_still_the_reason(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    slots = {SUBSCRIPTION_SLOT: copilot.id, SEATS_SLOT: "2"}
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "we found a cheaper product that works better",
        "report_technical_issue",
        REASON_SLOT,
        slots,
    )
    tracker.events = [
        {"event": "slot", "name": REASON_SLOT, "value": latest_text_of(tracker)}
    ]
    tracker.slots[REASON_SLOT] = latest_text_of(tracker)
    events, _ = await validate(seeded_db, tracker)
    assert slot_events(events)[REASON_SLOT] == latest_text_of(tracker)
    # A question is still an interruption, answered by its own rule.
    question = form_tracker(
        seeded_session,
        "treyresearch.net",
        "wait, what's my latest invoice?",
        "ask_invoice",
        REASON_SLOT,
        slots,
    )
    events, _ = await validate(seeded_db, question)
    assert events == []


def latest_text_of(tracker: Tracker) -> str:
    return str(tracker.latest_message["text"])


async def test_does_it_renew_is_about_the_subscription_just_shown(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    server = sub(seeded_session, "wingtiptoys.com", "Windows Server")
    texts, _, _ = await run(
        ActionSubscriptions(clock=midday(seeded_db.anchor)),
        tracker_for(
            seeded_session,
            "wingtiptoys.com",
            "does it renew automatically?",
            "ask_subscription",
            slots={CURRENT_SUBSCRIPTION_SLOT: server.id},
        ),
    )
    said = "\n".join(texts)
    assert server.product_name in said and "never renews" in said
    assert "Relecloud" not in said and "Business Premium" not in said


async def test_an_unclear_ask_for_alternatives_after_a_refusal_is_answered(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    from actions.fallback import ActionFallback

    premium = sub(seeded_session, "fourthcoffee.com", "Microsoft 365 Business Premium")
    tracker = tracker_for(
        seeded_session,
        "fourthcoffee.com",
        "is there anything else I can do?",
        "nlu_fallback",
        slots={
            LAST_REASON_SLOT: "its window closed",
            CURRENT_SUBSCRIPTION_SLOT: premium.id,
        },
        events=after_refusal("its window closed"),
    )
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, tracker, {})
    said = "\n".join(render(dispatcher))
    assert premium.term_end_date is not None
    assert f"it renews on {format_date(premium.term_end_date)}" in said


async def test_what_is_still_active_leaves_out_the_cancelled_ones(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    texts, _, _ = await run(
        ActionSubscriptions(clock=midday(seeded_db.anchor)),
        tracker_for(
            seeded_session,
            "cohowinery.com",
            "what's still active then?",
            "ask_subscription",
        ),
    )
    said = "\n".join(texts)
    assert "Microsoft 365 Business Premium" in said and "Exchange Online" not in said


async def test_why_not_inside_the_form_is_about_the_product_just_answered() -> None:
    from actions.conversation import ActionExplainWhy

    tracker = make_tracker(
        text="why not?",
        intent="ask_why",
        slots={"requested_slot": SEATS_SLOT, LAST_REASON_SLOT: "its window closed"},
        active_loop="cancellation_form",
    )
    tracker.events = [
        {"event": "user", "text": "and Business Central?"},
        {"event": "action", "name": "cancellation_form"},
        {"event": "slot", "name": LAST_REASON_SLOT, "value": "its window closed"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "why not?"},
    ]
    dispatcher = CollectingDispatcher()
    await ActionExplainWhy().run(dispatcher, tracker, {})
    assert render(dispatcher) == ["Because its window closed"]


async def test_a_reason_heard_as_a_complaint_is_the_reason(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    slots = {SUBSCRIPTION_SLOT: copilot.id, SEATS_SLOT: "2"}
    for text, reason in (("nobody uses them", True), ("you're useless", False)):
        tracker = form_tracker(
            seeded_session, "treyresearch.net", text, "complain", REASON_SLOT, slots
        )
        tracker.events = [{"event": "slot", "name": REASON_SLOT, "value": text}]
        tracker.slots[REASON_SLOT] = text
        events, _ = await validate(seeded_db, tracker)
        assert (slot_events(events).get(REASON_SLOT) == text) is reason


async def test_a_question_about_the_request_itself_does_not_restart_the_form(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    copilot = sub(seeded_session, "treyresearch.net", "Microsoft 365 Copilot")
    tracker = form_tracker(
        seeded_session,
        "treyresearch.net",
        "wait, until when can I cancel?",
        "cancel_subscription",
        CONFIRM_SLOT,
        {SUBSCRIPTION_SLOT: copilot.id, SEATS_SLOT: "2", REASON_SLOT: "too many"},
    )
    events, texts = await validate(seeded_db, tracker)
    said = "\n".join(texts)
    assert "Microsoft 365 Copilot (5 seats): bought on" in said
    assert "Back to your request about Microsoft 365 Copilot:" in said
    slots = slot_events(events)
    assert slots == {CONFIRM_SLOT: None}  # the seats and the reason are kept
