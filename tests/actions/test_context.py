"""Questions that lean on the conversation: "is it paid?" about the invoice just
shown, "the invoice it corrects" after a credit note, "and for Alpine Ski House?"
after an answer."""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as clock_time
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.follow_up import ActionFollowUp, answer_followed
from actions.invoices import CURRENT_INVOICE_SLOT, ActionInvoiceLookup
from actions.payments import ActionPaymentStatus
from api.demo.seed import DemoSummary
from tests.actions.billing_helpers import invoice, midday, run
from tests.actions.helpers import customer_token, make_tracker, render, signed_in


def lookup(summary: DemoSummary) -> ActionInvoiceLookup:
    noon = datetime.combine(summary.anchor, clock_time(12), tzinfo=timezone.utc)
    return ActionInvoiceLookup(clock=lambda: noon)


async def test_is_it_paid_is_about_the_invoice_just_shown(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Contoso's price-rise invoice is paid; asked right after it was shown, "is it
    paid?" answers for that invoice, not with the account's summary."""
    case = seeded_db.case("price_rise")
    assert case.invoice_number
    paid = invoice(seeded_session, case.invoice_number)
    tracker = make_tracker(
        session_metadata=signed_in(customer_token(case.tenant_id)),
        intent="ask_payment_status",
        text="is it paid?",
        slots={CURRENT_INVOICE_SLOT: paid.number},
    )
    action = ActionPaymentStatus(clock=midday(seeded_db.anchor))  # type: ignore[call-arg]
    texts, _, dispatcher = await run(action, tracker)
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_payment_invoice_paid"
    ]
    assert paid.number in "\n".join(texts)


async def test_without_a_reference_the_account_is_summed_up(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """ "have I paid everything?" is about the account even with an invoice in the
    conversation: it does not point back to it."""
    case = seeded_db.case("price_rise")
    assert case.invoice_number
    tracker = make_tracker(
        session_metadata=signed_in(customer_token(case.tenant_id)),
        intent="ask_payment_status",
        text="have I paid everything?",
        slots={CURRENT_INVOICE_SLOT: case.invoice_number},
    )
    action = ActionPaymentStatus(clock=midday(seeded_db.anchor))  # type: ignore[call-arg]
    _, _, dispatcher = await run(action, tracker)
    assert "utter_payment_invoice_paid" not in [
        m["response"] for m in dispatcher.messages
    ]


async def test_the_invoice_a_credit_note_corrects(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    assert case.invoice_number and case.related_invoice_number
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token(case.tenant_id)},
        text="show me the invoice it corrects",
        slots={CURRENT_INVOICE_SLOT: case.invoice_number},
    )
    dispatcher = CollectingDispatcher()
    events = await lookup(seeded_db).run(dispatcher, tracker, {})
    said = "\n".join(render(dispatcher))
    assert f"Here is invoice {case.related_invoice_number}" in said
    assert {e["name"]: e["value"] for e in events if e.get("event") == "slot"} == {
        CURRENT_INVOICE_SLOT: case.related_invoice_number
    }


async def test_the_latest_one_is_the_newest_whatever_was_discussed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    assert case.related_invoice_number
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token(case.tenant_id)},
        text="and what about the latest one?",
        slots={CURRENT_INVOICE_SLOT: case.related_invoice_number},
    )
    dispatcher = CollectingDispatcher()
    await lookup(seeded_db).run(dispatcher, tracker, {})
    assert case.related_invoice_number not in "\n".join(render(dispatcher))


def with_history(tracker: Tracker, events: list[dict[str, Any]]) -> Tracker:
    state = tracker.current_state()
    state["events"] = events
    return Tracker.from_dict(state)


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {}}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def test_the_answer_followed_is_the_last_one_given() -> None:
    tracker = with_history(
        make_tracker(),
        [
            action("action_session_start"),
            action("action_listen"),
            user("what's my latest invoice?"),
            action("action_invoice_lookup"),
            action("action_listen"),
            user("and for Alpine?"),
            action("action_follow_up"),
            action("action_listen"),
            user("and Contoso?"),
        ],
    )
    assert answer_followed(tracker) == "action_invoice_lookup"


def test_a_forms_question_is_not_followed() -> None:
    tracker = with_history(
        make_tracker(),
        [
            action("action_listen"),
            user("I want to cancel"),
            action("cancellation_form"),
            action("action_listen"),
            user("and for Alpine?"),
        ],
    )
    assert answer_followed(tracker) is None


async def test_a_follow_up_asks_the_last_question_again_with_its_new_entities(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """After Contoso's latest invoice, "and the one before that?" runs the invoice
    lookup again, on the new message's reference."""
    case = seeded_db.case("credit_note")
    assert case.related_invoice_number
    tracker = with_history(
        make_tracker(
            session_metadata={"chat_token": customer_token(case.tenant_id)},
            intent="follow_up",
            text="and for September?",
            entities={"invoice_number": case.related_invoice_number},
        ),
        [
            action("action_listen"),
            user("what's my latest invoice?"),
            action("action_invoice_lookup"),
            action("action_listen"),
            user("and for September?"),
        ],
    )
    dispatcher = CollectingDispatcher()
    await ActionFollowUp().run(dispatcher, tracker, {})
    assert f"Here is invoice {case.related_invoice_number}" in "\n".join(
        render(dispatcher)
    )


async def test_a_follow_up_with_nothing_to_follow_is_the_fallback() -> None:
    tracker = with_history(
        make_tracker(intent="follow_up", text="and for Alpine?"),
        [action("action_listen"), user("and for Alpine?")],
    )
    dispatcher = CollectingDispatcher()
    await ActionFollowUp().run(dispatcher, tracker, {})
    assert dispatcher.messages
    assert all("invoice" not in str(m.get("response")) for m in dispatcher.messages)


async def test_the_next_invoice_due_is_the_next_one_to_pay(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Woodgrove's newest invoice is partly paid: "when is my next invoice due?"
    is about it (nothing comes after the newest), not "there is none after it"."""
    case = seeded_db.case("partially_paid_invoice")
    assert case.invoice_number
    partial = invoice(seeded_session, case.invoice_number)
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token(case.tenant_id)},
        intent="ask_payment_status",
        text="When is my next invoice due?",
        entities={"invoice_ref": "next"},
    )
    action = ActionPaymentStatus(clock=midday(seeded_db.anchor))  # type: ignore[call-arg]
    texts, _, _ = await run(action, tracker)
    said = "\n".join(texts)
    assert partial.number in said
    assert f"{partial.due_date.day} {partial.due_date:%B %Y}" in said


def test_an_unclear_message_that_points_back_is_followed() -> None:
    from actions.fallback import maybe_follow_up

    assert maybe_follow_up({"text": "how do we fix it?", "intent_ranking": []})
    assert not maybe_follow_up({"text": "blorp wibble", "intent_ranking": []})
    assert maybe_follow_up(
        {
            "text": "and the support pricing?",
            "intent_ranking": [
                {"name": "follow_up", "confidence": 0.5},
                {"name": "ask_support_info", "confidence": 0.47},
            ],
        }
    )


def test_a_hesitation_between_two_answers_from_the_same_data_is_answered() -> None:
    from actions.fallback import alike_answers

    def ranked(*names: str) -> dict[str, object]:
        return {
            "text": "what did we pay two months ago?",
            "intent_ranking": [
                {"name": name, "confidence": 0.4 - 0.01 * i}
                for i, name in enumerate(names)
            ],
        }

    assert alike_answers(ranked("ask_payment_status", "ask_invoice")) == (
        "ask_payment_status"
    )
    # different topics, or one that starts a flow: still "did you mean...?"
    assert alike_answers(ranked("ask_invoice", "report_technical_issue")) is None
    assert alike_answers(ranked("ask_invoice", "ask_payment_methods")) is None
    assert alike_answers(ranked("dispute_charge", "explain_charges")) is None
