"""Invoice answers: by number, by reference ("the one before that"), by period in
words, or the latest; and credit notes.

A customer sees only their own invoices; partner staff see their own partner's
customers' invoices (named by the customer's name, domain or tenant id, or found by
number among them). A number that does not exist and a number that belongs to
someone else get the same answer, so the bot never reveals that an invoice exists
elsewhere. Every invoice shown comes with what its number's series means (D legacy,
G new commerce) and a signed, short-lived link to its PDF.

`choose_invoice()` is how every topic reads "which invoice": a number, a reference
to the invoice the conversation is about (`current_invoice_number`), a period ("this
month's bill" is the newest invoice: the month is not invoiced until it ends), or
the newest one. Charges, payments and disputes use it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from sqlalchemy import select

from actions.base import (
    ACTING_FOR_SLOT,
    CURRENT_INVOICE_SLOT,
    BillingAction,
    Context,
    Reply,
)
from actions.identity import Target
from actions.tracker import entity_spans, entity_values, latest_text
from api.documents.links import invoice_pdf_link
from api.domain.models import Customer, DocumentType, Invoice
from api.domain.services.billing import (
    credit_notes_amending,
    invoice_by_number,
    invoice_for_partner,
    invoices_in_period,
    latest_invoice,
    latest_invoice_for_product,
    previous_invoice,
    unpaid_invoices,
)
from api.domain.services.periods import Period, PeriodError, parse_billing_periods
from api.settings import get_settings
from common.formatting import bullet_list, format_money, plural
from common.texts import DEFAULT_LANGUAGE, catalogue

__all__ = [
    "CURRENT_INVOICE_SLOT",
    "ActionCreditNotes",
    "ActionInvoiceLookup",
    "Chosen",
    "choose_invoice",
    "requested_invoice_number",
]

INVOICE_NUMBER_ENTITY = "invoice_number"
BILLING_PERIOD_ENTITY = "billing_period"
PRODUCT_ENTITY = "product"
INVOICE_REF_ENTITY = "invoice_ref"
MAX_LISTED = 12
G_AVAILABLE_DAY = 8

# Something the chatter probably meant as an invoice number: a D or G and at least
# five digits ("G12345", "g-0000241351"). NLU extracts only well-formed numbers, so
# without this a near miss would silently get the latest invoice instead of a hint.
# Five digits at least, so that "D365" (Dynamics 365) is not taken for one.
NEAR_MISS_INVOICE_NUMBER = re.compile(r"(?<![\w-])[DdGg][-\s]?\d{5,}(?![\w-])")
# "this month's bill", "this week's invoice", "my current bill": the newest invoice.
# "is it paid?", "what dates does that one cover?", "the invoice it corrects": the
# invoice just discussed (not "this month", "that week").
REFERS_BACK = re.compile(
    r"\b(?:it|its|that|this)\b(?!\s+(?:month|week|year|quarter|period)\b)"
    r"|\bthe\s+(?:problem|issue|culprit|cause)\b",
    re.IGNORECASE,
)
# "the invoice it corrects", "the original invoice": what a credit note corrects.
CORRECTED = re.compile(
    r"\b(?:it|that|this)\s+(?:corrects|credits|refers\s+to|was\s+against)\b"
    r"|\b(?:corrected|original)\s+(?:invoice|bill)\b",
    re.IGNORECASE,
)
# "the latest one", "the newest", "most recent": the newest invoice, whatever the
# conversation was about.
NEWEST = re.compile(
    r"\b(?:latest|newest|most\s+recent|last)\s+(?:one|invoice|bill)\b|\b(?:latest|newest)\b",
    re.IGNORECASE,
)
# "when is my next invoice due?", "the next bill to pay": the open invoice due first.
NEXT_TO_PAY = re.compile(r"\b(?:due|pay|payable|owe)\b", re.IGNORECASE)
# "last month's", "the previous month": a period named from today.
RELATIVE = re.compile(r"\b(?:last|previous|prior)\s+month", re.IGNORECASE)
CURRENT_BILL = re.compile(
    r"\b(?:this|current)\s+(?:month|week|period|cycle)|\bcurrent\s+(?:bill|invoice)|"
    r"\bthis\s+(?:bill|invoice)\b",
    re.IGNORECASE,
)


def normalise_invoice_number(raw: str) -> str:
    """`' g-000 024 135 '` -> `'G000024135'`: drop spaces and dashes, upper-case."""
    return re.sub(r"[\s\-]", "", raw).upper()


def is_invoice_number(number: str, pattern: Optional[str] = None) -> bool:
    """Whether `number` (normalised) has the configured invoice number format."""
    pattern = pattern if pattern is not None else get_settings().invoice_number_pattern
    return re.fullmatch(pattern, number) is not None


def requested_invoice_number(tracker: Tracker) -> Optional[str]:
    """The invoice number the latest message asks about, as the user wrote it.

    The `invoice_number` entity if NLU found one; otherwise a near miss in the text
    that no other entity covers (it gets a format hint, or is used if well formed).
    """
    named = entity_values(tracker, INVOICE_NUMBER_ENTITY)
    if named:
        return named[0]
    text = latest_text(tracker)
    taken = entity_spans(tracker)
    for match in NEAR_MISS_INVOICE_NUMBER.finditer(text):
        if not any(match.start() < end and start < match.end() for start, end in taken):
            return match.group()
    return None


def checked_invoice_number(tracker: Tracker) -> tuple[Optional[str], Optional[Reply]]:
    """(normalised number, None), (None, None) if none was asked for, or
    (None, format hint) for a malformed one."""
    raw = requested_invoice_number(tracker)
    if raw is None:
        return None, None
    number = normalise_invoice_number(raw)
    if not is_invoice_number(number):
        return None, Reply().say("utter_invoice_number_malformed")
    return number, None


# --------------------------------------------------------------------------- wording


def invoice_status(invoice: Invoice, today: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """The invoice's payment state in words, as of `today`."""
    texts = catalogue(lang)
    status = invoice.payment_status(today)
    currency = invoice.currency
    if status == "credit":
        return texts.text("invoice.status.credit")
    if status == "paid":
        return texts.text("invoice.status.paid")
    outstanding = format_money(invoice.balance, currency, lang)
    paid = format_money(invoice.paid_amount, currency, lang)
    if status == "overdue":
        days = plural(invoice.days_overdue(today), "day", lang)
        if invoice.paid_amount > 0:
            return texts.text(
                "invoice.status.overdue_part_paid",
                days=days,
                paid=paid,
                outstanding=outstanding,
            )
        return texts.text("invoice.status.overdue", days=days, outstanding=outstanding)
    if status == "partially_paid":
        return texts.text(
            "invoice.status.partly_paid", paid=paid, outstanding=outstanding
        )
    days_left = (invoice.due_date - today).days
    if days_left == 0:
        return texts.text("invoice.status.due_today")
    return texts.text("invoice.status.due_in", days=plural(days_left, "day", lang))


def series_note(invoice: Invoice, context: Context) -> str:
    """What the number's series says about the period and availability."""
    series = invoice.series
    if series not in ("G", "D"):
        return ""
    available = context.date(invoice.available_on)
    key = "available" if invoice.available_on <= context.today else "will_be_available"
    return context.t(
        f"invoice.series.{series}",
        month=invoice.billing_period_start,
        start=context.date(invoice.billing_period_start),
        when=context.t(f"invoice.series.{key}", day=available),
    )


def pdf_link(invoice: Invoice, context: Context) -> str:
    """A Markdown link to the invoice's PDF, signed and short-lived."""
    link = invoice_pdf_link(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        now=context.now.timestamp(),
    )
    return context.t(
        "invoice.pdf_link",
        url=link.url,
        number=invoice.number,
        minutes=max(link.ttl_seconds // 60, 1),
    )


def invoice_values(invoice: Invoice, context: Context) -> dict[str, str]:
    """The response variables that describe `invoice` (read inside the session)."""
    return {
        "account": context.account,
        "invoice_number": invoice.number,
        "billing_period": context.period(
            invoice.billing_period_start, invoice.billing_period_end
        ),
        "invoice_date": context.date(invoice.invoice_date),
        "total": context.money(invoice.total, invoice.currency),
        "due_date": context.date(invoice.due_date),
        "payment_status": invoice_status(invoice, context.today, context.lang),
        "series_note": series_note(invoice, context),
        "pdf_link": pdf_link(invoice, context),
    }


def invoice_line(invoice: Invoice, context: Context) -> str:
    """One invoice in a list: number, period, total, due date, status, PDF."""
    return context.t("invoice.line", **invoice_values(invoice, context))


def describe_invoice(invoice: Invoice, context: Context, *, latest: bool) -> Reply:
    """The answer that shows one invoice (or credit note) the chatter may see."""
    values = invoice_values(invoice, context)
    reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)])
    if invoice.document_type is DocumentType.CREDIT_NOTE:
        reply.say("utter_credit_note_found", **values)
        amended = invoice.amends_of
        if amended is not None and amended.customer_id == invoice.customer_id:
            reply.say(
                "utter_credit_note_amends",
                amended_invoice_number=amended.number,
                amended_total=context.money(amended.total, amended.currency),
            )
        return reply
    return reply.say(
        "utter_invoice_latest" if latest else "utter_invoice_found", **values
    )


def expected_availability(period: Period) -> date:
    """When a new-commerce invoice for the period's last month is available."""
    following = (period.end.replace(day=1) + timedelta(days=32)).replace(day=1)
    return following.replace(day=G_AVAILABLE_DAY)


# --------------------------------------------------------------------------- choosing


@dataclass
class Chosen:
    """Which invoice a message is about: one invoice (and how it was found), several
    (a period), or a reply that says why there is none."""

    invoice: Optional[Invoice] = None
    invoices: list[Invoice] = field(default_factory=list)
    period: Optional[Period] = None
    reply: Optional[Reply] = None  # no invoice: what to say instead
    note: Optional[Reply] = None  # said before the invoice (e.g. "not yet invoiced")
    latest: bool = False  # the newest invoice, because nothing else was named


def current_invoice(context: Context, customer: Customer) -> Optional[Invoice]:
    """The invoice the conversation is about, if it is still this customer's."""
    number = context.tracker.get_slot(CURRENT_INVOICE_SLOT)
    if not isinstance(number, str) or not number:
        return None
    return invoice_by_number(context.session, customer_id=customer.id, number=number)


def next_invoice(context: Context, invoice: Invoice) -> Optional[Invoice]:
    return context.session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == invoice.customer_id,
            Invoice.document_type == DocumentType.INVOICE,
            Invoice.number.startswith(invoice.series),
            Invoice.invoice_date > invoice.invoice_date,
        )
        .order_by(Invoice.invoice_date, Invoice.number)
        .limit(1)
    ).first()


def first_invoice(context: Context, customer: Customer) -> Optional[Invoice]:
    return context.session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer.id,
            Invoice.document_type == DocumentType.INVOICE,
        )
        .order_by(Invoice.invoice_date, Invoice.number)
        .limit(1)
    ).first()


def by_reference(context: Context, customer: Customer, ref: str) -> Chosen:
    """ "the one before that", "the next one", "the first one", "that one"."""
    base = current_invoice(context, customer) or latest_invoice(
        context.session, customer_id=customer.id
    )
    if base is None:
        return Chosen(reply=Reply().say("utter_no_invoices", account=context.account))
    if ref == "previous":
        found = previous_invoice(context.session, invoice=base)
        if found is None:
            return Chosen(
                reply=Reply().say(
                    "utter_no_invoice_before",
                    invoice_number=base.number,
                    account=context.account,
                )
            )
        return Chosen(invoice=found)
    if ref == "next":
        found = next_invoice(context, base)
        if found is None and NEXT_TO_PAY.search(latest_text(context.tracker)):
            # "when is my next invoice due?": the next one to pay
            open_invoices = sorted(
                unpaid_invoices(context.session, customer_id=customer.id),
                key=lambda i: (i.due_date, i.number),
            )
            found = open_invoices[0] if open_invoices else None
        if found is None:
            return Chosen(
                reply=Reply().say(
                    "utter_no_invoice_after",
                    invoice_number=base.number,
                    account=context.account,
                )
            )
        return Chosen(invoice=found)
    if ref == "first":
        return Chosen(invoice=first_invoice(context, customer))
    return Chosen(invoice=base)


def by_period(context: Context, customer: Customer, texts: list[str]) -> Chosen:
    """Invoices of a named period; the newest invoice for a period that is not
    invoiced yet (saying when it will be)."""
    text = latest_text(context.tracker)
    try:
        period = parse_billing_periods(texts, today=context.today)
    except PeriodError:
        if CURRENT_BILL.search(text):  # "this weeks bill": the newest
            newest = latest_invoice(context.session, customer_id=customer.id)
            if newest is not None:
                return Chosen(invoice=newest, latest=True)
        return Chosen(
            reply=Reply().say("utter_period_not_understood", billing_period=texts[0])
        )
    newest = latest_invoice(context.session, customer_id=customer.id)
    if period.is_future(context.today):
        return Chosen(
            reply=Reply().say(
                "utter_period_future",
                billing_period=period.label,
                today=context.date(context.today),
            )
        )
    invoices = invoices_in_period(
        context.session, customer_id=customer.id, start=period.start, end=period.end
    )
    if invoices:
        if len(invoices) == 1:
            return Chosen(invoice=invoices[0], period=period)
        return Chosen(invoices=invoices, period=period)
    if newest is None:
        return Chosen(reply=Reply().say("utter_no_invoices", account=context.account))
    if period.is_open(context.today) or CURRENT_BILL.search(text):
        # "this month's bill": the month is invoiced when it is over; the newest
        # invoice is the bill they have now.
        return Chosen(
            invoice=newest,
            period=period,
            note=Reply().say(
                "utter_period_is_current",
                billing_period=period.label,
                available_by=context.date(expected_availability(period)),
            ),
        )
    if expected_availability(period) > context.today:
        current = current_invoice(context, customer)
        before = (
            previous_invoice(context.session, invoice=newest)
            if current is not None and current.id == newest.id and RELATIVE.search(text)
            else None
        )
        if before is not None:
            # "and last month's?" right after the newest bill was shown as "this
            # month's": the one before it.
            return Chosen(
                invoice=before,
                period=period,
                note=Reply().say(
                    "utter_period_not_invoiced_yet_before",
                    billing_period=period.label,
                    available_by=context.date(expected_availability(period)),
                    invoice_number=newest.number,
                ),
            )
        return Chosen(
            invoice=newest,
            period=period,
            note=Reply().say(
                "utter_period_not_invoiced_yet",
                account=context.account,
                billing_period=period.label,
                available_by=context.date(expected_availability(period)),
            ),
        )
    return Chosen(
        reply=Reply().say(
            "utter_no_invoice_in_period",
            account=context.account,
            billing_period=period.label,
        )
    )


def choose_invoice(
    context: Context, customer: Customer, *, prefer_current: bool = False
) -> Chosen:
    """Which invoice the latest message means (see the module docstring)."""
    tracker = context.tracker
    number, hint = checked_invoice_number(tracker)
    if hint is not None:
        return Chosen(reply=hint)
    if number is not None:
        invoice = invoice_by_number(
            context.session, customer_id=customer.id, number=number
        )
        if invoice is None:
            # Unknown, or another customer's: the same answer either way.
            return Chosen(
                reply=Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, None)]).say(
                    "utter_invoice_not_found",
                    invoice_number=number,
                    account=context.account,
                )
            )
        return Chosen(invoice=invoice)
    text = latest_text(tracker)
    current = current_invoice(context, customer)
    if (
        current is not None
        and current.document_type is DocumentType.CREDIT_NOTE
        and current.amends_of is not None
        and CORRECTED.search(text)
    ):
        return Chosen(invoice=current.amends_of)
    refs = entity_values(tracker, INVOICE_REF_ENTITY)
    if refs:
        return by_reference(context, customer, refs[0])
    periods = entity_values(tracker, BILLING_PERIOD_ENTITY)
    if periods:
        return by_period(context, customer, periods)
    if CURRENT_BILL.search(latest_text(tracker)):
        return Chosen(
            invoice=latest_invoice(context.session, customer_id=customer.id),
            latest=True,
        )
    refers_back = prefer_current or REFERS_BACK.search(text)
    if current is not None and refers_back and not NEWEST.search(text):
        return Chosen(invoice=current)
    for product in entity_values(tracker, PRODUCT_ENTITY):
        # "the newest one for Azure": the newest invoice that charges for it
        found = latest_invoice_for_product(
            context.session, customer_id=customer.id, product=product
        )
        if found is not None:
            return Chosen(invoice=found)
    newest = latest_invoice(context.session, customer_id=customer.id)
    if newest is None:
        return Chosen(reply=Reply().say("utter_no_invoices", account=context.account))
    return Chosen(invoice=newest, latest=True)


def list_reply(context: Context, chosen: Chosen) -> Reply:
    """Several invoices of a period."""
    shown = chosen.invoices[-MAX_LISTED:]
    more = len(chosen.invoices) - len(shown)
    lines = [invoice_line(i, context) for i in shown]
    if more:
        lines.append(context.t("invoice.more_older", count=more))
    return Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, shown[-1].number)]).say(
        "utter_invoice_list",
        account=context.account,
        billing_period=chosen.period.label if chosen.period else "",
        count=str(len(chosen.invoices)),
        invoice_lines=bullet_list(lines),
    )


# --------------------------------------------------------------------------- actions


class ActionInvoiceLookup(BillingAction):
    """Show an invoice: by number, by reference, by period, or the latest."""

    capability = "view_invoices"
    general_response = "utter_invoice_general"

    def name(self) -> str:
        return "action_invoice_lookup"

    def before_lookup(self, tracker: Tracker) -> Optional[Reply]:
        _, hint = checked_invoice_number(tracker)
        return hint

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        chosen = choose_invoice(context, customer)
        if chosen.reply is not None:
            return chosen.reply
        if chosen.invoices:
            return list_reply(context, chosen)
        assert chosen.invoice is not None
        reply = Reply()
        if chosen.note is not None:
            reply.extend(chosen.note)
        return reply.extend(
            describe_invoice(chosen.invoice, context, latest=chosen.latest)
        )

    def without_customer(self, context: Context, target: Target) -> Optional[Reply]:
        """Staff who give a number without naming the customer: look for it among
        their own partner's customers only."""
        number, _ = checked_invoice_number(context.tracker)
        if number is None or target.problem != "utter_name_the_customer":
            return None
        invoice = invoice_for_partner(
            context.session, partner_id=context.chatter.partner.id, number=number
        )
        if invoice is None:
            return Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, None)]).say(
                "utter_invoice_not_found",
                invoice_number=number,
                account=context.t("account.your_customers"),
            )
        context.customer = invoice.customer
        reply = describe_invoice(invoice, context, latest=False)
        reply.events.insert(0, SlotSet(ACTING_FOR_SLOT, str(invoice.customer_id)))
        return reply


class ActionCreditNotes(BillingAction):
    """ "Did we get a credit for the double charge?": the credit notes, and what each
    one corrects."""

    capability = "view_invoices"
    general_response = "utter_credit_notes_general"

    def name(self) -> str:
        return "action_credit_notes"

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        number, hint = checked_invoice_number(context.tracker)
        if hint is not None:
            return hint
        if number is not None:
            invoice = invoice_by_number(
                context.session, customer_id=customer.id, number=number
            )
            if (
                invoice is not None
                and invoice.document_type is DocumentType.CREDIT_NOTE
            ):
                return describe_invoice(invoice, context, latest=False)
            if invoice is not None:
                return self.for_invoice(context, invoice)
        current = current_invoice(context, customer)
        if current is not None and current.document_type is DocumentType.INVOICE:
            notes = credit_notes_amending(context.session, invoice=current)
            if notes:
                return self.listed(context, notes)
        notes = sorted(
            (
                i
                for i in customer.invoices
                if i.document_type is DocumentType.CREDIT_NOTE
            ),
            key=lambda i: (i.invoice_date, i.number),
        )
        if not notes:
            return Reply().say("utter_no_credit_notes", account=context.account)
        return self.listed(context, notes)

    def for_invoice(self, context: Context, invoice: Invoice) -> Reply:
        notes = credit_notes_amending(context.session, invoice=invoice)
        if not notes:
            return Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)]).say(
                "utter_no_credit_note_for",
                invoice_number=invoice.number,
                account=context.account,
            )
        return self.listed(context, notes)

    @staticmethod
    def listed(context: Context, notes: list[Invoice]) -> Reply:
        lines = [
            context.t(
                "credit_note.line",
                number=note.number,
                total=context.money(note.total, note.currency),
                day=context.date(note.invoice_date),
                amends=note.amends_of.number if note.amends_of else "",
                pdf_link=pdf_link(note, context),
            )
            if note.amends_of
            else context.t(
                "credit_note.line_alone",
                number=note.number,
                total=context.money(note.total, note.currency),
                day=context.date(note.invoice_date),
                pdf_link=pdf_link(note, context),
            )
            for note in notes
        ]
        return Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, notes[-1].number)]).say(
            "utter_credit_notes",
            account=context.account,
            count=str(len(notes)),
            credit_notes=bullet_list(lines),
        )
