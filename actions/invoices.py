"""Invoice answers: by number, by period in words, or the latest.

A customer sees only their own invoices; partner staff see their own partner's
customers' invoices (named by the customer's name, domain or tenant id, or found by
number among them). A number that does not exist and a number that belongs to
someone else get the same answer, so the bot never reveals that an invoice exists
elsewhere. Every invoice shown comes with what its number's series means (D legacy,
G new commerce) and a signed, short-lived link to its PDF.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.common import BillingAction, Context, Reply, utc_now
from actions.formatting import (
    bullet_list,
    format_date,
    format_money,
    format_period,
    invoice_status,
)
from actions.identity import ACTING_FOR_SLOT, Target
from api.documents.links import invoice_pdf_link
from api.domain.models import Customer, DocumentType, Invoice
from api.domain.services.billing import (
    SERIES,
    invoice_by_number,
    invoice_for_partner,
    invoices_in_period,
    latest_invoice,
    series_info,
)
from api.domain.services.periods import Period, PeriodError, parse_billing_periods
from api.settings import get_settings

logger = logging.getLogger(__name__)

__all__ = [
    "CURRENT_INVOICE_SLOT",
    "ActionInvoiceLookup",
    "Reply",
    "requested_invoice_number",
    "utc_now",
]

INVOICE_NUMBER_ENTITY = "invoice_number"
BILLING_PERIOD_ENTITY = "billing_period"
# The invoice the conversation is about, set only after it was found on an account
# the chatter may see (later topics, e.g. explaining charges, start from it).
CURRENT_INVOICE_SLOT = "current_invoice_number"
# How much of an unusable number or period the bot repeats back.
MAX_ECHOED_CHARS = 30
MAX_LISTED = 12
G_AVAILABLE_DAY = 8


def normalise_invoice_number(raw: str) -> str:
    """`' g-000 024 135 '` -> `'G000024135'`: drop spaces and dashes, upper-case."""
    return re.sub(r"[\s\-]", "", raw).upper()


def is_invoice_number(number: str, pattern: Optional[str] = None) -> bool:
    """Whether `number` (normalised) has the configured invoice number format."""
    pattern = pattern if pattern is not None else get_settings().invoice_number_pattern
    return re.fullmatch(pattern, number) is not None


# Something the chatter probably meant as an invoice number: a D or G and at least
# five digits ("G12345", "g-0000241351"). NLU extracts only well-formed numbers, so
# without this a near miss would silently get the latest invoice instead of a hint.
# Five digits at least, so that "D365" (Dynamics 365) is not taken for one.
NEAR_MISS_INVOICE_NUMBER = re.compile(r"(?<![\w-])[DdGg][-\s]?\d{5,}(?![\w-])")


def requested_invoice_number(tracker: Tracker) -> Optional[str]:
    """The invoice number the latest message asks about, as the user wrote it.

    The `invoice_number` entity if NLU found one; otherwise a near miss in the text
    that no other entity covers (it gets a format hint, or is used if well formed).
    """
    for value in tracker.get_latest_entity_values(INVOICE_NUMBER_ENTITY):
        if isinstance(value, str) and value.strip():
            return value.strip()
    message = tracker.latest_message or {}
    text = message.get("text")
    if not isinstance(text, str):
        return None
    taken = [
        (entity["start"], entity["end"])
        for entity in message.get("entities") or []
        if isinstance(entity.get("start"), int) and isinstance(entity.get("end"), int)
    ]
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
        hint = Reply().say(
            "utter_invoice_number_malformed", invoice_number=raw[:MAX_ECHOED_CHARS]
        )
        return None, hint
    return number, None


def requested_periods(tracker: Tracker) -> list[str]:
    """The `billing_period` values of the latest message, as typed."""
    return [
        value.strip()
        for value in tracker.get_latest_entity_values(BILLING_PERIOD_ENTITY)
        if isinstance(value, str) and value.strip()
    ]


# --------------------------------------------------------------------------- wording


def series_note(invoice: Invoice, today: date) -> str:
    """What the number's series says about the period and availability."""
    info = series_info(invoice.number)
    if info is None:
        return ""
    available = format_date(invoice.available_on)
    when = (
        f"became available on {available}"
        if invoice.available_on <= today
        else f"will be available on {available}"
    )
    if info.series == "G":
        return (
            f"{info.series}-series ({info.name}): it {info.period_rule}, "
            f"{invoice.billing_period_start:%B %Y}, and is {info.availability_rule}; "
            f"this one {when}."
        )
    return (
        f"{info.series}-series ({info.name}): it {info.period_rule} "
        f"({format_date(invoice.billing_period_start)}) and is "
        f"{info.availability_rule}; this one {when}."
    )


def pdf_values(invoice: Invoice, now: datetime) -> dict[str, str]:
    link = invoice_pdf_link(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        now=now.timestamp(),
    )
    return {"pdf_url": link.url, "pdf_minutes": str(max(link.ttl_seconds // 60, 1))}


def invoice_values(invoice: Invoice, context: Context) -> dict[str, str]:
    """The response variables that describe `invoice` (read inside the session)."""
    return {
        "account": context.account,
        "invoice_number": invoice.number,
        "billing_period": format_period(
            invoice.billing_period_start, invoice.billing_period_end
        ),
        "invoice_date": format_date(invoice.invoice_date),
        "total": format_money(invoice.total, invoice.currency),
        "due_date": format_date(invoice.due_date),
        "payment_status": invoice_status(invoice, context.today),
        "series_note": series_note(invoice, context.today),
        **pdf_values(invoice, context.now),
    }


def invoice_line(invoice: Invoice, context: Context) -> str:
    """One invoice in a list: number, period, total, due date, status, PDF."""
    pdf = pdf_values(invoice, context.now)["pdf_url"]
    return (
        f"{invoice.number}: "
        f"{format_period(invoice.billing_period_start, invoice.billing_period_end)}, "
        f"{format_money(invoice.total, invoice.currency)}, due "
        f"{format_date(invoice.due_date)}, {invoice_status(invoice, context.today)}. "
        f"PDF: {pdf}"
    )


def describe_invoice(invoice: Invoice, context: Context, *, latest: bool) -> Reply:
    """The answer that shows one invoice (or credit note) the chatter may see."""
    values = invoice_values(invoice, context)
    reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)])
    if invoice.document_type is DocumentType.CREDIT_NOTE:
        reply.say("utter_credit_note_found", **values)
        amended = invoice.amends_of
        if amended is not None and amended.customer_id == invoice.customer_id:
            reply.say("utter_credit_note_amends", amended_invoice_number=amended.number)
        return reply
    return reply.say(
        "utter_invoice_latest" if latest else "utter_invoice_found", **values
    )


def expected_availability(period: Period) -> date:
    """When a new-commerce invoice for the period's last month is available."""
    following = (period.end.replace(day=1) + timedelta(days=32)).replace(day=1)
    return following.replace(day=G_AVAILABLE_DAY)


def has_legacy_invoices(context: Context, customer: Customer) -> bool:
    return any(invoice.series == "D" for invoice in customer.invoices)


def answer_for_period(context: Context, customer: Customer, texts: list[str]) -> Reply:
    """Invoices whose billing period starts in the period the user named."""
    try:
        period = parse_billing_periods(texts, today=context.today)
    except PeriodError:
        return Reply().say(
            "utter_period_not_understood", billing_period=texts[0][:MAX_ECHOED_CHARS]
        )
    if period.is_future(context.today):
        return Reply().say(
            "utter_period_future",
            billing_period=period.label,
            today=format_date(context.today),
        )
    invoices = invoices_in_period(
        context.session, customer_id=customer.id, start=period.start, end=period.end
    )
    reply = Reply()
    if not invoices:
        if expected_availability(period) > context.today:
            legacy = (
                f" {SERIES['D'].series}-series (legacy) invoices are "
                f"{SERIES['D'].availability_rule}."
                if has_legacy_invoices(context, customer)
                else ""
            )
            return reply.say(
                "utter_period_not_invoiced_yet",
                account=context.account,
                billing_period=period.label,
                available_by=format_date(expected_availability(period)),
                legacy_note=legacy,
            )
        return reply.say(
            "utter_no_invoice_in_period",
            account=context.account,
            billing_period=period.label,
        )
    if len(invoices) == 1:
        reply = describe_invoice(invoices[0], context, latest=False)
    else:
        shown = invoices[-MAX_LISTED:]
        more = len(invoices) - len(shown)
        reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, shown[-1].number)])
        reply.say(
            "utter_invoice_list",
            account=context.account,
            billing_period=period.label,
            count=str(len(invoices)),
            pdf_minutes=str(max(get_settings().pdf_link_ttl_seconds // 60, 1)),
            invoice_lines=bullet_list([invoice_line(i, context) for i in shown])
            + (f"\n(and {more} older)" if more else ""),
        )
    if period.is_open(context.today):
        reply.say(
            "utter_period_partly_invoiced",
            billing_period=period.label,
            available_by=format_date(expected_availability(period)),
        )
    return reply


# --------------------------------------------------------------------------- action


class ActionInvoiceLookup(BillingAction):
    """Show an invoice: by number, by period, or the latest."""

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
        number, _ = checked_invoice_number(context.tracker)
        if number is not None:
            invoice = invoice_by_number(
                context.session, customer_id=customer.id, number=number
            )
            if invoice is None:
                # Unknown, or another customer's: the same answer either way.
                return Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, None)]).say(
                    "utter_invoice_not_found",
                    invoice_number=number,
                    account=context.account,
                )
            return describe_invoice(invoice, context, latest=False)
        periods = requested_periods(context.tracker)
        if periods:
            return answer_for_period(context, customer, periods)
        latest = latest_invoice(context.session, customer_id=customer.id)
        if latest is None:
            return Reply().say("utter_no_invoices", account=context.account)
        return describe_invoice(latest, context, latest=True)

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
                account="your customers' accounts",
            )
        context.customer = invoice.customer
        reply = describe_invoice(invoice, context, latest=False)
        reply.events.insert(0, SlotSet(ACTING_FOR_SLOT, str(invoice.customer_id)))
        return reply
