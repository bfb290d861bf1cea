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
import re
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
from actions.tracker import event_entities, previous_answer, user_events
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
# The other problems a message raised, offered and not yet taken up: [{text, intent,
# topic}] (bot/issues.py).
PENDING_ISSUES_SLOT = "pending_issues"

__all__ = [
    "ACTING_FOR_SLOT",
    "BillingAction",
    "Context",
    "Reply",
    "language_of",
    "matter_text",
    "picked_issue",
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
        events = list(self.events)
        if self.messages:
            # more questions: action_answer_questions answers them, offers the rest
            offered = (
                []
                if more_questions_after(tracker)
                else offer_other_issues(dispatcher, tracker)
            )
            flows = any(
                isinstance(e, dict) and e.get("event") in ("followup", "active_loop")
                for e in events
            )
            if not offered and not flows and ticket_still_on_offer(tracker):
                # The question is answered; the ticket is offered again after it,
                # so that "yes" (or "no") answers the offer.
                events.append(FollowupAction(OFFER_TICKET_ACTION))
            events.extend(pending_issue_events(tracker, offered, events))
        if self.reason is not None:
            return [*events, SlotSet(LAST_REASON_SLOT, self.reason)]
        if tracker.get_slot(LAST_REASON_SLOT) is not None:
            return [*events, SlotSet(LAST_REASON_SLOT, None)]
        return events


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


# The intents whose clause `action_answer_questions` answers (actions/questions.py
# maps each to its action); the others are problems to work on, offered instead.
ANSWERABLE_INTENTS = frozenset(
    {
        "ask_invoice",
        "ask_payment_status",
        "ask_payment_methods",
        "ask_credit_note",
        "explain_charges",
        "ask_subscription",
        "access_suspended",
        "ask_support_info",
        "escalate_to_microsoft",
        "ask_ticket_status",
        "ask_microsoft_invoice",
        "request_human",
    }
)


# Clauses that belong to the flow a message starts ("please open a ticket so someone
# reviews it" beside a dispute) rather than a question of their own.
ABOUT_THE_FLOW = frozenset(
    {"ask_ticket_status", "request_human", "escalate_to_microsoft"}
)


def wants_every_answer(tracker: Tracker) -> bool:
    """Whether the latest message asks several questions, which
    `action_answer_questions` (actions/questions.py) answers one by one after the
    first answer (it also offers the message's other problems)."""
    return len(questions_of(tracker)) >= 2 and not answered_already(tracker)


def latest_intent_name(tracker: Tracker) -> str:
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name"))


def questions_before_a_flow(tracker: Tracker) -> bool:
    """Whether a message that starts a flow (a cancellation, a dispute) also asks
    a question the desk answers: it is answered before the flow's first question."""
    intent = latest_intent_name(tracker)
    return (
        intent not in ANSWERABLE_INTENTS
        and wants_every_answer(tracker)
        and any(
            q.get("intent") in ANSWERABLE_INTENTS - ABOUT_THE_FLOW
            and q.get("intent") != intent
            for q in questions_of(tracker)
        )
    )


def more_questions_after(tracker: Tracker) -> bool:
    """Whether the answer to a question leaves other questions of the message to
    answer: only after an answer (a flow such as a dispute or a form is not
    interrupted), and only when another clause asks something else."""
    intent = latest_intent_name(tracker)
    return (
        intent in ANSWERABLE_INTENTS
        and wants_every_answer(tracker)
        and any(
            q.get("intent") in ANSWERABLE_INTENTS and q.get("intent") != intent
            for q in questions_of(tracker)
        )
    )


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


def offer_other_issues(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[dict[str, Any]]:
    """After the first answer to a message with two problems, name the other(s),
    each with a button that asks about it (its own words, so it is understood as
    if typed on its own). Returns the issues offered."""
    others = other_issues(tracker)
    if not others:
        return []
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
    return [_issue_entry(i) for i in others]


def _issue_entry(issue: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": str(issue.get("text") or "").strip(),
        "intent": issue.get("intent"),
        "topic": issue.get("topic"),
    }


def pending_issues(tracker: Tracker) -> list[dict[str, Any]]:
    value = tracker.get_slot(PENDING_ISSUES_SLOT)
    if not isinstance(value, list):
        return []
    return [i for i in value if isinstance(i, dict) and i.get("text")]


# Words that say which of the offered problems the user takes up, not what it is.
_PICK_FILLER = frozenset(
    """
    the that this one first now next then let's lets let start with other another
    problem problems issue issues thing things please can could you look at also
    and okay ok thanks sure about second last after before go ahead do deal
    what how
    """.split()  # noqa: SIM905
)
_PICK_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def picked_issue(tracker: Tracker) -> Optional[dict[str, Any]]:
    """The offered problem the latest message takes up ("ok now the Teams
    problem", "let's do the Outlook one first", its button), or None."""
    pending = pending_issues(tracker)
    if not pending:
        return None
    message = tracker.latest_message or {}
    raised = {
        str(i.get("text")) for i in message.get(ISSUES_KEY) or [] if isinstance(i, dict)
    }
    if any(issue["text"] in raised for issue in pending):
        return None  # the message that raised them, not one that takes one up
    text = " ".join(str(message.get("text") or "").lower().split())
    for issue in pending:
        if text == " ".join(str(issue["text"]).lower().split()):
            return issue
    products = [
        str(e.get("value")).lower()
        for e in message.get("entities") or []
        if e.get("entity") == "product" and isinstance(e.get("value"), str)
    ]
    words = {
        w for w in _PICK_WORD.findall(text) if len(w) >= 3 and w not in _PICK_FILLER
    }
    for issue in pending:
        lowered = str(issue["text"]).lower()
        if any(p in lowered for p in products):
            return issue
        if words and words <= set(_PICK_WORD.findall(lowered)):
            return issue
    intent = (message.get("intent") or {}).get("name") or ""
    try:
        topic = load_taxonomy().topic_for_intent(intent)
    except (TaxonomyError, KeyError):
        return None
    for issue in pending:
        if issue.get("topic") == topic:
            return issue
    return None


def matter_text(tracker: Tracker, topics: tuple[str, ...]) -> str:
    """The words of the latest message about `topics`: its own clause about them
    when it raised several problems (bot/issues.py); the offered problem it takes
    up when it only picks one ("ok now the invoice one"); else all of it."""
    message = tracker.latest_message or {}
    text = str(message.get("text") or "")
    for issue in message.get(ISSUES_KEY) or []:
        if isinstance(issue, dict) and issue.get("topic") in topics:
            return str(issue.get("text") or text)
    picked = picked_issue(tracker)
    if picked is not None and len(text.split()) <= PICK_MAX_WORDS:
        return str(picked["text"])
    return text


PICK_MAX_WORDS = 8  # a longer message says the problem in its own words


def pending_issue_events(
    tracker: Tracker, offered: list[dict[str, Any]], events: list[EventType]
) -> list[EventType]:
    """The problems still to take up: those just offered, or those offered before
    minus the one this message took up (unless the answer set them itself)."""
    if any(
        isinstance(e, dict) and e.get("name") == PENDING_ISSUES_SLOT for e in events
    ):
        return []
    if offered:
        return [SlotSet(PENDING_ISSUES_SLOT, offered)]
    picked = picked_issue(tracker)
    if picked is None:
        return []
    rest = [i for i in pending_issues(tracker) if i != picked]
    return [SlotSet(PENDING_ISSUES_SLOT, rest or None)]


# The answers after which a support ticket is on offer (actions/tickets.py).
TICKET_OFFERS = ("action_technical_self_help", "action_offer_ticket")
OFFER_TICKET_ACTION = "action_offer_ticket"
# Requests that start a flow (a form) of their own: the user moved on.
STARTS_A_FLOW = frozenset(
    {"dispute_charge", "request_refund", "cancel_subscription", "change_seats"}
)
NOT_AN_INTERRUPTION = frozenset(
    {"technical_issue", "ticket_status", "smalltalk", "human_agent", "out_of_scope"}
)


def ticket_still_on_offer(tracker: Tracker) -> bool:
    """A question answered right after self-help tips or a ticket offer ("how much
    do we owe?"): the ticket is still on offer, and is offered again after the
    answer (`action_offer_ticket`)."""
    if tracker.active_loop_name:
        return False  # a form asks its own question again
    if previous_answer(tracker) not in TICKET_OFFERS:
        return False
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            return False  # an earlier action already answered this message
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""
    if intent in STARTS_A_FLOW:
        return False  # a dispute or a cancellation of its own: its form asks next
    try:
        topic = load_taxonomy().topic_for_intent(intent)
    except (TaxonomyError, KeyError):
        return False
    return topic not in NOT_AN_INTERRUPTION


def latest_product_named(tracker: Tracker) -> Optional[str]:
    """The product named most recently in this session (NLU's `product`)."""
    for event in reversed(user_events(tracker)):
        for entity in reversed(event_entities(event)):
            value = entity.get("value")
            named = isinstance(value, str) and value.strip()
            if entity.get("entity") == "product" and named:
                return str(value).strip()
    return None


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
        if more_questions_after(tracker) and not any(
            e.get("event") == "followup" for e in events
        ):
            events.append(FollowupAction(ANSWER_QUESTIONS))
        elif questions_before_a_flow(tracker):
            # "I need to cancel the Copilot licences and I also need your phone
            # number": the phone number now, before the cancellation's questions.
            from actions.questions import answer_clauses  # the topic actions' module

            events.extend(
                await answer_clauses(
                    dispatcher,
                    tracker,
                    domain,
                    skip_intent=latest_intent_name(tracker),
                    offer_rest=False,
                )
            )
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
