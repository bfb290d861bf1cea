"""Shared pieces of the billing actions' tests: the demo's people, a fixed clock,
and running an action the way the action server does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from datetime import time as clock_time
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.models import Customer, Invoice, PartnerUser
from tests.actions.helpers import render

# Demo staff (docs/demo-data.md): Slack user ids.
NW_GLOBAL_ADMIN = "U0NW0GADM1"
NW_BILLING_ADMIN = "U0NW0BILL1"
NW_HELPDESK = "U0NW0HELP1"
NW_SALES = "U0NW0SALE1"
NW_ADMIN_AGENT = "U0NW0AAGT1"
NW_USER_ADMIN = "U0NW0UMAD1"
FB_BILLING_ADMIN = "U0FB0BILL1"
LW_BILLING_ADMIN = "U0LW0BILL1"
LW_INACTIVE_SALES = "U0LW0SALE1"


def midday(day: date) -> Callable[[], datetime]:
    """A clock stopped at midday UTC on `day`."""
    moment = datetime.combine(day, clock_time(12), tzinfo=timezone.utc)
    return lambda: moment


async def run(
    action: Action, tracker: Tracker
) -> tuple[list[str], list[dict[str, Any]], CollectingDispatcher]:
    """Run `action`; the rendered replies, the events and the dispatcher."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return render(dispatcher), events, dispatcher


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") or m.get("text") or "" for m in dispatcher.messages]


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The last value each slot was set to by `events`."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def invoice(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def staff(session: Session, slack_id: str) -> PartnerUser:
    return session.scalars(
        select(PartnerUser).where(PartnerUser.slack_user_id == slack_id)
    ).one()


def d(day: date) -> str:
    """A date as the bot writes it."""
    return f"{day.day} {day:%B %Y}"


def money(amount: Any, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def leaks(
    text: str, other: Customer, invoices: Optional[list[Invoice]] = None
) -> list[str]:
    """What of `other`'s data appears in `text` (should be nothing)."""
    found = [
        value
        for value in (other.name, other.domain, other.tenant_id)
        if value and value in text
    ]
    for inv in invoices or []:
        for value in (inv.number, f"{inv.total:,.2f}"):
            if value in text:
                found.append(value)
    return found
