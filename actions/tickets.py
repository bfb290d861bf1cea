"""Escalation tickets: the technical self-help answer, the ticket form, filing the
ticket routed to the right support tier, and the status of the chatter's tickets.

The conversation (rules in data/rules/tickets.yml):

1. `report_technical_issue` -> `action_technical_self_help`: a quick check for the
   product, then "did that solve it?". Any other flow can offer a ticket by running
   `action_offer_ticket` (rules answer its yes / no).
2. "No" -> `action_start_escalation` checks that the chatter may open tickets,
   proposes commercial or technical from the intent that started it
   (common/taxonomy.yml) and pre-fills what is known (the product named) ->
   `escalation_form` asks for a description, the product, confirms the category,
   impact and urgency (-> a proposed severity, api/domain/policies/escalation.yml; Sev A only
   after the customer commits to 24x7 work), the steps already tried, and a final
   confirmation. `validate_escalation_form` explains a field after two failures.
3. `action_file_ticket` files it (idempotent on sender id + the id of the message
   that started the escalation, so a retried message, a re-run action or a
   confirmation repeated after the action server failed never makes a second
   ticket), and says the ticket id, where it goes and when the first response is due.

Who is chatting comes from `actions.identity.identify` (the signed chat token);
entities and text never identify anyone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.identity import Chatter, identify, target_customer
from api.domain.db import session_scope
from api.domain.models import (
    Customer,
    Partner,
    Severity,
    SubscriptionStatus,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from api.domain.services.permissions import permission_table
from api.domain.services.routing import (
    PARTNER_DESK,
    RouteDecision,
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
from common.redaction import redact
from common.taxonomy import TaxonomyError, load_taxonomy

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
# Set by actions: the proposed category, the topic that started it, failure counts.
TRIAGE = "ticket_triage"
TOPIC = "ticket_topic"
FAILURES = "ticket_validation_failures"
TICKET_SLOTS = (*FORM_SLOTS, TRIAGE, TOPIC, FAILURES)

OPEN_TICKETS = "open_tickets"
VIEW_TICKETS = "view_tickets"
MAX_VALIDATION_FAILURES = 2  # then the field is explained
YES, NO = "yes", "no"
NOT_SPECIFIED = "not specified"
NOTHING_TRIED = "nothing yet"

PRODUCT_ENTITY = "product"
TICKET_ID_ENTITY = "ticket_id"
IDENTIFIER_ENTITIES = ("invoice_number", "subscription_id", "order_id", "tenant_id")
CURRENT_INVOICE_SLOT = "current_invoice_number"  # set by actions/invoices.py

MIN_DESCRIPTION_WORDS = 3
MIN_DESCRIPTION_CHARS = 12
MAX_DESCRIPTION_CHARS = 2000
MAX_PRODUCT_CHARS = 100
MAX_STEPS_CHARS = 1000
MAX_SUMMARY_CHARS = 120
MAX_ECHOED_CHARS = 30
MAX_PRODUCT_BUTTONS = 6
MAX_LISTED_TICKETS = 5

CATEGORY_LABELS = {
    TicketCategory.TECHNICAL.value: (
        "technical: a product or service that doesn't work"
    ),
    TicketCategory.COMMERCIAL.value: (
        "commercial: billing, payments, subscriptions or licensing"
    ),
}
IMPACT_LABELS = {
    "critical": "critical: work has stopped",
    "moderate": "moderate: some people or features are affected",
    "minimal": "minimal: an inconvenience",
}
URGENCY_LABELS = {
    "now": "it can't wait",
    "today": "it must be fixed today",
    "later": "it can wait a few days",
}
STATUS_WORDS = {
    TicketStatus.NEW: "received, not picked up yet",
    TicketStatus.TRIAGED: "being worked on by the support desk",
    TicketStatus.ESCALATED: "escalated to Microsoft",
    TicketStatus.WAITING_ON_CUSTOMER: "waiting for your reply",
    TicketStatus.RESOLVED: "resolved",
    TicketStatus.CLOSED: "closed",
}

# Words that answer the form's multiple-choice questions when typed, not tapped.
_WORDS = {
    "technical": r"technical|tech|technique|not working|doesn'?t work|broken|"
    r"outage|error|crash|down|bug",
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
    YES: r"yes|yeah|yep|sure|ok|okay|correct|right|confirm\w*|file it|go ahead|"
    r"of course|definitely|that'?s right",
    NO: r"no|nope|nah|not really|cancel|stop|don'?t|do not|wrong|never ?mind",
    "unknown": r"don'?t know|not sure|no idea|unknown|unsure|dunno",
    "nothing": r"nothing|none|not yet|no|haven'?t|have not|nope",
}
AFFIRM_INTENT, DENY_INTENT = "affirm", "deny"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _matches(kind: str, text: str) -> bool:
    return re.search(rf"(?<!\w)(?:{_WORDS[kind]})(?!\w)", text.lower()) is not None


def _only(kinds: Iterable[str], text: str) -> Optional[str]:
    """The one kind whose words occur in `text`, or None if none or several do."""
    found = [kind for kind in kinds if _matches(kind, text)]
    return found[0] if len(found) == 1 else None


def latest_intent(tracker: Tracker) -> Optional[str]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text")
    return text if isinstance(text, str) else ""


# --------------------------------------------------------------------------- parsing


def parse_yes_no(value: Any, intent: Optional[str]) -> Optional[str]:
    """`yes`, `no` or None, from a mapped value, the intent or the words."""
    if value in (YES, NO):
        return str(value)
    if intent == AFFIRM_INTENT:
        return YES
    if intent == DENY_INTENT:
        return NO
    if isinstance(value, str):
        return _only((YES, NO), value)
    return None


def parse_category(
    value: Any, intent: Optional[str], proposal: Optional[str]
) -> Optional[str]:
    """`commercial` or `technical`: named, or a yes / no to the proposal."""
    if isinstance(value, str):
        named = _only(("technical", "commercial"), value)
        if named is not None:
            return named
    answer = parse_yes_no(value, intent)
    if proposal in CATEGORY_LABELS and answer is not None:
        if answer == YES:
            return proposal
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
    return _only(options, text)


def proposed_severity(
    impact: Optional[str], urgency: Optional[str], committed_24x7: Optional[str]
) -> Optional[Severity]:
    """The severity the form proposes (None until impact and urgency are known)."""
    if impact not in IMPACTS or urgency not in URGENCIES:
        return None
    return escalation_policy().proposed_severity(
        impact,
        urgency,
        committed_24x7=committed_24x7 == YES,
    )


def needs_24x7_answer(impact: Optional[str], urgency: Optional[str]) -> bool:
    if impact not in IMPACTS or urgency not in URGENCIES:
        return False
    return escalation_policy().needs_24x7_answer(
        impact,
        urgency,
    )


def normalise_ticket_id(raw: str) -> Optional[str]:
    """`csp 123`, `CSP-000123` -> `CSP-000123`; None if it is not a ticket id."""
    match = re.fullmatch(r"\s*csp[\s-]*0*(\d{1,8})\s*", raw, re.IGNORECASE)
    if match is None:
        return None
    return f"CSP-{int(match.group(1)):06d}"


# --------------------------------------------------------------------------- tracker


def session_events(tracker: Tracker) -> list[dict[str, Any]]:
    """The events of the current conversation session (after a restart or start)."""
    events = list(tracker.events or [])
    start = 0
    for index, event in enumerate(events):
        if event.get("event") in ("session_started", "restart"):
            start = index + 1
    return events[start:]


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [e for e in session_events(tracker) if e.get("event") == "user"]


@dataclass(frozen=True)
class Trigger:
    """The user message that started the escalation, as NLU read it."""

    intent: Optional[str]
    topic: Optional[str]
    triage: Optional[str]  # "commercial", "technical" or None (not known)


def escalation_trigger(tracker: Tracker) -> Trigger:
    """The latest user message of this session whose topic is commercial or
    technical (common/taxonomy.yml); for an `nlu_fallback`, its best-ranked real
    intent decides. Yes / no and small talk are skipped."""
    taxonomy = load_taxonomy()
    for event in reversed(_user_events(tracker)):
        parse = event.get("parse_data") or {}
        try:
            topic = taxonomy.topic_for_parse(parse, use_runner_up=True)
            triage = taxonomy.triage_for_topic(topic)
        except TaxonomyError:
            continue
        if triage in (TicketCategory.COMMERCIAL.value, TicketCategory.TECHNICAL.value):
            intent = (parse.get("intent") or {}).get("name")
            return Trigger(intent=intent, topic=topic, triage=triage)
    return Trigger(intent=None, topic=None, triage=None)


def _entities(event: dict[str, Any]) -> list[dict[str, Any]]:
    parse = event.get("parse_data") or {}
    entities = parse.get("entities") or []
    return [e for e in entities if isinstance(e, dict)]


def latest_product(tracker: Tracker) -> Optional[str]:
    """The product named most recently in this session (NLU's `product` entity)."""
    for event in reversed(_user_events(tracker)):
        for entity in reversed(_entities(event)):
            value = entity.get("value")
            if (
                entity.get("entity") == PRODUCT_ENTITY
                and isinstance(value, str)
                and value.strip()
            ):
                return value.strip()[:MAX_PRODUCT_CHARS]
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

    for event in _user_events(tracker):
        for entity in _entities(event):
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


def _message_id(event: dict[str, Any]) -> Optional[str]:
    message_id = event.get("message_id")
    if message_id:
        return str(message_id)
    timestamp = event.get("timestamp")
    return f"t{timestamp}" if timestamp is not None else None


def latest_user_message_id(tracker: Tracker) -> Optional[str]:
    """The message id Rasa gave the latest user message (what a redelivery keeps)."""
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "user":
            return _message_id(event)
    return None


def escalation_message_id(tracker: Tracker) -> Optional[str]:
    """The message id of the user message that started this escalation (the one
    `action_start_escalation` answered, in this session); without one, the latest
    user message's.

    The same for every attempt to file the same form: a confirmation answered
    again after the action server was down or slow (bot/action_guard.py reopens the
    form) finds the ticket a slow first attempt may have filed after all.
    """
    events = session_events(tracker)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "action" and event.get("name") == START_ACTION:
            for earlier in reversed(events[:index]):
                if earlier.get("event") == "user":
                    return _message_id(earlier)
            break
    return latest_user_message_id(tracker)


def idempotency_key(tracker: Tracker) -> str:
    """`chat:<sender id>:<message id of the message that started the escalation>`."""
    return f"chat:{tracker.sender_id}:{escalation_message_id(tracker) or 'none'}"


def reset_ticket_slots() -> list[EventType]:
    return [SlotSet(name, None) for name in TICKET_SLOTS]


# --------------------------------------------------------------------------- wording


def format_due(moment: datetime, tz_name: str) -> str:
    """`Monday 16 November 2026 at 10:00 PST` in the partner's time zone."""
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} {local.tzname()}"


def format_response_target(target: str, severity: Severity) -> str:
    """`1 hour, around the clock` or `4 business hours` (routing.yml)."""
    response = routing_policy().response_targets[target][severity]
    hours = response.hours
    amount = f"{int(hours)}" if float(hours).is_integer() else f"{hours:g}"
    unit = "hour" if hours == 1 else "hours"
    if response.business:
        return f"{amount} business {unit}"
    return f"{amount} {unit}, around the clock"


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


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class RoutePreview:
    """Where a ticket would go, in the words the bot uses."""

    decision: RouteDecision
    held_programs: int

    def messages(self, partner: Partner, severity: Severity) -> list[dict[str, Any]]:
        """The responses that say where the ticket goes after the partner's desk."""
        decision = self.decision
        if decision.escalate_to is not None:
            return [
                {
                    "response": "utter_ticket_route_microsoft",
                    "target_name": decision.escalate_to_name,
                    "target_response": format_response_target(
                        decision.escalate_to, severity
                    ),
                    "severity": severity.value,
                }
            ]
        name = (
            "utter_ticket_route_not_covered"
            if self.held_programs
            else "utter_ticket_route_none"
        )
        return [
            {
                "response": name,
                "partner_name": partner.name,
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


@dataclass(frozen=True)
class Refusal:
    """Why this chatter cannot use a ticket feature: responses to send."""

    messages: list[dict[str, Any]]


def refusal_for(
    session: Session, tracker: Tracker, capability: str
) -> tuple[Optional[Chatter], Optional[Refusal]]:
    """The chatter, or why they may not use `capability` (open or view tickets)."""
    identification = identify(session, tracker)
    chatter = identification.chatter
    if chatter is None:
        if identification.problem == "utter_sign_in_needed":
            return None, Refusal([{"response": "utter_ticket_sign_in_needed"}])
        return None, Refusal([{"response": "utter_ticket_account_unknown"}])
    if not chatter.can(capability):
        roles = permission_table().roles_that_can(capability)
        return chatter, Refusal(
            [
                {
                    "response": "utter_ticket_not_allowed",
                    "role": chatter.role_label,
                    "roles": ", ".join(roles),
                }
            ]
        )
    return chatter, None


def ticket_customer(
    session: Session, chatter: Chatter, tracker: Tracker
) -> Optional[Customer]:
    """The customer a ticket is about: a customer's own organisation; for partner
    staff, the customer they named or were talking about, if any (else the ticket
    is the partner's own)."""
    if not chatter.is_staff:
        return chatter.customer
    return target_customer(session, chatter, tracker).customer


def _send(dispatcher: CollectingDispatcher, messages: Iterable[dict[str, Any]]) -> None:
    for message in messages:
        dispatcher.utter_message(**message)


# --------------------------------------------------------------------------- actions


class ActionTechnicalSelfHelp(Action):
    """A quick self-help answer for a technical problem, then "did that solve it?"."""

    def name(self) -> str:
        return "action_technical_self_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        product = None
        for value in tracker.get_latest_entity_values(PRODUCT_ENTITY):
            if isinstance(value, str) and value.strip():
                product = value.strip()[:MAX_PRODUCT_CHARS]
                break
        text = latest_text(tracker).lower()
        family = escalation_policy().product_family(product) if product else None
        if re.search(
            r"password|sign[ -]?in|log[ -]?in|logon|locked out|account is locked|mfa",
            text,
        ):
            response = "utter_self_help_sign_in"
        elif family is not None:
            response = f"utter_self_help_{family[0]}"
        else:
            response = "utter_self_help_generic"
        dispatcher.utter_message(response=response, product=product or "the service")
        dispatcher.utter_message(response="utter_ask_self_help_worked")
        return []


class ActionOfferTicket(Action):
    """Offer to open a ticket (or a person). Any flow may end with it: rules answer
    the yes (`action_start_escalation`) and the no."""

    def name(self) -> str:
        return "action_offer_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_offer_ticket")
        return []


class ActionStartEscalation(Action):
    """Check that the chatter may open tickets, and prepare the ticket form."""

    def name(self) -> str:
        return START_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            refusal = await asyncio.to_thread(self._refusal, tracker)
        except SQLAlchemyError:
            logger.exception("Ticket check failed in %s", tracker.sender_id)
            refusal = Refusal([{"response": "utter_ticket_unavailable"}])
        events = reset_ticket_slots()
        if refusal is not None:
            _send(dispatcher, refusal.messages)
            # Do not open the form: wait for the user's next message instead.
            return [*events, FollowupAction("action_listen")]
        trigger = escalation_trigger(tracker)
        dispatcher.utter_message(response="utter_ticket_intro")
        events += [
            SlotSet(TRIAGE, trigger.triage),
            SlotSet(TOPIC, trigger.topic),
            SlotSet(PRODUCT, latest_product(tracker)),
        ]
        return events

    @staticmethod
    def _refusal(tracker: Tracker) -> Optional[Refusal]:
        with session_scope() as session:
            _chatter, refusal = refusal_for(session, tracker, OPEN_TICKETS)
            return refusal


class RepeatedFailuresFormValidation(FormValidationAction):
    """A form validation that counts failed answers per slot and, after
    `MAX_VALIDATION_FAILURES` in a row, explains the field (`explain_<slot>`, by
    default the response `utter_explain_<slot>`). The count lives in the
    `ticket_validation_failures` slot. `name()` stays abstract, so the SDK does not
    register this class as an action (financial-demo's pattern)."""

    failures_slot = FAILURES

    @abstractmethod
    def name(self) -> str:
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        answered = requested is not None and requested in tracker.slots_to_validate()
        failures = dict(tracker.get_slot(self.failures_slot) or {})
        events = await super().run(dispatcher, tracker, domain)
        if not answered:
            return events
        failed = any(
            event.get("event") == "slot"
            and event.get("name") == requested
            and event.get("value") is None
            for event in events
        )
        count = int(failures.get(requested, 0)) + 1 if failed else 0
        if count >= MAX_VALIDATION_FAILURES:
            self.explain(requested, dispatcher, tracker)
            count = 0
        failures[requested] = count
        return [*events, SlotSet(self.failures_slot, failures)]

    def explain(
        self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> None:
        explain = getattr(self, f"explain_{slot}", None)
        if callable(explain):
            explain(dispatcher, tracker)
        else:
            dispatcher.utter_message(response=f"utter_explain_{slot}")


class ValidateEscalationForm(RepeatedFailuresFormValidation):
    """Validates the answers of `escalation_form`."""

    def name(self) -> str:
        return "validate_escalation_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Every field but the 24x7 question, which only Sev A needs."""
        impact, urgency = tracker.get_slot(IMPACT), tracker.get_slot(URGENCY)
        return [
            slot
            for slot in FORM_SLOTS
            if slot != COMMITTED_24X7 or needs_24x7_answer(impact, urgency)
        ]

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
        if text and _matches("unknown", text):
            return {PRODUCT: NOT_SPECIFIED}
        if len(text) < 2 or len(text) > MAX_PRODUCT_CHARS:
            dispatcher.utter_message(response="utter_ticket_product_unclear")
            return {PRODUCT: None}
        return {PRODUCT: text}

    def validate_ticket_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        category = parse_category(
            value, latest_intent(tracker), tracker.get_slot(TRIAGE)
        )
        if category is None:
            dispatcher.utter_message(response="utter_ticket_category_unclear")
        return {CATEGORY: category}

    def validate_ticket_impact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        impact = parse_choice(value, IMPACTS)
        if impact is None:
            dispatcher.utter_message(response="utter_ticket_choice_unclear")
        return {IMPACT: impact}

    def validate_ticket_urgency(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        urgency = parse_choice(value, URGENCIES)
        if urgency is None:
            dispatcher.utter_message(response="utter_ticket_choice_unclear")
        return {URGENCY: urgency}

    def validate_ticket_24x7(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        answer = parse_yes_no(value, latest_intent(tracker))
        if answer is None:
            dispatcher.utter_message(response="utter_ticket_yes_no_unclear")
        return {COMMITTED_24X7: answer}

    def validate_ticket_steps_tried(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        short = len(text.split()) <= 3
        if short and (
            latest_intent(tracker) == DENY_INTENT or _matches("nothing", text)
        ):
            return {STEPS_TRIED: NOTHING_TRIED}
        if len(text) < 2:
            dispatcher.utter_message(response="utter_ticket_steps_unclear")
            return {STEPS_TRIED: None}
        return {STEPS_TRIED: text[:MAX_STEPS_CHARS]}

    def validate_ticket_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        answer = parse_yes_no(value, latest_intent(tracker))
        if answer is None:
            dispatcher.utter_message(response="utter_ticket_yes_no_unclear")
        return {CONFIRMED: answer}


class ActionAskTicketProduct(Action):
    """Ask which product: the customer's own subscriptions as buttons."""

    def name(self) -> str:
        return "action_ask_ticket_product"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            products = await asyncio.to_thread(self._products, tracker)
        except SQLAlchemyError:
            logger.exception("Product lookup failed in %s", tracker.sender_id)
            products = []
        buttons = [{"title": name, "payload": name} for name in products]
        buttons.append({"title": "I'm not sure", "payload": "I don't know"})
        dispatcher.utter_message(response="utter_ask_ticket_product", buttons=buttons)
        return []

    @staticmethod
    def _products(tracker: Tracker) -> list[str]:
        with session_scope() as session:
            identification = identify(session, tracker)
            chatter = identification.chatter
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


class ActionAskTicketCategory(Action):
    """Show how the issue was classified, and let the user correct it."""

    def name(self) -> str:
        return "action_ask_ticket_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        proposal = tracker.get_slot(TRIAGE)
        if proposal in CATEGORY_LABELS:
            dispatcher.utter_message(
                response="utter_ask_ticket_category_proposed",
                category_label=CATEGORY_LABELS[proposal],
            )
        else:
            dispatcher.utter_message(response="utter_ask_ticket_category_open")
        return []


class ActionAskTicketConfirmed(Action):
    """Summarise the ticket, say where it would go, and ask to file it."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_ask_ticket_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        severity = proposed_severity(
            tracker.get_slot(IMPACT),
            tracker.get_slot(URGENCY),
            tracker.get_slot(COMMITTED_24X7),
        )
        category = tracker.get_slot(CATEGORY)
        if severity is None or category not in CATEGORY_LABELS:
            dispatcher.utter_message(response="utter_ask_ticket_confirmed_plain")
            return []
        try:
            route_messages = await asyncio.to_thread(
                self._route_messages, tracker, TicketCategory(category), severity
            )
        except SQLAlchemyError:
            logger.exception("Route preview failed in %s", tracker.sender_id)
            route_messages = []
        dispatcher.utter_message(
            response="utter_ticket_summary",
            ticket_description=tracker.get_slot(DESCRIPTION),
            ticket_product=tracker.get_slot(PRODUCT),
            category_label=CATEGORY_LABELS[category],
            impact_label=IMPACT_LABELS.get(str(tracker.get_slot(IMPACT)), ""),
            urgency_label=URGENCY_LABELS.get(str(tracker.get_slot(URGENCY)), ""),
            severity=severity.value,
            ticket_steps_tried=tracker.get_slot(STEPS_TRIED),
        )
        _send(dispatcher, route_messages)
        dispatcher.utter_message(response="utter_ask_ticket_confirmed")
        return []

    def _route_messages(
        self, tracker: Tracker, category: TicketCategory, severity: Severity
    ) -> list[dict[str, Any]]:
        with session_scope() as session:
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
                    "partner_name": chatter.partner.name,
                },
                *preview.messages(chatter.partner, severity),
            ]


@dataclass
class Filing:
    """What filing said: responses to send."""

    messages: list[dict[str, Any]]
    public_id: Optional[str] = None


class ActionFileTicket(Action):
    """File the ticket the form collected (or say it was cancelled)."""

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
            filing = await asyncio.to_thread(self._file, tracker)
        except (SQLAlchemyError, TicketError):
            logger.exception("Filing a ticket failed in %s", tracker.sender_id)
            filing = Filing([{"response": "utter_ticket_unavailable"}])
        _send(dispatcher, filing.messages)
        return events

    def _file(self, tracker: Tracker) -> Filing:
        severity = proposed_severity(
            tracker.get_slot(IMPACT),
            tracker.get_slot(URGENCY),
            tracker.get_slot(COMMITTED_24X7),
        )
        category_value = tracker.get_slot(CATEGORY)
        description = tracker.get_slot(DESCRIPTION)
        if (
            severity is None
            or category_value not in CATEGORY_LABELS
            or not isinstance(description, str)
        ):
            logger.warning("Ticket form incomplete in %s", tracker.sender_id)
            return Filing([{"response": "utter_ticket_unavailable"}])
        category = TicketCategory(category_value)
        now = self._clock()
        with session_scope() as session:
            chatter, refusal = refusal_for(session, tracker, OPEN_TICKETS)
            if refusal is not None or chatter is None:
                return Filing(refusal.messages if refusal else [])
            customer = ticket_customer(session, chatter, tracker)
            product = tracker.get_slot(PRODUCT)
            product_name = (
                product
                if isinstance(product, str) and product != NOT_SPECIFIED
                else None
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
                    topic=topic if _topic_fits(topic, category) else category.value,
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
            return Filing(
                filed_messages(ticket, chatter.partner, now.date()), ticket.public_id
            )


def _topic_fits(topic: Any, category: TicketCategory) -> bool:
    """Whether the topic that started it belongs to the (possibly corrected)
    category."""
    if not isinstance(topic, str):
        return False
    try:
        return load_taxonomy().triage_for_topic(topic) == category.value
    except TaxonomyError:
        return False


def filed_messages(
    ticket: Ticket, partner: Partner, today: date
) -> list[dict[str, Any]]:
    """What the bot says about a filed ticket: its id, where it goes, when."""
    messages: list[dict[str, Any]] = [
        {
            "response": "utter_ticket_filed",
            "ticket_id": ticket.public_id,
            "severity": ticket.severity.value,
            "category": ticket.category.value,
        },
        {
            "response": "utter_ticket_first_stop",
            "partner_name": partner.name,
            "sla_due": format_due(ticket.sla_due_at, partner.timezone)
            if ticket.sla_due_at
            else "as soon as possible",
        },
    ]
    routing = ticket.packet.get("routing") or {}
    if ticket.route != PARTNER_DESK:
        messages.append(
            {
                "response": "utter_ticket_route_microsoft",
                "target_name": routing.get("escalate_to_name") or ticket.route,
                "target_response": format_response_target(
                    ticket.route, ticket.severity
                ),
                "severity": ticket.severity.value,
            }
        )
    else:
        held = partner.active_programs(today)
        messages.append(
            {
                "response": "utter_ticket_route_not_covered"
                if held
                else "utter_ticket_route_none",
                "partner_name": partner.name,
                "product_class": _product_class(ticket),
            }
        )
    messages.append(
        {"response": "utter_ticket_keep_the_id", "ticket_id": ticket.public_id}
    )
    return messages


def _product_class(ticket: Ticket) -> str:
    kind = ticket.packet.get("product_kind")
    policy = routing_policy()
    for product_kind, product_class in policy.product_kinds.items():
        if product_kind.value == kind:
            return product_class.replace("_", "-")
    return "cloud"


class ActionTicketStatus(Action):
    """The status of the chatter's own tickets, or of the one they name."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        raw = None
        for value in tracker.get_latest_entity_values(TICKET_ID_ENTITY):
            if isinstance(value, str) and value.strip():
                raw = value.strip()
                break
        if raw is None:
            match = re.search(
                r"(?<!\w)csp[\s-]?\d{1,8}(?!\w)", latest_text(tracker), re.I
            )
            raw = match.group() if match else None
        try:
            messages = await asyncio.to_thread(self._status, tracker, raw)
        except SQLAlchemyError:
            logger.exception("Ticket status failed in %s", tracker.sender_id)
            messages = [{"response": "utter_ticket_unavailable"}]
        _send(dispatcher, messages)
        return []

    def _status(self, tracker: Tracker, raw: Optional[str]) -> list[dict[str, Any]]:
        with session_scope() as session:
            chatter, refusal = refusal_for(session, tracker, VIEW_TICKETS)
            if refusal is not None or chatter is None:
                return refusal.messages if refusal else []
            requester = chatter.identity.requester
            timezone_name = chatter.partner.timezone
            if raw is not None:
                public_id = normalise_ticket_id(raw)
                ticket = (
                    ticket_by_public_id(session, public_id=public_id)
                    if public_id
                    else None
                )
                # Someone else's ticket and no ticket get the same answer.
                if ticket is None or ticket.requester != requester:
                    return [
                        {
                            "response": "utter_ticket_not_found",
                            "ticket_id": raw[:MAX_ECHOED_CHARS],
                        }
                    ]
                return [
                    {
                        "response": "utter_ticket_status_one",
                        "ticket_lines": status_line(ticket, timezone_name),
                    }
                ]
            tickets = tickets_of_requester(
                session, requester=requester, limit=MAX_LISTED_TICKETS
            )
            if not tickets:
                return [{"response": "utter_no_tickets"}]
            return [
                {
                    "response": "utter_ticket_status_list",
                    "ticket_lines": "\n".join(
                        status_line(t, timezone_name) for t in tickets
                    ),
                }
            ]


def status_line(ticket: Ticket, tz_name: str) -> str:
    """`- CSP-000007 (Severity B, technical): Outlook: ... Status: ...`."""
    status = STATUS_WORDS.get(ticket.status, ticket.status.value)
    if ticket.status is TicketStatus.ESCALATED and ticket.microsoft_case_number:
        status += f" (Microsoft case {ticket.microsoft_case_number})"
    line = (
        f"- {ticket.public_id} (Severity {ticket.severity.value}, "
        f"{ticket.category.value}): {ticket.summary}. Status: {status}."
    )
    if ticket.status in (TicketStatus.NEW, TicketStatus.TRIAGED) and ticket.sla_due_at:
        line += f" First response due by {format_due(ticket.sla_due_at, tz_name)}."
    return line
