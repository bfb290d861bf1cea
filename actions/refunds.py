"""Refunds, cancellations and seat reductions under the new-commerce windows.

`action_cancellation_options` tells the chatter what can still be cancelled for a
refund and why the rest can't ("the 7-day window ended on ..."), and sets
`cancellation_possible`; the rules then start `cancellation_form`, which asks which
subscription (buttons with the eligible ones), how many seats (only where seats can
be reduced: a SaaS or perpetual product is cancelled whole), why, and for a final
yes. Only then does `action_submit_cancellation` file a COMMERCIAL ticket with
`api.domain.services.tickets.create_ticket`, idempotent on the sender and the id of
the confirming message (a retried "yes" never files twice).

Every step re-reads who is chatting and re-checks eligibility: the form's slots are
only ever a subscription id, a number and a text, never trusted on their own. The
form base (actions/forms.py) handles "stop", a person, "why?", questions on other
topics and corrections ("no wait, only 3 seats").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.base import (
    ACT_FOR_CUSTOMERS,
    CURRENT_SUBSCRIPTION_SLOT,
    LAST_REASON_SLOT,
    BillingAction,
    Context,
    Reply,
    language_of,
    not_permitted,
)
from actions.forms import (
    LEAVING_INTENTS,
    FormQuestion,
    FormValidation,
    form_was_interrupted,
    looks_like_question,
    yes_no_buttons,
)
from actions.identity import Chatter, identify, target_customer
from actions.runtime import in_session, utc_now
from actions.subscriptions import (
    ENDED_STATUSES,
    best_named,
    eligibilities,
    eligibility_sentence,
    named_subscriptions,
    refers_back,
)
from actions.tracker import (
    entity_spans,
    entity_values,
    latest_intent,
    latest_text,
    session_events,
)
from api.domain.models import Customer, ProductKind, Subscription, TicketCategory
from api.domain.services.billing import billed_total
from api.domain.services.refunds import Eligibility, commerce_policy
from api.domain.services.tickets import NewTicket, TicketError, create_ticket
from common import formatting
from common.formatting import bullet_list

FORM = "cancellation_form"
SUBSCRIPTION_SLOT = "cancellation_subscription"
SEATS_SLOT = "cancellation_seats"
REASON_SLOT = "cancellation_reason"
CONFIRM_SLOT = "cancellation_confirm"
FORM_SLOTS = (SUBSCRIPTION_SLOT, SEATS_SLOT, REASON_SLOT, CONFIRM_SLOT)
POSSIBLE_SLOT = "cancellation_possible"  # featurized: the rules branch on it
KIND_SLOT = "cancellation_kind"  # refund | cancellation | seat_reduction
AMOUNT_SLOT = "cancellation_amount"  # an amount the chatter mentioned, as text
SLOTS = (*FORM_SLOTS, KIND_SLOT, AMOUNT_SLOT)

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
ALL_WORDS = re.compile(r"\b(all|every|whole|entire|everything)\b", re.I)
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
SEAT_WORDS = re.compile(r"\b(seats?|licen[cs]es?|users?|people)\b", re.I)
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
MAX_AMOUNT_CHARS = 40


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


# A number of seats in a request: "cancel 2 Copilot seats", "by 4 seats", "drop five
# licences"; a number inside a product name ("Microsoft 365") is never one.
NUMBER = r"(\d{1,6}|" + "|".join(NUMBER_WORDS) + r")"
SEATS_IN_REQUEST = re.compile(
    NUMBER + r"\s+(?:[\w'-]+\s+){0,4}?(?:seats?|licen[cs]es?|users?)\b"
    r"|\bby\s+" + NUMBER + r"\b",
    re.IGNORECASE,
)
PRODUCT_NUMBERS = re.compile(
    r"\b(?:microsoft|office|dynamics|windows server|server|sql server)\s+\d+\b"
    r"|\b(?:19|20)\d\d\b",
    re.IGNORECASE,
)
SEATS_KEPT = re.compile(
    r"\b(?:down to|from\s+\d+\s+(?:seats?\s+|licen[cs]es?\s+)?to|keep(?:ing)?"
    r"(?:\s+only|\s+just)?|(?:reduce|reducing|cut|cutting|lower|lowering|decrease|"
    r"decreasing|go|bring)\b(?:\s+[\w']+){0,4}?\s+to)\s+" + NUMBER + r"\b",
    re.IGNORECASE,
)
# What a correction takes back: "2 not 4", "not 4 but 2", "instead of 4", "from 4 to 2".
TAKEN_BACK = re.compile(
    r"\b(?:not|instead of|rather than|from|than)\s+" + NUMBER + r"\b", re.IGNORECASE
)
# Words a seat correction may hold besides its number ("no wait, only 3 seats").
CORRECTION_FILLER = frozenset(
    {
        "no",
        "nope",
        "wait",
        "sorry",
        "oops",
        "actually",
        "just",
        "only",
        "make",
        "it",
        "that",
        "i",
        "meant",
        "mean",
        "change",
        "to",
        "instead",
        "please",
        "pls",
        "ok",
        "okay",
        "then",
        "correction",
        "rather",
        "of",
        "seats",
        "seat",
        "licences",
        "licenses",
        "licence",
        "license",
        "users",
        "not",
        "but",
        "let's",
        "lets",
        "say",
        "do",
        "one",
        "can",
        "could",
        "we",
        "you",
        "how",
        "about",
        "go",
        "with",
        "us",
        "maybe",
    }
)
# A complaint about the bot, not about the subscription.
BOT_DIRECTED = re.compile(
    r"\b(?:you|you're|youre|your|bot|assistant|chatbot|useless|stupid|dumb|"
    r"helpful|unhelpful|waste of time|ridiculous)\b",
    re.IGNORECASE,
)
# "ok back to the cancellation." in front of an answer is no part of it.
BACK_TO_REQUEST = re.compile(
    r"^\s*(?:(?:ok|okay|right|so|anyway|alright)[,.!]?\s+)*(?:back to|about|re:?|"
    r"returning to|now for)\s+(?:the|my|our|that)\s+(?:cancellation|refund|request|"
    r"seats?|form)\s*[.,:;!-]*\s*",
    re.IGNORECASE,
)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word.lower()]


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the entity spans and product numbers blanked out."""
    chars = list(text)
    for start, end in spans:
        for i in range(max(start, 0), min(end, len(chars))):
            chars[i] = " "
    return PRODUCT_NUMBERS.sub(lambda m: " " * len(m.group()), "".join(chars))


def seats_kept(text: str, spans: list[tuple[int, int]]) -> Optional[int]:
    """The seats a request keeps: "reduce Copilot to 3 seats", "from 5 to 3", "keep
    only 2"; None if it says no such thing."""
    match = SEATS_KEPT.search(_masked(text, spans))
    return _number(match.group(1)) if match else None


def seats_in_request(
    text: str, spans: list[tuple[int, int]], total: Optional[int] = None
) -> Optional[str]:
    """The seats a request cancels: a number ("cancel 2 Copilot seats", "by 4
    seats"), what is left of `total` when it names the seats kept ("down to 3"), or
    "all" ("all the Copilot licences"); None if it names none."""
    masked = _masked(text, spans)
    kept = seats_kept(text, spans)
    if kept is not None and total is not None and 0 <= kept < total:
        return str(total - kept) if kept else "all"
    if kept is not None:
        return None
    match = SEATS_IN_REQUEST.search(masked)
    if match:
        return str(_number(next(g for g in match.groups() if g)))
    if ALL_WORDS.search(masked):
        return "all"
    return None


def corrected_seats(text: str, spans: list[tuple[int, int]]) -> Optional[str]:
    """The number of seats a correction gives: "no wait, only 3 seats", "sorry, 2 not
    4", "actually just 2", "make it 3 instead of 4"; None if the message is about
    something else (a reason that happens to hold a number)."""
    masked = TAKEN_BACK.sub(" ", _masked(text, spans))
    words = re.findall(r"[\w']+", masked.lower())
    numbers = [w for w in words if w.isdigit() or w in NUMBER_WORDS]
    if not numbers:
        return "all" if ALL_WORDS.search(masked) and SEAT_WORDS.search(masked) else None
    rest = [w for w in words if w not in numbers and w not in CORRECTION_FILLER]
    if rest and not SEAT_WORDS.search(masked):
        return None
    return str(_number(numbers[0]))


def strip_back_to(text: str) -> str:
    """An answer without "ok back to the cancellation." in front."""
    return BACK_TO_REQUEST.sub("", text, count=1).strip()


def requested_amount(tracker: Tracker) -> Optional[tuple[Decimal, str]]:
    """An amount of money the latest message mentions, and how it was written."""
    texts = [*entity_values(tracker, "amount"), latest_text(tracker)]
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


def reduces_seats(subscription: Subscription) -> bool:
    """Whether seats can be removed one by one (else: the whole subscription)."""
    window = commerce_policy().windows[subscription.product_kind]
    return window.seat_reduction and subscription.seats > 1


# --------------------------------------------------------------------------- context


@dataclass
class Situation:
    """Who is asking, about which customer, and what is eligible today."""

    chatter: Chatter
    customer: Customer
    today: date
    now: datetime
    options: list[tuple[Subscription, Eligibility]]

    @property
    def eligible(self) -> list[tuple[Subscription, Eligibility]]:
        return [(s, e) for s, e in self.options if e.eligible]

    def find(self, subscription_id: Any) -> Optional[tuple[Subscription, Eligibility]]:
        for subscription, eligibility in self.eligible:
            if subscription.id == subscription_id:
                return subscription, eligibility
        return None

    def named(self, text: str) -> Optional[tuple[Subscription, Eligibility]]:
        """The eligible subscription `text` names: its id, its number in the list,
        or (part of) its product name."""
        lowered = text.lower().strip().rstrip(".")
        for option in self.eligible:
            if option[0].id.lower() in lowered:
                return option
        if lowered.isdigit():
            index = int(lowered)
            if 1 <= index <= len(self.eligible):
                return self.eligible[index - 1]
        if len(lowered) < 3:
            return None
        matches = best_named(
            [(s.product_name, (s, e)) for s, e in self.eligible], lowered
        )
        return matches[0] if len(matches) == 1 else None


def situation(
    session: Session, tracker: Tracker, now: datetime
) -> tuple[Optional[Situation], Optional[Reply]]:
    """Re-resolve the chatter and customer for a form step; a reply if impossible."""
    lang = language_of(tracker)
    identification = identify(session, tracker)
    chatter = identification.chatter
    if chatter is None:
        return None, Reply().say(identification.problem or "utter_sign_in_needed")
    kind = tracker.get_slot(KIND_SLOT) or "refund"
    capability = CAPABILITY_BY_KIND.get(kind, "request_refund")
    if not chatter.can(capability):
        return None, not_permitted(chatter, capability, lang)
    if chatter.is_staff and not chatter.can(ACT_FOR_CUSTOMERS):
        return None, not_permitted(chatter, ACT_FOR_CUSTOMERS, lang)
    if chatter.is_staff:
        # Only the customer remembered by action_cancellation_options, re-checked.
        target = target_customer(session, chatter, without_entities(tracker))
    else:
        target = target_customer(session, chatter, tracker)
    if target.customer is None:
        return None, Reply().say(
            target.problem or "utter_name_the_customer", **target.values
        )
    today = formatting.local_today(now, chatter.partner.timezone)
    return Situation(
        chatter,
        target.customer,
        today,
        now,
        eligibilities(session, target.customer, now),
    ), None


def without_entities(tracker: Tracker) -> Tracker:
    """The tracker with the latest message's entities and text hidden, so that a
    form answer ("Contoso wants to stop") never switches the customer."""
    copy = tracker.copy()
    copy.latest_message = {**(tracker.latest_message or {}), "entities": [], "text": ""}
    return copy


def choice_label(
    context: Context, index: int, subscription: Subscription, eligibility: Eligibility
) -> str:
    return context.t(
        "refund.choice" if reduces_seats(subscription) else "refund.choice_whole",
        index=index,
        product=subscription.product_name,
        seats=context.plural(eligibility.cancellable_seats, "seat"),
        until=context.moment(eligibility.window_end_at),
    )


def form_context(found: Situation, tracker: Tracker, session: Session) -> Context:
    return Context(
        session,
        tracker,
        found.chatter,
        found.customer,
        found.now,
        found.today,
        language_of(tracker),
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
        return KIND_BY_INTENT.get(str(latest_intent(tracker)), "refund")

    def finish(self, reply: Reply, tracker: Tracker) -> Reply:
        # The rules branch on `cancellation_possible`: always set it, so that a
        # refusal (not signed in, not permitted, nothing eligible) never starts the
        # form on a value left over from an earlier request.
        if not any(
            isinstance(e, dict) and e.get("name") == POSSIBLE_SLOT for e in reply.events
        ):
            reply.events.append(SlotSet(POSSIBLE_SLOT, False))
        return reply

    def required_capability(self, tracker: Tracker) -> str:
        """A refund needs `request_refund`; a cancellation or seat change needs
        `change_subscription`."""
        return CAPABILITY_BY_KIND[self.kind(tracker)]

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        tracker = context.tracker
        kind = self.kind(tracker)
        text = latest_text(tracker)
        reset: list[EventType] = [SlotSet(slot, None) for slot in SLOTS]
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
                    account=context.account,
                    billed_total=context.money(ceiling, customer.currency),
                ).with_events(SlotSet(POSSIBLE_SLOT, False))
            reply.events.append(SlotSet(AMOUNT_SLOT, written[:MAX_AMOUNT_CHARS]))

        everything = eligibilities(context.session, customer, context.now, ended=True)
        options = [(s, e) for s, e in everything if s.status not in ENDED_STATUSES]
        named, missing = self.named_subscription(tracker, everything)
        if not options and named is None:
            return reply.say(
                "utter_cancellation_no_subscriptions", account=context.account
            ).with_events(SlotSet(POSSIBLE_SLOT, False))
        eligible = [(s, e) for s, e in options if e.eligible]

        if named is not None:
            return self.about_one(reply, context, named, eligible)

        if missing:
            reply.say(
                "utter_cancellation_not_on_account",
                product=missing,
                account=context.account,
            )
        sentences = [eligibility_sentence(s, e, context) for s, e in options]
        # The whole account was discussed, no one subscription ("it" is unclear).
        reply.events.append(SlotSet(CURRENT_SUBSCRIPTION_SLOT, None))
        reply.say(
            "utter_cancellation_eligibility",
            account=context.account,
            eligibility=bullet_list(sentences),
        )
        if not eligible:
            reply.because(context.join(sentences))
            return reply.say(
                "utter_cancellation_not_possible", account=context.account
            ).with_events(SlotSet(POSSIBLE_SLOT, False))
        return reply.with_events(SlotSet(POSSIBLE_SLOT, True))

    def about_one(
        self,
        reply: Reply,
        context: Context,
        named: tuple[Subscription, Eligibility],
        eligible: list[tuple[Subscription, Eligibility]],
    ) -> Reply:
        """The subscription the chatter named: its own facts; the form starts on it
        if it can be cancelled, else what can be instead."""
        subscription, eligibility = named
        sentence = eligibility_sentence(subscription, eligibility, context)
        reply.events.append(SlotSet(CURRENT_SUBSCRIPTION_SLOT, subscription.id))
        reply.say("utter_cancellation_eligibility_one", sentence=sentence)
        if not eligibility.eligible:
            others = [(s, e) for s, e in eligible if s.id != subscription.id]
            reply.because(refusal_reason(sentence, others, context))
            if others:
                return reply.say(
                    "utter_cancellation_others_possible",
                    others=bullet_list(
                        [eligibility_sentence(s, e, context) for s, e in others]
                    ),
                ).with_events(SlotSet(POSSIBLE_SLOT, False))
            return reply.say(
                "utter_cancellation_not_possible", account=context.account
            ).with_events(SlotSet(POSSIBLE_SLOT, False))
        reply.events.append(SlotSet(SUBSCRIPTION_SLOT, subscription.id))
        if not reduces_seats(subscription):
            reply.events.append(SlotSet(SEATS_SLOT, str(eligibility.cancellable_seats)))
        else:
            seats = seats_in_request(
                latest_text(context.tracker),
                entity_spans(context.tracker),
                subscription.seats,
            )
            if seats == "all":
                seats = str(eligibility.cancellable_seats)
            if seats is not None and 1 <= int(seats) <= eligibility.cancellable_seats:
                reply.events.append(SlotSet(SEATS_SLOT, seats))
        return reply.with_events(SlotSet(POSSIBLE_SLOT, True))

    @staticmethod
    def named_subscription(
        tracker: Tracker, options: list[tuple[Subscription, Eligibility]]
    ) -> tuple[Optional[tuple[Subscription, Eligibility]], Optional[str]]:
        """The one subscription the message names by id or product (or "it", the
        one just discussed), if exactly one; else the product it named that the
        account does not have."""
        by_id = {s.id: (s, e) for s, e in options}
        found, missing = named_subscriptions(tracker, [s for s, _ in options])
        if len(found) > 1:
            # A tie between an open and an ended one: the open one.
            open_ones = [s for s in found if s.status not in ENDED_STATUSES]
            found = open_ones if len(open_ones) == 1 else found
        if len(found) == 1:
            return by_id[found[0].id], None
        if not found and missing is None:
            current = refers_back(tracker)
            if current in by_id:
                return by_id[current], None
        return None, missing


def reason_given_this_turn(tracker: Tracker) -> bool:
    """Whether an action set `last_reason` since the latest user message."""
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "user":
            return False
        if (
            event.get("event") == "slot"
            and event.get("name") == LAST_REASON_SLOT
            and event.get("value")
        ):
            return True
    return False


def still_cancellable(
    others: list[tuple[Subscription, Eligibility]], context: Context
) -> str:
    """`Microsoft 365 Copilot (until Wednesday 9 December 2026 at 09:22 CST) and
    ...`: what can still be cancelled, and until when."""
    return context.join(
        [
            context.t(
                "refund.still_one",
                product=s.product_name,
                until=context.moment(e.window_end_at),
            )
            for s, e in others
        ]
    )


def refusal_reason(
    sentence: str, others: list[tuple[Subscription, Eligibility]], context: Context
) -> str:
    """Why a subscription can't be cancelled (for "why not?"), and which can."""
    if not others:
        return sentence
    return (
        sentence
        + " "
        + context.t(
            "refund.still_cancellable",
            others=still_cancellable(others, context),
        )
    )


# --------------------------------------------------------------------------- form


class CancellationQuestion(FormQuestion):
    """A question of the cancellation form, asked from the customer's current
    situation (subscriptions and windows read anew at each question)."""

    form = FORM

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = await self.ask(tracker)
        if form_was_interrupted(tracker, self.form):
            product = await self.product_asked_about(tracker)
            if product:
                dispatcher.utter_message(
                    response="utter_back_to_cancellation_about", product=product
                )
            else:
                dispatcher.utter_message(response=f"utter_back_to_{self.form}")
        events = reply.send(dispatcher, tracker)
        if reason_given_this_turn(tracker):
            # "Why not?" after another product was answered inside the form is
            # about that answer: its reason is kept over the question.
            events = [
                e
                for e in events
                if not (e.get("event") == "slot" and e.get("name") == LAST_REASON_SLOT)
            ]
        return events

    async def product_asked_about(self, tracker: Tracker) -> Optional[str]:
        """The product of the request, once chosen (for "back to your request
        about ...")."""
        chosen = tracker.get_slot(SUBSCRIPTION_SLOT)
        if not chosen:
            return None
        now = self._clock()

        def work(session: Session) -> Optional[str]:
            found, _ = situation(session, tracker, now)
            option = found.find(chosen) if found else None
            return option[0].product_name if option else None

        name: Optional[str] = await in_session(work, tracker, failed=None)
        return name

    async def ask(self, tracker: Tracker) -> Reply:
        now = self._clock()
        return await in_session(
            lambda session: self._ask(session, tracker, now),
            tracker,
            failed=Reply().say("utter_billing_unavailable"),
        )

    def _ask(self, session: Session, tracker: Tracker, now: datetime) -> Reply:
        found, problem = situation(session, tracker, now)
        if found is None:
            return problem or Reply()
        context = form_context(found, tracker, session)
        if self.slot == SUBSCRIPTION_SLOT:
            return self.prompt(found, context, None, None)
        chosen = found.find(tracker.get_slot(SUBSCRIPTION_SLOT))
        if chosen is None:
            return Reply().say("utter_cancellation_choice_expired")
        return self.prompt(found, context, *chosen)

    def prompt(
        self,
        found: Situation,
        context: Context,
        subscription: Optional[Subscription],
        eligibility: Optional[Eligibility],
    ) -> Reply:
        return Reply().say(f"utter_ask_{self.slot}")


class ActionAskCancellationSubscription(CancellationQuestion):
    """Which subscription? One button per eligible subscription."""

    slot = SUBSCRIPTION_SLOT

    def prompt(
        self,
        found: Situation,
        context: Context,
        subscription: Optional[Subscription],
        eligibility: Optional[Eligibility],
    ) -> Reply:
        buttons = [
            {
                "title": context.t(
                    "refund.button" if reduces_seats(s) else "refund.button_whole",
                    product=s.product_name,
                    seats=context.plural(e.cancellable_seats, "seat"),
                ),
                "payload": s.id,
            }
            for s, e in found.eligible
        ]
        choices = bullet_list(
            [
                choice_label(context, i, s, e)
                for i, (s, e) in enumerate(found.eligible, 1)
            ]
        )
        return Reply().say(
            "utter_choose_cancellation_subscription", choices=choices, buttons=buttons
        )


class ActionAskCancellationSeats(CancellationQuestion):
    """How many seats? Up to what is still inside the window."""

    slot = SEATS_SLOT

    def prompt(
        self,
        found: Situation,
        context: Context,
        subscription: Optional[Subscription],
        eligibility: Optional[Eligibility],
    ) -> Reply:
        assert subscription is not None and eligibility is not None
        return Reply().say(
            "utter_choose_cancellation_seats",
            product=subscription.product_name,
            max_seats=str(eligibility.cancellable_seats),
            seats=context.plural(subscription.seats, "seat"),
        )


class ActionAskCancellationReason(CancellationQuestion):
    """Why? After saying back what will be cancelled (the seats just given, a
    correction, or the number in the first message)."""

    slot = REASON_SLOT

    def prompt(
        self,
        found: Situation,
        context: Context,
        subscription: Optional[Subscription],
        eligibility: Optional[Eligibility],
    ) -> Reply:
        assert subscription is not None and eligibility is not None
        seats_text = str(context.tracker.get_slot(SEATS_SLOT) or "")
        seats = int(seats_text) if seats_text.isdigit() else 0
        if not reduces_seats(subscription):
            what = context.t("refund.chosen_whole", product=subscription.product_name)
        elif seats >= subscription.seats:
            what = context.t(
                "refund.chosen_all_seats",
                seats=context.plural(seats, "seat"),
                product=subscription.product_name,
            )
        else:
            what = context.t(
                "refund.chosen_seats",
                seats=context.plural(seats, "seat"),
                product=subscription.product_name,
                total=context.plural(subscription.seats, "seat"),
            )
        return Reply().say("utter_ask_cancellation_reason_about", what=what)


class ActionAskCancellationConfirm(CancellationQuestion):
    """The summary of the request, and a yes/no before anything is filed."""

    slot = CONFIRM_SLOT

    def prompt(
        self,
        found: Situation,
        context: Context,
        subscription: Optional[Subscription],
        eligibility: Optional[Eligibility],
    ) -> Reply:
        assert subscription is not None and eligibility is not None
        tracker = context.tracker
        seats_text = str(tracker.get_slot(SEATS_SLOT) or "")
        seats = int(seats_text) if seats_text.isdigit() else 0
        kind = tracker.get_slot(KIND_SLOT) or "refund"
        whole = seats >= subscription.seats or not reduces_seats(subscription)
        return Reply().say(
            "utter_confirm_cancellation",
            request=context.t(f"refund.request.{kind}"),
            what=context.t("refund.what_whole")
            if whole
            else context.t("refund.what_seats", seats=context.plural(seats, "seat")),
            product=subscription.product_name,
            account=found.customer.name,
            refund=context.t(f"refund.kind.{eligibility.refund}"),
            window_end=context.moment(eligibility.window_end_at),
            reason=str(tracker.get_slot(REASON_SLOT) or ""),
            buttons=yes_no_buttons(tracker, yes="button.file_it", no="button.no"),
        )


class ValidateCancellationForm(FormValidation):
    """Check each answer against the customer's situation."""

    slots = FORM_SLOTS
    topics = frozenset({"refund", "subscription_change"})
    yes_no = frozenset({CONFIRM_SLOT})

    def name(self) -> str:
        return "validate_cancellation_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        intent = latest_intent(tracker)
        if requested is not None and intent not in LEAVING_INTENTS:
            if looks_like_question(latest_text(tracker)):
                # "can we make it 3 instead?", "how about 2?": a correction asked
                # as a question.
                corrected = self.corrections(tracker, requested)
                if SEATS_SLOT in corrected:
                    return await self.apply_corrections(
                        corrected, dispatcher, tracker, domain
                    )
            detour = await self.other_product(dispatcher, tracker, requested)
            if detour is not None:
                return detour
        return await super().run(dispatcher, tracker, domain)

    async def other_product(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, requested: str
    ) -> Optional[list[EventType]]:
        """A question about another product inside the form ("and Business
        Central?", "what about the E3 licences?"): its own facts, then the form
        goes on (on that product, if it can be cancelled and the chatter asks for
        it). None if the message is not about another product."""
        text = latest_text(tracker)
        asks = latest_intent(tracker) == "follow_up" or looks_like_question(text)
        spans = entity_spans(tracker)
        if not asks and (
            requested in (REASON_SLOT, CONFIRM_SLOT)  # "we moved to E5" is a reason
            or corrected_seats(text, spans) is not None
        ):
            return None
        now = self._clock()
        current = tracker.get_slot(SUBSCRIPTION_SLOT)
        # A question about cancelling that gives no answer and no new number.
        about_the_request = (
            asks
            and bool(current)
            and latest_intent(tracker) in KIND_BY_INTENT
            and not self.answers(requested, text, tracker)
            and seats_in_request(text, spans) is None
            and corrected_seats(text, spans) is None
        )

        def work(session: Session) -> Optional[tuple[list[EventType], Reply]]:
            found, _ = situation(session, tracker, now)
            if found is None:
                return None
            everything = eligibilities(session, found.customer, now, ended=True)
            named, missing = ActionCancellationOptions.named_subscription(
                tracker, everything
            )
            context = form_context(found, tracker, session)
            own = (named is None and missing is None) or (
                named is not None and named[0].id == current
            )
            if own and about_the_request:
                # "until when can I cancel?" about the request's own product: its
                # facts, and the form goes on (never started again from scratch).
                chosen = found.find(current)
                if chosen is None:
                    return None
                sentence = eligibility_sentence(*chosen, context)
                reply = (
                    Reply()
                    .say("utter_cancellation_eligibility_one", sentence=sentence)
                    .say(
                        "utter_back_to_cancellation_about",
                        product=chosen[0].product_name,
                    )
                )
                return [SlotSet(requested, None)], reply
            if named is None:
                if missing is None or (requested == SUBSCRIPTION_SLOT and not asks):
                    return None  # no product, or a wrong answer to "which one?"
                reply = Reply().say(
                    "utter_cancellation_not_on_account",
                    product=missing,
                    account=context.account,
                )
                return [SlotSet(requested, None)], reply
            subscription, eligibility = named
            if subscription.id == current:
                return None  # the request's own product: an answer as usual
            if eligibility.eligible and requested == SUBSCRIPTION_SLOT:
                return None  # the answer to "which one?"
            sentence = eligibility_sentence(subscription, eligibility, context)
            reply = Reply().say("utter_cancellation_eligibility_one", sentence=sentence)
            events: list[EventType] = [
                SlotSet(CURRENT_SUBSCRIPTION_SLOT, subscription.id)
            ]
            switch = eligibility.eligible and (
                latest_intent(tracker) in KIND_BY_INTENT or not asks
            )
            if switch:
                events += [SlotSet(SUBSCRIPTION_SLOT, subscription.id)]
                seats = (
                    None
                    if reduces_seats(subscription)
                    else str(eligibility.cancellable_seats)
                )
                count = seats_in_request(text, spans, subscription.seats)
                if seats is None and count is not None:
                    count = (
                        str(eligibility.cancellable_seats) if count == "all" else count
                    )
                    if 1 <= int(count) <= eligibility.cancellable_seats:
                        seats = count
                events += [SlotSet(SEATS_SLOT, seats), SlotSet(CONFIRM_SLOT, None)]
                return events, reply
            if current:
                chosen = found.find(current)
                if chosen is not None:
                    reply.say(
                        "utter_back_to_cancellation_about",
                        product=chosen[0].product_name,
                    )
            else:
                reply.say("utter_back_to_cancellation_form")
            reply.because(
                refusal_reason(
                    sentence,
                    [(s, e) for s, e in found.eligible if s.id != subscription.id],
                    context,
                )
            )
            return [*events, SlotSet(requested, None)], reply

        result = await in_session(work, tracker, failed=None)
        if result is None:
            return None
        events, reply = result
        self._send(dispatcher, reply)
        if reply.reason:
            events.append(SlotSet(LAST_REASON_SLOT, reply.reason))
        return events

    def interrupts(self, tracker: Tracker, requested: str) -> bool:
        """A reason is any statement ("we found a cheaper backup product" is no
        technical problem here); only a question, "stop" or a person interrupts
        it."""
        intent = latest_intent(tracker)
        text = latest_text(tracker)
        if requested == REASON_SLOT and intent == "complain":
            # "nobody uses them" is a reason; "you're useless" is a complaint.
            return BOT_DIRECTED.search(text) is not None
        if requested == REASON_SLOT and intent not in (*LEAVING_INTENTS, "deny"):
            return looks_like_question(text)
        return super().interrupts(tracker, requested)

    def answers(self, slot: str, text: str, tracker: Tracker) -> bool:
        if slot == SUBSCRIPTION_SLOT:
            return (
                bool(entity_values(tracker, "product"))
                or bool(entity_values(tracker, "subscription_id"))
                or text.strip().rstrip(".").isdigit()
            )
        if slot == SEATS_SLOT:
            masked = _masked(text, entity_spans(tracker))
            return (
                parse_count(masked) is not None or ALL_WORDS.search(masked) is not None
            )
        return False

    def correction_for(self, slot: str, text: str, tracker: Tracker) -> Any:
        if slot == SEATS_SLOT:
            if seats_kept(text, entity_spans(tracker)) is not None:
                return text  # "no wait, keep 3": the validation counts
            return corrected_seats(text, entity_spans(tracker))
        if slot == SUBSCRIPTION_SLOT:
            products = entity_values(tracker, "product")
            return products[0] if products else None
        return None

    async def _checked(
        self,
        tracker: Tracker,
        check: Callable[[Situation, Context], tuple[dict[str, Any], Reply]],
    ) -> tuple[dict[str, Any], Reply]:
        now = self._clock()

        def work(session: Session) -> tuple[dict[str, Any], Reply]:
            found, problem = situation(session, tracker, now)
            if found is None:
                return {}, problem or Reply()
            return check(found, form_context(found, tracker, session))

        failed: tuple[dict[str, Any], Reply] = (
            {},
            Reply().say("utter_billing_unavailable"),
        )
        return await in_session(work, tracker, failed=failed)

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
        text = str(slot_value or "").strip()

        def check(found: Situation, context: Context) -> tuple[dict[str, Any], Reply]:
            chosen = found.find(text) or found.named(text)
            if chosen is None:
                return {SUBSCRIPTION_SLOT: None}, Reply().say(
                    "utter_invalid_cancellation_subscription",
                    choices=bullet_list(
                        [
                            choice_label(context, i, s, e)
                            for i, (s, e) in enumerate(found.eligible, 1)
                        ]
                    ),
                )
            subscription, eligibility = chosen
            slots: dict[str, Any] = {SUBSCRIPTION_SLOT: subscription.id}
            asked = seats_in_request(
                latest_text(tracker), entity_spans(tracker), subscription.seats
            )
            if asked == "all":
                asked = str(eligibility.cancellable_seats)
            if not reduces_seats(subscription):
                slots[SEATS_SLOT] = str(eligibility.cancellable_seats)
            elif asked is not None and 1 <= int(asked) <= eligibility.cancellable_seats:
                slots[SEATS_SLOT] = asked  # "cancel 2 Copilot seats"
            elif (
                tracker.get_slot(SEATS_SLOT) not in (None, "all")
                and str(tracker.get_slot(SEATS_SLOT)).isdigit()
                and int(tracker.get_slot(SEATS_SLOT)) > eligibility.cancellable_seats
            ):
                slots[SEATS_SLOT] = None
            return slots, Reply()

        slots, reply = await self._checked(tracker, check)
        self._send(dispatcher, reply)
        return slots or {SUBSCRIPTION_SLOT: None}

    async def validate_cancellation_seats(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(slot_value or "").strip()

        def check(found: Situation, context: Context) -> tuple[dict[str, Any], Reply]:
            chosen = found.find(tracker.get_slot(SUBSCRIPTION_SLOT))
            if chosen is None:
                return {SUBSCRIPTION_SLOT: None, SEATS_SLOT: None}, Reply().say(
                    "utter_cancellation_choice_expired"
                )
            subscription, eligibility = chosen
            most = eligibility.cancellable_seats
            spans = entity_spans(tracker) if text == latest_text(tracker) else []
            kept = seats_kept(text, spans)
            if kept is not None:
                count: Optional[int] = subscription.seats - kept  # "keep 3"
            elif text == "all" or ALL_WORDS.search(text):
                return {SEATS_SLOT: str(most)}, Reply()
            else:
                count = parse_count(TAKEN_BACK.sub(" ", _masked(text, spans)))
            if count is None or count < 1 or count > most:
                return {SEATS_SLOT: None}, Reply().say(
                    "utter_invalid_cancellation_seats",
                    max_seats=str(most),
                    product=subscription.product_name,
                ).because(
                    context.t(
                        "why.seats_limit",
                        max_seats=context.plural(most, "seat"),
                        product=subscription.product_name,
                    )
                )
            return {SEATS_SLOT: str(count)}, Reply()

        slots, reply = await self._checked(tracker, check)
        self._send(dispatcher, reply)
        return slots or {SEATS_SLOT: None}

    async def validate_cancellation_reason(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        said = " ".join(str(slot_value or "").split())
        text = strip_back_to(said)
        if not text and said:
            return {REASON_SLOT: None}  # "ok, back to the cancellation": asked again
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
        return {CONFIRM_SLOT: None}


# --------------------------------------------------------------------------- submit


class ActionSubmitCancellation(Action):
    """File the confirmed request as a COMMERCIAL ticket (idempotent), or say that
    nothing was filed."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_submit_cancellation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet(slot, None) for slot in FORM_SLOTS]
        reset += [SlotSet(POSSIBLE_SLOT, False)]
        if tracker.get_slot(CONFIRM_SLOT) is not True:
            dispatcher.utter_message(response="utter_cancellation_not_filed")
            return reset
        now = self._clock()
        reply = await in_session(
            lambda session: self._file(session, tracker, now),
            tracker,
            failed=Reply().say("utter_billing_unavailable"),
        )
        for message in reply.messages:
            dispatcher.utter_message(**message)
        return reply.events + reset

    def _file(self, session: Session, tracker: Tracker, now: datetime) -> Reply:
        found, problem = situation(session, tracker, now)
        if found is None:
            return problem or Reply()
        context = form_context(found, tracker, session)
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
        whole = seats >= subscription.seats or not reduces_seats(subscription)
        what = (
            context.t("refund.ticket.whole", product=subscription.product_name)
            if whole
            else context.t(
                "refund.ticket.seats",
                seats=seats,
                total=subscription.seats,
                product=subscription.product_name,
            )
        )
        summary = context.t(
            f"refund.ticket.summary.{kind}", what=what, customer=customer.name
        )
        staff = found.chatter.partner_user
        description = "\n".join(
            line
            for line in (
                summary,
                context.t(
                    "refund.ticket.eligibility",
                    day=found.today.isoformat(),
                    sentence=eligibility_sentence(subscription, eligibility, context),
                ),
                context.t(
                    "refund.ticket.refund",
                    refund=context.t(f"refund.kind.{eligibility.refund}"),
                ),
                context.t("refund.ticket.reason", reason=reason),
                context.t("refund.ticket.amount", amount=amount) if amount else "",
                context.t(
                    "refund.ticket.requested_by",
                    requester=found.chatter.identity.requester,
                    staff=f" ({found.chatter.role_label}, {staff.name})"
                    if staff
                    else "",
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
                "window_end": eligibility.window_end_at.isoformat(),
                "refund": eligibility.refund,
            },
        )
        try:
            ticket, created = create_ticket(session, new=new, today=found.today)
        except TicketError:
            return Reply().say("utter_billing_unavailable")
        return Reply().say(
            "utter_cancellation_filed"
            if created
            else "utter_cancellation_already_filed",
            ticket_id=ticket.public_id,
            product=subscription.product_name,
            seats=context.plural(seats, "seat"),
            window_end=context.moment(eligibility.window_end_at),
            partner_name=customer.partner.name,
        )


def is_perpetual(subscription: Subscription) -> bool:
    return subscription.product_kind is ProductKind.PERPETUAL_SOFTWARE


# --------------------------------------------------------------------------- instead

# "so what can I do instead", "what are my options then?" after a refusal.
ALTERNATIVES_ASKED = re.compile(
    r"\b(?:instead|alternatives?|options?|what else|other ways?|what now|"
    r"what can (?:i|we|they) do|anything(?: else)? (?:i|we|they) can do)\b",
    re.IGNORECASE,
)
# The answers after which "what can I do instead?" is about a cancellation.
CANCELLATION_ANSWERS = frozenset(
    {
        "action_cancellation_options",
        "action_follow_up",
        "validate_cancellation_form",
        "cancellation_form",
    }
)
PASSING_ACTIONS = frozenset(
    {
        "action_listen",
        "action_extract_slots",
        "action_explain_why",
        "action_capabilities",
        "action_session_start",
    }
)


def wants_alternatives(tracker: Tracker) -> bool:
    """Whether the latest message asks what else can be done about a cancellation
    just refused ("why?" in between is fine)."""
    if not ALTERNATIVES_ASKED.search(latest_text(tracker)):
        return False
    if not tracker.get_slot(LAST_REASON_SLOT):
        return False
    seen_user = False
    for event in reversed(session_events(tracker)):
        if event.get("event") == "user":
            seen_user = True
            continue
        if not seen_user or event.get("event") != "action":
            continue
        name = str(event.get("name"))
        if name in PASSING_ACTIONS:
            continue
        return name in CANCELLATION_ANSWERS or name.startswith(
            "action_ask_cancellation_"
        )
    return False


class ActionCancellationAlternatives(BillingAction):
    """What can be done about subscriptions that can't be cancelled for a refund:
    auto-renewal off or fewer seats at renewal (and when), a perpetual licence that
    never renews, and the ones that can still be cancelled. About the subscription
    just discussed if there is one, else about the whole account. Run by
    `action_capabilities` when the question follows a refusal."""

    capability = "view_subscriptions"
    general_response = "utter_refunds_general"

    def name(self) -> str:
        return "action_cancellation_alternatives"

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        options = eligibilities(context.session, customer, context.now)
        current = context.tracker.get_slot(CURRENT_SUBSCRIPTION_SLOT)
        about = [(s, e) for s, e in options if s.id == current and not e.eligible]
        if not about:
            about = [(s, e) for s, e in options if not e.eligible]
        lines = [
            line
            for line in (self.instead(s, context) for s, _ in about)
            if line is not None
        ]
        others = [(s, e) for s, e in options if e.eligible]
        if others:
            lines.append(
                context.t(
                    "refund.instead.still",
                    others=still_cancellable(others, context),
                )
            )
        if not lines:
            return Reply().say("utter_capabilities")
        lines.append(
            context.t("refund.instead.how", partner_name=customer.partner.name)
        )
        reply = Reply().say(
            "utter_cancellation_alternatives", alternatives=bullet_list(lines)
        )
        reason = context.tracker.get_slot(LAST_REASON_SLOT)
        return reply.because(str(reason)) if reason else reply

    @staticmethod
    def instead(subscription: Subscription, context: Context) -> Optional[str]:
        partner = context.customer.partner if context.customer else None
        values = {
            "product": subscription.product_name,
            "partner_name": partner.name if partner else "",
        }
        kind = subscription.product_kind
        if kind is ProductKind.PERPETUAL_SOFTWARE:
            hours = commerce_policy().windows[kind].hours
            return context.t(
                "refund.instead.perpetual",
                days=context.plural(hours // 24, "day"),
                **values,
            )
        if kind is ProductKind.AZURE_PLAN:
            return context.t("refund.instead.azure_plan", **values)
        if subscription.term_end_date is None:
            return None
        day = context.date(subscription.term_end_date)
        if not subscription.auto_renew:
            return context.t("refund.instead.ending", day=day, **values)
        key = (
            "refund.instead.renewing"
            if commerce_policy().windows[kind].seat_reduction
            else "refund.instead.renewing_whole"
        )
        return context.t(key, day=day, **values)
