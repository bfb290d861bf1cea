"""The one base of the bot's forms: how a question is answered, refused or left.

Every form (a refund or cancellation request, a support ticket, a billing dispute) is
a Rasa form whose slots have `custom` mappings (or `from_intent` for yes/no), filled
by a `FormValidation` subclass. The base decides, for every message inside a form:

- **Leaving and interrupting** (`interrupts`): "stop", "never mind" (`stop`), asking
  for a person, "why?", a complaint, or a question on another topic are never taken
  as an answer. The validation returns nothing, Rasa rejects the form, the general
  rule for that intent answers it (data/rules/), and the form asks its question
  again, saying it is back to the request (`FormQuestion`). A person is always
  reachable, whatever the form asked.
- **Corrections** (`corrections`): "no wait, only 10 seats" while the form asks for
  the reason changes the seats, not the reason, then asks for the reason again.
- **Answers**: `extract_<slot>` reads the requested slot from the message; the
  subclass's `validate_<slot>` checks it. After `EXPLAIN_AFTER` failed answers in a
  row the field is explained (`utter_explain_<slot>`): one counter for every form.

Subclasses name the form's slots and its topic, and write the extraction and the
validation of each slot; they never parse yes/no or "stop" themselves.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar, Optional

from rasa_sdk import Action, Tracker, utils
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.base import Reply, language_of, texts_for
from actions.runtime import in_session, utc_now
from actions.tracker import (
    actions_since_user,
    latest_confidence,
    latest_intent,
    latest_text,
    rejected_since_user,
)
from common.taxonomy import TaxonomyError, load_taxonomy

FAILURES_SLOT = "form_failures"  # {slot: failed answers in a row}, every form
EXPLAIN_AFTER = 2
AFFIRM, DENY = "affirm", "deny"

# Intents a form never takes as an answer: their own rules answer them, and the
# form asks again afterwards (or has been left).
LEAVING_INTENTS = frozenset(
    {
        "stop",
        "request_human",
        "ask_why",
        "complain",
        "goodbye",
        "ask_capabilities",
        "unsupported_language",
    }
)
# A topic question inside a form is an interruption when NLU is at least this sure.
INTERRUPTION_CONFIDENCE = 0.5
QUESTION_START = re.compile(
    r"^\s*(?:(?:wait|hold on|sorry|actually|oh|ok|okay|and|but|also|btw|by the way)"
    r"[,.!]?\s+)*(?:what|what's|whats|when|where|which|who|why|how|can|could|do|does|"
    r"did|is|are|will|would|should|show|tell|give|send|list)\b",
    re.IGNORECASE,
)
CORRECTION_CUE = re.compile(
    r"^\s*(?:no[,.!]?\s+|sorry[,.!]?\s+|oops[,.!]?\s+)*(?:wait|actually|correction|"
    r"i meant|i mean|make it|change it to|change that to|instead|rather|not \w+ but|"
    r"only|just|no,)\b|\binstead\b|\bi meant\b|\bmake (?:it|that)\b"
    r"|^\W*(?:sorry|oops|no|nope|actually|wait)\b[,.!]*\s+\S|\bnot\s+\w+\s*$"
    r"|\b(?:actually|sorry|i mean)\W*$|^\W*(?:how|what) about\s+(?:\d|only|just)",
    re.IGNORECASE,
)
# Words that really leave a form, whatever else the message says ("forget it, I'll
# keep them all" leaves; "actually just 2, sorry" answers).
STOP_WORDS = re.compile(
    r"\b(?:stop|never\s*mind|nevermind|forget (?:it|that|about it|the whole thing)|"
    r"cancel (?:that|this|it|the request|the form)|quit|abort|exit|leave it|"
    r"don't bother|keep (?:them|it|all|everything)|changed my mind|not any ?more)\b",
    re.IGNORECASE,
)
# Intents NLU gives a correction or an answer that begins with "no" / "sorry".
SOFT_LEAVING_INTENTS = frozenset({"stop", DENY})


def looks_like_question(text: str) -> bool:
    """Whether `text` asks something rather than answers."""
    return text.rstrip().endswith("?") or QUESTION_START.match(text) is not None


def is_correction(text: str) -> bool:
    return CORRECTION_CUE.search(text) is not None


def topic_of_intent(intent: Optional[str]) -> Optional[str]:
    if not intent:
        return None
    try:
        return load_taxonomy().topic_for_intent(intent)
    except TaxonomyError:
        return None


class FormValidation(FormValidationAction, ABC):
    """A form's validation (`validate_<form>`): interruptions, corrections,
    answers, and one failure counter. `name()` stays abstract, so rasa-sdk does not
    register the base as an action."""

    slots: ClassVar[tuple[str, ...]]  # the form's slots, in the order it asks
    topics: ClassVar[frozenset[str]]  # a question on these topics is about the form
    yes_no: ClassVar[frozenset[str]] = frozenset()  # slots mapped from affirm/deny

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    @abstractmethod
    def name(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ the turn

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested is None:  # the form is starting: only pre-filled slots
            return await super().run(dispatcher, tracker, domain)
        # A correction comes before "no" leaving an open question: NLU often reads
        # "no wait, only 3 seats" as `deny`. "Stop" and a person always leave; a
        # question ("actually, is Teams down too?") is answered as one first.
        text = latest_text(tracker)
        if (
            latest_intent(tracker) in SOFT_LEAVING_INTENTS
            and requested not in self.yes_no
            and not STOP_WORDS.search(text)
            and (self.answers(requested, text, tracker) and is_correction(text))
        ):
            # "actually just 2, sorry", "no, 3": NLU hears "stop" or "no", but the
            # message answers the question.
            events = await super().run(dispatcher, tracker, domain)
            return self.count_failures(requested, events, dispatcher, tracker)
        leaving = latest_intent(tracker) in LEAVING_INTENTS and not (
            latest_intent(tracker) == "stop" and not STOP_WORDS.search(text)
        )
        corrected = {} if leaving else self.corrections(tracker, requested)
        if corrected and not looks_like_question(latest_text(tracker)):
            return await self.apply_corrections(corrected, dispatcher, tracker, domain)
        if self.interrupts(tracker, requested):
            return []  # rejected: the rules answer, then the form asks again
        if corrected:
            return await self.apply_corrections(corrected, dispatcher, tracker, domain)
        events = await super().run(dispatcher, tracker, domain)
        return self.count_failures(requested, events, dispatcher, tracker)

    def interrupts(self, tracker: Tracker, requested: str) -> bool:
        """Whether the latest message is not an answer to `requested`."""
        intent = latest_intent(tracker)
        if intent in LEAVING_INTENTS:
            return True
        text = latest_text(tracker)
        if self.answers(requested, text, tracker):
            return False
        if intent == DENY:
            # "no" to an open question leaves the form (its `deny` rule); to a yes/no
            # question it is the answer.
            return requested not in self.yes_no
        if intent == AFFIRM:
            return False
        topic = topic_of_intent(intent)
        if topic is None or topic in ("smalltalk", "out_of_scope"):
            return False
        if latest_confidence(tracker) < INTERRUPTION_CONFIDENCE:
            return False
        return topic not in self.topics or looks_like_question(text)

    async def get_extraction_events(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        """The requested slot's value in the latest message (`extract()`); yes/no
        slots are filled by their `from_intent` mappings instead."""
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested not in self.slots or requested in self.yes_no:
            return []
        value = self.extract(requested, tracker)
        return [] if value is None else [SlotSet(requested, value)]

    async def get_validation_events(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        """rasa-sdk's validation, minus the slots set to None since the message: a
        form's start action empties its slots, and an empty slot is no answer to
        complain about."""
        wanted = await self.required_slots(
            self.domain_slots(domain), dispatcher, tracker, domain
        )
        slots = {
            name: value
            for name, value in tracker.slots_to_validate().items()
            if name in wanted and value is not None
        }
        for name, value in list(slots.items()):
            validate = getattr(self, f"validate_{name}", None)
            if validate is None:
                continue
            checked = await utils.call_potential_coroutine(
                validate(value, dispatcher, tracker, domain)
            )
            slots.update(checked)
            tracker.slots.update(checked)
        return [SlotSet(name, value) for name, value in slots.items()]

    def extract(self, slot: str, tracker: Tracker) -> Any:
        """The value of `slot` in the latest message: its text, by default (the
        validation decides whether it will do)."""
        text = " ".join(latest_text(tracker).split())
        return text or None

    def answers(self, slot: str, text: str, tracker: Tracker) -> bool:
        """Whether `text` holds a value for `slot` (a number for a count, a known
        name for a choice). Free-text slots say False: a question is then not taken
        as their answer."""
        return False

    def corrections(self, tracker: Tracker, requested: str) -> dict[str, Any]:
        """Values the latest message corrects in slots answered before (not
        `requested`): `{slot: value}`."""
        text = latest_text(tracker)
        if not is_correction(text):
            return {}
        found: dict[str, Any] = {}
        for slot in self.slots:
            if slot == requested or tracker.get_slot(slot) is None:
                continue
            value = self.correction_for(slot, text, tracker)
            if value is not None:
                found[slot] = value
        return found

    def correction_for(self, slot: str, text: str, tracker: Tracker) -> Any:
        """A new value for `slot` in a correction, or None."""
        return None

    async def apply_corrections(
        self,
        corrected: dict[str, Any],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        """Validate the corrected slots; the requested one is asked again."""
        events: list[EventType] = []
        for slot, value in corrected.items():
            validate = getattr(self, f"validate_{slot}")
            result = await utils.call_potential_coroutine(
                validate(value, dispatcher, tracker, domain)
            )
            for key, checked in result.items():
                events.append(SlotSet(key, checked))
                tracker.slots[key] = checked
        for slot in self.yes_no:  # a confirmation given with a correction is void
            if tracker.get_slot(slot) is not None:
                events.append(SlotSet(slot, None))
        return events

    def count_failures(
        self,
        requested: str,
        events: list[EventType],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
    ) -> list[EventType]:
        """Count failed answers to `requested`; explain the field after a few."""
        values = {
            e.get("name"): e.get("value") for e in events if e.get("event") == "slot"
        }
        if requested not in values:
            return events
        failures = dict(tracker.get_slot(FAILURES_SLOT) or {})
        if values[requested] is None:
            failures[requested] = int(failures.get(requested, 0)) + 1
            if failures[requested] >= EXPLAIN_AFTER:
                dispatcher.utter_message(response=f"utter_explain_{requested}")
                failures[requested] = 0
        else:
            failures.pop(requested, None)
        return [*events, SlotSet(FAILURES_SLOT, failures or None)]

    # ------------------------------------------------------------------ helpers

    async def with_session(
        self, tracker: Tracker, work: Callable[[Session], Any]
    ) -> Any:
        return await in_session(work, tracker, failed=None)

    def reset(self) -> list[EventType]:
        """Every slot of the form emptied (when it starts or is left)."""
        return [SlotSet(slot, None) for slot in (*self.slots, FAILURES_SLOT)]


# Actions Rasa runs on every turn, which answer nothing.
BOOKKEEPING_ACTIONS = frozenset(
    {"action_extract_slots", "action_session_start", "action_listen"}
)


def form_was_interrupted(tracker: Tracker, form: str) -> bool:
    """Whether the form asks again after answering something else in this turn.

    Rasa logs the form's rejection of the message (`interrupts()`) before the rule
    that answers it; a rule may also answer first while the form was active when the
    user spoke. The action that started the form in this turn (e.g.
    `action_start_escalation`) is no interruption, so its first question has no
    "back to your ..." in front of it.
    """
    if form in rejected_since_user(tracker):
        return True
    events = list(tracker.events or [])
    spoke = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if not spoke:
        return False
    active = None
    for event in events[: spoke[-1]]:
        if event.get("event") == "active_loop":
            active = event.get("name")
    if active != form:
        return False  # the form is starting: its first question
    return any(
        name not in (form, f"validate_{form}", *BOOKKEEPING_ACTIONS)
        and not name.startswith("action_ask_")
        for name in actions_since_user(tracker)
    )


class FormQuestion(Action, ABC):
    """`action_ask_<slot>`: a form's question, with "back to your request" when the
    form asks again after an interruption. Subclasses write `question()`."""

    form: ClassVar[str]

    @property
    @abstractmethod
    def slot(self) -> str:
        """The slot asked for (a class attribute in subclasses; abstract here so
        that rasa-sdk registers only the questions themselves)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = await self.ask(tracker)
        if form_was_interrupted(tracker, self.form):
            dispatcher.utter_message(response=f"utter_back_to_{self.form}")
        return reply.send(dispatcher, tracker)

    async def ask(self, tracker: Tracker) -> Reply:
        return self.question(tracker)

    def question(self, tracker: Tracker) -> Reply:
        """The question (by default the catalogue's `utter_ask_<slot>`)."""
        return Reply().say(f"utter_ask_{self.slot}")


def yes_no_buttons(
    tracker: Tracker, yes: str = "button.yes", no: str = "button.no"
) -> list[dict[str, str]]:
    """Yes / no buttons in the conversation's language (they send the intents)."""
    texts = texts_for(tracker)
    return [
        {"title": texts.text(yes), "payload": "/affirm"},
        {"title": texts.text(no), "payload": "/deny"},
    ]


def choose(values: Iterable[str], text: str) -> Optional[str]:
    """The one of `values` that `text` names (as a word), or None if none or
    several do."""
    lowered = text.lower()
    found = [
        v for v in values if re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", lowered)
    ]
    return found[0] if len(found) == 1 else None


__all__ = [
    "EXPLAIN_AFTER",
    "FAILURES_SLOT",
    "FormQuestion",
    "FormValidation",
    "choose",
    "form_was_interrupted",
    "is_correction",
    "language_of",
    "looks_like_question",
    "yes_no_buttons",
]
