"""Several questions in one message: each clause answered in turn, as if typed
alone (actions/questions.py)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.base import ANSWER_QUESTIONS, BillingAction
from actions.questions import ActionAnswerQuestions, ActionOutOfScope, clause_tracker
from actions.support import ActionSupportInfo
from api.demo.seed import DemoSummary
from api.domain.services.billing import latest_invoice
from tests.actions.billing_helpers import customer
from tests.actions.helpers import customer_token, make_tracker, render

TEXT = (
    "Hey. couple of things: what was our last bill, when are you guys around, "
    "and do you charge for technical help"
)
QUESTIONS = [
    {"text": "couple of things: what was our last bill", "intent": "ask_invoice"},
    {"text": "when are you guys around", "intent": "ask_support_info"},
    {"text": "do you charge for technical help", "intent": "ask_support_info"},
]


def asking(
    tenant_id: str,
    *,
    intent: str = "nlu_fallback",
    text: str = TEXT,
    questions: list[dict[str, Any]] = QUESTIONS,
    entities: list[tuple[str, str]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token(tenant_id)},
        intent=intent,
        text=text,
        entity_list=entities,
    )
    state = tracker.current_state()
    state["latest_message"]["questions"] = [
        {**q, "confidence": 0.95} for q in questions
    ]
    state["events"] = events or [{"event": "user", "text": text}]
    return Tracker.from_dict(state)


async def test_every_question_gets_its_answer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    proseware = customer(seeded_session, "proseware.com")
    partner = proseware.partner
    newest = latest_invoice(seeded_session, customer_id=proseware.id)
    assert newest is not None
    tracker = asking(
        proseware.tenant_id,
        entities=[("aspect", "hours"), ("aspect", "price")],
    )
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestions().run(dispatcher, tracker, {})
    said = "\n".join(render(dispatcher))
    assert newest.number in said
    assert partner.support_hours.split(",")[0] in said
    assert partner.support_pricing.split(". ")[-1].rstrip(".") in said


def test_a_clause_keeps_only_its_own_entities() -> None:
    text = "what's your phone number, and is invoice G000024195 paid?"
    tracker = make_tracker(
        text=text,
        entity_list=[("aspect", "phone"), ("invoice_number", "G000024195")],
    )
    clause = clause_tracker(
        tracker, {"text": "is invoice G000024195 paid?", "intent": "ask_payment_status"}
    )
    message = clause.latest_message
    assert message["text"] == "is invoice G000024195 paid?"
    assert message["intent"]["name"] == "ask_payment_status"
    assert [(e["entity"], e["value"]) for e in message["entities"]] == [
        ("invoice_number", "G000024195")
    ]
    start = message["entities"][0]["start"]
    assert message["text"][start : message["entities"][0]["end"]] == "G000024195"


async def test_an_answer_hands_the_other_questions_on(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """The answer to the whole message is one of them; the rest follow."""
    proseware = customer(seeded_session, "proseware.com")
    tracker = asking(proseware.tenant_id, intent="ask_support_info")
    action: BillingAction = ActionSupportInfo()
    events = await action.run(CollectingDispatcher(), tracker, {})
    assert {"event": "followup", "name": ANSWER_QUESTIONS} in [
        {"event": e.get("event"), "name": e.get("name")} for e in events
    ]


async def test_out_of_scope_with_a_question_answers_the_question(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    fourth = customer(seeded_session, "fourthcoffee.com")
    newest = latest_invoice(seeded_session, customer_id=fourth.id)
    assert newest is not None
    questions = [
        {"text": "What's our latest invoice", "intent": "ask_invoice"},
        {
            "text": "what's the weather going to be like in London tomorrow?",
            "intent": "out_of_scope",
        },
    ]
    tracker = asking(
        fourth.tenant_id,
        intent="out_of_scope",
        text="What's our latest invoice, and what's the weather going to be like "
        "in London tomorrow?",
        questions=questions,
    )
    events = await ActionOutOfScope().run(CollectingDispatcher(), tracker, {})
    assert [(e["event"], e["name"]) for e in events] == [("followup", ANSWER_QUESTIONS)]
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestions().run(dispatcher, tracker, {})
    said = "\n".join(render(dispatcher))
    assert newest.number in said
    assert "weather" in said and "outside what I can help with" in said


async def test_without_questions_out_of_scope_says_so() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionOutOfScope().run(
        dispatcher, make_tracker(intent="out_of_scope", text="tell me a joke"), {}
    )
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_out_of_scope"]


def test_every_answerable_intent_has_its_action() -> None:
    from actions.base import ANSWERABLE_INTENTS
    from actions.questions import ANSWERS

    assert set(ANSWERS) == ANSWERABLE_INTENTS


async def test_a_dispute_is_not_interrupted_by_the_other_clauses(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """A dispute starts its own flow: a clause asking for a ticket is part of it,
    not a question to answer after it."""
    from actions.base import more_questions_after

    proseware = customer(seeded_session, "proseware.com")
    tracker = asking(
        proseware.tenant_id,
        intent="dispute_charge",
        questions=[
            {
                "text": "there is an error on our most recent invoice",
                "intent": "dispute_charge",
            },
            {
                "text": "Could you please open a billing ticket",
                "intent": "ask_ticket_status",
            },
        ],
    )
    assert not more_questions_after(tracker)
    tracker = asking(proseware.tenant_id, intent="ask_invoice")
    assert more_questions_after(tracker)


def test_a_question_beside_a_flow_is_answered_before_it() -> None:
    """'I need to cancel the Copilot licences and I also need your phone number':
    the phone number is answered before the cancellation's questions; a clause
    asking for a ticket beside a dispute is the dispute's own business."""
    from actions.base import questions_before_a_flow

    tracker = asking(
        "00000000-0000-0000-0000-000000000000",
        intent="cancel_subscription",
        questions=[
            {
                "text": "I need to cancel the Copilot licences",
                "intent": "cancel_subscription",
            },
            {"text": "I also need your phone number", "intent": "ask_support_info"},
        ],
    )
    assert questions_before_a_flow(tracker)
    tracker = asking(
        "00000000-0000-0000-0000-000000000000",
        intent="dispute_charge",
        questions=[
            {"text": "there is an error on our invoice", "intent": "dispute_charge"},
            {"text": "could you open a billing ticket", "intent": "ask_ticket_status"},
        ],
    )
    assert not questions_before_a_flow(tracker)
