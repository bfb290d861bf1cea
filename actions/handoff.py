"""Human handoff: the bot tells the user a person will reply, tells the partner's
desk, and pauses itself for this conversation.

`action_handoff` runs when the user asks for a person (`request_human`, typed or a
"Talk to a person" button after a failed answer or a failed fallback). It:

1. tells the user that a person from the partner's desk will reply here, with the
   desk's support hours and contact details, so that nobody is left without an
   answer when no one is online. When the partner's hours (its profile's
   schedule) say the desk is closed, it says so and when it opens. The message
   carries `{"handoff": "waiting", "desk_open", "opens_at", "ticket"}` for the web
   chat widget, which shows a "waiting for a person" banner and, while the desk
   is closed, offers a ticket instead (docs/channels.md);
2. announces the conversation on the partner's Teams and Slack channels, where
   configured (`api/domain/services/notify.py`; failures are logged, never shown);
3. records the partner in the `handoff_partner_id` slot (the API checks an agent
   against it), opens a hand-off record (the dashboard's live inbox, with the topic
   and triage of what the user asked, and the Slack message and Teams thread of the
   notice, whose replies reach the customer), and returns `ConversationPaused()`:
   Rasa keeps the user's messages but answers none until an agent hands back
   (`api/domain/services/handoff.py`). The review dashboard shows the period between
   the pause and the resume as a handoff.

A chatter who is not signed in is not paused: no desk is known to answer them, so
the bot says how to reach a person instead. A form in progress (a ticket, a
dispute, a cancellation request) is left, its answers forgotten, as with "stop".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional
from urllib.parse import quote, urlencode

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.base import language_of, possessive
from actions.conversation import leave_form
from actions.identity import Chatter, identify
from actions.tickets import contact_of
from actions.tracker import session_events
from api.domain.db import session_scope
from api.domain.models import Handoff, utcnow
from api.domain.services.handoff import (
    HANDOFF_PARTNER_SLOT,
    desk_hours,
    open_handoff,
    waiting_payload,
)
from api.domain.services.notify import HandoffNotice, NotifyResult, notify_handoff
from api.domain.services.webhooks import HandoffStart, emit_handoff_started
from api.settings import get_settings
from common.formatting import format_moment
from common.redaction import redact
from common.taxonomy import TaxonomyError, load_taxonomy

logger = logging.getLogger(__name__)

# Topics whose messages say nothing about the problem ("talk to a person", "yes").
UNINFORMATIVE_TOPICS = frozenset({"human_agent", "smalltalk"})
# Actions after which asking for a person means "that did not help".
ANSWERS_THAT_OFFER_HELP = frozenset(
    {"action_technical_self_help", "action_offer_ticket"}
)
MAX_NOTICE_TEXT = 300
# The channel whose client can offer "Open a ticket instead" (the widget).
WEB_CHAT = "socketio"

Notifier = Callable[..., list[NotifyResult]]
Clock = Callable[[], datetime]


@dataclass
class HandoffPlan:
    """What the handoff says and whom it tells (read inside the DB session)."""

    messages: list[dict[str, Any]]
    partner_id: Optional[int] = None
    handoff_id: Optional[int] = None
    teams_webhook: Optional[str] = None
    slack_channel: Optional[str] = None
    teams_channel: Optional[str] = None
    notice: Optional[HandoffNotice] = None


def last_informative_message(tracker: Tracker) -> str:
    """The user's latest message that is about their problem, redacted."""
    taxonomy = load_taxonomy()
    latest = ""
    for event in reversed(session_events(tracker)):
        if event.get("event") != "user":
            continue
        text = event.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        latest = latest or text
        try:
            topic = taxonomy.topic_for_parse(
                event.get("parse_data") or {}, use_runner_up=True
            )
        except TaxonomyError:
            topic = None
        if topic not in UNINFORMATIVE_TOPICS:
            return redact(text)[:MAX_NOTICE_TEXT]
    return redact(latest)[:MAX_NOTICE_TEXT]


def handoff_topic(tracker: Tracker) -> Optional[str]:
    """The topic of what the user last asked about (not "a person", not small
    talk), for the agents' inbox; None when they asked nothing else."""
    taxonomy = load_taxonomy()
    for event in reversed(session_events(tracker)):
        if event.get("event") != "user":
            continue
        try:
            topic = taxonomy.topic_for_parse(
                event.get("parse_data") or {}, use_runner_up=True
            )
        except TaxonomyError:
            continue
        if topic not in UNINFORMATIVE_TOPICS:
            return topic
    return None


def handoff_reason(tracker: Tracker) -> str:
    """Why the bot hands over, in words for the desk."""
    previous = [
        event.get("name")
        for event in reversed(session_events(tracker))
        if event.get("event") == "action"
        and event.get("name") not in ("action_listen", "action_handoff")
    ][:2]
    if previous == ["action_offer_ticket", "action_fallback"]:
        return "The assistant did not understand the user twice; they chose a person."
    if previous[:1] == ["action_fallback"]:
        return "The assistant did not understand the user; they asked for a person."
    if previous[:1] and previous[0] in ANSWERS_THAT_OFFER_HELP:
        return "The assistant's answer did not help; the user chose a person."
    return "The user asked to talk to a person."


def requester_label(chatter: Chatter) -> str:
    identity = chatter.identity
    who = identity.name or identity.email or identity.subject
    if chatter.partner_user is not None:
        return f"{chatter.partner_user.name} ({chatter.role_label}, {chatter.partner.name})"
    customer = chatter.customer.name if chatter.customer else "a customer"
    return f"{who} at {customer}"


def dashboard_url(partner_id: int) -> str:
    query = urlencode({"outcome": "handed_off", "partner_id": partner_id})
    return f"{get_settings().base_url}/dashboard/conversations?{query}"


def reply_url(conversation_id: str) -> str:
    return (
        f"{get_settings().base_url}/api/v1/handoff/"
        f"{quote(conversation_id, safe='')}/messages"
    )


def _message_key(tracker: Tracker) -> Optional[str]:
    """The id of the user message that asked for a person, if there is one."""
    message_id = (tracker.latest_message or {}).get("message_id")
    if not message_id:
        users = [e for e in tracker.events if e.get("event") == "user"]
        message_id = users[-1].get("message_id") if users else None
    return str(message_id) if message_id else None


class ActionHandoff(Action):
    """Hand the conversation to a person at the partner's desk, and pause."""

    def __init__(
        self, notifier: Notifier = notify_handoff, clock: Clock = utcnow
    ) -> None:
        self._notifier = notifier
        self._clock = clock

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # Leave a form in progress and forget its answers, as "stop" does (the
        # rules say `active_loop: null` either way).
        form = tracker.active_loop_name
        events: list[EventType] = leave_form(form) if form else [ActiveLoop(None)]
        try:
            plan = await asyncio.to_thread(self._plan, tracker)
        except SQLAlchemyError:
            logger.exception("Handoff lookup failed in %s", tracker.sender_id)
            plan = HandoffPlan([{"response": "utter_handoff_unavailable"}])
        for message in plan.messages:
            dispatcher.utter_message(**message)
        if plan.partner_id is None:
            return events
        if plan.notice is not None and (
            plan.teams_webhook or plan.slack_channel or plan.teams_channel
        ):
            try:
                results = await asyncio.to_thread(
                    self._notifier,
                    plan.notice,
                    teams_webhook=plan.teams_webhook,
                    slack_channel=plan.slack_channel,
                    teams_channel=plan.teams_channel,
                )
                if plan.handoff_id is not None:
                    await asyncio.to_thread(
                        self._remember_threads, plan.handoff_id, results
                    )
            except Exception:  # a notification never breaks the chat
                logger.exception("Handoff notification failed in %s", tracker.sender_id)
        return [
            *events,
            SlotSet(HANDOFF_PARTNER_SLOT, str(plan.partner_id)),
            ConversationPaused(),
        ]

    @staticmethod
    def _remember_threads(handoff_id: int, results: list[NotifyResult]) -> None:
        """Keep where the notice was posted: replies in those threads reach the
        customer, and the customer's next messages are posted there."""
        with session_scope() as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                return
            for result in results or []:
                if not result.ok or not result.thread:
                    continue
                if result.target == "slack":
                    handoff.slack_channel = result.channel
                    handoff.slack_thread_ts = result.thread
                elif result.target == "teams_channel":
                    handoff.teams_thread_id = result.thread

    def _plan(self, tracker: Tracker) -> HandoffPlan:
        with session_scope() as session:
            identification = identify(session, tracker)
            chatter = identification.chatter
            if chatter is None:
                return HandoffPlan([{"response": "utter_handoff_unidentified"}])
            partner = chatter.partner
            notice = HandoffNotice(
                partner_name=partner.name,
                conversation_id=tracker.sender_id,
                requester=requester_label(chatter),
                reason=handoff_reason(tracker),
                last_message=last_informative_message(tracker),
                channel=tracker.get_latest_input_channel() or "",
                dashboard_url=dashboard_url(partner.id),
                reply_url=reply_url(tracker.sender_id),
                facts={"Tenant": chatter.customer.tenant_id}
                if chatter.customer
                else {},
            )
            topic = handoff_topic(tracker)
            handoff = open_handoff(
                session,
                conversation_id=tracker.sender_id,
                partner_id=partner.id,
                customer_id=chatter.customer.id if chatter.customer else None,
                requester=notice.requester,
                requester_key=chatter.identity.requester,
                reason=notice.reason,
                topic=topic,
                triage=load_taxonomy().topic_triage.get(topic) if topic else None,
                last_message=notice.last_message,
                channel=notice.channel,
            )
            # The desk's helpdesk hears of it in this transaction (the outbox);
            # a retried action for the same message adds no second event.
            emit_handoff_started(
                session,
                HandoffStart(
                    conversation_id=tracker.sender_id,
                    channel=notice.channel,
                    partner=partner,
                    customer=chatter.customer,
                    requester=notice.requester,
                    reason=notice.reason,
                    last_message=notice.last_message,
                    dashboard_url=notice.dashboard_url,
                    reply_url=notice.reply_url,
                    message_key=_message_key(tracker),
                ),
            )
            lang = language_of(tracker)
            hours = desk_hours(partner, self._clock())
            values: dict[str, Any] = {
                "partner_name": partner.name,
                "partner_possessive": possessive(partner.name, lang),
                "support_hours": partner.support_hours,
                "contact": contact_of(partner),
            }
            if hours.open:
                message = {"response": "utter_handoff", **values}
            elif hours.opens_at is not None:
                opens = format_moment(hours.opens_at, partner.timezone or "UTC", lang)
                message = {"response": "utter_handoff_closed", "opens": opens, **values}
            else:
                message = {"response": "utter_handoff_closed_unknown", **values}
            message["json_message"] = waiting_payload(
                hours, ticket=notice.channel == WEB_CHAT
            )
            return HandoffPlan(
                handoff_id=handoff.id,
                messages=[message],
                partner_id=partner.id,
                teams_webhook=partner.teams_channel_webhook,
                slack_channel=partner.slack_channel_id,
                teams_channel=partner.teams_channel_id,
                notice=notice,
            )
