"""The one form base (actions/forms.py): what a message inside a form is.

A small request form built on the base (seats, a reason, a yes/no confirmation)
shows the policy without a database: leaving and interruptions are never taken as an
answer, "no" leaves an open question but answers a yes/no one, corrections go to the
field they correct, failed answers are counted and explained, and a question asked
again after an interruption says so. The last tests check that the real forms (the
cancellation request, the ticket, the dispute) are wired to it the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import FORM_SLOTS as LEFT_ON_STOP
from actions.disputes import ValidateDisputeForm
from actions.forms import (
    FAILURES_SLOT,
    FormQuestion,
    FormValidation,
    is_correction,
    looks_like_question,
)
from actions.refunds import ValidateCancellationForm
from actions.tickets import ValidateEscalationForm
from tests.actions.escalation_fixtures import (
    action,
    bot,
    conversation,
    responses,
    slot,
    slot_values,
    user,
)
from tests.actions.helpers import domain_responses

FORM = "request_form"
SEATS, REASON, CONFIRM = "request_seats", "request_reason", "request_confirm"
MAX_SEATS = 10
DOMAIN: DomainDict = {
    "forms": {FORM: {"required_slots": [SEATS, REASON, CONFIRM]}},
    "slots": {},
}
ROOT = Path(__file__).resolve().parents[2]


class ValidateRequestForm(FormValidation):
    """Seats (a number from 1 to 10), a reason (a few words), and yes or no.

    `validate_request_seats` is a plain function and the others coroutines, as
    rasa-sdk allows both."""

    slots = (SEATS, REASON, CONFIRM)
    topics = frozenset({"refund", "subscription_change"})
    yes_no = frozenset({CONFIRM})

    def name(self) -> str:
        return f"validate_{FORM}"

    def answers(self, slot: str, text: str, tracker: Tracker) -> bool:
        return slot == SEATS and re.search(r"\d", text) is not None

    def correction_for(self, slot: str, text: str, tracker: Tracker) -> Any:
        found = re.search(r"(\d+) seats?", text)
        return found.group(1) if slot == SEATS and found else None

    def validate_request_seats(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        found = re.search(r"\d+", str(value))
        seats = int(found.group()) if found else 0
        if not 1 <= seats <= MAX_SEATS:
            dispatcher.utter_message(response="utter_invalid_request_seats")
            return {SEATS: None}
        return {SEATS: str(seats)}

    async def validate_request_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        if len(str(value).split()) < 2:
            dispatcher.utter_message(response="utter_invalid_request_reason")
            return {REASON: None}
        return {REASON: value}

    async def validate_request_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, _: Any
    ) -> dict[str, Any]:
        return {CONFIRM: value if value in (True, False) else None}


class ActionAskRequestReason(FormQuestion):
    form = FORM
    slot = REASON


def inside_the_form(
    text: str,
    intent: str = "inform",
    *,
    asked: str,
    confidence: float = 0.95,
    mapped: Any = None,
    **slots: Any,
) -> Tracker:
    """The tracker the validation sees for `text` while the form asks `asked`.

    `mapped` is what Rasa's `from_intent` mapping set before the validation (the
    yes/no slot only)."""
    events = [user(text, intent, confidence=confidence), action("action_extract_slots")]
    values: dict[str, Any] = {"requested_slot": asked, **slots}
    if mapped is not None:
        events.append(slot(CONFIRM, mapped))
        values[CONFIRM] = mapped
    return conversation(events, slots=values, active_loop=FORM)


async def validate(tracker: Tracker) -> tuple[dict[str, Any], list[str], list[Any]]:
    """The slots the validation set, the responses it sent, and its raw events."""
    dispatcher = CollectingDispatcher()
    events = await ValidateRequestForm().run(dispatcher, tracker, DOMAIN)
    return slot_values(events), responses(dispatcher), events


# --------------------------------------------------------------------------- leaving


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("stop", "stop"),
        ("never mind", "stop"),
        ("I need to talk to a person", "request_human"),
        ("why?", "ask_why"),
        ("you're useless", "complain"),
        ("bye", "goodbye"),
        ("what can you do?", "ask_capabilities"),
        # another language: its rule says which languages the desk speaks
        ("zehn Lizenzen bitte", "unsupported_language"),
    ],
)
@pytest.mark.parametrize("asked", [SEATS, REASON, CONFIRM])
async def test_leaving_and_a_person_are_never_an_answer(
    text: str, intent: str, asked: str
) -> None:
    """The validation returns nothing, so Rasa rejects the form: the rule for the
    intent answers (leaves, hands over, explains), whatever the form asked."""
    _, names, events = await validate(inside_the_form(text, intent, asked=asked))
    assert events == [] and names == []


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("wait, what's my latest invoice?", "ask_invoice"),  # another topic, asked
        ("send me the latest invoice", "ask_invoice"),  # another topic, stated
        ("is Teams down for everyone?", "report_technical_issue"),
        ("can I get a refund on the other one too?", "request_refund"),  # own, asked
    ],
)
async def test_questions_on_other_topics_or_asked_are_interruptions(
    text: str, intent: str
) -> None:
    _, names, events = await validate(inside_the_form(text, intent, asked=REASON))
    assert events == [] and names == []


@pytest.mark.parametrize(
    ("text", "intent", "confidence"),
    [
        # The form's own topic, said as a statement: the reason itself.
        ("we bought too many licences by mistake", "request_refund", 0.95),
        # Small talk and unclear messages are not questions to answer elsewhere.
        ("thanks, bought by mistake", "thank", 0.95),
        ("the project was cancelled", "out_of_scope", 0.95),
        # NLU is unsure it is another topic: taken as the answer.
        ("the invoice was too high for us", "ask_invoice", 0.3),
    ],
)
async def test_other_messages_answer_the_question(
    text: str, intent: str, confidence: float
) -> None:
    slots, names, _ = await validate(
        inside_the_form(text, intent, asked=REASON, confidence=confidence)
    )
    assert slots[REASON] == text and names == []


async def test_a_message_that_answers_the_question_is_the_answer() -> None:
    """ "3 seats, what will that refund be?" names the number asked for: it is
    taken, whatever else NLU reads in it."""
    slots, _, _ = await validate(
        inside_the_form(
            "3 seats, what will that refund be?", "request_refund", asked=SEATS
        )
    )
    assert slots[SEATS] == "3"


# --------------------------------------------------------------------------- no


async def test_no_to_an_open_question_leaves_the_form() -> None:
    """Nothing to take: Rasa rejects the form, and the rule "no, in the form"
    runs action_stop."""
    _, names, events = await validate(inside_the_form("no", "deny", asked=REASON))
    assert events == [] and names == []


async def test_no_to_a_yes_no_question_is_its_answer() -> None:
    slots, names, _ = await validate(
        inside_the_form(
            "no",
            "deny",
            asked=CONFIRM,
            mapped=False,
            **{SEATS: "3", REASON: "bought too many"},
        )
    )
    assert slots[CONFIRM] is False and names == []
    assert slots[FAILURES_SLOT] is None


# --------------------------------------------------------------------------- corrections


@pytest.mark.parametrize("intent", ["change_seats", "deny"])
async def test_a_correction_changes_the_field_it_corrects(intent: str) -> None:
    """ "No wait, only 2 seats" while the form asks for the reason changes the seats
    (whether NLU reads it as a seat change or as a "no"); the reason is asked
    again, not filled with it."""
    slots, names, _ = await validate(
        inside_the_form("no wait, only 2 seats", intent, asked=REASON, **{SEATS: "5"})
    )
    assert slots == {SEATS: "2"} and names == []


async def test_a_correction_voids_a_pending_confirmation() -> None:
    """At "shall I file it?", "no, make it 2 seats" is read as a "no" by the yes/no
    mapping; with the seats changed, that "no" is forgotten and the (new) summary
    is asked again."""
    slots, _, _ = await validate(
        inside_the_form(
            "no, make it 2 seats",
            "deny",
            asked=CONFIRM,
            mapped=False,
            **{SEATS: "5", REASON: "bought too many"},
        )
    )
    assert slots == {SEATS: "2", CONFIRM: None}


async def test_a_correction_is_validated_like_an_answer() -> None:
    slots, names, _ = await validate(
        inside_the_form("sorry, make it 20 seats", asked=REASON, **{SEATS: "5"})
    )
    assert slots == {SEATS: None}  # so the form asks for the seats again
    assert names == ["utter_invalid_request_seats"]


async def test_a_question_with_a_correction_word_is_still_a_question() -> None:
    _, names, events = await validate(
        inside_the_form(
            "actually, what's my latest invoice for 2 seats?",
            "ask_invoice",
            asked=REASON,
            **{SEATS: "5"},
        )
    )
    assert events == [] and names == []


async def test_a_correction_word_alone_corrects_nothing() -> None:
    """ "Actually, we bought too many" corrects no earlier field: it is the
    reason."""
    slots, _, _ = await validate(
        inside_the_form("actually, we bought too many", asked=REASON, **{SEATS: "5"})
    )
    assert slots[REASON] == "actually, we bought too many"
    assert SEATS not in slots


# --------------------------------------------------------------------------- failures


async def test_failed_answers_are_counted_and_the_field_explained_after_two() -> None:
    slots, names, _ = await validate(inside_the_form("lots", asked=SEATS))
    assert slots[SEATS] is None and names == ["utter_invalid_request_seats"]
    assert slots[FAILURES_SLOT] == {SEATS: 1}

    slots, names, _ = await validate(
        inside_the_form("eleven thousand", asked=SEATS, **{FAILURES_SLOT: {SEATS: 1}})
    )
    assert names == ["utter_invalid_request_seats", "utter_explain_request_seats"]
    assert slots[FAILURES_SLOT] == {SEATS: 0}  # explained: count anew

    slots, names, _ = await validate(
        inside_the_form("3", asked=SEATS, **{FAILURES_SLOT: {SEATS: 1}})
    )
    assert slots[SEATS] == "3" and names == []
    assert slots[FAILURES_SLOT] is None


async def test_each_field_has_its_own_count() -> None:
    """One failed reason after one failed seat count explains nothing yet."""
    slots, names, _ = await validate(
        inside_the_form("x", asked=REASON, **{SEATS: "3", FAILURES_SLOT: {SEATS: 1}})
    )
    assert names == ["utter_invalid_request_reason"]
    assert slots[FAILURES_SLOT] == {SEATS: 1, REASON: 1}


async def test_an_interruption_is_not_a_failure() -> None:
    tracker = inside_the_form(
        "why do you need that?", "ask_why", asked=REASON, **{FAILURES_SLOT: {REASON: 1}}
    )
    slots, names, _ = await validate(tracker)
    assert slots == {} and names == []


async def test_a_starting_form_validates_only_what_was_prefilled() -> None:
    """At activation no question has been asked: slots emptied by the start action
    are no failed answers."""
    tracker = conversation(
        [
            user("I want a refund for 3 seats", "request_refund"),
            action("action_start_request"),
            slot(SEATS, "3"),
            slot(REASON, None),
            slot(CONFIRM, None),
        ],
        slots={SEATS: "3"},
    )
    slots, names, _ = await validate(tracker)
    assert slots == {SEATS: "3"} and names == []


# --------------------------------------------------------------------------- asking


def rejected() -> dict[str, Any]:
    """What Rasa logs when the form's validation did not take the message."""
    return {"event": "action_execution_rejected", "name": FORM}


@pytest.mark.parametrize(
    ("events", "back"),
    [
        # The turn that starts the form: its start action is no interruption.
        (
            [
                user("I want a refund", "request_refund"),
                action("action_start_request"),
                action(FORM),
            ],
            False,
        ),
        # "Why?" was answered by its own rule: the form asks again, and says so.
        (
            [
                user("why?", "ask_why"),
                rejected(),
                action("action_explain_why"),
                bot("Your partner's team asks for a reason."),
                action(FORM),
            ],
            True,
        ),
        # An interruption in an earlier turn, then an answer that did not fit.
        (
            [
                user("why?", "ask_why"),
                rejected(),
                action("action_explain_why"),
                action(FORM),
                action("action_listen"),
                user("x", "inform"),
                action(FORM),
            ],
            False,
        ),
    ],
)
async def test_the_question_says_back_to_your_request_after_an_interruption(
    events: list[dict[str, Any]], back: bool
) -> None:
    dispatcher = CollectingDispatcher()
    await ActionAskRequestReason().run(
        dispatcher, conversation(events, active_loop=FORM), DOMAIN
    )
    expected = ["utter_ask_request_reason"]
    if back:
        expected.insert(0, f"utter_back_to_{FORM}")
    assert responses(dispatcher) == expected


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("what's my latest invoice", True),
        ("wait, when is it due?", True),
        ("Oh and can I pay by card", True),
        ("the price went up?", True),
        ("bought too many", False),
        ("no wait, only 3 seats", False),
        ("whatever works", False),  # "what" only as a whole word
    ],
)
def test_what_looks_like_a_question(text: str, question: bool) -> None:
    assert looks_like_question(text) is question


@pytest.mark.parametrize(
    ("text", "correction"),
    [
        ("no wait, only 3 seats", True),
        ("actually 4", True),
        ("sorry, I meant Teams", True),
        ("make it 2 seats", True),
        ("2 seats instead", True),
        ("bought by mistake", False),
        ("no", False),
        ("only if it's cheaper", True),  # taken as a cue; a value decides
        ("sorry, 2 not 4", True),
        ("actually just 2, sorry", True),
        ("nope, 3", True),
    ],
)
def test_what_reads_as_a_correction(text: str, correction: bool) -> None:
    assert is_correction(text) is correction


# --------------------------------------------------------------------------- real forms


def domain_files() -> dict[str, Any]:
    merged: dict[str, Any] = {"forms": {}, "slots": {}}
    for path in sorted((ROOT / "domain").glob("*.yml")):
        content = yaml.safe_load(path.read_text()) or {}
        merged["forms"].update(content.get("forms") or {})
        merged["slots"].update(content.get("slots") or {})
    return merged


REAL_FORMS = [
    ("cancellation_form", ValidateCancellationForm),
    ("escalation_form", ValidateEscalationForm),
    ("dispute_form", ValidateDisputeForm),
]


@pytest.mark.parametrize(("form", "validation"), REAL_FORMS)
def test_every_form_is_built_on_the_base_the_same_way(
    form: str, validation: type[FormValidation]
) -> None:
    """The domain asks the slots the validation knows; yes/no slots come from the
    affirm / deny intents inside the form and every other slot from the
    validation; each slot can be asked, explained and answered with "why?"; and
    the form can be left (action_stop knows what to forget) and come back to."""
    domain = domain_files()
    assert validation().name() == f"validate_{form}"
    assert tuple(domain["forms"][form]["required_slots"]) == validation.slots
    executor = ActionExecutor()
    executor.register_package("actions")
    catalogue = domain_responses()
    for name in validation.slots:
        mappings = domain["slots"][name]["mappings"]
        kinds = {m["type"] for m in mappings}
        if name in validation.yes_no:
            assert kinds == {"from_intent"}, name
            assert {m["intent"] for m in mappings} == {"affirm", "deny"}
            assert all(
                m["conditions"] == [{"active_loop": form, "requested_slot": name}]
                for m in mappings
            )
        else:
            assert kinds == {"custom"}, name
        assert (
            f"action_ask_{name}" in executor.actions or f"utter_ask_{name}" in catalogue
        )
        assert f"utter_explain_{name}" in catalogue
        assert set(validation.slots) <= set(LEFT_ON_STOP[form])
    for response in (f"utter_back_to_{form}", f"utter_stopped_{form}"):
        assert response in catalogue


def test_every_form_of_the_domain_has_a_validation() -> None:
    forms = set(domain_files()["forms"])
    assert forms == {form for form, _ in REAL_FORMS} == set(LEFT_ON_STOP)
