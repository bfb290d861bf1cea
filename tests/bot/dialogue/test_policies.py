"""The incremental dialogue states (bot/policies.py) against Rasa's own computation:
the same states after every event of every training story and rule of the bot, and
of conversations that rewind, undo and restart."""

from __future__ import annotations

from typing import Any, Optional

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import policies


def options(domain: Domain) -> list[tuple[bool, bool, Optional[dict[str, Any]]]]:
    """As MemoizationPolicy (rule-only turns hidden) and RulePolicy ask for them."""
    slot = next(iter(domain.slots)).name
    form = next(iter(domain.form_names), None)
    rule_only = {"slots": [slot], "loops": [form] if form else []}
    return [(False, False, None), (False, True, rule_only), (True, True, None)]


def grow_and_compare(domain: Domain, events: list[Event]) -> int:
    """Append `events` one by one; after each, both computations must agree.
    Returns how many states were compared."""
    growing = DialogueStateTracker("conv", domain.slots)
    compared = 0
    for event in events:
        growing.update(event)
        for omit, ignore, rule_only in options(domain):
            rasas = domain.states_for_tracker_history(
                growing,
                omit_unset_slots=omit,
                ignore_rule_only_turns=ignore,
                rule_only_data=rule_only,
            )
            ours = policies.past_states(growing, domain, omit, ignore, rule_only)
            assert ours == rasas, f"after {event}"
            compared += len(ours)
    return compared


def test_every_training_story_and_rule_gives_rasas_states(
    bot: tuple[Domain, list[DialogueStateTracker]],
) -> None:
    domain, trackers = bot
    assert len(trackers) > 30
    loops = sum(any(isinstance(e, ActiveLoop) for e in t.events) for t in trackers)
    assert loops > 0  # forms are among them (their turns fold in applied_events)
    compared = sum(grow_and_compare(domain, list(t.events)) for t in trackers)
    assert compared > 1000


def test_rewinds_undos_and_restarts_give_rasas_states(
    bot: tuple[Domain, list[DialogueStateTracker]],
) -> None:
    domain, _ = bot
    intent = "greet" if "greet" in domain.intents else domain.intents[0]
    slot = next(iter(domain.slots)).name
    turn: list[Event] = [
        UserUttered("hi", {"name": intent}),
        ActionExecuted("utter_greet"),
        SlotSet(slot, "x"),
        ActionExecuted("action_listen"),
    ]
    events: list[Event] = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        *turn,
        *turn,
        UserUtteranceReverted(),
        *turn,
        ActionReverted(),
        ActionExecuted("action_listen"),
        *turn,
        Restarted(),
        ActionExecuted("action_listen"),
        *turn,
    ]
    assert grow_and_compare(domain, events) > 0


def test_the_policies_see_the_incremental_states(
    bot: tuple[Domain, list[DialogueStateTracker]],
) -> None:
    domain, trackers = bot
    tracker = DialogueStateTracker("conv", domain.slots)
    for event in trackers[0].events:
        tracker.update(event)
    view = policies._IncrementalTracker(tracker)
    assert view.past_states(domain) == tracker.past_states(domain)
    assert view.sender_id == "conv"  # the rest is the tracker's
    assert policies._CHECKPOINTS in vars(tracker)


def test_rule_policy_logs_only_the_last_states() -> None:
    states = [{"prev_action": {"action_name": f"a{i}"}} for i in range(20)]
    logged = policies.IncrementalRulePolicy.format_tracker_states(states)
    assert "a19" in logged and "a13" not in logged
    assert logged.startswith("[14 earlier states]")
