"""The escalation actions against the demo data: self-help, starting the ticket form,
its validation, filing (routed, idempotent) and ticket status.

Expected routes are computed with `api.domain.services.routing.route` from the partner's
own programs, never written down.
"""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as clock_time
from typing import Any, Optional

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions import tickets as tickets_module
from actions.tickets import (
    CATEGORY,
    COMMITTED_24X7,
    CONFIRMED,
    DESCRIPTION,
    FAILURES,
    FORM_SLOTS,
    IMPACT,
    PRODUCT,
    STEPS_TRIED,
    TOPIC,
    TRIAGE,
    URGENCY,
    ActionAskTicketCategory,
    ActionAskTicketConfirmed,
    ActionAskTicketProduct,
    ActionFileTicket,
    ActionOfferTicket,
    ActionStartEscalation,
    ActionTechnicalSelfHelp,
    ActionTicketStatus,
    ValidateEscalationForm,
    escalation_trigger,
    format_due,
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
    Ticket,
    TicketCategory,
    TicketStatus,
)
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
    text: str, product: Optional[str], response: str
) -> None:
    tracker = conversation(
        [
            user(
                text,
                "report_technical_issue",
                entities=[("product", product)] if product else None,
            )
        ]
    )
    events, dispatcher = await run(ActionTechnicalSelfHelp(), tracker)
    assert events == []
    assert responses(dispatcher) == [response, "utter_ask_self_help_worked"]
    shown = render(dispatcher)
    if product:
        assert product in shown[0]
    assert "Did that solve it?" in shown[1]
    buttons = dispatcher.messages[1].get("buttons") or []
    assert buttons == []  # the response itself carries them (domain/tickets.yml)


async def test_a_ticket_can_be_offered_by_any_flow() -> None:
    events, dispatcher = await run(ActionOfferTicket(), conversation([]))
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


async def test_starting_prefills_the_product_and_proposes_the_category(
    seeded_session: Session,
) -> None:
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
        ],
        token=token_for(seeded_session, "contoso.com"),
    )
    events, dispatcher = await run(ActionStartEscalation(), tracker)
    assert responses(dispatcher) == ["utter_ticket_intro"]
    values = slot_values(events)
    assert values[TRIAGE] == "technical"
    assert values[TOPIC] == "technical_issue"
    assert values[PRODUCT] == "Outlook"
    assert values[DESCRIPTION] is None and values[CONFIRMED] is None
    assert not events_named(events, "followup")


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
    _, dispatcher = await run(ActionStartEscalation(), tracker)
    assert responses(dispatcher) == ["utter_ticket_intro"]


# --------------------------------------------------------------------------- validation


async def validate(
    requested: str,
    value: Any,
    *,
    text: Optional[str] = None,
    intent: str = "inform",
    slots: Optional[dict[str, Any]] = None,
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    """Run validate_escalation_form as the form does after the user answered."""
    tracker = conversation(
        [
            user(text if text is not None else str(value), intent),
            action("escalation_form"),
            slot(requested, value),
        ],
        slots={"requested_slot": requested, requested: value, **(slots or {})},
        active_loop="escalation_form",
    )
    domain = {
        "forms": {"escalation_form": {"required_slots": list(FORM_SLOTS)}},
        "slots": {name: {"type": "text"} for name in FORM_SLOTS},
    }
    return await run(ValidateEscalationForm(), tracker, domain)


async def test_a_short_description_is_refused_and_explained_after_two_tries() -> None:
    events, dispatcher = await validate(DESCRIPTION, "broken")
    assert slot_values(events)[DESCRIPTION] is None
    assert responses(dispatcher) == ["utter_ticket_description_too_short"]
    assert slot_values(events)[FAILURES] == {DESCRIPTION: 1}

    events, dispatcher = await validate(
        DESCRIPTION, "help", slots={FAILURES: {DESCRIPTION: 1}}
    )
    assert responses(dispatcher) == [
        "utter_ticket_description_too_short",
        "utter_explain_ticket_description",
    ]
    assert slot_values(events)[FAILURES] == {DESCRIPTION: 0}
    render(dispatcher)

    events, _ = await validate(
        DESCRIPTION,
        "Since 9am nobody in the office can open Outlook",
        slots={FAILURES: {DESCRIPTION: 1}},
    )
    values = slot_values(events)
    assert values[DESCRIPTION] == "Since 9am nobody in the office can open Outlook"
    assert values[FAILURES] == {DESCRIPTION: 0}


@pytest.mark.parametrize(
    ("value", "intent", "proposal", "expected"),
    [
        ("technical", "inform", "technical", "technical"),
        ("commercial", "inform", "technical", "commercial"),
        ("it's about billing", "inform", None, "commercial"),
        ("yes", "affirm", "technical", "technical"),
        ("no", "deny", "technical", "commercial"),
        ("no", "deny", "commercial", "technical"),
        ("yes", "affirm", None, None),
        ("bananas", "inform", "technical", None),
    ],
)
async def test_the_category_is_confirmed_or_corrected(
    value: str, intent: str, proposal: Optional[str], expected: Optional[str]
) -> None:
    events, _ = await validate(CATEGORY, value, intent=intent, slots={TRIAGE: proposal})
    assert slot_values(events)[CATEGORY] == expected


@pytest.mark.parametrize(
    ("slot_name", "value", "expected"),
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
    slot_name: str, value: str, expected: Optional[str]
) -> None:
    events, _ = await validate(slot_name, value)
    assert slot_values(events)[slot_name] == expected


async def test_yes_and_no_answers() -> None:
    events, _ = await validate(
        COMMITTED_24X7,
        "yes",
        intent="affirm",
        slots={IMPACT: "critical", URGENCY: "now"},
    )
    assert slot_values(events)[COMMITTED_24X7] == "yes"
    events, _ = await validate(CONFIRMED, "no", intent="deny")
    assert slot_values(events)[CONFIRMED] == "no"
    events, dispatcher = await validate(CONFIRMED, "maybe later perhaps")
    assert slot_values(events)[CONFIRMED] is None
    assert responses(dispatcher) == ["utter_ticket_yes_no_unclear"]


@pytest.mark.parametrize(
    ("impact", "urgency", "asks_24x7"),
    [
        ("critical", "now", True),
        ("critical", "today", False),
        ("moderate", "now", False),
        (None, None, False),
    ],
)
async def test_the_24x7_question_is_only_for_sev_a(
    impact: Optional[str], urgency: Optional[str], asks_24x7: bool
) -> None:
    tracker = conversation([], slots={IMPACT: impact, URGENCY: urgency})
    required = await ValidateEscalationForm().required_slots(
        [], CollectingDispatcher(), tracker, {}
    )
    assert (COMMITTED_24X7 in required) is asks_24x7
    assert required[0] == DESCRIPTION and required[-1] == CONFIRMED


# --------------------------------------------------------------------------- asking


async def test_the_product_question_offers_the_customers_products(
    seeded_session: Session,
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [user("no", "deny")], token=token_for(seeded_session, "contoso.com")
    )
    _, dispatcher = await run(ActionAskTicketProduct(), tracker)
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert {s.product_name for s in contoso.subscriptions} <= set(titles)
    assert titles[-1] == "I'm not sure"


async def test_the_category_question_shows_the_proposal() -> None:
    _, dispatcher = await run(
        ActionAskTicketCategory(), conversation([], slots={TRIAGE: "technical"})
    )
    assert "technical: a product or service" in render(dispatcher)[0]
    _, dispatcher = await run(ActionAskTicketCategory(), conversation([]))
    assert responses(dispatcher) == ["utter_ask_ticket_category_open"]


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
    assert responses(dispatcher)[-1] == "utter_ask_ticket_confirmed"


# --------------------------------------------------------------------------- filing


def filing_tracker(
    token: str,
    *,
    message_id: str = "m-confirm",
    sender_id: str = "conv-file",
    **slots: Any,
) -> Any:
    return conversation(
        [
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
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
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

    shown = "\n".join(render(dispatcher))
    assert ticket.public_id in shown
    assert partner.name in shown
    assert decision.escalate_to_name in shown
    assert format_due(ticket.sla_due_at, partner.timezone) in shown
    assert "1 hour, around the clock" in shown  # Premier, Sev A (routing.yml)
    values = slot_values(events)
    assert all(values[name] is None for name in (DESCRIPTION, CONFIRMED, TRIAGE))


async def test_no_entitlement_means_no_microsoft_technical_route(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    proseware = customer(seeded_session, "proseware.com")
    assert proseware.partner.active_programs(seeded_db.anchor) == []
    _, dispatcher = await run(
        ActionFileTicket(clock=lambda: midday(seeded_db)),
        filing_tracker(customer_token(proseware.tenant_id)),
    )
    seeded_session.expire_all()
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.route == "partner_desk"
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


async def test_staff_tickets_belong_to_their_partner(
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
    assert ticket.public_id in "\n".join(render(dispatcher))


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
