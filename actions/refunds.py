"""Refunds, cancellations and seat reductions under the new-commerce windows.

`action_cancellation_options` tells the chatter what can still be cancelled for a
refund today and why the rest can't ("you are on day 5 of 7 ..."), and sets
`cancellation_possible`; the rules then start `cancellation_form`, which asks which
subscription (buttons with the eligible ones), how many seats, why, and for a final
yes. Only then does `action_submit_cancellation` file a COMMERCIAL ticket with
`api.domain.services.tickets.create_ticket`, idempotent on the sender and the id of the
confirming message (a retried "yes" never files twice).

Every step re-reads who is chatting and re-checks eligibility: the form's slots are
only ever a subscription id, a number and a text, never trusted on their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import (
    ACT_FOR_CUSTOMERS,
    BillingAction,
    Context,
    Reply,
    not_permitted,
    utc_now,
)
from actions.formatting import (
    bullet_list,
    format_date,
    format_money,
    local_today,
    plural,
)
from actions.identity import Chatter, identify, target_customer
from actions.subscriptions import eligibilities, eligibility_sentence
from api.domain.db import session_scope
from api.domain.models import Customer, Subscription, TicketCategory
from api.domain.services.billing import billed_total
from api.domain.services.refunds import Eligibility
from api.domain.services.tickets import NewTicket, TicketError, create_ticket

logger = logging.getLogger(__name__)

FORM = "cancellation_form"
SUBSCRIPTION_SLOT = "cancellation_subscription"
SEATS_SLOT = "cancellation_seats"
REASON_SLOT = "cancellation_reason"
CONFIRM_SLOT = "cancellation_confirm"
FORM_SLOTS = (SUBSCRIPTION_SLOT, SEATS_SLOT, REASON_SLOT, CONFIRM_SLOT)
POSSIBLE_SLOT = "cancellation_possible"  # featurized: the rules branch on it
KIND_SLOT = "cancellation_kind"  # refund | cancellation | seat_reduction
AMOUNT_SLOT = "cancellation_amount"  # an amount the chatter mentioned, as text
FAILURES_SLOT = "form_failures"  # {slot: consecutive failed answers}
EXPLAIN_AFTER = 2  # failed answers before the bot explains the field
STOPPED = "stopped"  # what every slot holds when the chatter stops the form

KIND_BY_INTENT = {
    "request_refund": "refund",
    "cancel_subscription": "cancellation",
    "change_seats": "seat_reduction",
}
CAPABILITY_BY_KIND = {
    "refund": "request_refund",
    "cancellation": "change_subscription",
    "seat_reduction": "change_subscription",
}
TICKET_TOPIC_BY_KIND = {
    "refund": "refund",
    "cancellation": "subscription_change",
    "seat_reduction": "subscription_change",
}
ADD_WORDS = re.compile(
    r"\b(add|adding|more|extra|additional|increase|buy|purchase|another|new)\b", re.I
)
REDUCE_WORDS = re.compile(
    r"\b(remove|removing|reduce|reducing|fewer|less|decrease|drop|cancel|"
    r"cancelling|canceling|lower|downsize|refund)\b",
    re.I,
)
STOP_WORDS = re.compile(
    r"^\s*(stop|cancel that|cancel this|never ?mind|forget it|quit|exit|abort|"
    r"no thanks|no thank you|don'?t bother)\s*[.!]*\s*$",
    re.I,
)
YES = re.compile(
    r"^\s*(y|yes|yep|yeah|sure|ok|okay|confirm|correct|go ahead|please do)\b", re.I
)
NO = re.compile(r"^\s*(n|no|nope|don'?t|do not|not now)\b", re.I)
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
}
MULTIPLIERS = {
    "k": 1_000,
    "thousand": 1_000,
    "m": 1_000_000,
    "mn": 1_000_000,
    "million": 1_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
    "trillion": 1_000_000_000_000,
}
COUNT = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\s*(k|thousand|million|mn|m|billion|bn|"
    r"trillion)\b)?",
    re.I,
)
AMOUNT_IN_TEXT = re.compile(
    r"(?:(?P<sym>[$€£])|\b(?P<code>usd|eur|gbp)\s*)?"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s*(?P<mult>k|thousand|million|mn|m|billion|bn|trillion)\b)?"
    r"(?:\s*(?P<word>dollars?|euros?|pounds?|bucks|usd|eur|gbp)\b)?",
    re.I,
)
MIN_REASON_CHARS = 3
MAX_REASON_CHARS = 500
MAX_KEY_CHARS = 128


# --------------------------------------------------------------------------- parsing


def parse_count(text: str) -> Optional[int]:
    """A whole number in `text`: `12`, `12 seats`, `five`, `10 billion`; else None."""
    match = COUNT.search(text or "")
    if match:
        value = int(match.group(1).replace(",", ""))
        multiplier = (match.group(2) or "").lower()
        return value * MULTIPLIERS.get(multiplier, 1)
    for word in re.findall(r"[a-z]+", (text or "").lower()):
        if word in NUMBER_WORDS:
            return NUMBER_WORDS[word]
    return None


def requested_amount(tracker: Tracker) -> Optional[tuple[Decimal, str]]:
    """An amount of money the latest message mentions, and how it was written."""
    texts = [
        value
        for value in tracker.get_latest_entity_values("amount")
        if isinstance(value, str)
    ]
    latest = (tracker.latest_message or {}).get("text")
    if isinstance(latest, str):
        texts.append(latest)
    for text in texts:
        for match in AMOUNT_IN_TEXT.finditer(text):
            if not (match.group("sym") or match.group("code") or match.group("word")):
                continue  # a bare number is a count, not money
            try:
                number = Decimal(match.group("number").replace(",", ""))
            except InvalidOperation:
                continue
            multiplier = MULTIPLIERS.get((match.group("mult") or "").lower(), 1)
            return number * multiplier, match.group().strip()
    return None


def is_stop(text: Any) -> bool:
    """ "stop", "never mind", "cancel that": leave the form."""
    return isinstance(text, str) and bool(STOP_WORDS.match(text))


def idempotency_key(tracker: Tracker, parts: list[str]) -> str:
    """sender id + the confirming message's id (a redelivery reuses both)."""
    message_id = (tracker.latest_message or {}).get("message_id")
    if not message_id:
        # No message id (e.g. a test harness): the request's content instead.
        message_id = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    key = f"{tracker.sender_id}:{message_id}"
    if len(key) > MAX_KEY_CHARS:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


# --------------------------------------------------------------------------- context


@dataclass
class Situation:
    """Who is asking, about which customer, and what is eligible today."""

    chatter: Chatter
    customer: Customer
    today: Any
    options: list[tuple[Subscription, Eligibility]]

    @property
    def eligible(self) -> list[tuple[Subscription, Eligibility]]:
        return [(s, e) for s, e in self.options if e.eligible]

    def find(self, subscription_id: Any) -> Optional[tuple[Subscription, Eligibility]]:
        for subscription, eligibility in self.eligible:
            if subscription.id == subscription_id:
                return subscription, eligibility
        return None


def situation(
    session: Session, tracker: Tracker, now: datetime
) -> tuple[Optional[Situation], Optional[Reply]]:
    """Re-resolve the chatter and customer for a form step; a reply if impossible."""
    identification = identify(session, tracker)
    chatter = identification.chatter
    if chatter is None:
        return None, Reply().say(identification.problem or "utter_sign_in_needed")
    kind = tracker.get_slot(KIND_SLOT) or "refund"
    capability = CAPABILITY_BY_KIND.get(kind, "request_refund")
    if not chatter.can(capability):
        return None, not_permitted(chatter, capability)
    if chatter.is_staff and not chatter.can(ACT_FOR_CUSTOMERS):
        return None, not_permitted(chatter, ACT_FOR_CUSTOMERS)
    if chatter.is_staff:
        # Only the customer remembered by action_cancellation_options, re-checked.
        target = target_customer(session, chatter, _without_entities(tracker))
    else:
        target = target_customer(session, chatter, tracker)
    if target.customer is None:
        return None, Reply().say(
            target.problem or "utter_name_the_customer", **target.values
        )
    today = local_today(now, chatter.partner.timezone)
    return Situation(
        chatter, target.customer, today, eligibilities(session, target.customer, today)
    ), None


def _without_entities(tracker: Tracker) -> Tracker:
    """The tracker with the latest message's entities and text hidden, so that a
    form answer ("Contoso wants to stop") never switches the customer."""
    copy = tracker.copy()
    copy.latest_message = {**(tracker.latest_message or {}), "entities": [], "text": ""}
    return copy


def choice_label(
    index: int, subscription: Subscription, eligibility: Eligibility
) -> str:
    return (
        f"{index}. {subscription.product_name} (up to "
        f"{plural(eligibility.cancellable_seats, 'seat')}, until "
        f"{format_date(eligibility.window_end)})"
    )


# --------------------------------------------------------------------------- start


class ActionCancellationOptions(BillingAction):
    """What can be cancelled for a refund today, and why not the rest; starts the
    request form when something is eligible (`cancellation_possible`)."""

    capability = "request_refund"
    general_response = "utter_refunds_general"

    def name(self) -> str:
        return "action_cancellation_options"

    def kind(self, tracker: Tracker) -> str:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        return KIND_BY_INTENT.get(str(intent), "refund")

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        # The rules branch on `cancellation_possible`: always set it, so that a
        # refusal (not signed in, not permitted, nothing eligible) never starts the
        # form on a value left over from an earlier request.
        if not any(
            isinstance(e, dict) and e.get("name") == POSSIBLE_SLOT for e in events
        ):
            events.append(SlotSet(POSSIBLE_SLOT, False))
        return events

    def required_capability(self, tracker: Tracker) -> str:
        """A refund needs `request_refund`; a cancellation or seat change needs
        `change_subscription`."""
        return CAPABILITY_BY_KIND[self.kind(tracker)]

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        tracker = context.tracker
        kind = self.kind(tracker)
        text = str((tracker.latest_message or {}).get("text") or "")
        reset: list[EventType] = [SlotSet(slot, None) for slot in FORM_SLOTS]
        reset += [SlotSet(FAILURES_SLOT, None), SlotSet(AMOUNT_SLOT, None)]
        reply = Reply(events=[*reset, SlotSet(KIND_SLOT, kind)])

        if (
            kind == "seat_reduction"
            and ADD_WORDS.search(text)
            and not REDUCE_WORDS.search(text)
        ):
            partner = customer.partner
            return reply.say(
                "utter_seats_add_info",
                partner_name=partner.name,
                support_contact_method=partner.support_contact_method,
                support_email=partner.support_email,
            ).with_events(SlotSet(POSSIBLE_SLOT, False))

        amount = requested_amount(tracker)
        if amount is not None:
            value, written = amount
            ceiling = billed_total(context.session, customer_id=customer.id)
            if value <= 0 or value > max(ceiling, Decimal("0")):
                return reply.say(
                    "utter_refund_amount_impossible",
                    amount=written[:40],
                    account=context.account,
                    billed_total=format_money(ceiling, customer.currency),
                ).with_events(SlotSet(POSSIBLE_SLOT, False))
            reply.events.append(SlotSet(AMOUNT_SLOT, written[:40]))

        options = eligibilities(context.session, customer, context.today)
        if not options:
            return reply.say(
                "utter_cancellation_no_subscriptions", account=context.account
            ).with_events(SlotSet(POSSIBLE_SLOT, False))

        named = self.named_subscription(tracker, options)
        if named is not None:
            subscription, eligibility = named
            reply.say(
                "utter_cancellation_eligibility_one",
                sentence=eligibility_sentence(subscription, eligibility),
            )
            if not eligibility.eligible:
                return reply.say(
                    "utter_cancellation_not_possible", account=context.account
                ).with_events(SlotSet(POSSIBLE_SLOT, False))
            reply.events.append(SlotSet(SUBSCRIPTION_SLOT, subscription.id))
            return reply.with_events(SlotSet(POSSIBLE_SLOT, True))

        sentences = [eligibility_sentence(s, e) for s, e in options]
        reply.say(
            "utter_cancellation_eligibility",
            account=context.account,
            eligibility=bullet_list(sentences),
        )
        if not any(e.eligible for _, e in options):
            return reply.say(
                "utter_cancellation_not_possible", account=context.account
            ).with_events(SlotSet(POSSIBLE_SLOT, False))
        return reply.with_events(SlotSet(POSSIBLE_SLOT, True))

    @staticmethod
    def named_subscription(
        tracker: Tracker, options: list[tuple[Subscription, Eligibility]]
    ) -> Optional[tuple[Subscription, Eligibility]]:
        """The one subscription the message names by id or product, if exactly one."""
        ids = {
            str(v).lower()
            for v in tracker.get_latest_entity_values("subscription_id")
            if isinstance(v, str)
        }
        for option in options:
            if option[0].id.lower() in ids:
                return option
        products = [
            str(v).lower()
            for v in tracker.get_latest_entity_values("product")
            if isinstance(v, str) and v.strip()
        ]
        if not products:
            return None
        matches = [
            option
            for option in options
            if any(
                p in option[0].product_name.lower()
                or option[0].product_name.lower() in p
                for p in products
            )
        ]
        return matches[0] if len(matches) == 1 else None


# --------------------------------------------------------------------------- form


class CancellationPrompt(Action, ABC):
    """A question of the cancellation form, asked from the customer's current
    situation (subscriptions and windows read anew at each question)."""

    asking_for = "the cancellation form"  # what the log says failed

    def __init__(self, clock: Any = utc_now) -> None:
        self._clock = clock

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            reply = await asyncio.to_thread(self._ask, tracker)
        except SQLAlchemyError:
            logger.exception("asking for %s failed", self.asking_for)
            reply = Reply().say("utter_billing_unavailable")
        for message in reply.messages:
            dispatcher.utter_message(**message)
        return reply.events

    def _ask(self, tracker: Tracker) -> Reply:
        with session_scope() as session:
            found, problem = situation(session, tracker, self._clock())
            if found is None:
                return problem or Reply()
            return self.prompt(found, tracker)

    @abstractmethod
    def prompt(self, found: Situation, tracker: Tracker) -> Reply:
        """The question, for the customer's situation."""


class ChosenSubscriptionPrompt(CancellationPrompt):
    """A question about the subscription already chosen; if it is no longer
    eligible, says so instead."""

    def prompt(self, found: Situation, tracker: Tracker) -> Reply:
        chosen = found.find(tracker.get_slot(SUBSCRIPTION_SLOT))
        if chosen is None:
            return Reply().say("utter_cancellation_choice_expired")
        subscription, eligibility = chosen
        return self.prompt_chosen(found, subscription, eligibility, tracker)

    @abstractmethod
    def prompt_chosen(
        self,
        found: Situation,
        subscription: Subscription,
        eligibility: Eligibility,
        tracker: Tracker,
    ) -> Reply:
        """The question about `subscription`."""


class ActionAskCancellationSubscription(CancellationPrompt):
    """Which subscription? One button per eligible subscription."""

    asking_for = "the subscription"

    def name(self) -> str:
        return "action_ask_cancellation_subscription"

    def prompt(self, found: Situation, tracker: Tracker) -> Reply:
        buttons = [
            {
                "title": f"{subscription.product_name} (up to "
                f"{plural(eligibility.cancellable_seats, 'seat')})",
                "payload": subscription.id,
            }
            for subscription, eligibility in found.eligible
        ]
        choices = bullet_list(
            [choice_label(i, s, e) for i, (s, e) in enumerate(found.eligible, 1)]
        )
        return Reply().say(
            "utter_choose_cancellation_subscription",
            choices=choices,
            buttons=buttons,
        )


class ActionAskCancellationSeats(ChosenSubscriptionPrompt):
    """How many seats? Up to what is still inside the window."""

    asking_for = "the seats"

    def name(self) -> str:
        return "action_ask_cancellation_seats"

    def prompt_chosen(
        self,
        found: Situation,
        subscription: Subscription,
        eligibility: Eligibility,
        tracker: Tracker,
    ) -> Reply:
        return Reply().say(
            "utter_choose_cancellation_seats",
            product=subscription.product_name,
            max_seats=str(eligibility.cancellable_seats),
            seats=plural(subscription.seats, "seat"),
        )


class ActionAskCancellationConfirm(ChosenSubscriptionPrompt):
    """The summary of the request, and a yes/no before anything is filed."""

    asking_for = "confirmation"

    def name(self) -> str:
        return "action_ask_cancellation_confirm"

    def prompt_chosen(
        self,
        found: Situation,
        subscription: Subscription,
        eligibility: Eligibility,
        tracker: Tracker,
    ) -> Reply:
        seats_text = str(tracker.get_slot(SEATS_SLOT) or "")
        seats = int(seats_text) if seats_text.isdigit() else 0
        kind = tracker.get_slot(KIND_SLOT) or "refund"
        what = (
            "cancel the whole subscription"
            if seats >= subscription.seats
            else f"cancel {plural(seats, 'seat')}"
        )
        return Reply().say(
            "utter_confirm_cancellation",
            request={
                "refund": "a refund request",
                "cancellation": "a cancellation request",
            }.get(kind, "a seat reduction request"),
            what=what,
            product=subscription.product_name,
            account=found.customer.name,
            refund=eligibility.refund,
            window_end=format_date(eligibility.window_end),
            reason=str(tracker.get_slot(REASON_SLOT) or ""),
            buttons=[
                {"title": "Yes, file it", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"},
            ],
        )


class ValidateCancellationForm(FormValidationAction):
    """Check each answer; after 2 bad answers in a row, explain the field; "stop"
    (or "no" at any question) ends the form without filing anything."""

    def __init__(self, clock: Any = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "validate_cancellation_form"

    async def get_validation_events(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        requested = tracker.get_slot("requested_slot")
        events = await super().get_validation_events(dispatcher, tracker, domain)
        values = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
        if requested not in FORM_SLOTS or requested not in values:
            return events
        failures = dict(tracker.get_slot(FAILURES_SLOT) or {})
        if values[requested] is None:
            failures[requested] = int(failures.get(requested, 0)) + 1
            if failures[requested] >= EXPLAIN_AFTER:
                dispatcher.utter_message(response=f"utter_explain_{requested}")
        else:
            failures.pop(requested, None)
        events.append(SlotSet(FAILURES_SLOT, failures or None))
        return events

    def _stopped(self) -> dict[str, Any]:
        return {
            SUBSCRIPTION_SLOT: STOPPED,
            SEATS_SLOT: STOPPED,
            REASON_SLOT: STOPPED,
            CONFIRM_SLOT: False,
        }

    async def _with_situation(
        self, tracker: Tracker, check: Any
    ) -> tuple[dict[str, Any], Reply]:
        def work() -> tuple[dict[str, Any], Reply]:
            with session_scope() as session:
                found, problem = situation(session, tracker, self._clock())
                if found is None:
                    return self._stopped(), problem or Reply()
                return check(found)

        try:
            return await asyncio.to_thread(work)
        except SQLAlchemyError:
            logger.exception("form validation failed")
            return self._stopped(), Reply().say("utter_billing_unavailable")

    @staticmethod
    def _send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
        for message in reply.messages:
            dispatcher.utter_message(**message)

    async def validate_cancellation_subscription(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value == STOPPED:
            return {SUBSCRIPTION_SLOT: STOPPED}
        if slot_value is None:
            return {SUBSCRIPTION_SLOT: None}
        if is_stop(slot_value) or _is_no(tracker, slot_value):
            dispatcher.utter_message(response="utter_cancellation_stopped")
            return self._stopped()
        text = str(slot_value or "").strip()

        def check(found: Situation) -> tuple[dict[str, Any], Reply]:
            eligible = found.eligible
            chosen: Optional[tuple[Subscription, Eligibility]] = None
            lowered = text.lower()
            for option in eligible:
                if option[0].id.lower() in lowered:
                    chosen = option
            if chosen is None and lowered.rstrip(".").isdigit():
                index = int(lowered.rstrip("."))
                if 1 <= index <= len(eligible):
                    chosen = eligible[index - 1]
            if chosen is None and len(lowered) >= 3:
                named = [
                    option
                    for option in eligible
                    if lowered in option[0].product_name.lower()
                    or option[0].product_name.lower() in lowered
                ]
                chosen = named[0] if len(named) == 1 else None
            if chosen is None:
                return {SUBSCRIPTION_SLOT: None}, Reply().say(
                    "utter_invalid_cancellation_subscription",
                    given=text[:40],
                    choices=bullet_list(
                        [choice_label(i, s, e) for i, (s, e) in enumerate(eligible, 1)]
                    ),
                )
            return {SUBSCRIPTION_SLOT: chosen[0].id}, Reply()

        slots, reply = await self._with_situation(tracker, check)
        self._send(dispatcher, reply)
        return slots

    async def validate_cancellation_seats(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value == STOPPED:
            return {SEATS_SLOT: STOPPED}
        if slot_value is None:
            return {SEATS_SLOT: None}
        if is_stop(slot_value) or _is_no(tracker, slot_value):
            dispatcher.utter_message(response="utter_cancellation_stopped")
            return self._stopped()
        text = str(slot_value or "").strip()

        def check(found: Situation) -> tuple[dict[str, Any], Reply]:
            chosen = found.find(tracker.get_slot(SUBSCRIPTION_SLOT))
            if chosen is None:
                return {SUBSCRIPTION_SLOT: None, SEATS_SLOT: None}, Reply().say(
                    "utter_cancellation_choice_expired"
                )
            subscription, eligibility = chosen
            most = eligibility.cancellable_seats
            if re.search(r"\b(all|every|whole|entire)\b", text, re.I):
                return {SEATS_SLOT: str(most)}, Reply()
            count = parse_count(text)
            if count is None or count < 1 or count > most:
                given = f"{count:,}" if count is not None else text[:30]
                return {SEATS_SLOT: None}, Reply().say(
                    "utter_invalid_cancellation_seats",
                    given=given,
                    max_seats=str(most),
                    product=subscription.product_name,
                )
            return {SEATS_SLOT: str(count)}, Reply()

        slots, reply = await self._with_situation(tracker, check)
        self._send(dispatcher, reply)
        return slots

    async def validate_cancellation_reason(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value == STOPPED:
            return {REASON_SLOT: STOPPED}
        if slot_value is None:
            return {REASON_SLOT: None}
        if is_stop(slot_value):
            dispatcher.utter_message(response="utter_cancellation_stopped")
            return self._stopped()
        text = " ".join(str(slot_value or "").split())
        if len(re.sub(r"[^\w]", "", text)) < MIN_REASON_CHARS:
            dispatcher.utter_message(response="utter_invalid_cancellation_reason_short")
            return {REASON_SLOT: None}
        if len(text) > MAX_REASON_CHARS:
            dispatcher.utter_message(
                response="utter_invalid_cancellation_reason_long",
                max_chars=str(MAX_REASON_CHARS),
            )
            return {REASON_SLOT: None}
        return {REASON_SLOT: text}

    async def validate_cancellation_confirm(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value is True or slot_value is False:
            return {CONFIRM_SLOT: slot_value}
        if slot_value is None:
            # Reset by action_cancellation_options, not answered: nothing to check.
            return {CONFIRM_SLOT: None}
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        text = str(slot_value or "")
        if intent == "affirm" or YES.match(text):
            return {CONFIRM_SLOT: True}
        if intent == "deny" or NO.match(text) or is_stop(text):
            return {CONFIRM_SLOT: False}
        dispatcher.utter_message(response="utter_invalid_cancellation_confirm")
        return {CONFIRM_SLOT: None}


def _is_no(tracker: Tracker, value: Any) -> bool:
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return intent == "deny" and isinstance(value, str) and bool(NO.match(value))


# --------------------------------------------------------------------------- submit


class ActionSubmitCancellation(Action):
    """File the confirmed request as a COMMERCIAL ticket (idempotent), or say that
    nothing was filed."""

    def __init__(self, clock: Any = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_submit_cancellation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet(slot, None) for slot in FORM_SLOTS]
        reset += [SlotSet(FAILURES_SLOT, None), SlotSet(POSSIBLE_SLOT, False)]
        if tracker.get_slot(CONFIRM_SLOT) is not True:
            if tracker.get_slot(SUBSCRIPTION_SLOT) != STOPPED:
                dispatcher.utter_message(response="utter_cancellation_not_filed")
            return reset
        try:
            reply = await asyncio.to_thread(self._file, tracker)
        except SQLAlchemyError:
            logger.exception("filing a cancellation request failed")
            reply = Reply().say("utter_billing_unavailable")
        for message in reply.messages:
            dispatcher.utter_message(**message)
        return reply.events + reset

    def _file(self, tracker: Tracker) -> Reply:
        with session_scope() as session:
            found, problem = situation(session, tracker, self._clock())
            if found is None:
                return problem or Reply()
            chosen = found.find(tracker.get_slot(SUBSCRIPTION_SLOT))
            seats_text = str(tracker.get_slot(SEATS_SLOT) or "")
            seats = int(seats_text) if seats_text.isdigit() else 0
            if chosen is None or not 1 <= seats <= chosen[1].cancellable_seats:
                return Reply().say("utter_cancellation_choice_expired")
            subscription, eligibility = chosen
            kind = tracker.get_slot(KIND_SLOT) or "refund"
            reason = str(tracker.get_slot(REASON_SLOT) or "")
            amount = tracker.get_slot(AMOUNT_SLOT)
            customer = found.customer
            whole = seats >= subscription.seats
            what = (
                f"cancel {subscription.product_name}"
                if whole
                else f"remove {seats} of {subscription.seats} seats of "
                f"{subscription.product_name}"
            )
            label = "Refund" if kind == "refund" else "Cancellation"
            summary = f"{label} request: {what} ({customer.name})"
            description = "\n".join(
                line
                for line in (
                    summary,
                    f"Eligibility on {found.today.isoformat()}: "
                    + eligibility_sentence(subscription, eligibility),
                    f"Refund under the policy: {eligibility.refund}.",
                    f"Reason given: {reason}",
                    f"Amount mentioned by the requester: {amount}" if amount else "",
                    f"Requested in chat by {found.chatter.identity.requester}"
                    + (
                        f" ({found.chatter.role_label}, {found.chatter.partner_user.name})"
                        if found.chatter.partner_user
                        else ""
                    ),
                )
                if line
            )
            new = NewTicket(
                partner_id=customer.partner_id,
                requester=found.chatter.identity.requester,
                category=TicketCategory.COMMERCIAL,
                topic=TICKET_TOPIC_BY_KIND.get(kind, "refund"),
                summary=summary,
                description=description,
                idempotency_key=idempotency_key(
                    tracker, [subscription.id, str(seats), reason, kind]
                ),
                customer_id=customer.id,
                conversation_id=tracker.sender_id,
                product=subscription.product_name,
                product_kind=subscription.product_kind,
                identifiers={
                    "subscription_id": subscription.id,
                    "order_id": subscription.order_id,
                    "seats": seats,
                    "kind": kind,
                    "window_end": eligibility.window_end.isoformat(),
                    "refund": eligibility.refund,
                },
            )
            try:
                ticket, created = create_ticket(session, new=new, today=found.today)
            except TicketError:
                logger.exception("the cancellation ticket was refused")
                return Reply().say("utter_billing_unavailable")
            return Reply().say(
                "utter_cancellation_filed"
                if created
                else "utter_cancellation_already_filed",
                ticket_id=ticket.public_id,
                product=subscription.product_name,
                seats=plural(seats, "seat"),
                window_end=format_date(eligibility.window_end),
                partner_name=customer.partner.name,
            )
