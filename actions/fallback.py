"""Two-stage fallback: what the bot does when NLU is unsure (`nlu_fallback`).

1. The first time: "did you mean ...?" with the two best-ranked intents as buttons,
   titled in words a user understands (`intent_title.<intent>` in the text
   catalogue), or a plain "please rephrase" when NLU has no candidate.
2. When the user's previous message was not understood either: say so and offer a
   person or a ticket (`action_offer_ticket`, whose yes / no / "talk to a person"
   answers have their own rules).

A button's payload is the intent itself (`/ask_invoice`), with the entities NLU
found in the unclear message, so that choosing it answers what was asked.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import (
    ABOUT_THE_FLOW,
    ANSWER_QUESTIONS,
    ANSWERABLE_INTENTS,
    language_of,
    wants_every_answer,
)
from actions.refunds import ActionCancellationAlternatives, wants_alternatives
from actions.tracker import session_events
from common.taxonomy import FALLBACK_INTENT, TaxonomyError, load_taxonomy
from common.texts import DEFAULT_LANGUAGE, catalogue

# The intents a suggestion may offer, each titled in the catalogue
# (`intent_title.<intent>`, in words a user understands). Intents left out (small
# talk, out of scope) are never suggested.
SUGGESTED_INTENTS = (
    "ask_invoice",
    "ask_microsoft_invoice",
    "explain_charges",
    "dispute_charge",
    "ask_payment_status",
    "update_billing_details",
    "ask_payment_methods",
    "report_payment_failed",
    "request_refund",
    "ask_credit_note",
    "cancel_subscription",
    "change_seats",
    "ask_subscription",
    "access_suspended",
    "ask_support_info",
    "escalate_to_microsoft",
    "report_technical_issue",
    "ask_ticket_status",
    "request_human",
)


def intent_title(intent: str, lang: str = DEFAULT_LANGUAGE) -> str:
    return catalogue(lang).text(f"intent_title.{intent}")


SUGGESTIONS = 2
MIN_SUGGESTION_CONFIDENCE = 0.05
OFFER_ACTION = "action_offer_ticket"


def suggestions(parse: dict[str, Any], count: int = SUGGESTIONS) -> list[str]:
    """The best-ranked intents that have a title, at most `count`."""
    found: list[str] = []
    for ranked in parse.get("intent_ranking") or []:
        name = ranked.get("name")
        confidence = ranked.get("confidence") or 0.0
        if (
            name in SUGGESTED_INTENTS
            and name not in found
            and confidence >= MIN_SUGGESTION_CONFIDENCE
        ):
            found.append(name)
        if len(found) == count:
            break
    return found


def payload_for(intent: str, parse: dict[str, Any]) -> str:
    """`/intent` plus the entities of the unclear message, as Rasa parses buttons."""
    entities: dict[str, str] = {}
    for entity in parse.get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if isinstance(name, str) and isinstance(value, str) and name not in entities:
            entities[name] = value
    return f"/{intent}{json.dumps(entities)}" if entities else f"/{intent}"


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many of the latest user messages of this session were not understood."""
    count = 0
    for event in reversed(session_events(tracker)):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != FALLBACK_INTENT:
            break
        count += 1
    return count


FOLLOW_UP_INTENT = "follow_up"
FOLLOW_UP_ACTION = "action_follow_up"


# "how do we fix it?", "is that normal?": a message that leans on the answer just
# given.
POINTS_BACK = re.compile(
    r"\b(?:it|that|this|they|them)\b|^\W*(?:and|what about|how about|same)\b",
    re.IGNORECASE,
)


def maybe_follow_up(parse: dict[str, Any]) -> bool:
    """Whether an unclear message may be a follow-up: "and the support pricing?"
    (follow_up one of its two best intents) or "how do we fix it?" (it points back
    at the answer just given)."""
    if POINTS_BACK.search(str(parse.get("text") or "")):
        return True
    ranking = parse.get("intent_ranking") or []
    return any(
        ranked.get("name") == FOLLOW_UP_INTENT
        and (ranked.get("confidence") or 0.0) >= MIN_FOLLOW_UP_CONFIDENCE
        for ranked in ranking[:2]
    )


MIN_FOLLOW_UP_CONFIDENCE = 0.3


def alike_answers(parse: dict[str, Any]) -> Optional[str]:
    """The best intent, when NLU hesitated between two questions of one topic that
    are answered from the same data (e.g. an invoice and whether it is paid): the
    answer to either says what the other would; None otherwise."""
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name")]
    ranking = [r for r in ranking if r.get("name") != FALLBACK_INTENT][:2]
    if len(ranking) < 2:
        return None
    first, second = (str(r["name"]) for r in ranking)
    if not {first, second} <= ANSWERABLE_INTENTS - ABOUT_THE_FLOW:
        return None
    try:
        taxonomy = load_taxonomy()
        same = taxonomy.topic_for_intent(first) == taxonomy.topic_for_intent(second)
    except (TaxonomyError, KeyError):
        return None
    return first if same else None


class ActionFallback(Action):
    """Suggest what the user may have meant; the second time, offer help. A message
    that may follow up the answer just given goes to `action_follow_up`, which
    comes back here (with `follow_up=False`) when there is nothing to follow."""

    def __init__(self, follow_up: bool = True) -> None:
        self._follow_up = follow_up

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if wants_every_answer(tracker):  # several questions: each is answered
            return [FollowupAction(ANSWER_QUESTIONS)]
        if wants_alternatives(tracker):
            # "Is there anything else I can do?" right after a refused cancellation.
            return await ActionCancellationAlternatives().run(
                dispatcher, tracker, domain
            )
        if self._follow_up and maybe_follow_up(tracker.latest_message or {}):
            return [FollowupAction(FOLLOW_UP_ACTION)]
        alike = alike_answers(tracker.latest_message or {})
        if alike is not None:
            # "what did we pay two months ago?" between ask_invoice and
            # ask_payment_status: both answers show that invoice, so give the best.
            from actions.questions import ANSWERS  # the topic actions' module

            events = await ANSWERS[alike]().run(dispatcher, tracker, domain)
            return [e for e in events if e.get("event") != "followup"]
        if fallbacks_in_a_row(tracker) >= 2:
            dispatcher.utter_message(response="utter_fallback_still_unclear")
            return [FollowupAction(OFFER_ACTION)]
        parse = tracker.latest_message or {}
        intents = suggestions(parse)
        if not intents:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        dispatcher.utter_message(
            response="utter_fallback_suggest",
            buttons=[
                {
                    "title": intent_title(intent, language_of(tracker)),
                    "payload": payload_for(intent, parse),
                }
                for intent in intents
            ],
        )
        return []
