"""Invoice answers: the chatter's latest invoice, or one they name by number.

Every lookup is scoped to the signed-in customer: a number that does not exist and a
number that belongs to someone else get the same answer, so the bot never reveals
that an invoice exists elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.formatting import (
    format_date,
    format_money,
    format_period,
    invoice_status,
    local_today,
)
from actions.identity import chat_identity
from api.db import session_scope
from api.identity import ChatIdentity
from api.models import DocumentType, Invoice
from api.services.billing import customer_by_tenant, invoice_by_number, latest_invoice
from api.settings import get_settings

logger = logging.getLogger(__name__)

INVOICE_NUMBER_ENTITY = "invoice_number"
# The invoice the conversation is about, set only after it was found on the
# chatter's own account (later topics, e.g. explaining charges, start from it).
CURRENT_INVOICE_SLOT = "current_invoice_number"
# How much of an unusable number the bot repeats back.
MAX_ECHOED_CHARS = 30


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


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


@dataclass
class Reply:
    """What the lookup found: responses to send and events to return."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventType] = field(default_factory=list)

    def say(self, response: str, **values: Any) -> Reply:
        self.messages.append({"response": response, **values})
        return self


def invoice_values(invoice: Invoice, now: datetime) -> dict[str, str]:
    """The response variables that describe `invoice` (read inside the session)."""
    today = local_today(now, invoice.customer.partner.timezone)
    return {
        "invoice_number": invoice.number,
        "billing_period": format_period(
            invoice.billing_period_start, invoice.billing_period_end
        ),
        "invoice_date": format_date(invoice.invoice_date),
        "total": format_money(invoice.total, invoice.currency),
        "due_date": format_date(invoice.due_date),
        "payment_status": invoice_status(invoice, today),
    }


def describe_invoice(invoice: Invoice, now: datetime, *, latest: bool) -> Reply:
    """The answer that shows one invoice (or credit note) of the chatter's own."""
    values = invoice_values(invoice, now)
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


def lookup_for_customer(
    session: Session, identity: ChatIdentity, number: Optional[str], now: datetime
) -> Reply:
    """Answer a signed-in customer: invoice `number`, or the latest if None."""
    customer = customer_by_tenant(session, tenant_id=identity.tenant_id or "")
    if customer is None:
        logger.warning("No customer for the tenant of %s", identity.requester)
        return Reply().say("utter_account_not_found")
    if number is None:
        invoice = latest_invoice(session, customer_id=customer.id)
        if invoice is None:
            return Reply().say("utter_no_invoices")
        return describe_invoice(invoice, now, latest=True)
    invoice = invoice_by_number(session, customer_id=customer.id, number=number)
    if invoice is None:
        # Unknown, or another customer's: the same answer either way.
        return Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, None)]).say(
            "utter_invoice_not_found", invoice_number=number
        )
    return describe_invoice(invoice, now, latest=False)


class ActionInvoiceLookup(Action):
    """Show the signed-in customer's latest invoice, or the one they named."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_invoice_lookup"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        identity = chat_identity(tracker)
        if identity is None:
            dispatcher.utter_message(response="utter_invoice_general")
            dispatcher.utter_message(response="utter_sign_in_needed")
            return []
        if identity.kind != "customer":
            # Partner staff (Slack, Teams): looking up a customer's invoice on their
            # behalf comes in a later round.
            dispatcher.utter_message(response="utter_invoice_name_the_customer")
            return []

        number: Optional[str] = None
        raw = requested_invoice_number(tracker)
        if raw is not None:
            number = normalise_invoice_number(raw)
            if not is_invoice_number(number):
                dispatcher.utter_message(
                    response="utter_invoice_number_malformed",
                    invoice_number=raw[:MAX_ECHOED_CHARS],
                )
                return []

        try:
            reply = await asyncio.to_thread(self._lookup, identity, number)
        except SQLAlchemyError:
            logger.exception("Invoice lookup failed for %s", identity.requester)
            dispatcher.utter_message(response="utter_billing_unavailable")
            return []
        for message in reply.messages:
            dispatcher.utter_message(**message)
        return reply.events

    def _lookup(self, identity: ChatIdentity, number: Optional[str]) -> Reply:
        """One session for the whole lookup, closed before the answer is sent."""
        with session_scope() as session:
            return lookup_for_customer(session, identity, number, self._clock())
