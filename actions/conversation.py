"""The conversation itself: leaving a request ("stop"), "why?", what the bot can do,
and a chatter who is unhappy with it.

- `action_stop` leaves the form in progress (nothing is filed) or, outside a form,
  just acknowledges.
- `action_explain_why` answers "why?": inside a form, why it asks its question; after
  an answer that refused or could not help, the reason that answer gave
  (`last_reason`, set by `Reply.because()`).
- `action_capabilities` says what the desk can do, for customers or for staff.
- `action_complaint` apologises and offers a person.
- `action_unsupported_language` answers a message in a language the desk does not
  speak (bot/language.py sets the intent `unsupported_language` and the message's
  `language`): which languages the desk speaks, inviting the user to write in one of
  them, in the message's language where its catalogue has that text, else in English.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.base import LAST_REASON_SLOT, texts_for
from actions.disputes import DISPUTE_SLOTS
from actions.forms import FAILURES_SLOT
from actions.identity import chat_identity
from actions.refunds import (
    POSSIBLE_SLOT,
    ActionCancellationAlternatives,
    wants_alternatives,
)
from actions.refunds import SLOTS as CANCELLATION_SLOTS
from actions.tickets import TICKET_SLOTS
from actions.tracker import latest_message
from common.formatting import language_names
from common.texts import DEFAULT_LANGUAGE, catalogue, desk_languages

# What each form forgets when it is left.
FORM_SLOTS: dict[str, tuple[str, ...]] = {
    "cancellation_form": (*CANCELLATION_SLOTS, POSSIBLE_SLOT),
    "escalation_form": TICKET_SLOTS,
    "dispute_form": DISPUTE_SLOTS,
}


def leave_form(form: str) -> list[EventType]:
    """The events that leave `form` and forget its answers (stop, or a person)."""
    slots: Any = FORM_SLOTS.get(form, ())
    return [
        ActiveLoop(None),
        SlotSet(REQUESTED_SLOT, None),
        SlotSet(FAILURES_SLOT, None),
        *(SlotSet(slot, None) for slot in slots),
    ]


class ActionStop(Action):
    """ "Stop", "never mind", "cancel that": leave the form; nothing is filed."""

    def name(self) -> str:
        return "action_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        form = tracker.active_loop_name
        if not form:
            dispatcher.utter_message(response="utter_stopped_nothing")
            return []
        dispatcher.utter_message(response=f"utter_stopped_{form}")
        return leave_form(form)


def reason_just_given(tracker: Tracker) -> bool:
    """Whether the answer just before the latest message gave a reason (inside a
    form: another product answered there, "why not?" is about that answer)."""
    users = 0
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                return False
            continue
        if (
            users == 1
            and event.get("event") == "slot"
            and event.get("name") == LAST_REASON_SLOT
            and event.get("value")
        ):
            return True
    return False


class ActionExplainWhy(Action):
    """ "Why?" / "why not?": the reason of the last answer, or why a form asks."""

    def name(self) -> str:
        return "action_explain_why"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        reason = tracker.get_slot(LAST_REASON_SLOT)
        if tracker.active_loop_name and requested and not reason_just_given(tracker):
            key = f"utter_why_{requested}"
            texts = texts_for(tracker)
            if key not in texts.responses:
                key = f"utter_explain_{requested}"
            dispatcher.utter_message(response=key)
            return []
        if isinstance(reason, str) and reason:
            dispatcher.utter_message(response="utter_because", reason=reason)
            return [SlotSet(LAST_REASON_SLOT, reason)]  # "why?" again: the same
        dispatcher.utter_message(response="utter_why_unclear")
        return []


class ActionCapabilities(Action):
    """ "What can you do?": the desk's topics, for this chatter."""

    def name(self) -> str:
        return "action_capabilities"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if wants_alternatives(tracker):
            # "So what can I do instead?" right after a cancellation was refused.
            return await ActionCancellationAlternatives().run(
                dispatcher, tracker, domain
            )
        identity = chat_identity(tracker)
        staff = identity is not None and identity.kind == "staff"
        dispatcher.utter_message(
            response="utter_capabilities_staff" if staff else "utter_capabilities"
        )
        return []


class ActionComplaint(Action):
    """ "You're useless": an apology, and a person."""

    def name(self) -> str:
        return "action_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_complaint")
        return []


UNSUPPORTED_TEXT = "language.unsupported"
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")  # ISO 639-1 or -3, as bot/language.py gives


def languages_of_message(tracker: Tracker) -> list[str]:
    """The languages the latest message may be in, most likely first
    (`latest_message["language"]`, bot/language.py)."""
    detected = latest_message(tracker).get("language")
    if not isinstance(detected, dict):
        return []
    candidates = detected.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        candidates = [detected.get("code")]
    return [c for c in candidates if isinstance(c, str) and LANGUAGE_CODE.fullmatch(c)]


def unsupported_language_text(lang: str) -> str:
    """ "Sorry, I can only chat in English for now...", in `lang` (whose catalogue
    may hold just this text)."""
    spoken = list(desk_languages())
    return catalogue(lang).text(
        UNSUPPORTED_TEXT,
        languages=language_names(spoken, "and", lang),
        any_language=language_names(spoken, "or", lang),
    )


def answer_languages(candidates: list[str]) -> list[str]:
    """The languages to answer in: each candidate whose catalogue has the text (both,
    when the message may be Japanese or Chinese), else English."""
    found = [
        lang
        for lang in dict.fromkeys(candidates)
        if catalogue(lang).language == lang and lang != DEFAULT_LANGUAGE
    ]
    return found or [DEFAULT_LANGUAGE]


class ActionUnsupportedLanguage(Action):
    """A message in a language the desk does not speak: say which it speaks."""

    def name(self) -> str:
        return "action_unsupported_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        for lang in answer_languages(languages_of_message(tracker)):
            dispatcher.utter_message(text=unsupported_language_text(lang))
        return []
