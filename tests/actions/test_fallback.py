"""action_fallback: the two-stage fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import (
    SUGGESTED_INTENTS,
    ActionFallback,
    fallbacks_in_a_row,
    intent_title,
    payload_for,
    suggestions,
)
from common.taxonomy import domain_intents, load_taxonomy
from tests.actions.escalation_fixtures import action, bot, conversation, responses, user
from tests.actions.helpers import render

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
NEVER_SUGGESTED_TOPICS = {"smalltalk", "out_of_scope", "other_language"}


def unclear(text: str = "the thingy on the bill", **kwargs: Any) -> dict[str, Any]:
    return user(
        text,
        "nlu_fallback",
        confidence=0.5,
        ranking=[
            ("nlu_fallback", 0.5),
            ("explain_charges", 0.41),
            ("affirm", 0.2),
            ("ask_invoice", 0.19),
            ("request_refund", 0.1),
        ],
        **kwargs,
    )


async def run(tracker: Any) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await ActionFallback().run(dispatcher, tracker, {})
    return events, dispatcher


def test_every_real_intent_has_a_readable_title() -> None:
    taxonomy = load_taxonomy()
    for intent in domain_intents(DOMAIN):
        topic = taxonomy.topic_for_intent(intent)
        if topic in NEVER_SUGGESTED_TOPICS:
            assert intent not in SUGGESTED_INTENTS, intent
        else:
            assert intent in SUGGESTED_INTENTS, f"{intent} is never suggested"
    titles = [intent_title(intent) for intent in SUGGESTED_INTENTS]
    assert all(title and title[0].isupper() for title in titles)
    assert len(set(titles)) == len(titles)


def test_suggestions_skip_fallback_and_small_talk() -> None:
    parse = unclear()["parse_data"]
    assert suggestions(parse) == ["explain_charges", "ask_invoice"]


def test_payloads_carry_the_entities() -> None:
    parse = user(
        "G000024135 thing",
        "nlu_fallback",
        entities=[("invoice_number", "G000024135")],
    )["parse_data"]
    assert payload_for("ask_invoice", parse) == (
        '/ask_invoice{"invoice_number": "G000024135"}'
    )
    assert payload_for("ask_invoice", {"entities": []}) == "/ask_invoice"


async def test_first_failure_offers_the_two_best_intents() -> None:
    events, dispatcher = await run(conversation([user("hi", "greet"), unclear()]))
    assert events == []
    assert responses(dispatcher) == ["utter_fallback_suggest"]
    buttons = dispatcher.messages[0]["buttons"]
    assert buttons == [
        {"title": "Understand the charges on my bill", "payload": "/explain_charges"},
        {"title": "See an invoice", "payload": "/ask_invoice"},
    ]
    assert "in other words" in render(dispatcher)[0]


async def test_without_candidates_it_asks_to_rephrase() -> None:
    tracker = conversation(
        [user("zzz", "nlu_fallback", ranking=[("nlu_fallback", 0.9), ("greet", 0.1)])]
    )
    _, dispatcher = await run(tracker)
    assert responses(dispatcher) == ["utter_ask_rephrase"]


async def test_second_failure_offers_a_person_or_a_ticket() -> None:
    tracker = conversation(
        [
            unclear(),
            action("action_fallback"),
            bot("Sorry, I'm not sure what you mean."),
            action("action_listen"),
            unclear("no the other thing"),
        ]
    )
    assert fallbacks_in_a_row(tracker) == 2
    events, dispatcher = await run(tracker)
    assert responses(dispatcher) == ["utter_fallback_still_unclear"]
    assert events == [
        {"event": "followup", "name": "action_offer_ticket", "timestamp": None}
    ]
    text = render(dispatcher)[0]
    assert "person" in text and "ticket" in text


async def test_an_understood_message_resets_the_count() -> None:
    tracker = conversation([unclear(), user("my invoice", "ask_invoice"), unclear()])
    assert fallbacks_in_a_row(tracker) == 1
    _, dispatcher = await run(tracker)
    assert responses(dispatcher) == ["utter_fallback_suggest"]
