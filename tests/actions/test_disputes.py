"""Billing disputes (actions/disputes.py): "I was charged twice" is a commercial
ticket about one invoice, never the refund list.

Demo (DEMO_ANCHOR = 2026-11-15), the `credit_note` case: Contoso's invoice
G000024176 bills Teams Phone twice for the same period, and credit note G000024185
amends it. Figures are read from the demo database, never written down.
"""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as clock_time
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.base import CURRENT_INVOICE_SLOT, PENDING_ISSUES_SLOT
from actions.disputes import (
    CONFIRM_SLOT,
    DETAILS_SLOT,
    FORM_SLOTS,
    INVOICE_SLOT,
    POSSIBLE_SLOT,
    ActionAskDisputeConfirm,
    ActionFileDispute,
    ActionStartDispute,
    ValidateDisputeForm,
    idempotency_key,
)
from actions.identity import ACTING_FOR_SLOT
from api.demo.seed import DemoSummary
from api.domain.models import (
    ChargeType,
    Customer,
    Invoice,
    InvoiceLine,
    Ticket,
    TicketCategory,
)
from api.domain.services.billing import latest_invoice, previous_invoice
from api.domain.services.charges import duplicate_charges
from api.domain.services.tickets import escalation_policy
from common.formatting import format_moment
from tests.actions.escalation_fixtures import (
    action,
    bot,
    conversation,
    customer_token,
    events_named,
    responses,
    slot_values,
    staff_token,
    user,
)
from tests.actions.helpers import render

FORM = "dispute_form"
NW_BILLING_ADMIN = "U0NW0BILL1"
NW_HELPDESK = "U0NW0HELP1"
LW_BILLING_ADMIN = "U0LW0BILL1"
FORM_DOMAIN: dict[str, Any] = {
    "forms": {FORM: {"required_slots": list(FORM_SLOTS)}},
    "slots": {},
}


def midday(summary: DemoSummary) -> datetime:
    return datetime.combine(summary.anchor, clock_time(12), tzinfo=timezone.utc)


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def invoice(session: Session, number: Optional[str]) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def contoso_token(session: Session) -> str:
    return customer_token(customer(session, "contoso.com").tenant_id)


async def start(
    summary: DemoSummary, tracker: Tracker
) -> tuple[list[str], str, dict[str, Any], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionStartDispute(clock=lambda: midday(summary)).run(
        dispatcher, tracker, {}
    )
    return (
        responses(dispatcher),
        "\n".join(render(dispatcher)),
        slot_values(events),
        events,
    )


def dispute(
    text: str,
    token: Optional[str],
    *,
    entities: Optional[list[tuple[str, str]]] = None,
    slots: Optional[dict[str, Any]] = None,
    active_loop: Optional[str] = None,
) -> Tracker:
    return conversation(
        [user(text, "dispute_charge", entities=entities)],
        token=token,
        slots=slots,
        active_loop=active_loop,
    )


# --------------------------------------------------------------------------- start


async def test_a_number_picks_the_invoice_and_its_double_charge_is_found(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    amended = invoice(seeded_session, case.related_invoice_number)
    note = invoice(seeded_session, case.invoice_number)
    [duplicate] = duplicate_charges(amended)
    text = f"we were charged twice for Teams Phone on {amended.number}"

    names, shown, slots, _ = await start(
        seeded_db,
        dispute(
            text,
            contoso_token(seeded_session),
            entities=[("invoice_number", amended.number)],
        ),
    )

    assert names == [
        "utter_dispute_about",
        "utter_dispute_duplicate",
        "utter_dispute_credit_note",
    ]
    assert f"dispute about invoice {amended.number} for your account" in shown
    assert (
        f"{duplicate.product} billed 2 times on it for the same period "
        f"(3 August 2026 to 2 September 2026), {duplicate.amount:,.2f} USD each"
        in shown
    )
    assert f"credit note {note.number} ({note.total:,.2f} USD" in shown
    assert "refund" not in shown.lower()  # a dispute, not the cancellation list
    assert slots[INVOICE_SLOT] == amended.number
    assert slots[CURRENT_INVOICE_SLOT] == amended.number
    assert slots[DETAILS_SLOT] == text  # it already says what is wrong
    assert slots[POSSIBLE_SLOT] is True


async def test_without_a_number_the_invoice_being_discussed_is_disputed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    amended = seeded_db.case("credit_note").related_invoice_number
    names, _, slots, _ = await start(
        seeded_db,
        dispute(
            "I want to open a ticket about this, it's wrong",
            contoso_token(seeded_session),
            slots={CURRENT_INVOICE_SLOT: amended},
        ),
    )
    assert names[0] == "utter_dispute_about"
    assert slots[INVOICE_SLOT] == amended


@pytest.mark.parametrize(
    "text", ["this month's bill is wrong", "I want to dispute a charge"]
)
async def test_otherwise_the_newest_invoice_is_disputed(
    seeded_db: DemoSummary, seeded_session: Session, text: str
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    newest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert newest is not None and not duplicate_charges(newest)
    names, shown, slots, _ = await start(
        seeded_db, dispute(text, contoso_token(seeded_session))
    )
    assert names == ["utter_dispute_about"]  # nothing billed twice on it
    assert newest.number in shown
    assert slots[INVOICE_SLOT] == newest.number and slots[POSSIBLE_SLOT] is True


async def test_a_vague_dispute_asks_what_is_wrong(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    _, _, slots, _ = await start(
        seeded_db, dispute("open a dispute", contoso_token(seeded_session))
    )
    assert slots[DETAILS_SLOT] is None  # the form asks for it


async def test_a_credit_note_is_not_what_is_disputed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    note = seeded_db.case("credit_note").invoice_number
    assert note is not None
    names, _, slots, _ = await start(
        seeded_db,
        dispute(
            f"{note} is wrong",
            contoso_token(seeded_session),
            entities=[("invoice_number", note)],
        ),
    )
    assert names == ["utter_dispute_intro"]
    assert slots[POSSIBLE_SLOT] is True and slots[INVOICE_SLOT] is None  # asks which


async def test_another_customers_invoice_is_not_found_and_nothing_starts(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    theirs = seeded_db.case("overdue_invoice").invoice_number  # Alpine Ski House's
    assert theirs is not None
    names, shown, slots, _ = await start(
        seeded_db,
        dispute(
            f"{theirs} charged us twice",
            contoso_token(seeded_session),
            entities=[("invoice_number", theirs)],
        ),
    )
    assert names == ["utter_invoice_not_found"]
    assert "Alpine" not in shown
    assert slots[POSSIBLE_SLOT] is False


async def test_starting_a_dispute_leaves_another_form(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    _, _, slots, events = await start(
        seeded_db,
        dispute(
            "The E3 seats on my last invoice are wrong, I want to open a ticket",
            contoso_token(seeded_session),
            active_loop="cancellation_form",
        ),
    )
    assert [e["name"] for e in events_named(events, "active_loop")] == [None]
    assert slots["requested_slot"] is None and slots[POSSIBLE_SLOT] is True


@pytest.mark.parametrize(
    ("slack_id", "allowed"),
    [(NW_BILLING_ADMIN, True), ("U0NW0SALE1", False)],
)
async def test_staff_dispute_for_their_customer_if_their_role_allows(
    seeded_db: DemoSummary, seeded_session: Session, slack_id: str, allowed: bool
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    names, shown, slots, _ = await start(
        seeded_db,
        dispute(
            "Contoso was double charged on their last bill",
            staff_token(slack_id),
            entities=[("customer", "Contoso")],
        ),
    )
    if allowed:
        assert names[0] == "utter_dispute_about"
        assert "for Contoso Ltd" in shown
        assert slots[ACTING_FOR_SLOT] == str(contoso.id)
        assert slots[POSSIBLE_SLOT] is True
    else:
        assert names == ["utter_not_permitted"]
        assert slots[POSSIBLE_SLOT] is False


async def test_anonymous_chatters_hear_how_disputes_work(
    seeded_db: DemoSummary,
) -> None:
    names, _, slots, _ = await start(seeded_db, dispute("I was charged twice", None))
    assert names == ["utter_dispute_general", "utter_sign_in_needed"]
    assert slots == {POSSIBLE_SLOT: False}


# --------------------------------------------------------------------------- form


async def validate(
    token: str, text: str, asked: str, **slots: Any
) -> tuple[dict[str, Any], list[str]]:
    tracker = conversation(
        [user(text, "inform"), action("action_extract_slots")],
        token=token,
        slots={"requested_slot": asked, **slots},
        active_loop=FORM,
    )
    dispatcher = CollectingDispatcher()
    events = await ValidateDisputeForm().run(dispatcher, tracker, FORM_DOMAIN)
    return slot_values(events), responses(dispatcher)


async def test_which_invoice_takes_a_number_of_theirs(
    seeded_session: Session,
) -> None:
    amended = "G000024176"
    slots, names = await validate(contoso_token(seeded_session), amended, INVOICE_SLOT)
    assert slots[INVOICE_SLOT] == amended and slots[CURRENT_INVOICE_SLOT] == amended
    assert names == []


@pytest.mark.parametrize("text", ["the latest", "the most recent one please"])
async def test_which_invoice_takes_the_latest_as_the_question_offers(
    seeded_session: Session, text: str
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    newest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert newest is not None
    slots, names = await validate(contoso_token(seeded_session), text, INVOICE_SLOT)
    assert slots[INVOICE_SLOT] == newest.number and names == []


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("G000024178", "utter_invoice_not_found"),  # Alpine Ski House's
        ("G9999", "utter_invoice_number_malformed"),
        ("the pink one", "utter_invoice_number_malformed"),
    ],
)
async def test_which_invoice_refuses_what_is_not_theirs_or_not_a_number(
    seeded_session: Session, text: str, response: str
) -> None:
    slots, names = await validate(contoso_token(seeded_session), text, INVOICE_SLOT)
    assert slots[INVOICE_SLOT] is None and names == [response]


async def test_what_is_wrong_needs_a_few_words(seeded_session: Session) -> None:
    slots, names = await validate(contoso_token(seeded_session), "wrong", DETAILS_SLOT)
    assert slots[DETAILS_SLOT] is None and names == ["utter_dispute_details_short"]
    slots, names = await validate(
        contoso_token(seeded_session),
        "Teams Phone  is charged twice",
        DETAILS_SLOT,
    )
    assert slots[DETAILS_SLOT] == "Teams Phone is charged twice" and names == []


async def test_the_confirmation_shows_what_will_be_filed() -> None:
    dispatcher = CollectingDispatcher()
    tracker = conversation(
        [],
        slots={INVOICE_SLOT: "G000024176", DETAILS_SLOT: "Teams Phone charged twice"},
    )
    await ActionAskDisputeConfirm().run(dispatcher, tracker, {})
    shown = render(dispatcher)[0]
    assert "- Invoice: G000024176" in shown
    assert "- What's wrong: Teams Phone charged twice" in shown
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        "/affirm",
        "/deny",
    ]


# --------------------------------------------------------------------------- filing


def confirmed(
    token: str,
    *,
    confirm: Any = True,
    number: str = "G000024176",
    confirm_id: str = "m-yes",
    before: Optional[list[dict[str, Any]]] = None,
    **slots: Any,
) -> Tracker:
    """A dispute started by message m-dispute and confirmed by `confirm_id`."""
    return conversation(
        [
            *(before or []),
            user(
                "Teams Phone was charged twice",
                "dispute_charge",
                message_id="m-dispute",
            ),
            action("action_start_dispute"),
            action(FORM),
            bot("I'll file this dispute: ... Shall I file it?"),
            user("yes", "affirm", message_id=confirm_id),
        ],
        token=token,
        sender_id="conv-dispute",
        slots={
            INVOICE_SLOT: number,
            DETAILS_SLOT: "Teams Phone was charged twice",
            CONFIRM_SLOT: confirm,
            **slots,
        },
    )


async def file(
    summary: DemoSummary, tracker: Tracker
) -> tuple[list[str], str, dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await ActionFileDispute(clock=lambda: midday(summary)).run(
        dispatcher, tracker, {}
    )
    return responses(dispatcher), "\n".join(render(dispatcher)), slot_values(events)


async def test_a_confirmed_dispute_is_a_commercial_ticket_about_the_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    case = seeded_db.case("credit_note")
    names, shown, slots = await file(
        seeded_db, confirmed(contoso_token(seeded_session))
    )

    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.category is TicketCategory.COMMERCIAL
    assert ticket.topic == "charge_explanation"
    assert ticket.severity is escalation_policy().dispute_severity
    assert ticket.customer_id == contoso.id
    assert ticket.packet["tenant_id"] == contoso.tenant_id
    assert ticket.route == "microsoft_commercial"  # every partner may escalate it
    assert ticket.summary == "Billing dispute: invoice G000024176 (Contoso Ltd)"
    assert ticket.packet["identifiers"]["invoice_number"] == ["G000024176"]
    assert "What the customer says is wrong: Teams Phone was charged twice" in (
        ticket.description
    )
    assert "billed 2 times for the same period" in ticket.description
    assert f"credit note {case.invoice_number}" in ticket.description
    assert ticket.idempotency_key == "dispute:conv-dispute:m-dispute"

    assert names == ["utter_dispute_filed", "utter_dispute_route"]
    assert f"dispute {ticket.public_id} about invoice G000024176" in shown
    assert "Northwind Cloud Services' billing team" in shown
    assert ticket.sla_due_at is not None
    due = format_moment(ticket.sla_due_at, contoso.partner.timezone)
    assert f"respond by {due}" in shown and due.endswith("PST")
    assert "Microsoft commercial support" in shown
    assert all(slots[name] is None for name in (INVOICE_SLOT, DETAILS_SLOT))


async def test_the_same_dispute_is_filed_once(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Keyed on the message that started the dispute: a redelivered or repeated
    "yes" files nothing new, and an earlier ticket escalation in the same session
    does not stand in for it."""
    token = contoso_token(seeded_session)
    earlier_ticket = [
        user("Teams is down", "report_technical_issue", message_id="m-ticket"),
        action("action_start_escalation"),
        action("escalation_form"),
    ]
    first_names, _, _ = await file(seeded_db, confirmed(token, before=earlier_ticket))
    again_names, again, _ = await file(
        seeded_db, confirmed(token, before=earlier_ticket, confirm_id="m-yes-again")
    )
    tickets = seeded_session.scalars(select(Ticket)).all()
    assert len(tickets) == 1
    assert tickets[0].idempotency_key == "dispute:conv-dispute:m-dispute"
    assert first_names[0] == "utter_dispute_filed"
    assert again_names[0] == "utter_dispute_already_filed"
    assert tickets[0].public_id in again


def test_the_key_is_the_message_that_started_the_dispute() -> None:
    tracker = conversation(
        [
            user("Outlook is down", "report_technical_issue", message_id="m-ticket"),
            action("action_start_escalation"),
            user("G000024176 is wrong", "dispute_charge", message_id="m-dispute"),
            action("action_start_dispute"),
            user("yes", "affirm", message_id="m-yes"),
        ],
        sender_id="c",
    )
    assert idempotency_key(tracker) == "dispute:c:m-dispute"


async def test_a_declined_dispute_files_nothing(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    names, _, slots = await file(
        seeded_db, confirmed(contoso_token(seeded_session), confirm=False)
    )
    assert names == ["utter_dispute_not_filed"]
    assert seeded_session.scalars(select(Ticket)).all() == []
    assert slots[INVOICE_SLOT] is None


async def test_staff_file_the_dispute_for_their_customer_with_its_tenant(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    _, _, slots = await file(
        seeded_db,
        confirmed(staff_token(NW_BILLING_ADMIN), **{ACTING_FOR_SLOT: str(contoso.id)}),
    )
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.requester == f"staff:slack:{NW_BILLING_ADMIN}"
    assert ticket.customer_id == contoso.id
    assert ticket.packet["tenant_id"] == contoso.tenant_id
    assert slots[ACTING_FOR_SLOT] == str(contoso.id)


async def test_staff_of_another_partner_cannot_file_for_the_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    names, shown, _ = await file(
        seeded_db,
        confirmed(staff_token(LW_BILLING_ADMIN), **{ACTING_FOR_SLOT: str(contoso.id)}),
    )
    assert names == ["utter_dispute_invoice_gone"]
    assert "Contoso" not in shown
    assert seeded_session.scalars(select(Ticket)).all() == []


async def test_an_invoice_that_is_not_theirs_files_nothing(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    names, _, _ = await file(
        seeded_db, confirmed(contoso_token(seeded_session), number="G000024178")
    )
    assert names == ["utter_dispute_invoice_gone"]
    assert seeded_session.scalars(select(Ticket)).all() == []


# --------------------------------------------------------------------------- the class


def one_time_invoice(session: Session, domain: str) -> Invoice:
    """The customer's invoice with a one-time charge (Tailspin's onboarding)."""
    owner = customer(session, domain)
    return session.scalars(
        select(Invoice)
        .join(InvoiceLine)
        .where(
            Invoice.customer_id == owner.id,
            InvoiceLine.charge_type == ChargeType.ONE_TIME,
        )
    ).one()


async def test_the_charge_named_picks_the_invoice_that_holds_it(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    holder = one_time_invoice(seeded_session, "tailspintoys.com")
    newest = latest_invoice(seeded_session, customer_id=holder.customer_id)
    assert newest is not None and newest.number != holder.number
    [line] = [ln for ln in holder.lines if ln.charge_type is ChargeType.ONE_TIME]
    text = (
        "We never agreed to the Azure landing zone onboarding charge, it shouldn't "
        "be on our bill. Please open a dispute."
    )
    token = customer_token(customer(seeded_session, "tailspintoys.com").tenant_id)
    names, shown, slots, _ = await start(
        seeded_db, dispute(text, token, entities=[("product", "Azure")])
    )
    assert names == ["utter_dispute_about", "utter_dispute_line"]
    assert slots[INVOICE_SLOT] == holder.number and holder.number in shown
    assert line.product_name in shown  # the charge itself, not every Azure line
    assert slots[DETAILS_SLOT] == text  # it says what is wrong: no question


async def test_a_charge_on_every_invoice_tells_none_apart(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """E3 is billed every month: the newest invoice is the one, with its E3 line."""
    contoso = customer(seeded_session, "contoso.com")
    newest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert newest is not None
    names, shown, slots, _ = await start(
        seeded_db,
        dispute(
            "we're charged for more E3 seats than we have",
            contoso_token(seeded_session),
            entities=[("product", "Microsoft 365 E3")],
        ),
    )
    assert slots[INVOICE_SLOT] == newest.number
    assert names[-1] == "utter_dispute_line" and "Microsoft 365 E3" in shown


@pytest.mark.parametrize(
    "text",
    [
        "you charged us twice for Teams Phone, I want my money back",
        "We got billed twice for Teams Phone a while back. Was that ever sorted out?",
        "were we ever credited for the double charge?",
    ],
)
async def test_a_double_charge_already_credited_is_answered_with_its_credit_note(
    seeded_db: DemoSummary, seeded_session: Session, text: str
) -> None:
    case = seeded_db.case("credit_note")
    entities = [("product", "Teams Phone")] if "Teams Phone" in text else []
    names, shown, slots, events = await start(
        seeded_db, dispute(text, contoso_token(seeded_session), entities=entities)
    )
    assert names == ["utter_dispute_already_credited", "utter_dispute_offer_other"]
    assert case.invoice_number in shown and case.related_invoice_number in shown
    assert "Teams Phone" in shown
    assert slots[POSSIBLE_SLOT] is False  # no form: nothing left to dispute
    assert slots[CURRENT_INVOICE_SLOT] == case.invoice_number
    assert not events_named(events, "active_loop")


async def test_a_double_charge_nobody_credited_is_disputed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Fourth Coffee has no credit note: its double charge is disputed (the newest
    invoice, as nothing on its invoices is billed twice)."""
    fourth = customer(seeded_session, "fourthcoffee.com")
    newest = latest_invoice(seeded_session, customer_id=fourth.id)
    assert newest is not None
    names, _, slots, _ = await start(
        seeded_db,
        dispute(
            "we were double charged, I want my money back",
            customer_token(fourth.tenant_id),
        ),
    )
    assert names[:2] == ["utter_dispute_not_credited", "utter_dispute_about"]
    assert slots[INVOICE_SLOT] == newest.number and slots[POSSIBLE_SLOT] is True


async def test_a_helpdesk_agent_files_for_the_customer_without_seeing_the_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Their role cannot see invoices, but files tickets: the refusal is for
    showing invoices, not for filing the dispute."""
    contoso = customer(seeded_session, "contoso.com")
    newest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert newest is not None
    names, shown, slots, _ = await start(
        seeded_db,
        dispute(
            "Open a billing ticket for Contoso: their latest invoice charges for more "
            "E3 seats than they have",
            staff_token(NW_HELPDESK),
            entities=[("customer", "Contoso"), ("product", "Microsoft 365 E3")],
        ),
    )
    assert names == ["utter_dispute_about_unseen"]
    assert "Contoso Ltd" in shown
    assert newest.number not in shown and f"{newest.total:,.2f}" not in shown
    assert slots[INVOICE_SLOT] == newest.number and slots[POSSIBLE_SLOT] is True
    assert slots[ACTING_FOR_SLOT] == str(contoso.id)

    names, filed, _ = await file(
        seeded_db,
        confirmed(
            staff_token(NW_HELPDESK),
            number=newest.number,
            **{ACTING_FOR_SLOT: str(contoso.id)},
        ),
    )
    ticket = seeded_session.scalars(select(Ticket)).one()
    assert ticket.category is TicketCategory.COMMERCIAL
    assert ticket.packet["tenant_id"] == contoso.tenant_id
    assert newest.number in ticket.description  # the desk sees the invoice
    assert names[0] == "utter_dispute_filed_unseen" and newest.number not in filed
    assert "Contoso Ltd" in filed


async def test_in_a_message_with_two_problems_the_description_is_the_invoice_clause(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    text = "my invoice is wrong and also Teams is down"
    tracker = dispute(text, contoso_token(seeded_session))
    tracker.latest_message["issues"] = [
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
    dispatcher = CollectingDispatcher()
    events = await ActionStartDispute(clock=lambda: midday(seeded_db)).run(
        dispatcher, tracker, {}
    )
    slots = slot_values(events)
    assert slots[DETAILS_SLOT] == "my invoice is wrong"
    assert "Teams is down" in "\n".join(render(dispatcher))  # offered next
    assert slots[PENDING_ISSUES_SLOT] == [
        {
            "text": "Teams is down",
            "intent": "report_technical_issue",
            "topic": "technical_issue",
        }
    ]


async def test_yes_to_what_is_wrong_files_it_as_it_is(seeded_session: Session) -> None:
    tracker = conversation(
        [user("yes, file it", "affirm"), action("action_extract_slots")],
        token=contoso_token(seeded_session),
        slots={"requested_slot": DETAILS_SLOT, INVOICE_SLOT: "G000024176"},
        active_loop=FORM,
    )
    events = await ValidateDisputeForm().run(
        CollectingDispatcher(), tracker, FORM_DOMAIN
    )
    slots = slot_values(events)
    assert slots[CONFIRM_SLOT] is True
    assert "yes" not in slots[DETAILS_SLOT].lower()
    assert "not described" in slots[DETAILS_SLOT]


async def test_a_corrected_invoice_number_is_confirmed_back(
    seeded_session: Session,
) -> None:
    tracker = conversation(
        [
            user(
                "sorry, I meant G000024195",
                "nlu_fallback",
                entities=[("invoice_number", "G000024195")],
            ),
            action("action_extract_slots"),
        ],
        token=contoso_token(seeded_session),
        slots={
            "requested_slot": DETAILS_SLOT,
            INVOICE_SLOT: "G000024176",
        },
        active_loop=FORM,
    )
    dispatcher = CollectingDispatcher()
    events = await ValidateDisputeForm().run(dispatcher, tracker, FORM_DOMAIN)
    assert slot_values(events)[INVOICE_SLOT] == "G000024195"
    assert responses(dispatcher) == ["utter_dispute_invoice_changed"]
    assert "G000024195" in render(dispatcher)[0]


async def test_a_product_billed_only_on_older_invoices_picks_the_newest_of_them(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Coho Winery cancelled Exchange Online: "the Exchange charge" is about the
    newest invoice that still bills it, not the newest invoice."""
    coho = customer(seeded_session, "cohowinery.com")
    holders = [
        i
        for i in sorted(coho.invoices, key=lambda i: i.invoice_date, reverse=True)
        if any("Exchange Online" in line.product_name for line in i.lines)
    ]
    newest = latest_invoice(seeded_session, customer_id=coho.id)
    assert holders and newest is not None and holders[0].number != newest.number
    _, _, slots, _ = await start(
        seeded_db,
        dispute(
            "the Exchange charge is wrong",
            customer_token(coho.tenant_id),
            entities=[("product", "Exchange Online")],
        ),
    )
    assert slots[INVOICE_SLOT] == holders[0].number


async def test_a_correction_by_reference_counts_from_the_disputed_invoice(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    newest = latest_invoice(seeded_session, customer_id=contoso.id)
    assert newest is not None
    before = previous_invoice(seeded_session, invoice=newest)
    assert before is not None
    tracker = conversation(
        [
            user(
                "sorry, I meant the one before",
                "nlu_fallback",
                entities=[("invoice_ref", "previous")],
            ),
            action("action_extract_slots"),
        ],
        token=contoso_token(seeded_session),
        slots={
            "requested_slot": CONFIRM_SLOT,
            INVOICE_SLOT: newest.number,
            CURRENT_INVOICE_SLOT: newest.number,
            DETAILS_SLOT: "the E3 seats are wrong",
        },
        active_loop=FORM,
    )
    dispatcher = CollectingDispatcher()
    validation = ValidateDisputeForm(clock=lambda: midday(seeded_db))
    events = await validation.run(dispatcher, tracker, FORM_DOMAIN)
    slots = slot_values(events)
    assert slots[INVOICE_SLOT] == before.number
    assert slots.get(CONFIRM_SLOT) is None  # asked again, about that invoice
    assert before.number in render(dispatcher)[0]


async def test_staff_who_named_the_customer_earlier_dispute_for_it(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """ "Contoso's Outlook is down and their invoice is wrong" ... "ok now the
    invoice": the customer named before is the one."""
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [
            user(
                "Contoso's Outlook is down and their invoice is wrong",
                "report_technical_issue",
                entities=[("customer", "Contoso"), ("product", "Outlook")],
            ),
            action("action_technical_self_help"),
            user("ok now the invoice", "dispute_charge"),
        ],
        token=staff_token(NW_BILLING_ADMIN),
    )
    names, shown, slots, _ = await start(seeded_db, tracker)
    assert names[0] == "utter_dispute_about" and "Contoso Ltd" in shown
    assert slots[ACTING_FOR_SLOT] == str(contoso.id)
    assert slots[POSSIBLE_SLOT] is True


async def test_a_helpdesk_agent_hears_a_double_charge_was_credited_without_its_numbers(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    names, shown, slots, _ = await start(
        seeded_db,
        dispute(
            "Contoso says they were charged twice for Teams Phone",
            staff_token(NW_HELPDESK),
            entities=[("customer", "Contoso"), ("product", "Teams Phone")],
        ),
    )
    assert names == [
        "utter_dispute_already_credited_unseen",
        "utter_dispute_offer_other",
    ]
    assert "Contoso Ltd" in shown
    assert case.invoice_number not in shown
    assert case.related_invoice_number not in shown
    assert slots[POSSIBLE_SLOT] is False
