"""Billing disputes: "I was charged twice", "this invoice is wrong", "I want to open a
ticket about a wrong charge". A commercial flow of its own, never the refund list.

`action_start_dispute` finds the invoice the chatter means (a number, the invoice the
conversation is about, "last month's", or the newest), says what it shows (a charge
billed twice, a credit note that already corrects it) and starts `dispute_form`: which
invoice (when none could be told), what is wrong (unless the message said it), and a
final yes. `action_file_dispute` files a commercial ticket about that invoice at the
partner's desk (idempotent on the message that started the dispute), which can
escalate it to Microsoft's commercial support.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.base import (
    ACTING_FOR_SLOT,
    CURRENT_INVOICE_SLOT,
    BillingAction,
    Context,
    Reply,
    language_of,
    not_permitted,
    possessive,
    texts_for,
)
from actions.forms import FormQuestion, FormValidation, yes_no_buttons
from actions.identity import identify
from actions.invoices import (
    choose_invoice,
    invoice_values,
    is_invoice_number,
    normalise_invoice_number,
    requested_invoice_number,
)
from actions.runtime import in_session, utc_now
from actions.tickets import (
    escalation_message_id,
    known_identifiers,
    refusal_for,
    ticket_customer,
    transcript_excerpt,
)
from actions.tracker import latest_text
from api.domain.models import DocumentType, Invoice, TicketCategory
from api.domain.services.billing import (
    credit_notes_amending,
    invoice_by_number,
    latest_invoice,
)
from api.domain.services.charges import duplicate_charges
from api.domain.services.tickets import (
    NewTicket,
    TicketError,
    create_ticket,
    escalation_policy,
)
from common import formatting
from common.redaction import redact

FORM = "dispute_form"
START_ACTION = "action_start_dispute"
INVOICE_SLOT = "dispute_invoice"
DETAILS_SLOT = "dispute_details"
CONFIRM_SLOT = "dispute_confirm"
POSSIBLE_SLOT = "dispute_possible"
FORM_SLOTS = (INVOICE_SLOT, DETAILS_SLOT, CONFIRM_SLOT)
DISPUTE_SLOTS = (*FORM_SLOTS, POSSIBLE_SLOT)
TOPIC = "charge_explanation"  # common/taxonomy.yml: disputes are about a charge
MIN_DETAILS_WORDS = 3
MAX_DETAILS_CHARS = 2000
# Words that already say what is wrong ("charged twice", "overcharged").
SAYS_WHAT = re.compile(
    r"twice|double|duplicate|overcharg|too much|wrong|incorrect|not ours|never|"
    r"cancel+ed|removed|didn'?t order|did not order|extra|higher than",
    re.IGNORECASE,
)


# "The latest" answers "which invoice?" (the question offers it).
LATEST = re.compile(r"\b(?:latest|newest|most recent)\b", re.IGNORECASE)


def describes_problem(text: str) -> bool:
    return len(text.split()) >= MIN_DETAILS_WORDS and SAYS_WHAT.search(text) is not None


def idempotency_key(tracker: Tracker) -> str:
    """`dispute:<sender id>:<message id of the message that started the dispute>`
    (the one `action_start_dispute` answered, not a ticket's start)."""
    started = escalation_message_id(tracker, START_ACTION)
    return f"dispute:{tracker.sender_id}:{started or 'none'}"


def leave_other_forms(tracker: Tracker, own: str) -> list[EventType]:
    """Starting one form closes another in progress (the chatter changed topic)."""
    active = tracker.active_loop_name
    if active and active != own:
        return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]
    return []


def dispute_findings(invoice: Invoice, context: Context) -> Reply:
    """What the invoice itself shows: charges billed twice, credit notes."""
    reply = Reply()
    for duplicate in duplicate_charges(invoice):
        reply.say(
            "utter_dispute_duplicate",
            product=duplicate.product,
            times=str(duplicate.times),
            amount=context.money(duplicate.amount, invoice.currency),
            period=context.period(duplicate.start, duplicate.end),
        )
    for note in credit_notes_amending(context.session, invoice=invoice):
        reply.say(
            "utter_dispute_credit_note",
            credit_note_number=note.number,
            credit_note_total=context.money(note.total, note.currency),
            credit_note_date=context.date(note.invoice_date),
        )
    return reply


class ActionStartDispute(BillingAction):
    """Find the disputed invoice, say what it shows, and start the dispute form."""

    capability = "view_invoices"
    general_response = "utter_dispute_general"

    def name(self) -> str:
        return START_ACTION

    def finish(self, reply: Reply, tracker: Tracker) -> Reply:
        """`dispute_possible` is true or false after every run (the rules branch on
        it): false unless the answer started a dispute, also when it only emptied
        the slots before finding no invoice."""
        set_to = [
            e.get("value")
            for e in reply.events
            if isinstance(e, dict) and e.get("name") == POSSIBLE_SLOT
        ]
        if not set_to or set_to[-1] is not True:
            reply.events.append(SlotSet(POSSIBLE_SLOT, False))
        return reply

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        tracker = context.tracker
        chatter = context.chatter
        if not chatter.can("open_tickets"):
            return not_permitted(chatter, "open_tickets", context.lang)
        reply = Reply(
            events=[
                *leave_other_forms(tracker, FORM),
                *(SlotSet(slot, None) for slot in DISPUTE_SLOTS),
            ]
        )
        text = latest_text(tracker)
        if describes_problem(text):
            reply.events.append(SlotSet(DETAILS_SLOT, " ".join(text.split())))
        chosen = choose_invoice(context, customer, prefer_current=True)
        invoice = chosen.invoice
        if invoice is None or invoice.document_type is DocumentType.CREDIT_NOTE:
            if chosen.reply is not None and requested_invoice_number(tracker):
                return reply.extend(chosen.reply)  # a number that is not theirs
            return reply.say("utter_dispute_intro").with_events(
                SlotSet(POSSIBLE_SLOT, True)
            )
        values = invoice_values(invoice, context)
        reply.say("utter_dispute_about", **values)
        reply.extend(dispute_findings(invoice, context))
        return reply.with_events(
            SlotSet(INVOICE_SLOT, invoice.number),
            SlotSet(CURRENT_INVOICE_SLOT, invoice.number),
            SlotSet(POSSIBLE_SLOT, True),
        )


class ValidateDisputeForm(FormValidation):
    """Which invoice, what is wrong, and yes."""

    slots = FORM_SLOTS
    topics = frozenset({"charge_explanation", "invoice_lookup", "refund"})
    yes_no = frozenset({CONFIRM_SLOT})

    def name(self) -> str:
        return "validate_dispute_form"

    def answers(self, slot: str, text: str, tracker: Tracker) -> bool:
        if slot == INVOICE_SLOT:
            return requested_invoice_number(tracker) is not None or bool(
                LATEST.search(text)
            )
        return False

    def extract(self, slot: str, tracker: Tracker) -> Any:
        if slot == INVOICE_SLOT:
            return requested_invoice_number(tracker) or super().extract(slot, tracker)
        return super().extract(slot, tracker)

    def correction_for(self, slot: str, text: str, tracker: Tracker) -> Any:
        if slot == INVOICE_SLOT:
            return requested_invoice_number(tracker)
        return None

    async def validate_dispute_invoice(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(slot_value or "")
        number = normalise_invoice_number(text)
        latest = not is_invoice_number(number) and LATEST.search(text) is not None
        if not is_invoice_number(number) and not latest:
            dispatcher.utter_message(response="utter_invoice_number_malformed")
            return {INVOICE_SLOT: None}

        def check(session: Session) -> Optional[str]:
            chatter = identify(session, tracker).chatter
            if chatter is None:
                return None
            customer = ticket_customer(session, chatter, tracker)
            if customer is None:
                return None
            if latest:
                found = latest_invoice(session, customer_id=customer.id)
            else:
                found = invoice_by_number(
                    session, customer_id=customer.id, number=number
                )
            return found.number if found is not None else None

        found = await in_session(check, tracker, failed=None)
        if found is None:
            account = texts_for(tracker).text("account.yours")
            if latest:
                dispatcher.utter_message(response="utter_no_invoices", account=account)
            else:
                dispatcher.utter_message(
                    response="utter_invoice_not_found",
                    invoice_number=number,
                    account=account,
                )
            return {INVOICE_SLOT: None}
        return {INVOICE_SLOT: found, CURRENT_INVOICE_SLOT: found}

    async def validate_dispute_details(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = " ".join(str(slot_value or "").split())
        if len(text.split()) < MIN_DETAILS_WORDS:
            dispatcher.utter_message(response="utter_dispute_details_short")
            return {DETAILS_SLOT: None}
        return {DETAILS_SLOT: text[:MAX_DETAILS_CHARS]}

    async def validate_dispute_confirm(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {CONFIRM_SLOT: slot_value if slot_value in (True, False) else None}


class ActionAskDisputeInvoice(FormQuestion):
    form = FORM
    slot = INVOICE_SLOT


class ActionAskDisputeDetails(FormQuestion):
    form = FORM
    slot = DETAILS_SLOT


class ActionAskDisputeConfirm(FormQuestion):
    """The dispute as it will be filed, and yes or no."""

    form = FORM
    slot = CONFIRM_SLOT

    def question(self, tracker: Tracker) -> Reply:
        return Reply().say(
            "utter_ask_dispute_confirm",
            invoice_number=tracker.get_slot(INVOICE_SLOT),
            details=tracker.get_slot(DETAILS_SLOT),
            buttons=yes_no_buttons(tracker, yes="button.file_it", no="button.no"),
        )


class ActionFileDispute(Action):
    """File the dispute as a commercial ticket about the invoice."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_file_dispute"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in DISPUTE_SLOTS]
        if tracker.get_slot(CONFIRM_SLOT) is not True:
            dispatcher.utter_message(response="utter_dispute_not_filed")
            return reset
        now = self._clock()
        try:
            reply = await in_session(
                lambda session: self._file(session, tracker, now),
                tracker,
                failed=Reply().say("utter_ticket_unavailable"),
            )
        except TicketError:
            reply = Reply().say("utter_ticket_unavailable")
        return [*reply.send(dispatcher, tracker), *reset]

    def _file(self, session: Session, tracker: Tracker, now: datetime) -> Reply:
        lang = language_of(tracker)
        chatter, refusal = refusal_for(session, tracker, "open_tickets")
        if refusal is not None or chatter is None:
            return refusal or Reply()
        customer = ticket_customer(session, chatter, tracker)
        number = str(tracker.get_slot(INVOICE_SLOT) or "")
        invoice = (
            invoice_by_number(session, customer_id=customer.id, number=number)
            if customer is not None
            else None
        )
        if customer is None or invoice is None:
            return Reply().say("utter_dispute_invoice_gone")
        today = formatting.local_today(now, chatter.partner.timezone)
        context = Context(session, tracker, chatter, customer, now, today, lang)
        details = redact(str(tracker.get_slot(DETAILS_SLOT) or ""))
        findings = [
            context.t(
                "dispute.ticket.duplicate",
                product=d.product,
                times=d.times,
                amount=context.money(d.amount, invoice.currency),
            )
            for d in duplicate_charges(invoice)
        ] + [
            context.t(
                "dispute.ticket.credit_note",
                number=note.number,
                total=context.money(note.total, note.currency),
            )
            for note in credit_notes_amending(session, invoice=invoice)
        ]
        summary = context.t(
            "dispute.ticket.summary", number=invoice.number, customer=customer.name
        )
        description = "\n".join(
            [
                summary,
                context.t(
                    "dispute.ticket.invoice",
                    number=invoice.number,
                    total=context.money(invoice.total, invoice.currency),
                    period=context.period(
                        invoice.billing_period_start, invoice.billing_period_end
                    ),
                ),
                context.t("dispute.ticket.details", details=details),
                *findings,
            ]
        )
        identifiers = known_identifiers(tracker)
        identifiers["invoice_number"] = [invoice.number]
        ticket, created = create_ticket(
            session,
            new=NewTicket(
                partner_id=chatter.partner.id,
                customer_id=customer.id,
                requester=chatter.identity.requester,
                conversation_id=tracker.sender_id,
                category=TicketCategory.COMMERCIAL,
                topic=TOPIC,
                summary=summary,
                description=description,
                idempotency_key=idempotency_key(tracker),
                product=None,
                product_kind=None,
                severity=escalation_policy().dispute_severity,
                customer_24x7=False,
                identifiers=identifiers,
                transcript_excerpt=transcript_excerpt(
                    tracker, escalation_policy().transcript_turns
                ),
            ),
            today=today,
        )
        reply = Reply().say(
            "utter_dispute_filed" if created else "utter_dispute_already_filed",
            ticket_id=ticket.public_id,
            invoice_number=invoice.number,
            partner_possessive=possessive(chatter.partner.name, lang),
            sla_due=formatting.format_moment(
                ticket.sla_due_at, chatter.partner.timezone, lang
            )
            if ticket.sla_due_at
            else context.t("ticket.asap"),
        )
        routing = ticket.packet.get("routing") or {}
        if routing.get("escalate_to_name"):
            reply.say(
                "utter_dispute_route",
                partner_name=chatter.partner.name,
                target_name=routing["escalate_to_name"],
            )
        if chatter.is_staff:
            reply.events.append(SlotSet(ACTING_FOR_SLOT, str(customer.id)))
        return reply
