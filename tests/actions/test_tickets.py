"""The escalation actions against the demo data: self-help (and the suspension that
explains a problem instead), the offer, starting the ticket form (pre-filled from the
conversation), its validation on the form base, its questions, filing (routed,
idempotent, for the customer staff talk about), ticket status, and where an
escalation can go.

Expected routes are computed with `api.domain.services.routing.route` from the
partner's own programs, never written down.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from datetime import time as clock_time
from typing import Any, Optional

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions import tickets as tickets_module
from actions.base import LAST_REASON_SLOT, PENDING_ISSUES_SLOT, Reply, picked_issue
from actions.forms import FAILURES_SLOT
from actions.identity import ACTING_FOR_SLOT
from actions.tickets import (
    CATEGORY,
    COMMITTED_24X7,
    CONFIRMED,
    DESCRIPTION,
    FORM_SLOTS,
    IMPACT,
    MICROSOFT_ROUTE,
    PRODUCT,
    STEPS_TRIED,
    TOPIC,
    TRIAGE,
    URGENCY,
    ActionAskTicketCategory,
    ActionAskTicketConfirmed,
    ActionAskTicketDescription,
    ActionAskTicketProduct,
    ActionEscalationRoute,
    ActionFileTicket,
    ActionOfferTicket,
    ActionSelfHelpOutcome,
    ActionStartEscalation,
    ActionTechnicalSelfHelp,
    ActionTicketStatus,
    ValidateEscalationForm,
    escalation_trigger,
    known_identifiers,
    normalise_ticket_id,
    transcript_excerpt,
)
from api.demo.seed import DemoSummary
from api.domain.models import (
    Customer,
    Partner,
    ProductKind,
    Severity,
    SubscriptionStatus,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from api.domain.services import tickets as tickets_service
from api.domain.services.routing import route
from api.domain.services.tickets import NewTicket, create_ticket
from tests.actions.escalation_fixtures import (
    action,
    bot,
    conversation,
    customer_token,
    events_named,
    responses,
    slot,
    slot_values,
    staff_token,
    user,
)
from tests.actions.helpers import render
from tests.conftest import DEMO_ANCHOR

CARD = "4111 1111 1111 1111"
FORM = "escalation_form"


def midday(summary: DemoSummary) -> datetime:
    return datetime.combine(summary.anchor, clock_time(12), tzinfo=timezone.utc)


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def token_for(session: Session, domain: str) -> str:
    return customer_token(customer(session, domain).tenant_id)


async def run(
    action_obj: Any, tracker: Any, domain: Optional[dict] = None
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await action_obj.run(dispatcher, tracker, domain or {})
    return events, dispatcher


def ticket_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


def rejected(form: str = FORM) -> dict[str, Any]:
    """What Rasa logs when the form's validation did not take the message."""
    return {"event": "action_execution_rejected", "name": form}


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CSP-000123", "CSP-000123"),
        ("csp-123", "CSP-000123"),
        ("CSP 42", "CSP-000042"),
        ("csp000007", "CSP-000007"),
        ("G000024135", None),
        ("ticket", None),
    ],
)
def test_ticket_ids_are_normalised(raw: str, expected: Optional[str]) -> None:
    assert normalise_ticket_id(raw) == expected


def test_the_trigger_is_the_latest_commercial_or_technical_message() -> None:
    technical = conversation([user("Outlook is down", "report_technical_issue")])
    assert escalation_trigger(technical).triage == "technical"
    assert escalation_trigger(technical).topic == "technical_issue"
    assert escalation_trigger(technical).text == "Outlook is down"

    refund = conversation(
        [
            user("I want my money back", "request_refund"),
            bot("..."),
            user("yes", "affirm"),
        ]
    )
    assert escalation_trigger(refund).triage == "commercial"
    assert escalation_trigger(refund).topic == "refund"

    unclear = conversation(
        [
            user(
                "the thing on my bill",
                "nlu_fallback",
                ranking=[("nlu_fallback", 0.5), ("explain_charges", 0.4)],
            )
        ]
    )
    assert escalation_trigger(unclear).triage == "commercial"

    nothing = conversation([user("hi", "greet"), user("a person", "request_human")])
    assert escalation_trigger(nothing).triage is None


def test_identifiers_come_from_entities_and_the_current_invoice() -> None:
    tracker = conversation(
        [
            user(
                "invoice g000024135 for tenant 7D42CE78-D321-5D35-B202-3916176FC7ED",
                "ask_invoice",
                entities=[
                    ("invoice_number", "g000024135"),
                    ("tenant_id", "7D42CE78-D321-5D35-B202-3916176FC7ED"),
                ],
            ),
            user(
                "and subscription 11111111-2222-3333-4444-555555555555",
                "ask_subscription",
                entities=[("subscription_id", "11111111-2222-3333-4444-555555555555")],
            ),
        ],
        slots={"current_invoice_number": "G000024135"},
    )
    assert known_identifiers(tracker) == {
        "invoice_number": ["G000024135"],
        "tenant_id": ["7d42ce78-d321-5d35-b202-3916176fc7ed"],
        "subscription_id": ["11111111-2222-3333-4444-555555555555"],
    }


def test_the_transcript_excerpt_is_recent_and_redacted() -> None:
    tracker = conversation(
        [
            user("hello", "greet"),
            bot("Hi!"),
            user(
                f"I paid with card {CARD} and Outlook broke", "report_technical_issue"
            ),
            bot("Sorry about that", agent=None),
            bot("Hi, Dana here", agent="Dana"),
        ]
    )
    excerpt = transcript_excerpt(tracker, 4)
    assert [e["role"] for e in excerpt] == ["bot", "user", "bot", "agent"]
    assert CARD not in str(excerpt)
    assert "[redacted card number]" in excerpt[1]["text"]
    assert excerpt[-1]["agent"] == "Dana"


# --------------------------------------------------------------------------- self-help


@pytest.mark.parametrize(
    ("text", "product", "response"),
    [
        ("Outlook is down", "Outlook", "utter_self_help_microsoft_365"),
        ("our Azure VMs are unreachable", "Azure VMs", "utter_self_help_azure"),
        (
            "Windows Server keeps rebooting",
            "Windows Server",
            "utter_self_help_on_premises",
        ),
        (
            "Dynamics 365 Sales is slow",
            "Dynamics 365 Sales",
            "utter_self_help_dynamics_365",
        ),
        ("I can't log in, wrong password", None, "utter_self_help_sign_in"),
        ("something is broken", None, "utter_self_help_generic"),
    ],
)
async def test_self_help_fits_the_product(
    seeded_session: Session, text: str, product: Optional[str], response: str
) -> None:
    tracker = conversation(
        [
            user(
                text,
                "report_technical_issue",
                entities=[("product", product)] if product else None,
            )
        ],
        token=token_for(seeded_session, "contoso.com"),  # nothing suspended
    )
    events, dispatcher = await run(ActionTechnicalSelfHelp(), tracker)
    assert events == []
    assert responses(dispatcher) == [response, "utter_ask_self_help_worked"]
    shown = render(dispatcher)
    if product:
        assert product in shown[0]
    assert "Did that solve it?" in shown[1]


async def test_a_suspension_that_explains_the_problem_is_the_answer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Alpine Ski House's Business Premium is suspended for non-payment: "none of
    our staff can get into Outlook" gets the suspension, not app-restart tips."""
    alpine = customer(seeded_session, "alpineskihouse.com")
    suspended = [
        s for s in alpine.subscriptions if s.status is SubscriptionStatus.SUSPENDED
    ]
    assert suspended
    overdue = seeded_db.case("overdue_invoice").invoice_number
    assert overdue is not None
    tracker = conversation(
        [
            user(
                "none of our staff can get into Outlook since the end of October",
                "report_technical_issue",
                entities=[("product", "Outlook")],
            )
        ],
        token=customer_token(alpine.tenant_id),
    )
    events, dispatcher = await run(
        ActionTechnicalSelfHelp(clock=lambda: midday(seeded_db)), tracker
    )
    names = responses(dispatcher)
    assert not any(name.startswith("utter_self_help") for name in names)
    assert "utter_ask_self_help_worked" not in names
    assert "utter_suspended_which" in names and "utter_suspended_cause" in names
    shown = "\n".join(render(dispatcher))
    assert suspended[0].product_name in shown
    assert overdue in shown
    values = slot_values(events)
    assert values["current_invoice_number"] == overdue
    assert overdue in values[LAST_REASON_SLOT]  # "why?" next: the overdue invoice


async def test_a_suspension_that_does_not_cover_the_product_is_not_the_answer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Alpine's suspended subscription is Microsoft 365: an Azure problem is not
    explained by it."""
    tracker = conversation(
        [
            user(
                "our Azure VMs are unreachable",
                "report_technical_issue",
                entities=[("product", "Azure VMs")],
            )
        ],
        token=token_for(seeded_session, "alpineskihouse.com"),
    )
    _, dispatcher = await run(
        ActionTechnicalSelfHelp(clock=lambda: midday(seeded_db)), tracker
    )
    assert responses(dispatcher) == [
        "utter_self_help_azure",
        "utter_ask_self_help_worked",
    ]


# --------------------------------------------------------------------------- offer


@pytest.mark.parametrize(
    ("after", "sorry"),
    [
        (user("no, still crashing", "deny"), True),
        (user("Outlook still crashes", "report_technical_issue"), True),
        (user("the thingy", "nlu_fallback", confidence=0.4), False),
    ],
)
async def test_when_self_help_did_not_help_the_ticket_form_starts(
    after: dict[str, Any], sorry: bool
) -> None:
    """ "still crashing" after the tips: sorry, and the ticket the tips offered
    starts (no second "shall I?"); otherwise the ticket is offered."""
    tracker = conversation(
        [
            user("Outlook crashes", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            after,
        ]
    )
    events, dispatcher = await run(ActionOfferTicket(), tracker)
    if sorry:
        assert [(e["event"], e["name"]) for e in events] == [
            ("followup", "action_start_escalation")
        ]
        assert responses(dispatcher) == ["utter_self_help_did_not_help"]
        assert render(dispatcher)[0] == "Sorry that didn't fix it."
    else:
        assert events == []
        assert responses(dispatcher) == ["utter_offer_ticket"]


# --------------------------------------------------------------------------- start


async def test_starting_needs_a_signed_in_chatter(seeded_db: DemoSummary) -> None:
    tracker = conversation([user("Outlook is down", "report_technical_issue")])
    events, dispatcher = await run(ActionStartEscalation(), tracker)
    assert responses(dispatcher) == ["utter_ticket_sign_in_needed"]
    assert {"event": "followup", "name": "action_listen"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]


async def test_starting_prefills_what_the_conversation_already_said(
    seeded_session: Session,
) -> None:
    """Contoso's partner (Northwind) holds Premier Support for Partners: the
    problem, product and category come from the first message, and the ticket can
    reach Microsoft's technical support (so the form may ask about 24x7)."""
    tracker = conversation(
        [
            user(
                "Outlook is down for everyone",
                "report_technical_issue",
                entities=[("product", "Outlook")],
            ),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            user("no", "deny"),
            action("action_offer_ticket"),
            user("yes please", "affirm"),
        ],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, dispatcher = await run(ActionStartEscalation(), tracker)
    assert responses(dispatcher) == ["utter_ticket_intro_product"]
    assert "ticket about Outlook" in render(dispatcher)[0]
    values = slot_values(events)
    assert values[TRIAGE] == "technical" and values[CATEGORY] == "technical"
    assert values[TOPIC] == "technical_issue"
    assert values[PRODUCT] == "Outlook"
    assert values[DESCRIPTION] == "Outlook is down for everyone"
    assert values[IMPACT] == "critical"  # "down for everyone"
    assert values[MICROSOFT_ROUTE] is True
    assert all(values[name] is None for name in (URGENCY, CONFIRMED))
    assert not events_named(events, "followup")  # the rule opens the form


async def test_a_message_too_short_to_describe_the_problem_is_not_prefilled(
    seeded_session: Session,
) -> None:
    tracker = conversation(
        [user("it's broken", "report_technical_issue"), user("yes", "affirm")],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, _ = await run(ActionStartEscalation(), tracker)
    values = slot_values(events)
    assert values[DESCRIPTION] is None and values[PRODUCT] is None
    assert values[CATEGORY] == "technical"


@pytest.mark.parametrize(
    ("domain", "message", "intent", "category", "microsoft_route"),
    [
        # Litware Partners holds no Microsoft technical support plan.
        (
            "proseware.com",
            "Outlook is down for everyone",
            "report_technical_issue",
            "technical",
            False,
        ),
        # A commercial ticket never asks Microsoft's 24x7 technical question.
        (
            "contoso.com",
            "we were charged twice for Teams Phone",
            "explain_charges",
            "commercial",
            False,
        ),
    ],
)
async def test_only_a_technical_ticket_with_a_microsoft_route_can_reach_microsoft(
    seeded_session: Session,
    domain: str,
    message: str,
    intent: str,
    category: str,
    microsoft_route: bool,
) -> None:
    tracker = conversation(
        [user(message, intent), user("yes", "affirm")],
        token=token_for(seeded_session, domain),
    )
    events, _ = await run(ActionStartEscalation(), tracker)
    values = slot_values(events)
    assert values[CATEGORY] == category
    assert values[MICROSOFT_ROUTE] is microsoft_route


async def test_a_sales_agent_may_not_open_tickets(seeded_session: Session) -> None:
    tracker = conversation(
        [user("open a ticket", "report_technical_issue")],
        token=staff_token("U0NW0SALE1"),
    )
    events, dispatcher = await run(ActionStartEscalation(), tracker)
    assert responses(dispatcher) == ["utter_ticket_not_allowed"]
    text = render(dispatcher)[0]
    assert "Sales agent" in text and "Helpdesk agent" in text
    assert events_named(events, "followup")


async def test_a_helpdesk_agent_may_open_tickets(seeded_session: Session) -> None:
    tracker = conversation(
        [user("Teams is down", "report_technical_issue")],
        token=staff_token("U0NW0HELP1"),
    )
    events, dispatcher = await run(ActionStartEscalation(), tracker)
    assert responses(dispatcher) == ["utter_ticket_intro"]
    assert ACTING_FOR_SLOT not in slot_values(events)  # the partner's own ticket


async def test_staff_who_name_a_customer_are_remembered_to_act_for_it(
    seeded_session: Session,
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [
            user(
                "Contoso's Teams is down for the whole office",
                "report_technical_issue",
                entities=[("customer", "Contoso"), ("product", "Teams")],
            ),
            action("action_technical_self_help"),
            user("no", "deny"),
            action("action_offer_ticket"),
            user("yes", "affirm"),
        ],
        token=staff_token("U0NW0HELP1"),
    )
    events, _ = await run(ActionStartEscalation(), tracker)
    values = slot_values(events)
    assert values[ACTING_FOR_SLOT] == str(contoso.id)
    assert values[MICROSOFT_ROUTE] is True


# --------------------------------------------------------------------------- validation

FORM_DOMAIN: dict[str, Any] = {
    "forms": {FORM: {"required_slots": list(FORM_SLOTS)}},
    "slots": {name: {"type": "text"} for name in FORM_SLOTS},
}


async def validate(
    requested: str,
    value: Any = None,
    *,
    text: Optional[str] = None,
    intent: str = "inform",
    slots: Optional[dict[str, Any]] = None,
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    """Run validate_escalation_form as the form does after the user answered.

    `value` is what Rasa's own extraction set before the validation (a `from_intent`
    mapping: "yes" / "no"); None for the custom slots the validation extracts.
    """
    message = text if text is not None else str(value)
    events = [user(message, intent), action(FORM)]
    all_slots = {"requested_slot": requested, **(slots or {})}
    if value is not None:
        events.append(slot(requested, value))
        all_slots[requested] = value
    tracker = conversation(events, slots=all_slots, active_loop=FORM)
    return await run(ValidateEscalationForm(), tracker, FORM_DOMAIN)


async def test_a_short_description_is_refused_and_explained_after_two_tries() -> None:
    events, dispatcher = await validate(DESCRIPTION, text="broken")
    assert slot_values(events)[DESCRIPTION] is None
    assert responses(dispatcher) == ["utter_ticket_description_too_short"]
    assert slot_values(events)[FAILURES_SLOT] == {DESCRIPTION: 1}

    events, dispatcher = await validate(
        DESCRIPTION, text="help", slots={FAILURES_SLOT: {DESCRIPTION: 1}}
    )
    assert responses(dispatcher) == [
        "utter_ticket_description_too_short",
        "utter_explain_ticket_description",
    ]
    assert slot_values(events)[FAILURES_SLOT] == {DESCRIPTION: 0}  # count anew
    render(dispatcher)

    events, _ = await validate(
        DESCRIPTION,
        text="Since  9am nobody in the office can open Outlook",
        slots={FAILURES_SLOT: {DESCRIPTION: 1}},
    )
    values = slot_values(events)
    assert values[DESCRIPTION] == "Since 9am nobody in the office can open Outlook"
    assert values[FAILURES_SLOT] is None  # answered: nothing left to count


@pytest.mark.parametrize(
    ("text", "intent", "proposal", "expected"),
    [
        ("technical", "inform", "technical", "technical"),
        ("commercial", "inform", "technical", "commercial"),
        ("it's about billing", "inform", None, "commercial"),
        ("yes", "affirm", "technical", "technical"),
        # "No" to "I've classified this as technical. Is that right?"
        ("no", "deny", "technical", "commercial"),
        ("no", "deny", "commercial", "technical"),
        ("yes", "affirm", None, None),
        ("bananas", "inform", "technical", None),
    ],
)
async def test_the_category_is_confirmed_or_corrected(
    text: str, intent: str, proposal: Optional[str], expected: Optional[str]
) -> None:
    events, _ = await validate(
        CATEGORY, text=text, intent=intent, slots={TRIAGE: proposal}
    )
    assert slot_values(events)[CATEGORY] == expected


async def test_no_to_the_open_category_question_leaves_the_form() -> None:
    """Without a proposal, "no" answers nothing: the form is rejected and the
    "no, in the ticket form" rule leaves it."""
    events, dispatcher = await validate(CATEGORY, text="no", intent="deny")
    assert events == [] and dispatcher.messages == []


@pytest.mark.parametrize(
    ("slot_name", "text", "expected"),
    [
        (IMPACT, "critical", "critical"),
        (IMPACT, "nobody can work", "critical"),
        (IMPACT, "just me, it's minor", "minimal"),
        (IMPACT, "whatever", None),
        (URGENCY, "now", "now"),
        (URGENCY, "by the end of the day", "today"),
        (URGENCY, "no rush", "later"),
        (STEPS_TRIED, "nothing", "nothing yet"),
        (STEPS_TRIED, "restarted Outlook twice", "restarted Outlook twice"),
    ],
)
async def test_choices_are_understood_in_words(
    slot_name: str, text: str, expected: Optional[str]
) -> None:
    events, _ = await validate(slot_name, text=text)
    assert slot_values(events)[slot_name] == expected


async def test_no_to_what_was_tried_means_nothing_yet() -> None:
    """ "What have you already tried?" "No." is an answer, not leaving."""
    events, _ = await validate(STEPS_TRIED, text="no", intent="deny")
    assert slot_values(events)[STEPS_TRIED] == "nothing yet"


@pytest.mark.parametrize(
    ("requested", "intent", "value"),
    [
        (COMMITTED_24X7, "affirm", "yes"),
        (COMMITTED_24X7, "deny", "no"),
        (CONFIRMED, "affirm", "yes"),
        (CONFIRMED, "deny", "no"),
    ],
)
async def test_yes_no_questions_keep_what_the_intent_mapping_set(
    requested: str, intent: str, value: str
) -> None:
    """ticket_24x7 and ticket_confirmed are `from_intent` slots (domain/tickets.yml):
    Rasa sets "yes" / "no" before the validation, which keeps it. "No" is their
    answer, never leaving the form."""
    events, dispatcher = await validate(
        requested,
        value,
        text=value,
        intent=intent,
        slots={IMPACT: "critical", URGENCY: "now", MICROSOFT_ROUTE: True},
    )
    assert slot_values(events)[requested] == value
    assert dispatcher.messages == []


async def test_text_is_never_taken_for_a_yes_or_a_no() -> None:
    """Only the affirm / deny intents answer a yes/no question: "maybe later
    perhaps" sets nothing, so Rasa rejects the form rather than file a ticket."""
    events, _ = await validate(CONFIRMED, text="maybe later perhaps")
    assert CONFIRMED not in slot_values(events)


@pytest.mark.parametrize(
    ("impact", "urgency", "microsoft_route", "asks_24x7"),
    [
        ("critical", "now", True, True),
        # Litware's customers: no Microsoft technical route, so no Microsoft
        # condition to explain (it would be a promise nobody keeps).
        ("critical", "now", False, False),
        ("critical", "now", None, False),
        ("critical", "today", True, False),
        ("moderate", "now", True, False),
        (None, None, True, False),
    ],
)
async def test_the_24x7_question_is_only_for_sev_a_that_can_reach_microsoft(
    impact: Optional[str],
    urgency: Optional[str],
    microsoft_route: Optional[bool],
    asks_24x7: bool,
) -> None:
    tracker = conversation(
        [],
        slots={IMPACT: impact, URGENCY: urgency, MICROSOFT_ROUTE: microsoft_route},
    )
    required = await ValidateEscalationForm().required_slots(
        [], CollectingDispatcher(), tracker, {}
    )
    assert (COMMITTED_24X7 in required) is asks_24x7
    assert required[0] == DESCRIPTION and required[-1] == CONFIRMED


async def test_a_correction_changes_the_impact_and_voids_the_24x7_answer() -> None:
    """ "Actually it's minor, just me" while the form asks what was tried changes
    the impact (not the steps tried); the 24x7 answer given for a Severity A no
    longer holds, so it is forgotten."""
    events, _ = await validate(
        STEPS_TRIED,
        text="actually it's minor, just me",
        slots={
            IMPACT: "critical",
            URGENCY: "now",
            COMMITTED_24X7: "yes",
            MICROSOFT_ROUTE: True,
        },
    )
    assert slot_values(events) == {IMPACT: "minimal", COMMITTED_24X7: None}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("stop", "stop"),
        ("I need to talk to a person", "request_human"),
        ("why do you need that?", "ask_why"),
        ("wait, what's my latest invoice?", "ask_invoice"),
    ],
)
async def test_leaving_and_other_questions_are_never_a_description(
    text: str, intent: str
) -> None:
    events, dispatcher = await validate(DESCRIPTION, text=text, intent=intent)
    assert events == [] and dispatcher.messages == []


# --------------------------------------------------------------------------- asking


async def test_the_product_question_offers_the_customers_products(
    seeded_session: Session,
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [user("yes", "affirm"), action("action_start_escalation"), action(FORM)],
        token=token_for(seeded_session, "contoso.com"),
    )
    _, dispatcher = await run(ActionAskTicketProduct(), tracker)
    assert responses(dispatcher) == ["utter_ask_ticket_product"]
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert {s.product_name for s in contoso.subscriptions} <= set(titles)
    assert titles[-1] == "I'm not sure"


async def test_the_category_question_shows_the_proposal() -> None:
    _, dispatcher = await run(
        ActionAskTicketCategory(), conversation([], slots={TRIAGE: "technical"})
    )
    assert responses(dispatcher) == ["utter_ask_ticket_category_proposed"]
    assert "technical: a product or service" in render(dispatcher)[0]
    _, dispatcher = await run(ActionAskTicketCategory(), conversation([]))
    assert responses(dispatcher) == ["utter_ask_ticket_category_open"]


async def test_the_first_question_is_asked_plainly() -> None:
    """The form starts after action_start_escalation in the same turn: that is no
    interruption, so no "back to your ticket"."""
    tracker = conversation(
        [
            user("yes", "affirm"),
            action("action_start_escalation"),
            bot("Let's open a ticket."),
            action(FORM),
        ],
        active_loop=FORM,
    )
    _, dispatcher = await run(ActionAskTicketDescription(), tracker)
    assert responses(dispatcher) == ["utter_ask_ticket_description"]


async def test_the_question_after_an_interruption_says_it_is_back() -> None:
    tracker = conversation(
        [
            user("yes", "affirm"),
            action("action_start_escalation"),
            action(FORM),
            user("why do you need that?", "ask_why"),
            rejected(),
            action("action_explain_why"),
            bot("The support desk needs your own words..."),
            action(FORM),
        ],
        active_loop=FORM,
    )
    _, dispatcher = await run(ActionAskTicketDescription(), tracker)
    assert responses(dispatcher) == [
        "utter_back_to_escalation_form",
        "utter_ask_ticket_description",
    ]
    assert render(dispatcher)[0] == "Back to your ticket:"


def form_slots(**overrides: Any) -> dict[str, Any]:
    slots = {
        DESCRIPTION: "Since 9am nobody can open Outlook, error 0x800CCC0E",
        PRODUCT: "Outlook",
        CATEGORY: "technical",
        IMPACT: "critical",
        URGENCY: "now",
        COMMITTED_24X7: "yes",
        STEPS_TRIED: "restarted Outlook",
        CONFIRMED: "yes",
        TRIAGE: "technical",
        TOPIC: "technical_issue",
        MICROSOFT_ROUTE: True,
    }
    slots.update(overrides)
    return slots


def expected_route(
    session: Session, domain: str, category: TicketCategory, kind: ProductKind
) -> tuple[Partner, Any]:
    partner = customer(session, domain).partner
    decision = route(
        category,
        product_kind=kind,
        programs=set(partner.active_programs(DEMO_ANCHOR)),
    )
    return partner, decision


async def test_the_confirmation_summarises_and_says_where_it_goes(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    partner, decision = expected_route(
        seeded_session, "contoso.com", TicketCategory.TECHNICAL, ProductKind.LICENSE
    )
    tracker = conversation(
        [user("restarted Outlook", "inform")],
        token=token_for(seeded_session, "contoso.com"),
        slots=form_slots(**{CONFIRMED: None}),
    )
    _, dispatcher = await run(
        ActionAskTicketConfirmed(clock=lambda: midday(seeded_db)), tracker
    )
    shown = "\n".join(render(dispatcher))
    assert "Proposed severity: A" in shown
    assert partner.name in shown
    assert decision.escalate_to_name in shown
    assert "1 hour, around the clock" in shown  # Premier, Sev A (routing.yml)
    assert responses(dispatcher)[-1] == "utter_ask_ticket_confirmed"


async def test_without_a_microsoft_route_the_confirmation_promises_no_microsoft(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Proseware's partner, Litware, holds no technical plan: the 24x7 question was
    not asked, so a critical, urgent problem is proposed as Severity B, and the
    confirmation says there is no Microsoft technical route."""
    proseware = customer(seeded_session, "proseware.com")
    tracker = conversation(
        [user("restarted Outlook", "inform")],
        token=customer_token(proseware.tenant_id),
        slots=form_slots(
            **{CONFIRMED: None, COMMITTED_24X7: None, MICROSOFT_ROUTE: False}
        ),
    )
    _, dispatcher = await run(
        ActionAskTicketConfirmed(clock=lambda: midday(seeded_db)), tracker
    )
    shown = "\n".join(render(dispatcher))
    assert "Proposed severity: B (moderate impact, worked in business hours)" in shown
    assert "utter_ticket_route_none" in responses(dispatcher)
    assert "no Microsoft technical route" in shown
    assert "around the clock" not in shown
    assert "Microsoft" not in render(dispatcher)[0]  # the summary itself


# --------------------------------------------------------------------------- filing


def filing_tracker(
    token: str,
    *,
    message_id: str = "m-confirm",
    sender_id: str = "conv-file",
    before: Optional[list[dict[str, Any]]] = None,
    **slots: Any,
) -> Any:
    return conversation(
        [
            *(before or []),
            user(
                f"Outlook is down, I paid by card {CARD}",
                "report_technical_issue",
                entities=[("product", "Outlook")],
            ),
            bot("Did that solve it?"),
            user(
                "invoice G000024167",
                "ask_invoice",
                entities=[("invoice_number", "G000024167")],
            ),
            user("yes", "affirm", message_id=message_id),
        ],
        token=token,
        slots=form_slots(**slots),
        sender_id=sender_id,
        active_loop=None,
    )


async def test_a_technical_ticket_goes_to_the_partners_tier(
    seeded_db: DemoSummary, seeded_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ticket service stamps the ticket with its own clock: stop it at midday.
    monkeypatch.setattr(tickets_service, "utcnow", lambda: midday(seeded_db))
    contoso = customer(seeded_session, "contoso.com")
    partner, decision = expected_route(
        seeded_session, "contoso.com", TicketCategory.TECHNICAL, ProductKind.LICENSE
    )
    assert decision.escalate_to is not None
    events, dispatcher = await run(
        ActionFileTicket(clock=lambda: midday(seeded_db)),
        filing_tracker(customer_token(contoso.tenant_id)),
    )
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.route == decision.escalate_to
    assert ticket.partner_id == partner.id and ticket.customer_id == contoso.id
    assert ticket.severity is Severity.A
    assert ticket.category is TicketCategory.TECHNICAL
    assert ticket.status is TicketStatus.NEW
    assert ticket.requester == f"customer:{contoso.tenant_id}:alex@example.com"
    assert ticket.conversation_id == "conv-file"
    assert ticket.idempotency_key == "chat:conv-file:m-confirm"
    packet = ticket.packet
    assert packet["tenant_id"] == contoso.tenant_id
    assert packet["customer_24x7_commitment"] is True
    assert packet["identifiers"]["invoice_number"] == ["G000024167"]
    assert packet["steps_tried"] == ["restarted Outlook"]
    assert packet["product_kind"] == "license"
    assert CARD not in str(packet["transcript_excerpt"])
    assert packet["transcript_excerpt"][-1] == {"role": "user", "text": "yes"}

    # Severity A at the partner's desk: 1 hour around the clock from midday UTC,
    # said in Northwind's own time zone (Pacific).
    assert ticket.sla_due_at is not None
    assert ticket.sla_due_at.replace(tzinfo=timezone.utc) == midday(
        seeded_db
    ) + timedelta(hours=1)
    shown = "\n".join(render(dispatcher))
    assert ticket.public_id in shown
    assert partner.name in shown
    assert decision.escalate_to_name in shown
    assert "respond by Sunday 15 November 2026 at 05:00 PST" in shown
    assert "1 hour, around the clock" in shown  # Premier, Sev A (routing.yml)
    values = slot_values(events)
    assert all(values[name] is None for name in (DESCRIPTION, CONFIRMED, TRIAGE))
    assert values[MICROSOFT_ROUTE] is None


async def test_no_entitlement_means_no_microsoft_technical_route(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    proseware = customer(seeded_session, "proseware.com")
    assert proseware.partner.active_programs(seeded_db.anchor) == []
    _, dispatcher = await run(
        ActionFileTicket(clock=lambda: midday(seeded_db)),
        filing_tracker(
            customer_token(proseware.tenant_id),
            **{COMMITTED_24X7: None, MICROSOFT_ROUTE: False},
        ),
    )
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.route == "partner_desk"
    assert ticket.severity is Severity.B  # no 24x7 question, so no Severity A
    shown = "\n".join(render(dispatcher))
    assert "no Microsoft technical route" in shown
    assert proseware.partner.name in shown
    assert ticket.public_id in shown


async def test_a_corrected_commercial_issue_goes_to_microsoft_commercial(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    proseware = customer(seeded_session, "proseware.com")
    _, dispatcher = await run(
        ActionFileTicket(clock=lambda: midday(seeded_db)),
        filing_tracker(
            customer_token(proseware.tenant_id),
            **{CATEGORY: "commercial", IMPACT: "moderate", URGENCY: "later"},
        ),
    )
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.route == "microsoft_commercial"
    assert ticket.severity is Severity.C
    assert ticket.topic == "commercial"  # the technical topic no longer fits
    assert "Microsoft commercial support" in "\n".join(render(dispatcher))


async def test_without_24x7_sev_a_is_filed_as_b(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    _, _ = await run(
        ActionFileTicket(clock=lambda: midday(seeded_db)),
        filing_tracker(
            token_for(seeded_session, "contoso.com"), **{COMMITTED_24X7: "no"}
        ),
    )
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.severity is Severity.B
    assert ticket.packet["customer_24x7_commitment"] is False


async def test_the_same_message_files_one_ticket_however_often_it_runs(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    token = token_for(seeded_session, "contoso.com")
    action_obj = ActionFileTicket(clock=lambda: midday(seeded_db))
    _, first = await run(action_obj, filing_tracker(token))
    _, again = await run(action_obj, filing_tracker(token))  # a redelivery / retry
    assert render(first) == render(again)
    seeded_session.expire_all()
    assert ticket_count(seeded_session) == 1

    _, other = await run(action_obj, filing_tracker(token, message_id="m-other"))
    seeded_session.expire_all()
    assert ticket_count(seeded_session) == 2
    assert render(other) != render(first)


async def test_a_cancelled_form_files_nothing(seeded_session: Session) -> None:
    events, dispatcher = await run(
        ActionFileTicket(),
        filing_tracker(token_for(seeded_session, "contoso.com"), **{CONFIRMED: "no"}),
    )
    assert responses(dispatcher) == ["utter_ticket_cancelled"]
    assert ticket_count(seeded_session) == 0
    assert slot_values(events)[DESCRIPTION] is None


async def test_staff_tickets_without_a_customer_are_the_partners_own(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    _, dispatcher = await run(
        ActionFileTicket(clock=lambda: midday(seeded_db)),
        filing_tracker(staff_token("U0NW0HELP1")),
    )
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.requester == "staff:slack:U0NW0HELP1"
    northwind = seeded_session.scalars(
        select(Partner).where(Partner.slug == "northwind")
    ).one()
    assert ticket.partner_id == northwind.id
    assert ticket.customer_id is None and ticket.packet["tenant_id"] is None
    assert ticket.public_id in "\n".join(render(dispatcher))


@pytest.mark.parametrize("how", ["named earlier", "remembered"])
async def test_a_staff_ticket_for_a_customer_carries_the_customer_and_its_tenant(
    seeded_db: DemoSummary, seeded_session: Session, how: str
) -> None:
    """Staff who talk about Contoso (named in an earlier message, or remembered
    from an earlier answer) file the ticket for Contoso, with its tenant."""
    contoso = customer(seeded_session, "contoso.com")
    named = [
        user(
            "Contoso can't open Outlook",
            "report_technical_issue",
            entities=[("customer", "Contoso")],
        )
    ]
    tracker = filing_tracker(
        staff_token("U0NW0HELP1"),
        before=named if how == "named earlier" else None,
        **({ACTING_FOR_SLOT: str(contoso.id)} if how == "remembered" else {}),
    )
    await run(ActionFileTicket(clock=lambda: midday(seeded_db)), tracker)
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.requester == "staff:slack:U0NW0HELP1"
    assert ticket.partner_id == contoso.partner_id
    assert ticket.customer_id == contoso.id
    assert ticket.packet["tenant_id"] == contoso.tenant_id


async def test_staff_never_file_for_another_partners_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """A Litware billing admin whose slots name Contoso (Northwind's customer)
    files Litware's own ticket: no Contoso, no Contoso tenant."""
    contoso = customer(seeded_session, "contoso.com")
    tracker = filing_tracker(
        staff_token("U0LW0BILL1"), **{ACTING_FOR_SLOT: str(contoso.id)}
    )
    await run(ActionFileTicket(clock=lambda: midday(seeded_db)), tracker)
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.partner_id != contoso.partner_id
    assert ticket.customer_id is None
    assert contoso.tenant_id not in str(ticket.packet)


async def test_a_database_failure_is_an_apology(
    seeded_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(tickets_module, "create_ticket", broken)
    _, dispatcher = await run(
        ActionFileTicket(), filing_tracker(token_for(seeded_session, "contoso.com"))
    )
    assert responses(dispatcher) == ["utter_ticket_unavailable"]


# --------------------------------------------------------------------------- status


def file_directly(
    session: Session, domain: str, requester: str, key: str, summary: str
) -> Ticket:
    found = customer(session, domain)
    ticket, _ = create_ticket(
        session,
        new=NewTicket(
            partner_id=found.partner_id,
            customer_id=found.id,
            requester=requester,
            category=TicketCategory.TECHNICAL,
            topic="technical_issue",
            summary=summary,
            description=summary,
            idempotency_key=key,
        ),
    )
    session.commit()
    return ticket


async def test_status_lists_only_the_chatters_own_tickets(
    seeded_session: Session,
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    mine = file_directly(
        seeded_session,
        "contoso.com",
        f"customer:{contoso.tenant_id}:alex@example.com",
        "k1",
        "Outlook cannot connect",
    )
    theirs = file_directly(
        seeded_session,
        "contoso.com",
        f"customer:{contoso.tenant_id}:sam@example.com",
        "k2",
        "Teams has no sound",
    )
    tracker = conversation(
        [user("what's the status of my ticket", "ask_ticket_status")],
        token=customer_token(contoso.tenant_id),
    )
    _, dispatcher = await run(ActionTicketStatus(), tracker)
    shown = render(dispatcher)[0]
    assert mine.public_id in shown and "Outlook cannot connect" in shown
    assert theirs.public_id not in shown


async def test_someone_elses_ticket_is_not_found(seeded_session: Session) -> None:
    contoso = customer(seeded_session, "contoso.com")
    theirs = file_directly(
        seeded_session,
        "contoso.com",
        f"customer:{contoso.tenant_id}:sam@example.com",
        "k2",
        "Teams has no sound",
    )
    for raw in (theirs.public_id, "CSP-999999"):
        tracker = conversation(
            [
                user(
                    f"status of {raw}",
                    "ask_ticket_status",
                    entities=[("ticket_id", raw)],
                )
            ],
            token=customer_token(contoso.tenant_id),
        )
        _, dispatcher = await run(ActionTicketStatus(), tracker)
        assert responses(dispatcher) == ["utter_ticket_not_found"]
        assert "Teams has no sound" not in render(dispatcher)[0]


async def test_a_named_own_ticket_shows_its_status(seeded_session: Session) -> None:
    contoso = customer(seeded_session, "contoso.com")
    mine = file_directly(
        seeded_session,
        "contoso.com",
        f"customer:{contoso.tenant_id}:alex@example.com",
        "k1",
        "Outlook cannot connect",
    )
    raw = mine.public_id.lower().replace("-", " ")  # "csp 000001"
    tracker = conversation(
        [user(f"any news on {raw}?", "ask_ticket_status")],
        token=customer_token(contoso.tenant_id),
    )
    _, dispatcher = await run(ActionTicketStatus(), tracker)
    shown = render(dispatcher)[0]
    assert mine.public_id in shown and "received, not picked up yet" in shown


async def test_status_without_tickets_or_identity(seeded_session: Session) -> None:
    tracker = conversation(
        [user("ticket status", "ask_ticket_status")],
        token=token_for(seeded_session, "fourthcoffee.com"),
    )
    _, dispatcher = await run(ActionTicketStatus(), tracker)
    assert responses(dispatcher) == ["utter_no_tickets"]

    _, dispatcher = await run(
        ActionTicketStatus(), conversation([user("ticket status", "ask_ticket_status")])
    )
    assert responses(dispatcher) == ["utter_ticket_sign_in_needed"]


# --------------------------------------------------------------------------- Microsoft


async def escalation_route(
    summary: DemoSummary, token: Optional[str], slots: Optional[dict[str, Any]] = None
) -> tuple[list[str], str, dict[str, Any]]:
    tracker = conversation(
        [user("Can you escalate this to Microsoft?", "escalate_to_microsoft")],
        token=token,
        slots=slots,
    )
    events, dispatcher = await run(
        ActionEscalationRoute(clock=lambda: midday(summary)), tracker
    )
    return responses(dispatcher), "\n".join(render(dispatcher)), slot_values(events)


async def test_northwind_holds_premier_so_it_has_a_technical_route(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    names, shown, slots = await escalation_route(
        seeded_db,
        token_for(seeded_session, "contoso.com"),
        slots={LAST_REASON_SLOT: "an older reason"},
    )
    assert names == [
        "utter_escalation_route_first_stop",
        "utter_escalation_route_technical",
        "utter_escalation_route_commercial",
        "utter_offer_ticket_short",
    ]
    assert "Northwind Cloud Services holds Premier Support for Partners" in shown
    assert "Microsoft commercial support (Partner Center)" in shown
    assert "You have no support tickets" not in shown
    assert slots == {LAST_REASON_SLOT: None}  # nothing refused: no old "why"


async def test_litware_holds_no_plan_so_it_says_so_and_why(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    names, shown, slots = await escalation_route(
        seeded_db, token_for(seeded_session, "treyresearch.net")
    )
    assert names == [
        "utter_escalation_route_first_stop",
        "utter_escalation_route_no_technical",
        "utter_escalation_route_commercial",
        "utter_offer_ticket_short",
    ]
    assert "Litware Partners' support desk" in shown  # not "Partners's"
    assert "Litware Partners has no Microsoft technical support plan" in shown
    assert "Microsoft commercial support (Partner Center)" in shown  # everyone's
    assert "Premier" not in shown.split("Billing and subscription")[0]
    reason = slots[LAST_REASON_SLOT]
    assert reason.startswith("Litware Partners holds no Microsoft technical support")


async def test_staff_hear_their_partners_current_programs(
    seeded_db: DemoSummary,
) -> None:
    """Fabrikam holds Advanced Support and Partner cloud support; its Signature
    Cloud Support ended in 2022 and is not offered as a route."""
    names, shown, _ = await escalation_route(seeded_db, staff_token("U0FB0HELP1"))
    assert names[0] == "utter_escalation_route_staff"
    assert "Advanced Support for Partners and Partner cloud support" in shown
    assert "Signature" not in shown


async def test_anonymous_chatters_hear_how_it_works_in_general(
    seeded_db: DemoSummary,
) -> None:
    names, _, _ = await escalation_route(seeded_db, None)
    assert names == ["utter_escalation_route_general", "utter_sign_in_needed"]


# --------------------------------------------------------------------------- past the tips


async def test_a_ticket_asked_for_after_trying_skips_the_tips(
    seeded_session: Session,
) -> None:
    tracker = conversation(
        [
            user(
                "Teams calls keep dropping for our whole sales team. Restarting "
                "didn't help. Please open a technical ticket.",
                "report_technical_issue",
                entities=[("product", "Teams")],
            )
        ],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, dispatcher = await run(ActionTechnicalSelfHelp(), tracker)
    assert responses(dispatcher) == []  # no tips
    assert [e.get("name") for e in events_named(events, "followup")] == [
        "action_start_escalation"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Outlook isn't syncing, please open a ticket",  # asked, but not tried yet
        "Restarting didn't help, Outlook still crashes",  # tried, no ticket asked
    ],
)
async def test_otherwise_the_tips_come_first(
    seeded_session: Session, text: str
) -> None:
    tracker = conversation(
        [user(text, "report_technical_issue", entities=[("product", "Outlook")])],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, dispatcher = await run(ActionTechnicalSelfHelp(), tracker)
    assert responses(dispatcher)[-1] == "utter_ask_self_help_worked"
    assert not events_named(events, "followup")


async def test_a_ticket_asked_for_after_the_tips_skips_them(
    seeded_session: Session,
) -> None:
    tracker = conversation(
        [
            user("Outlook isn't syncing", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            user("please open a ticket for it", "report_technical_issue"),
        ],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, dispatcher = await run(ActionTechnicalSelfHelp(), tracker)
    assert responses(dispatcher) == []
    assert events_named(events, "followup")


async def test_starting_from_the_problem_itself_opens_the_form(
    seeded_session: Session,
) -> None:
    """No rule follows a start that self-help chose: the action opens the form."""
    tracker = conversation(
        [
            user(
                "Teams is down for everyone, restarting didn't help, open a ticket",
                "report_technical_issue",
                entities=[("product", "Teams")],
            ),
            action("action_technical_self_help"),
        ],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, dispatcher = await run(ActionStartEscalation(), tracker)
    assert [e.get("name") for e in events_named(events, "followup")] == [FORM]
    assert "ticket about Teams" in render(dispatcher)[0]
    assert slot_values(events)[IMPACT] == "critical"


@pytest.mark.parametrize(
    ("text", "solved"),
    [
        ("yes", True),
        ("/affirm", True),
        ("yes, that fixed it, thanks", True),
        ("yep all good now", True),
        ("yes it's everyone in the office", False),
        ("yes but it's still slow", False),
        ("yes, still crashing", False),
        ("yes, nobody can get in", False),
        ("yes please open a ticket for it", False),
    ],
)
async def test_only_a_yes_that_says_so_is_solved(text: str, solved: bool) -> None:
    tracker = conversation(
        [
            user("Teams is down", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            user(text, "affirm"),
        ]
    )
    events, dispatcher = await run(ActionSelfHelpOutcome(), tracker)
    if "ticket" in text:  # asked for it: the form, no second offer
        assert responses(dispatcher) == []
        assert [e.get("name") for e in events_named(events, "followup")] == [
            "action_start_escalation"
        ]
    elif solved:
        assert responses(dispatcher) == ["utter_glad_it_helped"]
        assert events == []
    else:
        assert "utter_glad_it_helped" not in responses(dispatcher)
        assert [e.get("name") for e in events_named(events, "followup")] == [
            "action_offer_ticket"
        ]
    if "everyone" in text or "nobody" in text:
        assert responses(dispatcher) == ["utter_self_help_everyone"]


async def test_a_question_after_the_tips_is_answered_and_the_ticket_offered_again() -> (
    None
):
    tracker = conversation(
        [
            user(
                "Outlook isn't syncing for the finance team",
                "report_technical_issue",
                entities=[("product", "Outlook")],
            ),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            action("action_listen"),
            user(
                "quick question first, how much do we still owe you?",
                "ask_payment_status",
            ),
        ]
    )
    dispatcher = CollectingDispatcher()
    events = (
        Reply()
        .text("Outstanding on your account: 1,424.30 GBP.")
        .send(dispatcher, tracker)
    )
    assert len(dispatcher.messages) == 1  # the answer; the offer follows it
    assert [e.get("name") for e in events_named(events, "followup")] == [
        "action_offer_ticket"
    ]
    # The offer, after that answer, names the problem and asks again.
    answered = conversation(
        [*tracker.events[3:], action("action_payment_status")],
    )
    offered, dispatcher = await run(ActionOfferTicket(), answered)
    assert offered == []
    assert responses(dispatcher) == ["utter_offer_ticket_again"]
    assert "Outlook" in render(dispatcher)[0] and "ticket" in render(dispatcher)[0]

    # Not after an answer on the same problem, nor inside a form.
    again = conversation(
        [
            user("Outlook isn't syncing", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            action("action_listen"),
            user("Outlook still crashes", "report_technical_issue"),
        ]
    )
    assert not events_named(
        Reply().text("x").send(CollectingDispatcher(), again), "followup"
    )
    in_form = conversation(tracker.events[3:], active_loop="escalation_form")
    assert not events_named(
        Reply().text("x").send(CollectingDispatcher(), in_form), "followup"
    )


async def test_taking_up_the_other_problem_leaves_the_form_and_offers_the_first_back(
    seeded_session: Session,
) -> None:
    first = user("my invoice is wrong and also Teams is down", "dispute_charge")
    first["parse_data"]["issues"] = [
        {
            "text": "my invoice is wrong",
            "intent": "dispute_charge",
            "topic": "charge_explanation",
        },
        {
            "text": "Teams is down",
            "intent": "report_technical_issue",
            "topic": "technical_issue",
        },
    ]
    tracker = conversation(
        [
            first,
            action("action_start_dispute"),
            action("dispute_form"),
            bot("I'll file this dispute: ... Shall I file it?"),
            action("action_listen"),
            user(
                "ok now the Teams problem",
                "report_technical_issue",
                entities=[("product", "Teams")],
            ),
        ],
        token=token_for(seeded_session, "contoso.com"),
        slots={
            PENDING_ISSUES_SLOT: [
                {
                    "text": "Teams is down",
                    "intent": "report_technical_issue",
                    "topic": "technical_issue",
                }
            ]
        },
        active_loop="dispute_form",
    )
    events, dispatcher = await run(ActionTechnicalSelfHelp(), tracker)
    assert [e.get("name") for e in events_named(events, "active_loop")] == [None]
    shown = render(dispatcher)
    assert "Teams" in shown[0]  # its own tips
    assert "“my invoice is wrong”" in shown[-1]
    assert dispatcher.messages[-1]["buttons"][0]["payload"] == "my invoice is wrong"
    assert slot_values(events)[PENDING_ISSUES_SLOT] == [
        {
            "text": "my invoice is wrong",
            "intent": "dispute_charge",
            "topic": "charge_explanation",
        }
    ]


def test_the_message_that_raised_two_problems_does_not_take_one_up() -> None:
    """Every answer to it (the dispute's question too) keeps the other on offer."""
    issues = [
        {
            "text": "my invoice is wrong",
            "intent": "dispute_charge",
            "topic": "charge_explanation",
        },
        {
            "text": "Teams is down",
            "intent": "report_technical_issue",
            "topic": "technical_issue",
        },
    ]
    first = user(
        "my invoice is wrong and also Teams is down",
        "dispute_charge",
        entities=[("product", "Teams")],
    )
    first["parse_data"]["issues"] = issues
    tracker = conversation(
        [first, action("action_start_dispute"), bot("Let's raise a dispute ...")],
        slots={PENDING_ISSUES_SLOT: [issues[1]]},
    )
    assert picked_issue(tracker) is None
    later = conversation(
        [
            first,
            action("action_listen"),
            user(
                "ok now the Teams problem",
                "report_technical_issue",
                entities=[("product", "Teams")],
            ),
        ],
        slots={PENDING_ISSUES_SLOT: [issues[1]]},
    )
    assert picked_issue(later) == issues[1]


def test_a_question_between_the_tips_and_the_ticket_is_not_the_problem() -> None:
    tracker = conversation(
        [
            user(
                "Teams is down",
                "report_technical_issue",
                entities=[("product", "Teams")],
            ),
            action("action_technical_self_help"),
            user("how much do we owe?", "ask_payment_status"),
            action("action_payment_status"),
            action("action_offer_ticket"),
            user("yes", "affirm"),
        ]
    )
    trigger = escalation_trigger(tracker)
    assert (trigger.text, trigger.triage) == ("Teams is down", "technical")


def test_a_question_after_the_tips_starting_a_dispute_is_not_followed_by_the_offer() -> (
    None
):
    tracker = conversation(
        [
            user("Teams is down", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            action("action_listen"),
            user("ok now the invoice problem", "dispute_charge"),
        ]
    )
    events = (
        Reply().text("Let's raise a dispute ...").send(CollectingDispatcher(), tracker)
    )
    assert not events_named(events, "followup")


@pytest.mark.parametrize(
    ("text", "follows"),
    [
        ("tried all of that, didn't work", "action_offer_ticket"),
        ("still the same", "action_offer_ticket"),
        ("qwzx blorp", "action_fallback"),
    ],
)
async def test_an_unclear_answer_to_the_tips(text: str, follows: str) -> None:
    tracker = conversation(
        [
            user("Dynamics 365 Sales won't load", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            user(text, "nlu_fallback", confidence=0.3),
        ]
    )
    events, dispatcher = await run(ActionSelfHelpOutcome(), tracker)
    assert "utter_glad_it_helped" not in responses(dispatcher)
    assert [e.get("name") for e in events_named(events, "followup")] == [follows]


async def test_staff_naming_a_customer_with_a_problem_go_on_about_it(
    seeded_session: Session,
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [
            user(
                "Contoso's Outlook is down",
                "report_technical_issue",
                entities=[("customer", "Contoso"), ("product", "Outlook")],
            )
        ],
        token=staff_token("U0NW0BILL1"),
    )
    events, _ = await run(ActionTechnicalSelfHelp(), tracker)
    assert slot_values(events)[ACTING_FOR_SLOT] == str(contoso.id)


async def test_once_solved_the_other_problem_raised_is_offered() -> None:
    invoice = {
        "text": "my invoice is wrong",
        "intent": "dispute_charge",
        "topic": "charge_explanation",
    }
    tracker = conversation(
        [
            user("Teams is down", "report_technical_issue"),
            action("action_technical_self_help"),
            bot("Did that solve it?"),
            user("yes", "affirm"),
        ],
        slots={PENDING_ISSUES_SLOT: [invoice]},
    )
    _, dispatcher = await run(ActionSelfHelpOutcome(), tracker)
    shown = render(dispatcher)
    assert responses(dispatcher)[0] == "utter_glad_it_helped"
    assert "“my invoice is wrong”" in shown[1]
    assert dispatcher.messages[1]["buttons"][0]["payload"] == "my invoice is wrong"


def test_a_ticket_after_two_problems_is_about_the_technical_one() -> None:
    first = user("my invoice is wrong and also Teams is down", "dispute_charge")
    first["parse_data"]["issues"] = [
        {
            "text": "my invoice is wrong",
            "intent": "dispute_charge",
            "topic": "charge_explanation",
            "triage": "commercial",
        },
        {
            "text": "Teams is down",
            "intent": "report_technical_issue",
            "topic": "technical_issue",
            "triage": "technical",
        },
    ]
    tracker = conversation(
        [
            first,
            action("action_technical_self_help"),
            user("no", "deny"),
            action("action_offer_ticket"),
            user("yes", "affirm"),
        ]
    )
    trigger = escalation_trigger(tracker)
    assert (trigger.text, trigger.triage) == ("Teams is down", "technical")


def test_a_ticket_for_the_problem_taken_up_later_is_about_its_clause() -> None:
    first = user("my invoice is wrong and also Teams is down", "dispute_charge")
    first["parse_data"]["issues"] = [
        {
            "text": "my invoice is wrong",
            "topic": "charge_explanation",
            "triage": "commercial",
            "intent": "dispute_charge",
        },
        {
            "text": "Teams is down",
            "topic": "technical_issue",
            "triage": "technical",
            "intent": "report_technical_issue",
        },
    ]
    tracker = conversation(
        [
            first,
            action("action_start_dispute"),
            user(
                "ok now the Teams problem",
                "report_technical_issue",
                entities=[("product", "Teams")],
            ),
            action("action_technical_self_help"),
            user("no", "deny"),
            action("action_offer_ticket"),
            user("yes", "affirm"),
        ]
    )
    assert escalation_trigger(tracker).text == "Teams is down"
