"""Follow-ups that keep the question and change one thing: "and for Alpine Ski
House?", "same for Adventure Works", "what about last quarter?", "and Business
Central?".

`action_follow_up` runs the answer the conversation last gave again, on the
follow-up message: that message's entities (a customer, a period, a product, an
invoice) replace the earlier ones, and everything else (who is chatting, the
permissions, the customer remembered) works as for any question. A follow-up with
nothing to follow (or after an answer that cannot be asked again, such as a form's
question) gets the two-stage fallback's answer.
"""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.access import ActionAccessSuspended
from actions.charges import ActionExplainCharges
from actions.fallback import ActionFallback
from actions.invoices import ActionCreditNotes, ActionInvoiceLookup
from actions.microsoft_invoices import ActionMicrosoftInvoice
from actions.payments import (
    ActionPaymentFailed,
    ActionPaymentMethods,
    ActionPaymentStatus,
)
from actions.refunds import POSSIBLE_SLOT, ActionCancellationOptions
from actions.subscriptions import ActionSubscriptions
from actions.support import ActionSupportInfo
from actions.tickets import (
    ActionEscalationRoute,
    ActionTechnicalSelfHelp,
    ActionTicketStatus,
)
from actions.tracker import LISTEN, session_events

FOLLOW_UP = "action_follow_up"
CANCELLATION_FORM = "cancellation_form"

# The answers a follow-up may ask again, by action name.
REPEATABLE: dict[str, type[Action]] = {
    cls().name(): cls
    for cls in (
        ActionInvoiceLookup,
        ActionCreditNotes,
        ActionPaymentStatus,
        ActionPaymentMethods,
        ActionPaymentFailed,
        ActionExplainCharges,
        ActionSubscriptions,
        ActionCancellationOptions,
        ActionAccessSuspended,
        ActionSupportInfo,
        ActionEscalationRoute,
        ActionTicketStatus,
        ActionTechnicalSelfHelp,
        ActionMicrosoftInvoice,
    )
}
# Actions that run on every turn or only ask: they are not the answer followed.
NOT_ANSWERS = frozenset(
    {LISTEN, FOLLOW_UP, "action_session_start", "action_answer_questions"}
)


# What a follow-up keeps from the question it follows when it does not say it again:
# "what's the support pricing?" then "and for Teams problems?" still asks the price.
CARRIED_ENTITIES = ("aspect", "billing_period", "product")


def followed_message(tracker: Tracker, action_name: str) -> Optional[dict[str, Any]]:
    """The user message the answer `action_name` (the one followed) answered."""
    events = session_events(tracker)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "action" and event.get("name") == action_name:
            for earlier in reversed(events[:index]):
                if earlier.get("event") == "user":
                    return earlier
            return None
    return None


def with_carried_entities(tracker: Tracker, earlier: dict[str, Any]) -> Tracker:
    """`tracker` whose latest message also holds the entities of `earlier` that it
    does not name again (of the kinds in CARRIED_ENTITIES)."""
    state = tracker.current_state()
    latest = dict(state.get("latest_message") or {})
    entities = list(latest.get("entities") or [])
    named = {e.get("entity") for e in entities}
    earlier_entities = (earlier.get("parse_data") or {}).get("entities") or []
    carried = [
        {**e, "carried": True}
        for e in earlier_entities
        if e.get("entity") in CARRIED_ENTITIES and e.get("entity") not in named
    ]
    if not carried:
        return tracker
    latest["entities"] = entities + carried
    state["latest_message"] = latest
    return Tracker.from_dict(state)


def answer_followed(tracker: Tracker) -> Optional[str]:
    """The latest answer before this message that a follow-up can ask again, as
    long as nothing else answered after it (a follow-up of a follow-up follows
    the same answer)."""
    seen_user = False
    for event in reversed(session_events(tracker)):
        kind = event.get("event")
        if kind == "user":
            seen_user = True
            continue
        if not seen_user or kind != "action":
            continue
        name = str(event.get("name"))
        if name in NOT_ANSWERS or name == "action_extract_slots":
            continue
        return name if name in REPEATABLE else None
    return None


class ActionFollowUp(Action):
    def name(self) -> str:
        return FOLLOW_UP

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        followed = answer_followed(tracker)
        if followed is None:
            return await ActionFallback(follow_up=False).run(
                dispatcher, tracker, domain
            )
        earlier = followed_message(tracker, followed)
        if earlier is not None:
            tracker = with_carried_entities(tracker, earlier)
        events = await REPEATABLE[followed]().run(dispatcher, tracker, domain)
        if followed == ActionCancellationOptions().name() and any(
            e.get("event") == "slot"
            and e.get("name") == POSSIBLE_SLOT
            and e.get("value") is True
            for e in events
        ):
            # As after the options asked directly: the request form starts.
            events.append(FollowupAction(CANCELLATION_FORM))
        return events
