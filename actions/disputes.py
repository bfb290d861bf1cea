"""Billing disputes: "I was charged twice", "this invoice is wrong", "I want to open a
ticket about a wrong charge". A commercial flow of its own, never the refund list.

`action_start_dispute` finds the invoice the chatter means (a number, the one holding
the charge the message names, the invoice the conversation is about, "last month's",
or the newest), says what it shows (a charge billed twice, a credit note that already
corrects it, the line of the product named) and starts `dispute_form`: which invoice
(when none could be told), what is wrong (unless the message said it), and a final
yes. A double charge that a credit note already corrected is answered with that
credit note instead: nothing is left to dispute. Staff whose role files tickets but
cannot see invoices (a Helpdesk agent) file the dispute for their customer without
being shown the invoice. In a message with two problems, the dispute's description
is the clause about the invoice (bot/issues.py). `action_file_dispute` files a commercial ticket about that invoice at the
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
    matter_text,
    possessive,
    texts_for,
)
from actions.forms import FormQuestion, FormValidation, yes_no_buttons
from actions.identity import Target, identify
from actions.invoices import (
    BILLING_PERIOD_ENTITY,
    CURRENT_BILL,
    INVOICE_REF_ENTITY,
    NEWEST,
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
from actions.tracker import entity_values, latest_intent, latest_text
from api.domain.models import (
    ChargeType,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    TicketCategory,
)
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
from common.texts import catalogue as texts_for_lang

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
# Words that already say what is wrong ("charged twice", "overcharged", "the amount
# does not match what we agreed", "25 seats instead of 20").
SAYS_WHAT = re.compile(
    r"twice|double|duplicate|overcharg|too much|wrong|incorrect|not ours|never|"
    r"cancel+ed|removed|didn'?t order|did not order|extra|higher than|mistake|"
    r"error|\boff\b|(?:does|do|did)(?:n'?t| not) match|not what we agreed|"
    r"shouldn'?t be|should not be|instead of|more \w+(?: \w+)? than|"
    r"didn'?t agree|did not agree|not agreed|never agreed|charged for|billed for|"
    r"invoiced for",
    re.IGNORECASE,
)
# A charge billed twice ("double charged", "billed twice", "a duplicate charge").
DOUBLE_CHARGE = re.compile(
    r"\b(?:twice|double[- ]?(?:charged|billed|charge|billing)|duplicated?|"
    r"(?:two|2) times)\b",
    re.IGNORECASE,
)
# Words that name no particular charge, left out when matching a message against the
# lines of the customer's invoices.
NOT_A_CHARGE = frozenset(
    """
    the and for our your their they them this that these those with from was were
    are have has had not but all any its it's our ours you your please open dispute
    disputed raise file ticket billing bill billed invoice invoices invoiced charge
    charges charged amount shouldn should never agreed agree wrong line item cost
    costs price fee fees there here what which why how when who about last latest
    month months year paid pay payment want would like could can will did does
    don't didn't isn't it's we're they're there's mistake error think says said
    customer customers seat seats user users license licence licenses licences
    microsoft plan per total being more than less use used using only just some
    also still every each
    """.split()  # noqa: SIM905
)
CHARGE_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
MIN_CHARGE_WORDS = 2  # a charge is named by at least two of its own words
MAX_SHOWN_LINES = 3


# What "what's wrong?" holds when the user said "yes, file it" instead.
FILE_AS_IT_IS = "__file_as_it_is__"
# A correction that names the invoice by reference or period, not by number.
BY_REFERENCE = "__by_reference__"
AFFIRM = "affirm"

# "The latest" answers "which invoice?" (the question offers it).
LATEST = re.compile(r"\b(?:latest|newest|most recent)\b", re.IGNORECASE)


def describes_problem(text: str) -> bool:
    return len(text.split()) >= MIN_DETAILS_WORDS and SAYS_WHAT.search(text) is not None


def says_double_charge(text: str) -> bool:
    return DOUBLE_CHARGE.search(text) is not None


def _charge_words(text: str) -> set[str]:
    return {
        word
        for word in CHARGE_WORD.findall(text.lower())
        if len(word) >= 3 and word not in NOT_A_CHARGE
    }


def _line_score(line: InvoiceLine, words: set[str]) -> int:
    return len(words & _charge_words(f"{line.product_name} {line.description}"))


def _invoices_of(session: Session, customer: Customer) -> list[Invoice]:
    """The customer's invoices (not credit notes), newest first."""
    invoices = [
        i for i in customer.invoices if i.document_type is not DocumentType.CREDIT_NOTE
    ]
    return sorted(invoices, key=lambda i: (i.invoice_date, i.number), reverse=True)


def invoice_with_charge(
    session: Session, customer: Customer, text: str
) -> Optional[Invoice]:
    """The newest invoice holding the charge the message names ("the Azure landing
    zone onboarding charge"): the lines that share the most of the message's words
    (at least two), when only some invoices hold them. A charge on every invoice
    (the monthly licences) tells no invoice apart: None."""
    words = _charge_words(text)
    if len(words) < MIN_CHARGE_WORDS:
        return None
    invoices = _invoices_of(session, customer)
    scores = [
        max((_line_score(line, words) for line in i.lines), default=0) for i in invoices
    ]
    best = max(scores, default=0)
    if best < MIN_CHARGE_WORDS:
        return None
    holders = [i for i, score in zip(invoices, scores) if score == best]
    return holders[0] if len(holders) < len(invoices) else None


def invoice_with_product(
    session: Session, customer: Customer, products: list[str]
) -> Optional[Invoice]:
    """The newest invoice that bills the product named ("the Copilot charge"),
    when only some do (a product billed every month tells none apart)."""
    if not products:
        return None
    invoices = _invoices_of(session, customer)
    holders = [
        i
        for i in invoices
        if any(
            _names(p, line.product_name) and line.charge_type is not ChargeType.USAGE
            for line in i.lines
            for p in products
        )
    ]
    return holders[0] if holders and len(holders) < len(invoices) else None


def _names(product: str, name: str) -> bool:
    return product.lower() in name.lower() or name.lower() in product.lower()


def named_lines(invoice: Invoice, text: str, products: list[str]) -> list[InvoiceLine]:
    """The lines of `invoice` the message is about: those of the products it names,
    else those holding the charge it names."""
    lines = [
        line
        for line in invoice.lines
        if any(_names(p, line.product_name) for p in products)
        and line.charge_type is not ChargeType.USAGE
    ]
    if not lines:
        words = _charge_words(text)
        scores = [_line_score(line, words) for line in invoice.lines]
        best = max(scores, default=0)
        if best >= MIN_CHARGE_WORDS:
            lines = [ln for ln, sc in zip(invoice.lines, scores) if sc == best]
    return lines[:MAX_SHOWN_LINES]


def _duplicate_of(invoice: Invoice, products: list[str]) -> bool:
    return any(
        not products or any(_names(p, d.product) for p in products)
        for d in duplicate_charges(invoice)
    )


def credited_double_charge(
    session: Session, customer: Customer, products: list[str]
) -> Optional[Invoice]:
    """The newest credit note that corrected a charge billed twice (of the product
    named, if any): the invoice it amends bills it twice, or its line says so."""
    notes = [
        i for i in customer.invoices if i.document_type is DocumentType.CREDIT_NOTE
    ]
    for note in sorted(notes, key=lambda n: (n.invoice_date, n.number), reverse=True):
        amended = note.amends_of
        if amended is None or amended.customer_id != customer.id:
            continue
        credit_lines = [
            line
            for line in note.lines
            if "duplicate" in line.description.lower()
            and (not products or any(_names(p, line.product_name) for p in products))
        ]
        if credit_lines or _duplicate_of(amended, products):
            return note
    return None


def uncredited_double_charge(
    session: Session, customer: Customer, products: list[str]
) -> Optional[Invoice]:
    """The newest invoice that bills a charge twice (of the product named, if any)
    and that no credit note corrects yet."""
    for invoice in _invoices_of(session, customer):
        if _duplicate_of(invoice, products) and not credit_notes_amending(
            session, invoice=invoice
        ):
            return invoice
    return None


def names_an_invoice(tracker: Tracker) -> bool:
    """Whether the message says which invoice: a number, "the one before", a
    period, "my last bill"."""
    text = latest_text(tracker)
    return bool(
        requested_invoice_number(tracker)
        or entity_values(tracker, INVOICE_REF_ENTITY)
        or entity_values(tracker, BILLING_PERIOD_ENTITY)
        or NEWEST.search(text)
        or CURRENT_BILL.search(text)
    )


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
    """Find the disputed invoice, say what it shows, and start the dispute form; or
    say that a credit note already corrected the double charge."""

    # Filing a dispute is filing a ticket: a role that cannot see invoices (a
    # Helpdesk agent) may still file one for its customer, without being shown it.
    capability = "open_tickets"
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

    def without_customer(self, context: Context, target: Target) -> Optional[Reply]:
        """Staff who named no customer in this message: the one named earlier in
        the conversation ("Contoso's Outlook is down and their invoice is wrong"
        ... "ok now the invoice")."""
        if target.problem not in (None, "utter_name_the_customer"):
            return None  # an unknown or ambiguous name: say so
        named = ticket_customer(context.session, context.chatter, context.tracker)
        if named is None:
            return None
        context.customer = named
        reply = self.answer(context)
        reply.events.insert(0, SlotSet(ACTING_FOR_SLOT, str(named.id)))
        return reply

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        tracker = context.tracker
        session = context.session
        sees = context.chatter.can("view_invoices")
        reply = Reply(
            events=[
                *leave_other_forms(tracker, FORM),
                *(SlotSet(slot, None) for slot in DISPUTE_SLOTS),
            ]
        )
        text = matter_text(tracker, DISPUTE_TOPICS)
        if describes_problem(text):
            details = " ".join(text.split())[:MAX_DETAILS_CHARS]
            reply.events.append(SlotSet(DETAILS_SLOT, details))
        products = products_in(tracker, text)
        invoice: Optional[Invoice] = None
        if not names_an_invoice(tracker):
            if says_double_charge(text):
                invoice = uncredited_double_charge(session, customer, products)
                note = credited_double_charge(session, customer, products)
                if invoice is None and note is not None:
                    if not sees:  # the credit note is a billing document too
                        return reply.say(
                            "utter_dispute_already_credited_unseen",
                            account=context.account,
                        ).say("utter_dispute_offer_other")
                    return reply.extend(already_credited(note, context))
                if note is None and sees:
                    reply.say("utter_dispute_not_credited")  # so: a dispute
            if invoice is None:
                invoice = invoice_with_charge(session, customer, text)
            if invoice is None:
                invoice = invoice_with_product(session, customer, products)
        if invoice is None:
            chosen = choose_invoice(context, customer, prefer_current=True)
            if chosen.invoice is None or (
                chosen.invoice.document_type is DocumentType.CREDIT_NOTE
            ):
                if chosen.reply is not None and requested_invoice_number(tracker):
                    return reply.extend(chosen.reply)  # a number that is not theirs
                return reply.say("utter_dispute_intro").with_events(
                    SlotSet(POSSIBLE_SLOT, True)
                )
            invoice = chosen.invoice
        if sees:
            reply.say("utter_dispute_about", **invoice_values(invoice, context))
            findings = dispute_findings(invoice, context)
            reply.extend(findings)
            shown = [] if findings.messages else named_lines(invoice, text, products)
            for line in shown:
                reply.say(
                    "utter_dispute_line",
                    product=line.product_name,
                    description=line.description or line.product_name,
                    amount=context.money(line.total, invoice.currency),
                )
            reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, invoice.number))
        else:
            reply.say(
                "utter_dispute_about_unseen",
                account=context.account,
                invoice_label=unseen_label(invoice, context.lang),
            )
        return reply.with_events(
            SlotSet(INVOICE_SLOT, invoice.number), SlotSet(POSSIBLE_SLOT, True)
        )


# The topics whose clause of a two-problem message is the dispute's.
DISPUTE_TOPICS = ("charge_explanation", "invoice_lookup", "refund")


def products_in(tracker: Tracker, text: str) -> list[str]:
    """The products the message names inside `text` (its clause about the
    invoice, when it raised two problems)."""
    message = tracker.latest_message or {}
    full = str(message.get("text") or "")
    found = []
    for entity in message.get("entities") or []:
        if entity.get("entity") != "product" or not isinstance(
            entity.get("value"), str
        ):
            continue
        start, end = entity.get("start"), entity.get("end")
        typed = (
            full[start:end] if isinstance(start, int) and isinstance(end, int) else ""
        )
        if (not typed or typed in text) and entity["value"] not in found:
            found.append(str(entity["value"]))
    return found


def unseen_label(invoice: Invoice, lang: str) -> str:
    """How a chatter who may not see invoices hears of one: its period only."""
    return texts_for_lang(lang).text(
        "dispute.invoice_unseen",
        period=formatting.format_period(
            invoice.billing_period_start, invoice.billing_period_end, lang
        ),
    )


def already_credited(note: Invoice, context: Context) -> Reply:
    """The double charge was corrected: the credit note, and the invoice it
    corrects. Nothing to dispute (a dispute is offered for anything else)."""
    amended = note.amends_of
    assert amended is not None
    products = [line.product_name for line in note.lines] or [
        d.product for d in duplicate_charges(amended)
    ]
    return (
        Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, note.number)])
        .say(
            "utter_dispute_already_credited",
            product=context.join(list(dict.fromkeys(products))),
            amended_invoice_number=amended.number,
            credit_note_number=note.number,
            credit_note_total=context.money(abs(note.total), note.currency),
            credit_note_date=context.date(note.invoice_date),
        )
        .say("utter_dispute_offer_other")
        .because(
            context.t(
                "why.already_credited",
                credit_note_number=note.number,
                amended_invoice_number=amended.number,
            )
        )
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
        if slot == DETAILS_SLOT:
            # "yes, file it" to "what's wrong?": file it as it is (never the
            # description itself).
            return latest_intent(tracker) == AFFIRM
        return False

    def extract(self, slot: str, tracker: Tracker) -> Any:
        if slot == INVOICE_SLOT:
            return requested_invoice_number(tracker) or super().extract(slot, tracker)
        if slot == DETAILS_SLOT and latest_intent(tracker) == AFFIRM:
            return FILE_AS_IT_IS
        return super().extract(slot, tracker)

    def correction_for(self, slot: str, text: str, tracker: Tracker) -> Any:
        if slot == INVOICE_SLOT:
            if requested_invoice_number(tracker):
                return requested_invoice_number(tracker)
            if entity_values(tracker, INVOICE_REF_ENTITY) or entity_values(
                tracker, BILLING_PERIOD_ENTITY
            ):
                return BY_REFERENCE  # "sorry, I meant the one before"
        return None

    async def validate_dispute_invoice(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value == BY_REFERENCE:
            return await self.by_reference(dispatcher, tracker)
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
        before = tracker.get_slot(INVOICE_SLOT)
        corrected = tracker.get_slot(REQUESTED_SLOT) != INVOICE_SLOT
        if corrected and before and before != found:  # "sorry, I meant G000024199"
            dispatcher.utter_message(
                response="utter_dispute_invoice_changed", invoice_number=found
            )
        return {INVOICE_SLOT: found, CURRENT_INVOICE_SLOT: found}

    async def by_reference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """The invoice a reference or a period names ("the one before", "the
        September one"), counted from the invoice disputed so far."""
        now = self._clock()

        def find(session: Session) -> tuple[Optional[str], Optional[Reply]]:
            chatter = identify(session, tracker).chatter
            if chatter is None:
                return None, None
            customer = ticket_customer(session, chatter, tracker)
            if customer is None:
                return None, None
            today = formatting.local_today(now, chatter.partner.timezone)
            context = Context(
                session, tracker, chatter, customer, now, today, language_of(tracker)
            )
            chosen = choose_invoice(context, customer, prefer_current=True)
            invoice = chosen.invoice
            if invoice is None or invoice.document_type is DocumentType.CREDIT_NOTE:
                return None, chosen.reply
            return invoice.number, None

        failed: tuple[Optional[str], Optional[Reply]] = (None, None)
        found, problem = await in_session(find, tracker, failed=failed)
        if found is None:
            for message in (problem or Reply()).messages:
                dispatcher.utter_message(**message)
            return {}  # the invoice stays as it was
        if found != tracker.get_slot(INVOICE_SLOT):
            dispatcher.utter_message(
                response="utter_dispute_invoice_changed", invoice_number=found
            )
        return {INVOICE_SLOT: found, CURRENT_INVOICE_SLOT: found}

    async def validate_dispute_details(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value == FILE_AS_IT_IS:
            # Filed as it is, on the user's yes: the billing team asks if needed.
            not_given = texts_for(tracker).text("dispute.details_not_given")
            return {DETAILS_SLOT: not_given, CONFIRM_SLOT: True}
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

    async def ask(self, tracker: Tracker) -> Reply:
        number = str(tracker.get_slot(INVOICE_SLOT) or "")
        unseen = await in_session(
            lambda session: self._unseen_label(session, tracker, number),
            tracker,
            failed=None,
        )
        return Reply().say(
            "utter_ask_dispute_confirm",
            invoice_number=unseen or number,
            details=tracker.get_slot(DETAILS_SLOT),
            buttons=yes_no_buttons(tracker, yes="button.file_it", no="button.no"),
        )

    @staticmethod
    def _unseen_label(session: Session, tracker: Tracker, number: str) -> Optional[str]:
        """The invoice's period for a chatter who may not see invoices (None for
        everyone else: they see its number)."""
        chatter = identify(session, tracker).chatter
        if chatter is None or chatter.can("view_invoices"):
            return None
        customer = ticket_customer(session, chatter, tracker)
        if customer is None:
            return None
        invoice = invoice_by_number(session, customer_id=customer.id, number=number)
        return unseen_label(invoice, language_of(tracker)) if invoice else None


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
        sees = chatter.can("view_invoices")
        filed = "utter_dispute_filed" if sees else "utter_dispute_filed_unseen"
        reply = Reply().say(
            filed if created else "utter_dispute_already_filed",
            ticket_id=ticket.public_id,
            invoice_number=invoice.number,
            invoice_label=unseen_label(invoice, lang),
            account=customer.name,
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
