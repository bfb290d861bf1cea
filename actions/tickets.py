"""Escalation tickets: the technical self-help answer, the ticket form, filing the
ticket routed to the right support tier, the status of the chatter's tickets, and
where an escalation goes (the partner's route to Microsoft, or that it has none).

The conversation (rules in data/rules/tickets.yml):

1. `report_technical_issue` -> `action_technical_self_help`: if a suspended
   subscription explains the problem (users lose access while it is suspended),
   that is the answer; an explicit ticket request from someone who already tried
   ("restarting didn't help, please open a ticket", or the tips were given before)
   goes straight to the ticket form; otherwise a quick check for the product, then
   "did that solve it?". "No" (or the problem again) -> `action_offer_ticket`; a
   yes that says more than "solved" ("yes, it's everyone in the office") is no
   solution either (`action_self_help_outcome`). A question on another topic is
   answered, and the ticket stays on offer (actions/base.py).
2. Yes to the offer -> `action_start_escalation` checks that the chatter may open
   tickets, pre-fills what the conversation already said (the problem, the product,
   commercial or technical from the topic, the customer staff talk about) ->
   `escalation_form` asks only what is missing (validate_escalation_form, built on
   actions/forms.py: stop, a person, "why?" and other questions are never taken as
   answers).
3. `action_file_ticket` files it, idempotent on the message that started the
   escalation, and says the ticket id, where it goes and when the first response
   is due in the partner's own business hours.

Who is chatting comes from `actions.identity.identify` (the signed chat token);
entities and text never identify anyone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.base import (
    ACT_FOR_CUSTOMERS,
    ACTING_FOR_SLOT,
    PENDING_ISSUES_SLOT,
    PICK_MAX_WORDS,
    BillingAction,
    Context,
    Reply,
    language_of,
    picked_issue,
    possessive,
    texts_for,
)
from actions.forms import FormQuestion, FormValidation
from actions.identity import Chatter, identify, target_customer
from actions.runtime import in_session, utc_now
from actions.tracker import (
    actions_since_user,
    entity_values,
    event_entities,
    event_intent,
    first_entity,
    latest_intent,
    latest_text,
    latest_user_message_id,
    message_id,
    session_events,
    topic_of,
    user_events,
)
from api.domain.models import (
    Customer,
    Partner,
    Severity,
    Subscription,
    SubscriptionStatus,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from api.domain.services.billing import subscriptions_of
from api.domain.services.permissions import permission_table
from api.domain.services.routing import (
    PARTNER_DESK,
    RouteDecision,
    first_response,
    route,
    routing_policy,
)
from api.domain.services.tickets import (
    IMPACTS,
    URGENCIES,
    NewTicket,
    TicketError,
    create_ticket,
    escalation_policy,
    product_kind_for,
    ticket_by_public_id,
    tickets_of_requester,
)
from api.partner_center.service_requests import refresh_status
from api.settings import get_settings
from common import formatting
from common.redaction import redact
from common.taxonomy import TaxonomyError, load_taxonomy
from common.texts import catalogue

logger = logging.getLogger(__name__)

FORM = "escalation_form"
START_ACTION = "action_start_escalation"

# The form's slots, in the order it asks (domain/tickets.yml).
DESCRIPTION = "ticket_description"
PRODUCT = "ticket_product"
CATEGORY = "ticket_category"
IMPACT = "ticket_impact"
URGENCY = "ticket_urgency"
COMMITTED_24X7 = "ticket_24x7"
STEPS_TRIED = "ticket_steps_tried"
CONFIRMED = "ticket_confirmed"
FORM_SLOTS = (
    DESCRIPTION,
    PRODUCT,
    CATEGORY,
    IMPACT,
    URGENCY,
    COMMITTED_24X7,
    STEPS_TRIED,
    CONFIRMED,
)
# Set by actions: the proposed category, the topic that started it, whether a
# Microsoft technical route exists (the 24x7 question is Microsoft's).
TRIAGE = "ticket_triage"
TOPIC = "ticket_topic"
MICROSOFT_ROUTE = "ticket_microsoft_route"
TICKET_SLOTS = (*FORM_SLOTS, TRIAGE, TOPIC, MICROSOFT_ROUTE)

OPEN_TICKETS = "open_tickets"
VIEW_TICKETS = "view_tickets"
YES, NO = "yes", "no"
NOT_SPECIFIED = "not specified"
NOTHING_TRIED = "nothing yet"

PRODUCT_ENTITY = "product"
TICKET_ID_ENTITY = "ticket_id"
IDENTIFIER_ENTITIES = ("invoice_number", "subscription_id", "order_id", "tenant_id")
CURRENT_INVOICE_SLOT = "current_invoice_number"

MIN_DESCRIPTION_WORDS = 3
MIN_DESCRIPTION_CHARS = 12
MAX_DESCRIPTION_CHARS = 2000
MAX_PRODUCT_CHARS = 100
MAX_STEPS_CHARS = 1000
MAX_SUMMARY_CHARS = 120
MAX_PRODUCT_BUTTONS = 6
MAX_LISTED_TICKETS = 5

# Words that answer the form's multiple-choice questions when typed, not tapped.
_WORDS = {
    "technical": r"technical|tech|technique|not working|doesn'?t work|broken|"
    r"outage|error|crash\w*|down|bug",
    "commercial": r"commercial|billing|bill|invoice|payment|pay|charge|refund|"
    r"subscription|licen[cs]e|price|pricing|credit",
    "critical": r"critical|stopped|down|outage|nobody can|no one can|everyone|"
    r"everybody|all users|whole company|can'?t work|high",
    "moderate": r"moderate|some|several|a few|partly|partial|slow|degraded|medium",
    "minimal": r"minimal|minor|inconvenien\w*|one user|just me|only me|cosmetic|"
    r"low|small",
    "now": r"now|immediately|asap|urgent|right away|can'?t wait|emergency",
    "today": r"today|this afternoon|this morning|by tonight|end of (?:the )?day",
    "later": r"later|wait|this week|next week|few days|no rush|not urgent|whenever"
    r"|tomorrow",
    "unknown": r"don'?t know|not sure|no idea|unknown|unsure|dunno",
    "nothing": r"nothing|none|not yet|no|haven'?t|have not|nope",
}
# "Please open a ticket", "can you raise a case for this".
TICKET_REQUEST = re.compile(
    r"\b(?:open|raise|file|log|create|submit|start|make)\b(?:\s+\w+){0,3}?\s+"
    r"(?:ticket|case|incident|support request)\b|\bticket,?\s+please\b",
    re.IGNORECASE,
)
# "Restarting didn't help", "we tried that", "still crashing".
ALREADY_TRIED = re.compile(
    r"\b(?:restart\w*|reboot\w*|reinstall\w*|tried|trying|signed out|logged out|"
    r"cleared)\b|(?:didn'?t|did not|doesn'?t|does not|won'?t)\s+(?:help|work|fix)|"
    r"\bstill\s+(?:not|crash\w*|fail\w*|broken|down|the same|happening)\b",
    re.IGNORECASE,
)
# A yes to "did that solve it?" that only says so; anything more ("yes, it's
# everyone in the office", "yes but it's still slow") is no solution.
SOLVED = re.compile(
    r"^\W*(?:(?:yes|yep|yeah|yup|ok|okay|sure|great|perfect|thanks?|thank you|"
    r"cheers|it'?s|it is|that|all|now|works?|working|solved|fixed|sorted|resolved|"
    r"helped|did it|it did|good|fine|again|all good)\W*)+$|"
    r"\b(?:solved|fixed|sorted|resolved|works now|working now|that helped|that did it)"
    r"\b",
    re.IGNORECASE,
)
NOT_SOLVED = re.compile(
    r"\b(?:still|not|no|isn'?t|doesn'?t|didn'?t|won'?t|can'?t|cannot|but|everyone|"
    r"everybody|all of us|whole|nobody|none of|again|crash\w*|error|down)\b",
    re.IGNORECASE,
)
EVERYONE = re.compile(
    r"\b(?:everyone|everybody|all of us|whole (?:office|company|team)|nobody|"
    r"none of us|all users|the office)\b",
    re.IGNORECASE,
)
SIGN_IN_WORDS = re.compile(
    r"password|sign[ -]?in|log[ -]?in|logon|locked out|account is locked|mfa|"
    r"can'?t (?:get|log) in|access",
    re.IGNORECASE,
)


def matches(kind: str, text: str) -> bool:
    return re.search(rf"(?<!\w)(?:{_WORDS[kind]})(?!\w)", text.lower()) is not None


def only(kinds: Iterable[str], text: str) -> Optional[str]:
    """The one kind whose words occur in `text`, or None if none or several do."""
    found = [kind for kind in kinds if matches(kind, text)]
    return found[0] if len(found) == 1 else None


def parse_category(
    value: Any, intent: Optional[str], proposal: Optional[str]
) -> Optional[str]:
    """`commercial` or `technical`: named, or a yes / no to the proposal."""
    if isinstance(value, str):
        named = only(("technical", "commercial"), value)
        if named is not None:
            return named
    if proposal in (TicketCategory.TECHNICAL.value, TicketCategory.COMMERCIAL.value):
        if intent == "affirm":
            return proposal
        if intent == "deny":
            return (
                TicketCategory.COMMERCIAL.value
                if proposal == TicketCategory.TECHNICAL.value
                else TicketCategory.TECHNICAL.value
            )
    return None


def parse_choice(value: Any, choices: Iterable[str]) -> Optional[str]:
    """One of `choices`, given as itself or in words."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    options = tuple(choices)
    if text in options:
        return text
    return only(options, text)


def proposed_severity(
    impact: Optional[str], urgency: Optional[str], committed_24x7: Optional[str]
) -> Optional[Severity]:
    """The severity the form proposes (None until impact and urgency are known)."""
    if impact not in IMPACTS or urgency not in URGENCIES:
        return None
    return escalation_policy().proposed_severity(
        impact, urgency, committed_24x7=committed_24x7 == YES
    )


def needs_24x7_answer(
    impact: Optional[str], urgency: Optional[str], microsoft_route: Any
) -> bool:
    """Only a ticket that can reach Microsoft's technical support asks whether the
    customer can work 24x7 (Microsoft's condition for Severity A)."""
    if microsoft_route is not True:
        return False
    if impact not in IMPACTS or urgency not in URGENCIES:
        return False
    return escalation_policy().needs_24x7_answer(impact, urgency)


def normalise_ticket_id(raw: str) -> Optional[str]:
    """`csp 123`, `CSP-000123` -> `CSP-000123`; None if it is not a ticket id."""
    match = re.fullmatch(r"\s*csp[\s-]*0*(\d{1,8})\s*", raw, re.IGNORECASE)
    if match is None:
        return None
    return f"CSP-{int(match.group(1)):06d}"


# --------------------------------------------------------------------------- tracker


@dataclass(frozen=True)
class Trigger:
    """The user message that started the escalation, as NLU read it."""

    intent: Optional[str]
    topic: Optional[str]
    triage: Optional[str]  # "commercial", "technical" or None (not known)
    text: str = ""


def escalation_trigger(tracker: Tracker) -> Trigger:
    """The problem the self-help tips answered, when the ticket follows them (a
    question answered in between, "how much do we owe?", is not the problem);
    otherwise the latest user message of this session whose topic is commercial or
    technical (common/taxonomy.yml). Yes / no and small talk are skipped."""
    taxonomy = load_taxonomy()
    helped = self_help_message(tracker)
    if helped is not None:
        # Of a message with two problems, the tips answered the technical one; a
        # short "ok now the Teams problem" took up that clause of an earlier one.
        clause = technical_clause(helped) or taken_up_clause(tracker, helped)
        if clause is not None:
            return Trigger(
                str(clause.get("intent")),
                str(clause.get("topic")),
                "technical",
                str(clause.get("text") or ""),
            )
    candidates = [helped] if helped is not None else []
    for event in [*candidates, *reversed(user_events(tracker))]:
        topic = topic_of(event)
        try:
            triage = taxonomy.triage_for_topic(topic) if topic else None
        except TaxonomyError:
            continue
        if triage in (TicketCategory.COMMERCIAL.value, TicketCategory.TECHNICAL.value):
            text = event.get("text") if isinstance(event.get("text"), str) else ""
            return Trigger(event_intent(event), topic, triage, text)
    return Trigger(None, None, None)


def technical_clause(event: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The technical matter of a message that raised several (bot/issues.py)."""
    for issue in (event.get("parse_data") or {}).get("issues") or []:
        if isinstance(issue, dict) and issue.get("triage") == "technical":
            return issue
    return None


def taken_up_clause(
    tracker: Tracker, event: dict[str, Any]
) -> Optional[dict[str, Any]]:
    """The technical clause of an earlier two-problem message that a short message
    took up ("ok now the Teams problem": the same product, or no product at all)."""
    text = str(event.get("text") or "")
    if len(text.split()) > PICK_MAX_WORDS:
        return None
    products = {
        str(e.get("value")).lower()
        for e in event_entities(event)
        if e.get("entity") == PRODUCT_ENTITY
    }
    for earlier in reversed(user_events(tracker)):
        if earlier is event:
            continue
        clause = technical_clause(earlier)
        if clause is None:
            continue
        words = str(clause.get("text") or "").lower()
        if not products or any(p in words for p in products):
            return clause
    return None


def self_help_message(tracker: Tracker) -> Optional[dict[str, Any]]:
    """The user message the latest self-help tips answered, unless a ticket was
    started or filed since (then that problem is dealt with)."""
    events = session_events(tracker)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") != "action":
            continue
        name = event.get("name")
        if name in ("action_file_ticket", "action_start_dispute"):
            return None
        if name == "action_technical_self_help":
            for earlier in reversed(events[:index]):
                if earlier.get("event") == "user":
                    return earlier
            return None
    return None


def problem_description(tracker: Tracker, trigger: Trigger) -> Optional[str]:
    """What the user already said about the problem, when it says enough."""
    text = " ".join(trigger.text.split())
    if (
        len(text) >= MIN_DESCRIPTION_CHARS
        and len(text.split()) >= MIN_DESCRIPTION_WORDS
    ):
        return text[:MAX_DESCRIPTION_CHARS]
    return None


def latest_product(tracker: Tracker) -> Optional[str]:
    """The product named most recently in this session (NLU's `product` entity)."""
    for event in reversed(user_events(tracker)):
        for entity in reversed(event_entities(event)):
            value = entity.get("value")
            named = isinstance(value, str) and value.strip()
            if entity.get("entity") == PRODUCT_ENTITY and named:
                return str(value).strip()[:MAX_PRODUCT_CHARS]
    return None


def known_identifiers(tracker: Tracker) -> dict[str, list[str]]:
    """Invoice numbers, subscription, order and tenant ids named in this session
    (NLU entities), plus the invoice the conversation is about."""
    found: dict[str, list[str]] = {}

    def add(kind: str, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            return
        cleaned = value.strip()
        if kind == "invoice_number":
            cleaned = re.sub(r"[\s-]", "", cleaned).upper()
        else:
            cleaned = cleaned.lower()
        values = found.setdefault(kind, [])
        if cleaned not in values:
            values.append(cleaned)

    for event in user_events(tracker):
        for entity in event_entities(event):
            if entity.get("entity") in IDENTIFIER_ENTITIES:
                add(str(entity["entity"]), entity.get("value"))
    add("invoice_number", tracker.get_slot(CURRENT_INVOICE_SLOT))
    return found


def transcript_excerpt(tracker: Tracker, turns: int) -> list[dict[str, str]]:
    """The last `turns` user and bot messages of this session, redacted."""
    excerpt: list[dict[str, str]] = []
    for event in session_events(tracker):
        kind = event.get("event")
        text = event.get("text")
        if kind not in ("user", "bot") or not isinstance(text, str) or not text:
            continue
        entry = {"role": str(kind), "text": redact(text)}
        metadata = event.get("metadata") or {}
        if kind == "bot" and isinstance(metadata, dict) and metadata.get("agent"):
            entry["role"] = "agent"
            entry["agent"] = str(metadata["agent"])
        excerpt.append(entry)
    return excerpt[-turns:]


def escalation_message_id(
    tracker: Tracker, start_action: str = START_ACTION
) -> Optional[str]:
    """The message id of the user message that started this escalation (the one
    `start_action` answered last, in this session); without one, the latest user
    message's. The same for every attempt to file the same form."""
    events = session_events(tracker)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "action" and event.get("name") == start_action:
            for earlier in reversed(events[:index]):
                if earlier.get("event") == "user":
                    return message_id(earlier)
            break
    return latest_user_message_id(tracker)


def idempotency_key(tracker: Tracker) -> str:
    """`chat:<sender id>:<message id of the message that started the escalation>`."""
    return f"chat:{tracker.sender_id}:{escalation_message_id(tracker) or 'none'}"


def reset_ticket_slots() -> list[EventType]:
    return [SlotSet(name, None) for name in TICKET_SLOTS]


# --------------------------------------------------------------------------- wording


def format_response_target(target: str, severity: Severity, lang: str) -> str:
    """`1 hour, around the clock` or `4 business hours` (routing.yml)."""
    hours = first_response(target, severity, lang)
    if routing_policy().response_targets[target][severity].business:
        return hours
    return catalogue(lang).text("ticket.response_around_the_clock", hours=hours)


def contact_of(partner: Partner) -> str:
    """`support@x.com or +1 425 555 0100`."""
    if partner.support_phone:
        return f"{partner.support_email} or {partner.support_phone}"
    return partner.support_email


def summary_of(product: Optional[str], description: str) -> str:
    first_line = " ".join(description.split())[:MAX_SUMMARY_CHARS]
    if product and product != NOT_SPECIFIED:
        return f"{product}: {first_line}"
    return first_line


def category_label(category: str, lang: str) -> str:
    return catalogue(lang).text(f"ticket.category.{category}")


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class RoutePreview:
    """Where a ticket would go, in the words the bot uses."""

    decision: RouteDecision
    held_programs: int

    def messages(
        self, partner: Partner, severity: Optional[Severity], lang: str
    ) -> list[dict[str, Any]]:
        """The responses that say where the ticket goes after the partner's desk."""
        decision = self.decision
        if decision.escalate_to is not None:
            values: dict[str, Any] = {
                "response": "utter_ticket_route_microsoft",
                "target_name": decision.escalate_to_name,
                "partner_name": partner.name,
            }
            if severity is not None:
                values.update(
                    response="utter_ticket_route_microsoft_target",
                    target_response=format_response_target(
                        decision.escalate_to, severity, lang
                    ),
                    severity=severity.value,
                )
            return [values]
        return [
            {
                "response": "utter_ticket_route_not_covered"
                if self.held_programs
                else "utter_ticket_route_none",
                "partner_name": partner.name,
                "partner_possessive": possessive(partner.name, lang),
                "product_class": decision.product_class.replace("_", "-"),
            }
        ]


def route_preview(
    session: Session,
    partner: Partner,
    *,
    category: TicketCategory,
    product: Optional[str],
    customer_id: Optional[int],
    now: datetime,
) -> RoutePreview:
    """What `create_ticket` will decide for this partner, category and product."""
    programs = set(partner.active_programs(now.date()))
    decision = route(
        category,
        product_kind=product_kind_for(
            session, product=product, customer_id=customer_id
        ),
        programs=programs,
    )
    return RoutePreview(decision=decision, held_programs=len(programs))


# --------------------------------------------------------------------------- who


def refusal_for(
    session: Session, tracker: Tracker, capability: str
) -> tuple[Optional[Chatter], Optional[Reply]]:
    """The chatter, or why they may not use `capability` (open or view tickets)."""
    identification = identify(session, tracker)
    chatter = identification.chatter
    lang = language_of(tracker)
    if chatter is None:
        if identification.problem == "utter_sign_in_needed":
            return None, Reply().say("utter_ticket_sign_in_needed")
        return None, Reply().say("utter_ticket_account_unknown")
    if not chatter.can(capability):
        roles = permission_table().roles_that_can(capability)
        return chatter, Reply().say(
            "utter_ticket_not_allowed",
            role=chatter.role_label,
            roles=formatting.join_words(roles, "or", lang),
        ).because(
            texts_for(tracker).text(
                "why.not_permitted",
                role=chatter.role_label,
                capability=permission_table().capabilities[capability],
            )
        )
    return chatter, None


def customer_named_in_session(
    session: Session, chatter: Chatter, tracker: Tracker
) -> Optional[Customer]:
    """For partner staff: the customer named in this message, or remembered from
    earlier in the conversation, or named in an earlier message of this session."""
    found = target_customer(session, chatter, tracker).customer
    if found is not None:
        return found
    for event in reversed(user_events(tracker)):
        copy = tracker.copy()
        copy.latest_message = {
            "text": event.get("text") or "",
            "entities": event_entities(event),
        }
        copy.slots[ACTING_FOR_SLOT] = None
        named = target_customer(session, chatter, copy)
        if named.customer is not None:
            return named.customer
    return None


def ticket_customer(
    session: Session, chatter: Chatter, tracker: Tracker
) -> Optional[Customer]:
    """The customer a ticket is about: a customer's own organisation; for partner
    staff, the customer they named or are talking about, if any (else the ticket is
    the partner's own)."""
    if not chatter.is_staff:
        return chatter.customer
    return customer_named_in_session(session, chatter, tracker)


def send(dispatcher: CollectingDispatcher, messages: Iterable[dict[str, Any]]) -> None:
    for message in messages:
        dispatcher.utter_message(**message)


# --------------------------------------------------------------------------- self-help


def suspension_explains(
    subscriptions: list[Subscription], product: Optional[str], text: str
) -> list[Subscription]:
    """The suspended subscriptions that explain a "can't use X" problem: users
    lose access to every service of a suspended subscription."""
    suspended = [s for s in subscriptions if s.status is SubscriptionStatus.SUSPENDED]
    if not suspended:
        return []
    if product is None:
        return suspended  # "none of our staff can get in": the suspension, surely
    policy = escalation_policy()
    family = policy.product_family(product)
    explaining = []
    for subscription in suspended:
        own = policy.product_family(subscription.product_name)
        if product.lower() in subscription.product_name.lower() or (
            family is not None and own is not None and family[0] == own[0]
        ):
            explaining.append(subscription)
    return explaining


class ActionTechnicalSelfHelp(Action):
    """A quick self-help answer for a technical problem, then "did that solve it?";
    but when a suspended subscription explains the problem, that is the answer."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_technical_self_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        product = first_entity(tracker, PRODUCT_ENTITY)
        suspended = await in_session(
            lambda session: self.suspension_answer(session, tracker, product),
            tracker,
            failed=None,
        )
        if suspended is not None:
            return suspended.send(dispatcher, tracker)
        if wants_ticket_now(tracker):
            # Tips again would ignore what they said: the ticket form, now.
            events = leave_form_for_picked_issue(dispatcher, tracker)
            return [*events, FollowupAction(START_ACTION)]
        answered = self_help(tracker, product).send(dispatcher, tracker)
        nothing: list[EventType] = []
        remembered = await in_session(
            lambda session: acting_for_named(session, tracker), tracker, failed=nothing
        )
        return [
            *remembered,
            *answered,
            *leave_form_for_picked_issue(dispatcher, tracker),
        ]

    def suspension_answer(
        self, session: Session, tracker: Tracker, product: Optional[str]
    ) -> Optional[Reply]:
        """The suspension explanation, if a suspended subscription of the
        customer's explains the problem (customers only: staff name a customer)."""
        from actions.access import suspension_reply

        chatter = identify(session, tracker).chatter
        if chatter is None:
            return None
        customer = chatter.customer
        if chatter.is_staff:
            # "Alpine Ski House users can't sign in": the customer named, or the
            # one the conversation is about, if their role may look.
            if not chatter.can(ACT_FOR_CUSTOMERS) or not chatter.can(
                "view_subscriptions"
            ):
                return None
            customer = target_customer(session, chatter, tracker).customer
        if customer is None:
            return None
        explaining = suspension_explains(
            subscriptions_of(session, customer_id=customer.id),
            product,
            latest_text(tracker),
        )
        if not explaining:
            return None
        now = self._clock()
        context = Context(
            session,
            tracker,
            chatter,
            customer,
            now,
            formatting.local_today(now, chatter.partner.timezone),
            language_of(tracker),
        )
        reply = suspension_reply(context, customer)
        if chatter.is_staff:
            reply.events.insert(0, SlotSet(ACTING_FOR_SLOT, str(customer.id)))
        return reply


def acting_for_named(session: Session, tracker: Tracker) -> list[EventType]:
    """Staff who name a customer with a technical problem ("Contoso's Outlook is
    down") go on talking about that customer: remember it, as every billing answer
    does ("ok now the invoice")."""
    chatter = identify(session, tracker).chatter
    if chatter is None or not chatter.is_staff or not chatter.can("act_for_customers"):
        return []
    target = target_customer(session, chatter, tracker)
    if target.customer is None or not target.named:
        return []
    return [SlotSet(ACTING_FOR_SLOT, str(target.customer.id))]


def wants_ticket_now(tracker: Tracker) -> bool:
    """An explicit ticket request from someone past the tips: the message says
    what they tried, or the tips were already given in this conversation."""
    text = latest_text(tracker)
    if TICKET_REQUEST.search(text) is None:
        return False
    return ALREADY_TRIED.search(text) is not None or tips_given_before(tracker)


def tips_given_before(tracker: Tracker) -> bool:
    """Whether self-help tips were given before the latest message."""
    events = session_events(tracker)
    last_user = max(
        (i for i, e in enumerate(events) if e.get("event") == "user"), default=-1
    )
    return any(
        e.get("event") == "action" and e.get("name") == "action_technical_self_help"
        for e in events[:last_user]
    )


def is_solved(text: str) -> bool:
    """Whether a yes to "did that solve it?" says only that it is solved."""
    cleaned = text.strip()
    if cleaned.startswith("/"):  # the "Yes, it's solved" button
        return True
    return SOLVED.search(cleaned) is not None and NOT_SOLVED.search(cleaned) is None


def leave_form_for_picked_issue(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[EventType]:
    """The user takes up the other problem of their message ("ok now the Teams
    problem") while a form about the first is open: leave that form, and offer
    the first problem again for afterwards (its own words, as a button)."""
    if not tracker.active_loop_name:
        return []
    picked = picked_issue(tracker)
    if picked is None:
        return []
    events: list[EventType] = [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]
    left = left_matter(tracker, picked)
    if left is not None:
        words = str(left["text"])
        dispatcher.utter_message(
            text=texts_for(tracker).text("issues.later", issue=words),
            buttons=[{"title": words[:60], "payload": words}],
        )
        events.append(SlotSet(PENDING_ISSUES_SLOT, [left]))
    else:
        events.append(SlotSet(PENDING_ISSUES_SLOT, None))
    return events


def left_matter(tracker: Tracker, picked: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The matter of the message that raised `picked` besides it (the one the
    form being left was about)."""
    for event in reversed(user_events(tracker)):
        issues = (event.get("parse_data") or {}).get("issues") or []
        texts = [str(i.get("text")) for i in issues if isinstance(i, dict)]
        if str(picked.get("text")) not in texts:
            continue
        for issue in issues:
            if isinstance(issue, dict) and issue.get("text") != picked.get("text"):
                return {
                    "text": str(issue.get("text")),
                    "intent": issue.get("intent"),
                    "topic": issue.get("topic"),
                }
    return None


def offer_pending_issue(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[EventType]:
    """After a solved problem, the other one the user raised with it, if any."""
    pending = [
        i
        for i in tracker.get_slot(PENDING_ISSUES_SLOT) or []
        if isinstance(i, dict) and i.get("text")
    ]
    if not pending:
        return []
    words = str(pending[0]["text"])
    dispatcher.utter_message(
        text=texts_for(tracker).text("issues.next_one", issue=words),
        buttons=[{"title": words[:60], "payload": words}],
    )
    return []


class ActionSelfHelpOutcome(Action):
    """A yes to "did that solve it?": glad, if it says only that; otherwise ("yes,
    it's everyone in the office") it is not solved, and a ticket is offered. An
    answer NLU did not understand that says it did not work ("tried all of that,
    didn't work") offers a ticket too; any other goes to the usual fallback."""

    def name(self) -> str:
        return "action_self_help_outcome"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = latest_text(tracker)
        if TICKET_REQUEST.search(text):  # "yes, please open a ticket for it"
            return [FollowupAction(START_ACTION)]
        unclear = latest_intent(tracker) == "nlu_fallback"
        if unclear and not (NOT_SOLVED.search(text) or ALREADY_TRIED.search(text)):
            return [FollowupAction("action_fallback")]  # "did you mean...?"
        if not unclear and is_solved(text):
            dispatcher.utter_message(response="utter_glad_it_helped")
            return offer_pending_issue(dispatcher, tracker)
        if EVERYONE.search(text):
            dispatcher.utter_message(response="utter_self_help_everyone")
        else:
            dispatcher.utter_message(response="utter_self_help_did_not_help")
        return [FollowupAction("action_offer_ticket")]


def self_help(tracker: Tracker, product: Optional[str]) -> Reply:
    """Quick checks for the product's family (or for signing in), then "did that
    solve it?"."""
    text = latest_text(tracker)
    family = escalation_policy().product_family(product) if product else None
    if SIGN_IN_WORDS.search(text) and not product:
        response = "utter_self_help_sign_in"
    elif family is not None:
        response = f"utter_self_help_{family[0]}"
    else:
        response = "utter_self_help_generic"
    product_name = (product or texts_for(tracker).text("ticket.the_service"))[
        :MAX_PRODUCT_CHARS
    ]
    return Reply().say(response, product=product_name).say("utter_ask_self_help_worked")


def unclear_choice(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """An answer that is none of the choices: a "yes (please)" says the user wants
    the ticket the form is already opening (it started right after "still broken"),
    anything else is asked again."""
    if latest_intent(tracker) == "affirm":
        product = tracker.get_slot(PRODUCT)
        dispatcher.utter_message(
            response="utter_ticket_opening",
            product=product
            if isinstance(product, str) and product != NOT_SPECIFIED
            else texts_for(tracker).text("ticket.the_service"),
        )
        return
    dispatcher.utter_message(response="utter_ticket_choice_unclear")


class ActionOfferTicket(Action):
    """Offer to open a ticket (or a person). Any flow may end with it: rules answer
    the yes (`action_start_escalation`) and the no."""

    def name(self) -> str:
        return "action_offer_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        answered = [
            name
            for name in actions_since_user(tracker)
            if name not in (self.name(), "action_self_help_outcome")
        ]
        if answered:
            # Offered again after answering another question (actions/base.py).
            product = latest_product(tracker) or texts_for(tracker).text(
                "ticket.the_service"
            )
            dispatcher.utter_message(
                response="utter_offer_ticket_again", product=product
            )
            return []
        helped = latest_intent(tracker) in ("deny", "report_technical_issue")
        if latest_intent(tracker) == "report_technical_issue":
            # "how do we fix it?", "will people lose their files?" after the
            # suspension was the answer: the suspension again, on what is asked.
            named = first_entity(tracker, PRODUCT_ENTITY)
            suspended = await in_session(
                lambda session: ActionTechnicalSelfHelp().suspension_answer(
                    session, tracker, named
                ),
                tracker,
                failed=None,
            )
            if suspended is not None:
                return suspended.send(dispatcher, tracker)
        if helped:
            # "nope, still crashing" after the tips: the ticket the tips offered
            # starts, as after "no" (data/rules/tickets.yml).
            dispatcher.utter_message(response="utter_self_help_did_not_help")
            return [FollowupAction(START_ACTION)]
        dispatcher.utter_message(response="utter_offer_ticket")
        return []


class ActionStartEscalation(Action):
    """Check that the chatter may open tickets, and pre-fill the ticket form from
    what the conversation already said."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return START_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = await in_session(
            lambda session: self._prepare(session, tracker),
            tracker,
            failed=Reply()
            .say("utter_ticket_unavailable")
            .with_events(FollowupAction("action_listen")),
        )
        send(dispatcher, reply.messages)
        return [*reset_ticket_slots(), *reply.events]

    def _prepare(self, session: Session, tracker: Tracker) -> Reply:
        chatter, refusal = refusal_for(session, tracker, OPEN_TICKETS)
        if refusal is not None or chatter is None:
            reply = refusal or Reply()
            # Do not open the form: wait for the user's next message instead.
            return reply.with_events(FollowupAction("action_listen"))
        trigger = escalation_trigger(tracker)
        product = latest_product(tracker)
        customer = ticket_customer(session, chatter, tracker)
        microsoft_route = False
        if trigger.triage is not None:
            preview = route_preview(
                session,
                chatter.partner,
                category=TicketCategory(trigger.triage),
                product=product,
                customer_id=customer.id if customer else None,
                now=self._clock(),
            )
            microsoft_route = (
                preview.decision.escalate_to is not None
                and trigger.triage == TicketCategory.TECHNICAL.value
            )
        technical = trigger.triage == TicketCategory.TECHNICAL.value
        events: list[EventType] = [
            SlotSet(TRIAGE, trigger.triage),
            SlotSet(TOPIC, trigger.topic),
            SlotSet(PRODUCT, product),
            SlotSet(DESCRIPTION, problem_description(tracker, trigger)),
            SlotSet(CATEGORY, trigger.triage),
            SlotSet(MICROSOFT_ROUTE, microsoft_route),
            # "nobody can work", "a few users": the impact, if the message says it
            SlotSet(IMPACT, parse_choice(trigger.text, IMPACTS) if technical else None),
        ]
        if chatter.is_staff and customer is not None:
            events.append(SlotSet(ACTING_FOR_SLOT, str(customer.id)))
        started_by = set(actions_since_user(tracker))
        if started_by & {"action_technical_self_help", "action_offer_ticket"}:
            # Started from the problem itself ("still crashing" after the tips),
            # not from a yes to the offer: no rule follows this action, so the form
            # is opened here.
            events.append(FollowupAction(FORM))
        if product:
            return (
                Reply()
                .say("utter_ticket_intro_product", product=product)
                .with_events(*events)
            )
        return Reply().say("utter_ticket_intro").with_events(*events)


class ValidateEscalationForm(FormValidation):
    """Validates the answers of `escalation_form`."""

    slots = FORM_SLOTS
    topics = frozenset({"technical_issue", "ticket_status"})
    yes_no = frozenset({COMMITTED_24X7, CONFIRMED})

    def name(self) -> str:
        return "validate_escalation_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Every field but the 24x7 question, which only a Severity A ticket that
        can reach Microsoft's technical support needs."""
        impact, urgency = tracker.get_slot(IMPACT), tracker.get_slot(URGENCY)
        route = tracker.get_slot(MICROSOFT_ROUTE)
        return [
            slot
            for slot in FORM_SLOTS
            if slot != COMMITTED_24X7 or needs_24x7_answer(impact, urgency, route)
        ]

    def answers(self, slot: str, text: str, tracker: Tracker) -> bool:
        if slot == PRODUCT:
            return bool(entity_values(tracker, PRODUCT_ENTITY)) or matches(
                "unknown", text
            )
        if slot == CATEGORY:
            # "No" to "I've classified this as technical. Is that right?" corrects
            # the proposal; it does not leave the form.
            proposal = tracker.get_slot(TRIAGE)
            return parse_category(text, latest_intent(tracker), proposal) is not None
        if slot == IMPACT:
            return parse_choice(text, IMPACTS) is not None
        if slot == URGENCY:
            return parse_choice(text, URGENCIES) is not None
        if slot == STEPS_TRIED:
            return latest_intent(tracker) == "deny" or matches("nothing", text)
        return False

    def extract(self, slot: str, tracker: Tracker) -> Any:
        if slot == PRODUCT:
            named = first_entity(tracker, PRODUCT_ENTITY)
            if named:
                return named[:MAX_PRODUCT_CHARS]
        if slot == CATEGORY:
            return parse_category(
                latest_text(tracker), latest_intent(tracker), tracker.get_slot(TRIAGE)
            ) or super().extract(slot, tracker)
        return super().extract(slot, tracker)

    def correction_for(self, slot: str, text: str, tracker: Tracker) -> Any:
        if slot == PRODUCT:
            return first_entity(tracker, PRODUCT_ENTITY)
        if slot == IMPACT:
            return parse_choice(text, IMPACTS)
        if slot == URGENCY:
            return parse_choice(text, URGENCIES)
        return None

    def validate_ticket_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if (
            len(text) < MIN_DESCRIPTION_CHARS
            or len(text.split()) < MIN_DESCRIPTION_WORDS
        ):
            dispatcher.utter_message(response="utter_ticket_description_too_short")
            return {DESCRIPTION: None}
        return {DESCRIPTION: text[:MAX_DESCRIPTION_CHARS]}

    def validate_ticket_product(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if text and matches("unknown", text):
            return {PRODUCT: NOT_SPECIFIED}
        if len(text) < 2 or len(text) > MAX_PRODUCT_CHARS:
            dispatcher.utter_message(response="utter_ticket_product_unclear")
            return {PRODUCT: None}
        return {PRODUCT: text}

    def validate_ticket_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        category = parse_category(value, None, None) or (
            value if value in ("technical", "commercial") else None
        )
        if category is None:
            dispatcher.utter_message(response="utter_ticket_category_unclear")
        return {CATEGORY: category}

    def validate_ticket_impact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        impact = parse_choice(value, IMPACTS)
        if impact is None:
            unclear_choice(dispatcher, tracker)
        return {IMPACT: impact}

    def validate_ticket_urgency(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        urgency = parse_choice(value, URGENCIES)
        if urgency is None:
            unclear_choice(dispatcher, tracker)
        return {URGENCY: urgency}

    def validate_ticket_24x7(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        return {COMMITTED_24X7: value if value in (YES, NO) else None}

    def validate_ticket_steps_tried(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        short = len(text.split()) <= 3
        if short and (latest_intent(tracker) == "deny" or matches("nothing", text)):
            return {STEPS_TRIED: NOTHING_TRIED}
        if len(text) < 2:
            dispatcher.utter_message(response="utter_ticket_steps_unclear")
            return {STEPS_TRIED: None}
        return {STEPS_TRIED: text[:MAX_STEPS_CHARS]}

    def validate_ticket_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        return {CONFIRMED: value if value in (YES, NO) else None}


class ActionAskTicketProduct(FormQuestion):
    """Which product: the customer's own subscriptions as buttons."""

    form = FORM
    slot = PRODUCT

    async def ask(self, tracker: Tracker) -> Reply:
        none: list[str] = []
        products = await in_session(
            lambda session: self._products(session, tracker), tracker, failed=none
        )
        buttons = [{"title": name, "payload": name} for name in products]
        buttons.append(
            {
                "title": texts_for(tracker).text("button.not_sure"),
                "payload": "I don't know",
            }
        )
        return Reply().say("utter_ask_ticket_product", buttons=buttons)

    @staticmethod
    def _products(session: Session, tracker: Tracker) -> list[str]:
        chatter = identify(session, tracker).chatter
        customer = chatter.customer if chatter is not None else None
        if customer is None:
            return []
        names: list[str] = []
        for subscription in customer.subscriptions:
            if subscription.status is SubscriptionStatus.CANCELLED:
                continue
            if subscription.product_name not in names:
                names.append(subscription.product_name)
        return names[:MAX_PRODUCT_BUTTONS]


class ActionAskTicketDescription(FormQuestion):
    form = FORM
    slot = DESCRIPTION


class ActionAskTicketImpact(FormQuestion):
    form = FORM
    slot = IMPACT


class ActionAskTicketUrgency(FormQuestion):
    form = FORM
    slot = URGENCY


class ActionAskTicket24x7(FormQuestion):
    form = FORM
    slot = COMMITTED_24X7


class ActionAskTicketStepsTried(FormQuestion):
    form = FORM
    slot = STEPS_TRIED


class ActionAskTicketCategory(FormQuestion):
    """Show how the issue was classified, and let the user correct it."""

    form = FORM
    slot = CATEGORY

    def question(self, tracker: Tracker) -> Reply:
        proposal = tracker.get_slot(TRIAGE)
        if proposal in ("technical", "commercial"):
            return Reply().say(
                "utter_ask_ticket_category_proposed",
                category_label=category_label(proposal, language_of(tracker)),
            )
        return Reply().say("utter_ask_ticket_category_open")


class ActionAskTicketConfirmed(FormQuestion):
    """Summarise the ticket, say where it would go, and ask to file it."""

    form = FORM
    slot = CONFIRMED

    async def ask(self, tracker: Tracker) -> Reply:
        lang = language_of(tracker)
        severity = proposed_severity(
            tracker.get_slot(IMPACT),
            tracker.get_slot(URGENCY),
            tracker.get_slot(COMMITTED_24X7),
        )
        category = tracker.get_slot(CATEGORY)
        if severity is None or category not in ("technical", "commercial"):
            return Reply().say("utter_ask_ticket_confirmed_plain")
        texts = texts_for(tracker)
        reply = Reply().say(
            "utter_ticket_summary",
            ticket_description=tracker.get_slot(DESCRIPTION),
            ticket_product=tracker.get_slot(PRODUCT),
            category_label=category_label(category, lang),
            impact_label=texts.text(f"ticket.impact.{tracker.get_slot(IMPACT)}"),
            urgency_label=texts.text(f"ticket.urgency.{tracker.get_slot(URGENCY)}"),
            severity=severity.value,
            severity_label=texts.text(f"ticket.severity.{severity.value}"),
            ticket_steps_tried=tracker.get_slot(STEPS_TRIED),
        )
        reply.messages += await in_session(
            lambda session: self._route(
                session, tracker, TicketCategory(category), severity
            ),
            tracker,
            failed=[],
        )
        return reply.say("utter_ask_ticket_confirmed")

    def _route(
        self,
        session: Session,
        tracker: Tracker,
        category: TicketCategory,
        severity: Severity,
    ) -> list[dict[str, Any]]:
        lang = language_of(tracker)
        chatter = identify(session, tracker).chatter
        if chatter is None:
            return []
        customer = ticket_customer(session, chatter, tracker)
        preview = route_preview(
            session,
            chatter.partner,
            category=category,
            product=tracker.get_slot(PRODUCT),
            customer_id=customer.id if customer else None,
            now=self._clock(),
        )
        return [
            {
                "response": "utter_ticket_first_stop_preview",
                "partner_possessive": possessive(chatter.partner.name, lang),
            },
            *preview.messages(chatter.partner, severity, lang),
        ]


class ActionFileTicket(Action):
    """File the ticket the form collected (or say it was not filed)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_file_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = [*reset_ticket_slots(), SlotSet(REQUESTED_SLOT, None)]
        if tracker.get_slot(CONFIRMED) != YES:
            dispatcher.utter_message(response="utter_ticket_cancelled")
            return events
        try:
            reply = await in_session(
                lambda session: self._file(session, tracker),
                tracker,
                failed=Reply().say("utter_ticket_unavailable"),
            )
        except TicketError:
            logger.exception("Filing a ticket failed in %s", tracker.sender_id)
            reply = Reply().say("utter_ticket_unavailable")
        send(dispatcher, reply.messages)
        return events

    def _file(self, session: Session, tracker: Tracker) -> Reply:
        lang = language_of(tracker)
        severity = proposed_severity(
            tracker.get_slot(IMPACT),
            tracker.get_slot(URGENCY),
            tracker.get_slot(COMMITTED_24X7),
        )
        category_value = tracker.get_slot(CATEGORY)
        description = tracker.get_slot(DESCRIPTION)
        if (
            severity is None
            or category_value not in ("technical", "commercial")
            or not isinstance(description, str)
        ):
            logger.warning("Ticket form incomplete in %s", tracker.sender_id)
            return Reply().say("utter_ticket_unavailable")
        category = TicketCategory(category_value)
        now = self._clock()
        chatter, refusal = refusal_for(session, tracker, OPEN_TICKETS)
        if refusal is not None or chatter is None:
            return refusal or Reply()
        customer = ticket_customer(session, chatter, tracker)
        product = tracker.get_slot(PRODUCT)
        product_name = (
            product if isinstance(product, str) and product != NOT_SPECIFIED else None
        )
        topic = tracker.get_slot(TOPIC)
        steps = tracker.get_slot(STEPS_TRIED)
        ticket, created = create_ticket(
            session,
            new=NewTicket(
                partner_id=chatter.partner.id,
                customer_id=customer.id if customer else None,
                requester=chatter.identity.requester,
                conversation_id=tracker.sender_id,
                category=category,
                topic=topic if topic_fits(topic, category) else category.value,
                summary=summary_of(product_name, description),
                description=redact(description),
                idempotency_key=idempotency_key(tracker),
                product=product_name,
                product_kind=product_kind_for(
                    session,
                    product=product_name,
                    customer_id=customer.id if customer else None,
                ),
                severity=severity,
                customer_24x7=tracker.get_slot(COMMITTED_24X7) == YES,
                identifiers=known_identifiers(tracker),
                transcript_excerpt=transcript_excerpt(
                    tracker, escalation_policy().transcript_turns
                ),
                steps_tried=[redact(steps)]
                if isinstance(steps, str) and steps != NOTHING_TRIED
                else [],
            ),
            today=now.date(),
        )
        if not created:
            logger.info(
                "Ticket %s already filed for this message in %s",
                ticket.public_id,
                tracker.sender_id,
            )
        return Reply(messages=filed_messages(ticket, chatter.partner, now, lang))


def topic_fits(topic: Any, category: TicketCategory) -> bool:
    """Whether the topic that started it belongs to the (possibly corrected)
    category."""
    if not isinstance(topic, str):
        return False
    try:
        return load_taxonomy().triage_for_topic(topic) == category.value
    except TaxonomyError:
        return False


def filed_messages(
    ticket: Ticket, partner: Partner, now: datetime, lang: str
) -> list[dict[str, Any]]:
    """What the bot says about a filed ticket: its id, where it goes, when."""
    texts = catalogue(lang)
    messages: list[dict[str, Any]] = [
        {
            "response": "utter_ticket_filed",
            "ticket_id": ticket.public_id,
            "severity": ticket.severity.value,
            "category": category_label(ticket.category.value, lang),
        },
        {
            "response": "utter_ticket_first_stop",
            "partner_possessive": possessive(partner.name, lang),
            "sla_due": formatting.format_moment(
                ticket.sla_due_at, partner.timezone, lang
            )
            if ticket.sla_due_at
            else texts.text("ticket.asap"),
        },
    ]
    routing = ticket.packet.get("routing") or {}
    if ticket.route != PARTNER_DESK:
        messages.append(
            {
                "response": "utter_ticket_route_microsoft_target",
                "partner_name": partner.name,
                "target_name": routing.get("escalate_to_name") or ticket.route,
                "target_response": format_response_target(
                    ticket.route, ticket.severity, lang
                ),
                "severity": ticket.severity.value,
            }
        )
    elif ticket.category is TicketCategory.TECHNICAL:
        held = partner.active_programs(now.date())
        messages.append(
            {
                "response": "utter_ticket_route_not_covered"
                if held
                else "utter_ticket_route_none",
                "partner_name": partner.name,
                "partner_possessive": possessive(partner.name, lang),
                "product_class": product_class(ticket),
            }
        )
    messages.append(
        {"response": "utter_ticket_keep_the_id", "ticket_id": ticket.public_id}
    )
    return messages


def product_class(ticket: Ticket) -> str:
    kind = ticket.packet.get("product_kind")
    policy = routing_policy()
    for product_kind, cls in policy.product_kinds.items():
        if product_kind.value == kind:
            return cls.replace("_", "-")
    return "cloud"


# --------------------------------------------------------------------------- status


class ActionTicketStatus(Action):
    """The status of the chatter's own tickets, or of the one they name."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        raw = first_entity(tracker, TICKET_ID_ENTITY)
        if raw is None:
            match = re.search(
                r"(?<!\w)csp[\s-]?\d{1,8}(?!\w)", latest_text(tracker), re.I
            )
            raw = match.group() if match else None
        reply = await in_session(
            lambda session: self._status(session, tracker, raw),
            tracker,
            failed=Reply().say("utter_ticket_unavailable"),
        )
        return reply.send(dispatcher, tracker)

    def _status(self, session: Session, tracker: Tracker, raw: Optional[str]) -> Reply:
        lang = language_of(tracker)
        chatter, refusal = refusal_for(session, tracker, VIEW_TICKETS)
        if refusal is not None or chatter is None:
            return refusal or Reply()
        requester = chatter.identity.requester
        tz_name = chatter.partner.timezone
        if raw is not None:
            public_id = normalise_ticket_id(raw)
            ticket = (
                ticket_by_public_id(session, public_id=public_id) if public_id else None
            )
            # Someone else's ticket and no ticket get the same answer.
            if ticket is None or ticket.requester != requester:
                return Reply().say(
                    "utter_ticket_not_found", ticket_id=public_id or raw[:20]
                )
            refresh_service_requests(session, [ticket])
            return Reply().say(
                "utter_ticket_status_one",
                ticket_lines=status_line(ticket, tz_name, lang),
            )
        tickets = tickets_of_requester(
            session, requester=requester, limit=MAX_LISTED_TICKETS
        )
        if not tickets:
            return Reply().say("utter_no_tickets")
        refresh_service_requests(session, tickets)
        return Reply().say(
            "utter_ticket_status_list",
            ticket_lines=formatting.bullet_list(
                [status_line(t, tz_name, lang) for t in tickets]
            ),
        )


SERVICE_REQUEST_MAX_AGE_SECONDS = 60
SERVICE_REQUEST_STATUSES = {"none", "open", "attention_needed", "closed"}


def refresh_service_requests(session: Session, tickets: Iterable[Ticket]) -> None:
    """Read again the Microsoft service request status of the tickets that have
    one (a short timeout; on failure the last status read is shown)."""
    settings = get_settings()
    for ticket in tickets:
        if ticket.microsoft_service_request_id:
            refresh_status(
                session,
                ticket,
                settings,
                max_age_seconds=SERVICE_REQUEST_MAX_AGE_SECONDS,
            )


def status_line(ticket: Ticket, tz_name: str, lang: str) -> str:
    """`CSP-000007 (Severity B, technical): Outlook: ... Status: ...`."""
    texts = catalogue(lang)
    status = texts.text(f"ticket.status.{ticket.status.value}")
    if ticket.status is TicketStatus.ESCALATED and ticket.microsoft_case_number:
        status = texts.text(
            "ticket.status.escalated_case", case=ticket.microsoft_case_number
        )
    if ticket.microsoft_service_request_id and ticket.status not in (
        TicketStatus.RESOLVED,
        TicketStatus.CLOSED,
    ):
        known = (ticket.microsoft_service_request_status or "").lower()
        status = texts.text(
            "ticket.status.service_request",
            request=ticket.microsoft_service_request_id,
            request_status=texts.text(
                "ticket.service_request."
                + (known if known in SERVICE_REQUEST_STATUSES else "unknown")
            ),
        )
    line = texts.text(
        "ticket.status_line",
        ticket_id=ticket.public_id,
        severity=ticket.severity.value,
        category=category_label(ticket.category.value, lang),
        summary=ticket.summary,
        status=status,
    )
    if ticket.status in (TicketStatus.NEW, TicketStatus.TRIAGED) and ticket.sla_due_at:
        line += " " + texts.text(
            "ticket.response_due",
            due=formatting.format_moment(ticket.sla_due_at, tz_name, lang),
        )
    return line


# --------------------------------------------------------------------------- Microsoft


class ActionEscalationRoute(BillingAction):
    """ "Can you escalate this to Microsoft?": this partner's route, or that it has
    none, and what happens with the chatter's request."""

    capability = "view_support_info"
    general_response = "utter_escalation_route_general"
    needs_customer = False

    def name(self) -> str:
        return "action_escalation_route"

    def answer(self, context: Context) -> Reply:
        partner = context.chatter.partner
        lang = context.lang
        programs = partner.active_programs(context.today)
        policy = routing_policy()
        technical = [
            policy.targets[name].name
            for name in policy.routes[TicketCategory.TECHNICAL]
            if policy.targets[name].program in programs
        ]
        values = {
            "partner_name": partner.name,
            "partner_possessive": possessive(partner.name, lang),
            "commercial_target": policy.targets[
                policy.routes[TicketCategory.COMMERCIAL][0]
            ].name,
            "contact": contact_of(partner),
        }
        reply = Reply()
        if context.is_staff:
            reply.say("utter_escalation_route_staff", **values)
        else:
            reply.say("utter_escalation_route_first_stop", **values)
        if technical:
            reply.say(
                "utter_escalation_route_technical",
                programs=context.join(technical),
                **values,
            )
        else:
            reply.say("utter_escalation_route_no_technical", **values).because(
                context.t("why.no_microsoft_route", partner_name=partner.name)
            )
        reply.say("utter_escalation_route_commercial", **values)
        return reply.say("utter_offer_ticket_short")


__all__ = [
    "ActionAskTicketCategory",
    "ActionAskTicketConfirmed",
    "ActionAskTicketProduct",
    "ActionEscalationRoute",
    "ActionFileTicket",
    "ActionOfferTicket",
    "ActionSelfHelpOutcome",
    "ActionStartEscalation",
    "ActionTechnicalSelfHelp",
    "ActionTicketStatus",
    "ValidateEscalationForm",
    "customer_named_in_session",
    "idempotency_key",
    "reset_ticket_slots",
    "session_events",
]
