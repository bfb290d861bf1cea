"""Reading the conversation: what the latest message says, what came before.

Plain functions over rasa-sdk's `Tracker`, shared by every action; nothing here
talks to the database or trusts the user's text for identity.
"""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Tracker

from common.taxonomy import TaxonomyError, load_taxonomy

SESSION_BOUNDARIES = ("session_started", "restart")
LISTEN = "action_listen"


def latest_message(tracker: Tracker) -> dict[str, Any]:
    message = tracker.latest_message
    return message if isinstance(message, dict) else {}


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (latest_message(tracker).get("intent") or {}).get("name")


def latest_confidence(tracker: Tracker) -> float:
    value = (latest_message(tracker).get("intent") or {}).get("confidence")
    return float(value) if isinstance(value, (int, float)) else 0.0


def latest_text(tracker: Tracker) -> str:
    text = latest_message(tracker).get("text")
    return text if isinstance(text, str) else ""


def entity_values(tracker: Tracker, name: str) -> list[str]:
    """The values of entity `name` in the latest message, stripped, in order."""
    found: list[str] = []
    for value in tracker.get_latest_entity_values(name):
        if isinstance(value, str) and value.strip() and value.strip() not in found:
            found.append(value.strip())
    return found


def first_entity(tracker: Tracker, name: str) -> Optional[str]:
    values = entity_values(tracker, name)
    return values[0] if values else None


def entity_spans(tracker: Tracker) -> list[tuple[int, int]]:
    """(start, end) of every entity of the latest message."""
    return [
        (entity["start"], entity["end"])
        for entity in latest_message(tracker).get("entities") or []
        if isinstance(entity.get("start"), int) and isinstance(entity.get("end"), int)
    ]


def session_events(tracker: Tracker) -> list[dict[str, Any]]:
    """The events of the current conversation session (after a restart or start)."""
    events = list(tracker.events or [])
    start = 0
    for index, event in enumerate(events):
        if event.get("event") in SESSION_BOUNDARIES:
            start = index + 1
    return events[start:]


def user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [e for e in session_events(tracker) if e.get("event") == "user"]


def event_entities(event: dict[str, Any]) -> list[dict[str, Any]]:
    entities = (event.get("parse_data") or {}).get("entities") or []
    return [e for e in entities if isinstance(e, dict)]


def event_intent(event: dict[str, Any]) -> Optional[str]:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")


def message_id(event: dict[str, Any]) -> Optional[str]:
    """The id Rasa gave a user message (what a redelivery keeps)."""
    value = event.get("message_id")
    if value:
        return str(value)
    timestamp = event.get("timestamp")
    return f"t{timestamp}" if timestamp is not None else None


def latest_user_message_id(tracker: Tracker) -> Optional[str]:
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "user":
            return message_id(event)
    return None


def actions_since_user(tracker: Tracker) -> list[str]:
    """The actions run since the latest user message, oldest first."""
    names: list[str] = []
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "user":
            break
        if event.get("event") == "action" and event.get("name") != LISTEN:
            names.append(str(event.get("name")))
    return list(reversed(names))


def rejected_since_user(tracker: Tracker) -> list[str]:
    """The actions Rasa rejected since the latest user message, oldest first (a
    form whose validation did not take the message as an answer)."""
    names: list[str] = []
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "user":
            break
        if event.get("event") == "action_execution_rejected":
            names.append(str(event.get("name")))
    return list(reversed(names))


def previous_answer(tracker: Tracker) -> Optional[str]:
    """The last action that answered the user before the latest message (not
    `action_listen`), e.g. `action_technical_self_help`."""
    seen_user = False
    for event in reversed(session_events(tracker)):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                continue
            seen_user = True
            continue
        if seen_user and kind == "action" and event.get("name") != LISTEN:
            return str(event.get("name"))
    return None


def topic_of(event: dict[str, Any]) -> Optional[str]:
    """The taxonomy topic of a user event (its best real intent)."""
    try:
        return load_taxonomy().topic_for_parse(
            event.get("parse_data") or {}, use_runner_up=True
        )
    except TaxonomyError:
        return None
