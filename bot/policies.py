"""Rasa's MemoizationPolicy and RulePolicy, with the conversation's dialogue states
computed incrementally instead of from the start for every prediction.

What Rasa 3.6.21 does: before each action it predicts, every policy turns the whole
conversation into a list of dialogue states (`DialogueStateTracker.past_states`):
it replays every event of the session into a new tracker and builds a state at each
action. RulePolicy does it again for its loop and text checks. That is O(length of
the conversation) per prediction and several predictions per message: in the load
benchmark's longer conversations it was ~40 % of Rasa's CPU (docs/production.md,
"Where a reply's CPU goes").

Here the states, the replayed tracker and the loop variables of
`Domain.states_for_tracker_history` are kept on the tracker object (which the tracker
store keeps between messages, bot/stores.py) and only the events appended since are
replayed. The state after the last event is computed fresh each time, exactly as
Rasa computes it. When the events Rasa applies are not the old ones plus new ones
(a rewound user message, an undone action, a restart, a form's turns folded away by
`applied_events`), the states are computed from the start. The result is the list
Rasa's own computation gives: tests/bot/dialogue/test_policies.py checks it at every step
of every training story and rule, and `make rasa-test` runs the test stories.

The policies are otherwise Rasa's (same options, same training, same predictions).
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from typing import Any, Optional

from rasa.core.policies.memoization import MemoizationPolicy as RasaMemoizationPolicy
from rasa.core.policies.rule_policy import RulePolicy as RasaRulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State, SubState
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores import EventCursor

# The attribute of a tracker object that holds its checkpoints.
_CHECKPOINTS = "_csp_states"
# How many of the last states RulePolicy's debug log shows.
LOGGED_STATES = 6


@dataclass
class _Walk:
    """`Domain.states_for_tracker_history`'s loop, between two of its steps."""

    states: list[State] = field(default_factory=list)
    last_ml_action_sub_state: Optional[SubState] = None
    turn_was_hidden: bool = False

    def fork(self) -> _Walk:
        return _Walk(
            list(self.states), self.last_ml_action_sub_state, self.turn_was_hidden
        )

    def step(
        self,
        domain: Domain,
        tr: DialogueStateTracker,
        hide_rule_turn: bool,
        omit_unset_slots: bool,
        ignore_rule_only_turns: bool,
        rule_only_data: Optional[dict[str, Any]],
    ) -> None:
        """One iteration of Rasa's loop (rasa/shared/core/domain.py), unchanged."""
        if ignore_rule_only_turns:
            if not self.turn_was_hidden:
                self.last_ml_action_sub_state = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and tr.latest_action_name != tr.active_loop_name:
                self.turn_was_hidden = hide_rule_turn
            if self.turn_was_hidden:
                return
        state = domain.get_active_state(tr, omit_unset_slots=omit_unset_slots)
        if ignore_rule_only_turns:
            domain._remove_rule_only_features(state, rule_only_data)
            if self.states:
                domain._substitute_rule_only_user_input(state, self.states[-1])
            if self.last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = self.last_ml_action_sub_state
        self.states.append(domain._clean_state(state))


@dataclass
class _Checkpoint:
    """The walk over `applied` (the events Rasa applied, in order, out of the
    tracker's events `cursor` read), and the tracker replayed up to them."""

    domain: Domain
    replay: DialogueStateTracker
    applied: list[Event] = field(default_factory=list)
    walk: _Walk = field(default_factory=_Walk)
    cursor: EventCursor = field(default_factory=EventCursor)

    def extends(self, applied: list[Event]) -> bool:
        """`applied` is this checkpoint's events followed by new ones."""
        return len(applied) >= len(self.applied) and all(
            map(operator.is_, self.applied, applied)
        )


def past_states(
    tracker: DialogueStateTracker,
    domain: Domain,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: Optional[dict[str, Any]] = None,
) -> list[State]:
    """`tracker.past_states(...)`, continuing from where the last call stopped."""
    options = (omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    key = json.dumps(options, sort_keys=True, default=str)
    checkpoints: dict[str, _Checkpoint] = vars(tracker).setdefault(_CHECKPOINTS, {})
    checkpoint = checkpoints.get(key)
    new = None
    if checkpoint is not None and checkpoint.domain is domain:
        new = checkpoint.cursor.new_events(tracker)
    if checkpoint is not None and new is not None:
        applied = checkpoint.applied + new
    else:
        applied = tracker.applied_events()
        if (
            checkpoint is None
            or checkpoint.domain is not domain
            or not checkpoint.extends(applied)
        ):
            checkpoint = checkpoints[key] = _Checkpoint(domain, tracker.init_copy())
    replay, walk = checkpoint.replay, checkpoint.walk
    for event in applied[len(checkpoint.applied) :]:
        if isinstance(event, ActionExecuted):
            walk.step(domain, replay, event.hide_rule_turn, *options)
        replay.update(event)
        checkpoint.applied.append(event)
    checkpoint.cursor.saw(tracker, new)
    # The state after the last event changes with the next event: not kept.
    last = walk.fork()
    last.step(domain, replay, False, *options)
    return last.states


class _IncrementalTracker:
    """The tracker, as the featurizer sees it: `past_states` continues from the
    last call, everything else is the tracker's."""

    def __init__(self, tracker: DialogueStateTracker) -> None:
        self._tracker = tracker

    def past_states(
        self,
        domain: Domain,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: Optional[dict[str, Any]] = None,
    ) -> list[State]:
        return past_states(
            self._tracker,
            domain,
            omit_unset_slots,
            ignore_rule_only_turns,
            rule_only_data,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)


class _IncrementalStates:
    """A policy whose featurizer reads the tracker's states incrementally."""

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Optional[dict[str, Any]] = None,
    ) -> list[State]:
        return super()._prediction_states(  # type: ignore[misc]
            _IncrementalTracker(tracker),
            domain,
            use_text_for_last_user_input,
            rule_only_data,
        )


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class IncrementalMemoizationPolicy(_IncrementalStates, RasaMemoizationPolicy):
    """Rasa's MemoizationPolicy, with incremental dialogue states."""


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class IncrementalRulePolicy(_IncrementalStates, RasaRulePolicy):
    """Rasa's RulePolicy, with incremental dialogue states."""

    @staticmethod
    def format_tracker_states(states: list[dict]) -> str:
        """For RulePolicy's debug log only (it formats and deep-copies them for
        every prediction, logged or not): the last few states, not all."""
        shown = RasaRulePolicy.format_tracker_states(states[-LOGGED_STATES:])
        hidden = len(states) - LOGGED_STATES
        return f"[{hidden} earlier states]{shown}" if hidden > 0 else shown
