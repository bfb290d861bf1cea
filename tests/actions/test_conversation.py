"""The conversation itself (actions/conversation.py): leaving a request, "why?",
what the desk can do, an unhappy chatter, and a message in a language the desk does
not speak."""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as clock_time
from typing import Any, Optional

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import conversation as conversation_actions
from actions.base import CURRENT_INVOICE_SLOT, LAST_REASON_SLOT
from actions.conversation import (
    FORM_SLOTS,
    ActionCapabilities,
    ActionComplaint,
    ActionExplainWhy,
    ActionStop,
    ActionUnsupportedLanguage,
)
from actions.forms import FAILURES_SLOT
from actions.payments import ActionPaymentMethods
from actions.tickets import ActionEscalationRoute
from api.demo.seed import DemoSummary
from api.domain.models import Customer
from tests.actions.escalation_fixtures import (
    conversation,
    customer_token,
    events_named,
    responses,
    slot_values,
    staff_token,
    user,
)
from tests.actions.helpers import render


async def run(
    action: Action, tracker: Tracker
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """The responses sent, the texts shown, and the events."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return responses(dispatcher), render(dispatcher), events


def in_form(
    form: str, text: str, intent: str, *, asked: Optional[str], **slots: Any
) -> Tracker:
    return conversation(
        [user(text, intent)],
        slots={"requested_slot": asked, **slots},
        active_loop=form,
    )


# --------------------------------------------------------------------------- stop


@pytest.mark.parametrize(
    ("form", "asked", "filled", "said"),
    [
        (
            "cancellation_form",
            "cancellation_reason",
            {"cancellation_seats": "2", "cancellation_possible": True},
            "nothing was filed",
        ),
        (
            "escalation_form",
            "ticket_impact",
            {"ticket_description": "Outlook is down", "ticket_product": "Outlook"},
            "no ticket was filed",
        ),
        (
            "dispute_form",
            "dispute_confirm",
            {"dispute_invoice": "G000024176", "dispute_details": "charged twice"},
            "the dispute was not filed",
        ),
    ],
)
async def test_stop_leaves_the_form_and_forgets_its_answers(
    form: str, asked: str, filled: dict[str, Any], said: str
) -> None:
    tracker = in_form(
        form,
        "never mind, cancel",
        "stop",
        asked=asked,
        **filled,
        **{FAILURES_SLOT: {asked: 1}, CURRENT_INVOICE_SLOT: "G000024176"},
    )
    names, shown, events = await run(ActionStop(), tracker)

    assert names == [f"utter_stopped_{form}"]
    assert said in shown[0]
    assert [e["name"] for e in events_named(events, "active_loop")] == [None]
    values = slot_values(events)
    assert values["requested_slot"] is None and values[FAILURES_SLOT] is None
    assert all(values[slot] is None for slot in filled)
    assert set(FORM_SLOTS[form]) <= set(values)
    # What the conversation is about stays: "stop" ends the request, not the topic.
    assert CURRENT_INVOICE_SLOT not in values


async def test_stop_outside_a_form_just_acknowledges() -> None:
    names, shown, events = await run(ActionStop(), conversation([user("stop", "stop")]))
    assert names == ["utter_stopped_nothing"] and events == []
    assert "anything else" in shown[0]


# --------------------------------------------------------------------------- why


async def test_why_gives_the_reason_of_the_last_answer() -> None:
    reason = "your Partner Center role (Sales agent) doesn't let you see invoices."
    names, shown, events = await run(
        ActionExplainWhy(),
        conversation([user("why not?", "ask_why")], slots={LAST_REASON_SLOT: reason}),
    )
    assert names == ["utter_because"]
    assert shown == [f"Because {reason}"]
    assert slot_values(events) == {LAST_REASON_SLOT: reason}  # "why?" again: same


@pytest.mark.parametrize(
    ("form", "asked", "response"),
    [
        ("cancellation_form", "cancellation_reason", "utter_why_cancellation_reason"),
        ("escalation_form", "ticket_product", "utter_why_ticket_product"),
        ("dispute_form", "dispute_invoice", "utter_why_dispute_invoice"),
        # No "why" of its own: the field's explanation answers.
        ("escalation_form", "ticket_24x7", "utter_explain_ticket_24x7"),
    ],
)
async def test_why_inside_a_form_says_why_it_asks(
    form: str, asked: str, response: str
) -> None:
    """Even with an older reason remembered, "why?" inside a form is about the
    question just asked."""
    names, shown, events = await run(
        ActionExplainWhy(),
        in_form(
            form,
            "why do you need that?",
            "ask_why",
            asked=asked,
            **{LAST_REASON_SLOT: "an older answer's reason"},
        ),
    )
    assert names == [response] and events == []
    assert "older" not in shown[0]


async def test_why_with_nothing_to_explain_asks_what_to_explain() -> None:
    names, shown, events = await run(
        ActionExplainWhy(), conversation([user("why?", "ask_why")])
    )
    assert names == ["utter_why_unclear"] and events == []
    assert "What would you like me to explain?" in shown[0]


def midday(summary: DemoSummary) -> datetime:
    return datetime.combine(summary.anchor, clock_time(12), tzinfo=timezone.utc)


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


async def answer_then_why(
    answer: Action, tracker: Tracker
) -> tuple[list[str], list[str]]:
    """Run `answer`, then "why not?" on the slots it left: what "why" said."""
    _, _, events = await run(answer, tracker)
    slots = {**tracker.slots, **slot_values(events)}
    names, shown, _ = await run(
        ActionExplainWhy(),
        conversation([user("why not?", "ask_why")], slots=slots),
    )
    return names, shown


async def test_why_not_after_a_refused_currency(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """ "Can I pay in euros?" "No..." "Why not?": Contoso is invoiced in USD."""
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [
            user(
                "can I pay in euros?",
                "ask_payment_methods",
                entities=[("aspect", "currency")],
            )
        ],
        token=customer_token(contoso.tenant_id),
    )
    names, shown = await answer_then_why(
        ActionPaymentMethods(clock=lambda: midday(seeded_db)), tracker
    )
    assert names == ["utter_because"]
    assert shown == [
        "Because Northwind Cloud Services invoices you in USD, and a payment must "
        "be in the invoice's currency."
    ]


async def test_why_not_after_no_microsoft_route(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    tracker = conversation(
        [user("can you escalate this to Microsoft?", "escalate_to_microsoft")],
        token=customer_token(customer(seeded_session, "proseware.com").tenant_id),
    )
    names, shown = await answer_then_why(
        ActionEscalationRoute(clock=lambda: midday(seeded_db)), tracker
    )
    assert names == ["utter_because"]
    assert shown[0].startswith(
        "Because Litware Partners holds no Microsoft technical support plan"
    )


async def test_an_answer_that_refuses_nothing_forgets_the_old_reason(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """After Northwind's route (nothing refused), "why?" has nothing left to
    explain rather than an older answer's reason."""
    tracker = conversation(
        [user("can you escalate this to Microsoft?", "escalate_to_microsoft")],
        token=customer_token(customer(seeded_session, "contoso.com").tenant_id),
        slots={LAST_REASON_SLOT: "an older answer's reason"},
    )
    names, _ = await answer_then_why(
        ActionEscalationRoute(clock=lambda: midday(seeded_db)), tracker
    )
    assert names == ["utter_why_unclear"]


# --------------------------------------------------------------------------- others


@pytest.mark.parametrize(
    ("token", "response"),
    [
        (None, "utter_capabilities"),
        (customer_token("7d42ce78-d321-5d35-b202-3916176fc7ed"), "utter_capabilities"),
        (staff_token("U0NW0BILL1"), "utter_capabilities_staff"),
    ],
)
async def test_what_the_desk_can_do_depends_on_who_asks(
    token: Optional[str], response: str
) -> None:
    names, shown, _ = await run(
        ActionCapabilities(),
        conversation([user("what can you do?", "ask_capabilities")], token=token),
    )
    assert names == [response]
    assert "ticket" in shown[0]


async def test_a_complaint_gets_an_apology_and_a_person() -> None:
    names, shown, events = await run(
        ActionComplaint(), conversation([user("you're useless", "complain")])
    )
    assert names == ["utter_complaint"] and events == []
    assert shown[0].startswith("I'm sorry")
    assert "welcome" not in shown[0].lower()


# --------------------------------------------------------------- another language


def in_language(text: str, detected: Optional[dict[str, Any]]) -> Tracker:
    """The latest message `text`, with the `language` bot/language.py gave it."""
    event = user(text, "unsupported_language", confidence=1.0)
    if detected is not None:
        event["parse_data"]["language"] = detected
    return conversation([event])


def detected(*candidates: str) -> dict[str, Any]:
    return {
        "code": candidates[0],
        "candidates": list(candidates),
        "confidence": 0.97,
        "source": "detector",
        "spoken": False,
    }


@pytest.mark.parametrize(
    ("text", "language", "english_named", "start"),
    [
        ("Wann ist meine nächste Rechnung fällig?", "de", "Englisch", "Entschuldigung"),
        ("Où est ma facture ?", "fr", "anglais", "Désolé"),
        ("¿Dónde está mi factura?", "es", "inglés", "Lo siento"),
        ("Onde está a minha fatura?", "pt", "inglês", "Desculpe"),
        ("Dov'è la mia fattura?", "it", "inglese", "Mi scusi"),
        ("Waar is mijn factuur?", "nl", "Engels", "Sorry, ik"),
        ("請求書を見せてください", "ja", "英語", "申し訳ございません"),
        ("请把上个月的发票发给我", "zh", "英语", "抱歉"),
    ],
)
async def test_another_language_is_told_in_that_language_which_the_desk_speaks(
    text: str, language: str, english_named: str, start: str
) -> None:
    names, shown, events = await run(
        ActionUnsupportedLanguage(), in_language(text, detected(language))
    )
    assert names == ["<text>"] and events == []
    assert shown[0].startswith(start)
    assert shown[0].count(english_named) == 2  # speaks it, and write in it
    assert "English" not in shown[0] and "{" not in shown[0]


async def test_japanese_or_chinese_characters_alone_are_answered_in_both() -> None:
    _, shown, _ = await run(
        ActionUnsupportedLanguage(),
        in_language("請求書 G000024195", detected("zh", "ja")),
    )
    assert len(shown) == 2
    assert "英语" in shown[0] and "英語" in shown[1]


@pytest.mark.parametrize(
    "language",
    [
        detected("ko"),  # told, but no catalogue has the text in Korean
        None,  # nothing said which language
        {"code": "../../etc/passwd", "candidates": ["../../etc/passwd"]},
        {"code": 7},
    ],
)
async def test_a_language_without_its_own_text_is_answered_in_english(
    language: Optional[dict[str, Any]],
) -> None:
    _, shown, _ = await run(
        ActionUnsupportedLanguage(), in_language("청구서를 보내주세요", language)
    )
    assert shown == [
        "Sorry, I can only chat in English and Japanese for now. Please write your "
        "message in English or Japanese and I'll be glad to help."
    ]


async def test_the_answer_names_every_language_the_desk_speaks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(conversation_actions, "desk_languages", lambda: ("en", "ja"))
    _, shown, _ = await run(
        ActionUnsupportedLanguage(),
        in_language("Wo ist meine Rechnung?", detected("de")),
    )
    assert "nur auf Englisch und Japanisch antworten" in shown[0]
    assert "auf Englisch oder Japanisch" in shown[0]
