"""Tracker fixtures for the escalation, handoff and fallback actions: whole
conversations (events with message ids, entities, bot turns), as the action server
receives them."""

from __future__ import annotations

import itertools
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from api.settings import get_settings
from common.identity import mint_customer_token, mint_staff_token

_ids = itertools.count(1)


def customer_token(tenant_id: str, user_id: str = "alex@example.com") -> str:
    return mint_customer_token(
        get_settings().chat_token_secret,
        tenant_id=tenant_id,
        user_id=user_id,
        name="Alex",
    )


def staff_token(slack_user_id: str) -> str:
    return mint_staff_token(
        get_settings().chat_token_secret,
        platform="slack",
        platform_user_id=slack_user_id,
        name="Staff",
    )


def user(
    text: str,
    intent: str,
    *,
    entities: Optional[list[tuple[str, str]]] = None,
    message_id: Optional[str] = None,
    confidence: float = 0.95,
    ranking: Optional[list[tuple[str, float]]] = None,
    metadata: Optional[dict[str, Any]] = None,
    input_channel: str = "rest",
) -> dict[str, Any]:
    """A user event: `entities` are (entity, value) pairs placed in the text."""
    found = []
    for name, value in entities or []:
        start = max(text.find(value), 0)
        found.append(
            {"entity": name, "value": value, "start": start, "end": start + len(value)}
        )
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": found,
        "intent_ranking": [
            {"name": name, "confidence": score}
            for name, score in (ranking or [(intent, confidence)])
        ],
    }
    return {
        "event": "user",
        "text": text,
        "parse_data": parse,
        "message_id": message_id or f"msg-{next(_ids)}",
        "metadata": metadata or {},
        "input_channel": input_channel,
        "timestamp": 1_700_000_000 + next(_ids),
    }


def bot(text: str, *, agent: Optional[str] = None) -> dict[str, Any]:
    return {
        "event": "bot",
        "text": text,
        "metadata": {"agent": agent} if agent else {},
        "timestamp": 1_700_000_000 + next(_ids),
    }


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name, "timestamp": 1_700_000_000 + next(_ids)}


def conversation(
    events: list[dict[str, Any]],
    *,
    token: Optional[str] = None,
    slots: Optional[dict[str, Any]] = None,
    active_loop: Optional[str] = None,
    sender_id: str = "conv-1",
) -> Tracker:
    """A tracker whose latest message is the last user event in `events`.

    The chat token (if any) is in `session_started_metadata`, as Rasa puts it there,
    and on the latest message, as every channel sends it (actions read it only
    from there, actions/identity.py).
    `slots` are the current slot values; the last events that are `slot` events are
    what a form validation sees as just extracted.
    """
    all_events = [
        action("action_session_start"),
        {"event": "session_started", "timestamp": 1_700_000_000},
        action("action_listen"),
        *events,
    ]
    latest = next((dict(e) for e in reversed(all_events) if e["event"] == "user"), None)
    latest_message: dict[str, Any] = {}
    if latest is not None:
        latest_message = dict(latest["parse_data"])
        latest_message["metadata"] = dict(latest["metadata"] or {})
        if token:
            latest_message["metadata"].setdefault("chat_token", token)
    all_slots: dict[str, Any] = {
        "session_started_metadata": {"chat_token": token} if token else None
    }
    all_slots.update(slots or {})
    return Tracker.from_dict(
        {
            "sender_id": sender_id,
            "slots": all_slots,
            "latest_message": latest_message,
            "events": all_events,
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": active_loop} if active_loop else {},
            "latest_action_name": "action_listen",
        }
    )


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """The names of the responses the action sent, in order."""
    return [m.get("response") or "<text>" for m in dispatcher.messages]


def events_named(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == kind]


def slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
