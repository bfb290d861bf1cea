"""The chat's idempotency key of a ticket (actions/tickets.py): the same for every
attempt to file one escalation, new for the next escalation."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.tickets import idempotency_key


def user(message_id: str, text: str = "...") -> dict[str, Any]:
    return {"event": "user", "text": text, "message_id": message_id, "timestamp": 1.0}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def tracker(events: list[dict[str, Any]]) -> Tracker:
    return Tracker(
        sender_id="conv",
        slots={},
        latest_message={},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )


ESCALATION = [
    user("m-problem", "Outlook is down"),
    action("action_technical_self_help"),
    user("m-no", "/deny"),
    action("action_start_escalation"),
    action("escalation_form"),
    user("m-description"),
    action("escalation_form"),
    user("m-yes", "/affirm"),
    action("escalation_form"),
]


def test_the_key_is_the_message_that_started_the_escalation() -> None:
    assert idempotency_key(tracker(ESCALATION)) == "chat:conv:m-no"


def test_a_confirmation_repeated_after_a_failed_filing_keeps_the_key() -> None:
    # action_file_ticket failed (the action server was down or slow): the guard
    # reopened the confirmation and the user said yes again.
    retried = [
        *ESCALATION,
        action("action_file_ticket"),
        user("m-yes-again", "/affirm"),
        action("escalation_form"),
    ]
    assert idempotency_key(tracker(retried)) == idempotency_key(tracker(ESCALATION))


def test_the_next_escalation_gets_a_new_key() -> None:
    second = [
        *ESCALATION,
        action("action_file_ticket"),
        user("m-other", "Teams crashes"),
        action("action_technical_self_help"),
        user("m-no-2", "/deny"),
        action("action_start_escalation"),
        user("m-yes-2", "/affirm"),
    ]
    assert idempotency_key(tracker(second)) == "chat:conv:m-no-2"


def test_without_an_escalation_start_the_latest_message_counts() -> None:
    assert idempotency_key(tracker([user("m-1"), user("m-2")])) == "chat:conv:m-2"
    new_session = [
        *ESCALATION,
        {"event": "session_started"},
        user("m-later"),
    ]
    assert idempotency_key(tracker(new_session)) == "chat:conv:m-later"
