"""What every billing action does before it answers: who is chatting, may they ask
this, and whose account is it about. Topic modules subclass `BillingAction` and
write only `answer()`.

One database session per action run, opened in a worker thread and closed before
the reply is sent; a database failure becomes `utter_billing_unavailable`, never a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, ClassVar, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.formatting import local_today
from actions.identity import (
    ACTING_FOR_SLOT,
    Chatter,
    Identification,
    Target,
    identify,
    target_customer,
)
from api.domain.db import session_scope
from api.domain.models import Customer
from api.domain.services.permissions import permission_table

logger = logging.getLogger(__name__)

ACT_FOR_CUSTOMERS = "act_for_customers"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass
class Reply:
    """What an action found: responses to send and events to return."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventType] = field(default_factory=list)

    def say(self, response: str, **values: Any) -> Reply:
        self.messages.append({"response": response, **values})
        return self

    def with_events(self, *events: EventType) -> Reply:
        self.events.extend(events)
        return self

    def extend(self, other: Reply) -> Reply:
        self.messages.extend(other.messages)
        self.events.extend(other.events)
        return self


@dataclass
class Context:
    """Everything an answer needs, valid inside the action's session."""

    session: Session
    tracker: Tracker
    chatter: Chatter
    customer: Optional[Customer]
    now: datetime
    today: date

    @property
    def account(self) -> str:
        """How the answer names the account: "your account" or "Contoso Ltd"."""
        if self.customer is None or not self.chatter.is_staff:
            return "your account"
        return self.customer.name

    @property
    def whose(self) -> str:
        """ "Your" or "Contoso Ltd's", to start a sentence."""
        if self.customer is None or not self.chatter.is_staff:
            return "Your"
        return f"{self.customer.name}'s"

    @property
    def is_staff(self) -> bool:
        return self.chatter.is_staff


def not_permitted(chatter: Chatter, capability: str) -> Reply:
    """ "Your role can't ...; ask a Global admin or Billing admin"."""
    table = permission_table()
    roles = table.roles_that_can(capability)
    return Reply().say(
        "utter_not_permitted",
        role=chatter.role_label,
        capability=table.capabilities[capability],
        roles=" or ".join(roles) if roles else "nobody in chat",
    )


class BillingAction(Action, ABC):
    """An answer from the partner's data, for a verified and permitted chatter.

    Subclasses set `capability` (permissions.yml) and `general_response` (what an
    unidentified chatter gets), and implement `answer()`.
    """

    capability: ClassVar[str]
    general_response: ClassVar[Optional[str]] = None
    needs_customer: ClassVar[bool] = True

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        early = self.before_lookup(tracker)
        if early is not None:
            reply = early
        else:
            try:
                reply = await asyncio.to_thread(self._handle, tracker)
            except SQLAlchemyError:
                logger.exception("%s failed in %s", self.name(), tracker.sender_id)
                reply = Reply().say("utter_billing_unavailable")
        for message in reply.messages:
            dispatcher.utter_message(**message)
        return reply.events

    def before_lookup(self, tracker: Tracker) -> Optional[Reply]:
        """A reply that needs no data (e.g. a malformed number), or None."""
        return None

    def required_capability(self, tracker: Tracker) -> str:
        """The permission this request needs (permissions.yml)."""
        return self.capability

    def _handle(self, tracker: Tracker) -> Reply:
        with session_scope() as session:
            return self.handle(session, tracker, self._clock())

    def handle(self, session: Session, tracker: Tracker, now: datetime) -> Reply:
        """Identify, check permissions, find the customer, then answer."""
        identification = identify(session, tracker)
        chatter = identification.chatter
        if chatter is None:
            return self.unidentified(identification)
        capability = self.required_capability(tracker)
        if not chatter.can(capability):
            return not_permitted(chatter, capability)
        today = local_today(now, chatter.partner.timezone)
        context = Context(session, tracker, chatter, chatter.customer, now, today)
        if not self.needs_customer:
            return self.answer(context)
        if chatter.is_staff and not chatter.can(ACT_FOR_CUSTOMERS):
            return not_permitted(chatter, ACT_FOR_CUSTOMERS)
        target = target_customer(session, chatter, tracker)
        if target.customer is None:
            fallback = self.without_customer(context, target)
            if fallback is not None:
                return fallback
            return Reply().say(
                target.problem or "utter_name_the_customer", **target.values
            )
        context.customer = target.customer
        reply = self.answer(context)
        if chatter.is_staff:
            reply.events.insert(0, SlotSet(ACTING_FOR_SLOT, str(target.customer.id)))
        return reply

    def unidentified(self, identification: Identification) -> Reply:
        """General answers only, and how to sign in (or why staff are not known)."""
        reply = Reply()
        if self.general_response:
            reply.say(self.general_response)
        return reply.say(identification.problem or "utter_sign_in_needed")

    def without_customer(self, context: Context, target: Target) -> Optional[Reply]:
        """Staff named no customer (or an unknown one): a reply, or None for the
        default "which customer?" answer."""
        return None

    @abstractmethod
    def answer(self, context: Context) -> Reply:
        """The answer for a permitted chatter about `context.customer`."""
