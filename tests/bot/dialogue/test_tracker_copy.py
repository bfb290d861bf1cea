"""`KeptTracker` (bot/stores.py) against Rasa's tracker: `copy()` against Rasa's
copy, which replays every event into a new tracker (the same state, and two trackers
that change apart), and `applied_events()` against Rasa's, after every event."""

from __future__ import annotations

from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.stores import KeptTracker


def state_of(tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """Everything a tracker says about the conversation."""
    return {
        "current": tracker.current_state(EventVerbosity.ALL),
        "states": tracker.past_states(domain),
        "slots": {name: slot.value for name, slot in tracker.slots.items()},
        "set": {name: slot.has_been_set for name, slot in tracker.slots.items()},
        "loop": tracker.active_loop,
        "followup": tracker.followup_action,
        "latest_action": tracker.latest_action,
        "paused": tracker.is_paused(),
        "ids": (tracker.model_id, tracker.assistant_id, tracker.sender_source),
    }


def test_a_copy_is_rasas_copy_for_every_story(
    bot: tuple[Domain, list[DialogueStateTracker]],
) -> None:
    domain, trackers = bot
    compared = 0
    for story in trackers:
        kept = KeptTracker("conv", domain.slots)
        kept.model_id = "model"
        for event in story.events:
            kept.update(event)
            ours = kept.copy()
            rasas = DialogueStateTracker.travel_back_in_time(kept, float("inf"))
            assert state_of(ours, domain) == state_of(rasas, domain)
            compared += 1
    assert compared > 300


def test_the_copy_and_the_tracker_change_apart(
    bot: tuple[Domain, list[DialogueStateTracker]],
) -> None:
    domain, _ = bot
    slot = next(iter(domain.slots)).name
    form = next(iter(domain.form_names))
    tracker = KeptTracker("conv", domain.slots)
    for event in [
        ActionExecuted("action_listen"),
        UserUttered("hi"),
        ActionExecuted(form),
        ActiveLoop(form),
        SlotSet(slot, "before"),
    ]:
        tracker.update(event)
    vars(tracker)["_csp_states"] = {"cached": True}
    before = state_of(tracker, domain)

    duplicate = tracker.copy()
    assert "_csp_states" not in vars(duplicate)
    duplicate.update(SlotSet(slot, "after"))
    duplicate.reject_action(form)  # changes the active loop in place
    duplicate.update(ActionExecuted("action_listen"))

    assert state_of(tracker, domain) == before
    assert len(duplicate.events) == len(tracker.events) + 2
    assert duplicate.get_slot(slot) == "after"
    assert tracker.get_slot(slot) == "before"


def same_applied_events(domain: Domain, events: list[Event]) -> int:
    kept = KeptTracker("conv", domain.slots)
    for event in events:
        kept.update(event)
        ours = kept.applied_events()
        assert list(map(id, ours)) == list(
            map(id, DialogueStateTracker.applied_events(kept))
        ), f"after {event}"
        ours.clear()  # what a caller does to its list is not kept
    return len(events)


def test_applied_events_are_rasas_after_every_event(
    bot: tuple[Domain, list[DialogueStateTracker]],
) -> None:
    domain, trackers = bot
    assert sum(same_applied_events(domain, list(t.events)) for t in trackers) > 300
    form = next(iter(domain.form_names))
    turn: list[Event] = [
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet"}),
        ActionExecuted(form),
        ActiveLoop(form),
        ActionExecuted("action_listen"),
        UserUttered("yes", {"name": "affirm"}),
        ActionExecuted(form),
        ActiveLoop(None),
    ]
    same_applied_events(
        domain,
        [
            *turn,
            UserUtteranceReverted(),
            *turn,
            ActionReverted(),
            *turn,
            Restarted(),
            *turn,
        ],
    )
