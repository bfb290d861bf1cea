"""What every answer does before and after it answers: who is chatting, may they ask
this, whose account is it about, in which language, and what the conversation should
remember. Topic modules subclass `BillingAction` and write only `answer()`.

An answer is a `Reply`: the messages to send (responses of the text catalogue by id,
or text the action composed from the catalogue's phrases) and the events to return.
`Reply.because()` records why the bot refused or could not do something, so that a
following "why?" is answered with that reason (`action_explain_why`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.identity import (
    ACTING_FOR_SLOT,
    Chatter,
    Identification,
    Target,
    identify,
    target_customer,
)
from actions.runtime import in_session, utc_now
from api.domain.models import Customer
from api.domain.services.permissions import permission_table
from common import formatting
from common.conversation_language import conversation_language
from common.taxonomy import ISSUES_KEY, QUESTIONS_KEY, TaxonomyError, load_taxonomy
from common.texts import DEFAULT_LANGUAGE, Catalogue, catalogue

ACT_FOR_CUSTOMERS = "act_for_customers"

# What the conversation remembers between answers (domain/conversation.yml).
LANGUAGE_SLOT = "language"
CURRENT_INVOICE_SLOT = "current_invoice_number"  # the invoice just discussed
CURRENT_SUBSCRIPTION_SLOT = "current_subscription_id"  # the subscription just discussed
LAST_REASON_SLOT = "last_reason"  # why the last answer refused or could not help

__all__ = [
    "ACTING_FOR_SLOT",
    "BillingAction",
    "Context",
    "Reply",
    "language_of",
    "texts_for",
    "utc_now",
]


def language_of(tracker: Tracker) -> str:
    """The conversation's language, chosen as bot/nlg.py chooses it
    (common/conversation_language.py): the latest message in a language the desk
    speaks, else the chat token's locale, else the `language` slot, else English."""
    latest = tracker.latest_message if isinstance(tracker.latest_message, dict) else {}
    messages = itertools.chain(
        [(latest, latest.get("metadata"))],  # the message being answered
        (
            (event.get("parse_data"), event.get("metadata"))
            for event in reversed(tracker.events or [])
            if isinstance(event, dict) and event.get("event") == "user"
        ),
    )
    return conversation_language(messages, tracker.get_slot(LANGUAGE_SLOT))


def texts_for(tracker: Tracker) -> Catalogue:
    return catalogue(language_of(tracker))


@dataclass
class Reply:
    """What an action found: responses to send, events to return, and the reason
    behind a refusal (for "why?")."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventType] = field(default_factory=list)
    reason: Optional[str] = None

    def say(self, response: str, **values: Any) -> Reply:
        """A response of the catalogue, by id, filled with `values`."""
        self.messages.append({"response": response, **values})
        return self

    def text(self, text: str, **extra: Any) -> Reply:
        """Text the action composed (from the catalogue's phrases)."""
        self.messages.append({"text": text, **extra})
        return self

    def because(self, reason: str) -> Reply:
        """Remember why (a sentence) for a following "why?"."""
        self.reason = reason
        return self

    def with_events(self, *events: EventType) -> Reply:
        self.events.extend(events)
        return self

    def extend(self, other: Reply) -> Reply:
        self.messages.extend(other.messages)
        self.events.extend(other.events)
        self.reason = other.reason or self.reason
        return self

    def send(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[EventType]:
        """Utter every message; the events, with the reason remembered (or the
        previous answer's forgotten)."""
        for message in self.messages:
            dispatcher.utter_message(**message)
        if self.messages and not wants_every_answer(tracker):
            offer_other_issues(dispatcher, tracker)
        if self.reason is not None:
            return [*self.events, SlotSet(LAST_REASON_SLOT, self.reason)]
        if tracker.get_slot(LAST_REASON_SLOT) is not None:
            return [*self.events, SlotSet(LAST_REASON_SLOT, None)]
        return list(self.events)


BUTTON_TITLE_CHARS = 60


ANSWER_QUESTIONS = "action_answer_questions"


def questions_of(tracker: Tracker) -> list[dict[str, Any]]:
    """The questions the latest message asks, one per clause (bot/issues.py)."""
    message = tracker.latest_message or {}
    return [q for q in message.get(QUESTIONS_KEY) or [] if isinstance(q, dict)]


def answered_already(tracker: Tracker) -> bool:
    """Whether an action already answered the latest message."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


def wants_every_answer(tracker: Tracker) -> bool:
    """Whether the latest message asks several questions, which
    `action_answer_questions` (actions/questions.py) answers one by one after the
    first answer (it also offers the message's other problems)."""
    return len(questions_of(tracker)) >= 2 and not answered_already(tracker)


def other_issues(tracker: Tracker) -> list[dict[str, Any]]:
    """The matters the latest message raised besides the one its intent answers
    (bot/issues.py), when this is the first answer to that message."""
    message = tracker.latest_message or {}
    issues = [i for i in message.get(ISSUES_KEY) or [] if isinstance(i, dict)]
    if len(issues) < 2:
        return []
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            return []  # an earlier action already answered, and offered them
    intent = (message.get("intent") or {}).get("name") or ""
    try:
        answered = load_taxonomy().topic_for_intent(intent)
    except (TaxonomyError, KeyError):
        answered = None
    others = [i for i in issues if i.get("topic") != answered]
    if len(others) == len(issues):
        others = others[1:]  # the answer took up the first matter
    return [i for i in others if str(i.get("text") or "").strip()]


def offer_other_issues(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """After the first answer to a message with two problems, name the other(s),
    each with a button that asks about it (its own words, so it is understood as
    if typed on its own)."""
    others = other_issues(tracker)
    if not others:
        return
    texts = texts_for(tracker)
    lang = language_of(tracker)
    words = [str(i["text"]).strip() for i in others]
    if len(words) == 1:
        text = texts.text("issues.also_one", issue=words[0])
    else:
        quoted = [texts.text("issues.quoted", issue=w) for w in words]
        text = texts.text(
            "issues.also_many", issues=formatting.join_words(quoted, "and", lang)
        )
    buttons = [{"title": shorten(w, BUTTON_TITLE_CHARS), "payload": w} for w in words]
    dispatcher.utter_message(text=text, buttons=buttons)


def shorten(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class Context:
    """Everything an answer needs, valid inside the action's session."""

    session: Session
    tracker: Tracker
    chatter: Chatter
    customer: Optional[Customer]
    now: datetime
    today: dt.date
    lang: str = DEFAULT_LANGUAGE

    @property
    def texts(self) -> Catalogue:
        return catalogue(self.lang)

    def t(self, key: str, **values: Any) -> str:
        """A phrase of the catalogue in the conversation's language."""
        return self.texts.text(key, **values)

    def money(self, amount: Any, currency: str) -> str:
        return formatting.format_money(amount, currency, self.lang)

    def date(self, day: dt.date) -> str:
        return formatting.format_date(day, self.lang)

    def period(self, start: dt.date, end: dt.date) -> str:
        return formatting.format_period(start, end, self.lang)

    def plural(self, count: int, unit: str) -> str:
        return formatting.plural(count, unit, self.lang)

    def moment(self, when: datetime) -> str:
        """A point in time in the partner's zone, with hour and zone."""
        return formatting.format_moment(when, self.chatter.partner.timezone, self.lang)

    def join(self, words: list[str], last: str = "and") -> str:
        return formatting.join_words(words, last, self.lang)

    @property
    def account(self) -> str:
        """How the answer names the account: "your account" or "Contoso Ltd"."""
        if self.customer is None or not self.chatter.is_staff:
            return self.t("account.yours")
        return self.customer.name

    @property
    def whose(self) -> str:
        """ "Your" or "Contoso Ltd's", to start a sentence."""
        if self.customer is None or not self.chatter.is_staff:
            return self.t("account.yours_start")
        return possessive(self.customer.name, self.lang)

    @property
    def is_staff(self) -> bool:
        return self.chatter.is_staff


def possessive(name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """ "Contoso Ltd's", "Litware Partners'" (a name ending in s takes only the
    apostrophe)."""
    key = "possessive.s" if name.endswith(("s", "S")) else "possessive"
    return catalogue(lang).text(key, name=name)


def not_permitted(chatter: Chatter, capability: str, lang: str) -> Reply:
    """ "Your role can't ...; ask a Global admin or Billing admin"."""
    table = permission_table()
    roles = table.roles_that_can(capability)
    who = formatting.join_words(roles, "or", lang) if roles else None
    reply = Reply().say(
        "utter_not_permitted",
        role=chatter.role_label,
        capability=table.capabilities[capability],
        roles=who or catalogue(lang).text("roles.nobody"),
    )
    return reply.because(
        catalogue(lang).text(
            "why.not_permitted",
            role=chatter.role_label,
            capability=table.capabilities[capability],
        )
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
        reply = self.before_lookup(tracker)
        if reply is None:
            now = self._clock()
            reply = await in_session(
                lambda session: self.handle(session, tracker, now),
                tracker,
                failed=Reply().say("utter_billing_unavailable"),
            )
        events = self.finish(reply, tracker).send(dispatcher, tracker)
        if wants_every_answer(tracker) and not any(
            e.get("event") == "followup" for e in events
        ):
            events.append(FollowupAction(ANSWER_QUESTIONS))
        return events

    def finish(self, reply: Reply, tracker: Tracker) -> Reply:
        """A last look at the reply before it is sent (subclasses add to it)."""
        return reply

    def before_lookup(self, tracker: Tracker) -> Optional[Reply]:
        """A reply that needs no data (e.g. a malformed number), or None."""
        return None

    def required_capability(self, tracker: Tracker) -> str:
        """The permission this request needs (permissions.yml)."""
        return self.capability

    def handle(self, session: Session, tracker: Tracker, now: datetime) -> Reply:
        """Identify, check permissions, find the customer, then answer."""
        lang = language_of(tracker)
        identification = identify(session, tracker)
        chatter = identification.chatter
        if chatter is None:
            return self.unidentified(identification)
        capability = self.required_capability(tracker)
        today = formatting.local_today(now, chatter.partner.timezone)
        context = Context(session, tracker, chatter, chatter.customer, now, today, lang)
        if not self.needs_customer:
            if not chatter.can(capability):
                return not_permitted(chatter, capability, lang)
            return self.answer(context)
        if chatter.is_staff and not chatter.can(ACT_FOR_CUSTOMERS):
            return not_permitted(chatter, ACT_FOR_CUSTOMERS, lang)
        target = target_customer(session, chatter, tracker)
        if not chatter.can(capability):
            # Remember whom they asked about: the next question ("what
            # subscriptions do they have?") may be one their role allows.
            refused = not_permitted(chatter, capability, lang)
            if chatter.is_staff and target.customer is not None:
                refused.events.insert(
                    0, SlotSet(ACTING_FOR_SLOT, str(target.customer.id))
                )
            return refused
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
