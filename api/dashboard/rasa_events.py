"""Rasa events as the tracker store keeps them, for the dashboard's demo data.

Each builder returns the dict that Rasa 3.6's ``Event.as_dict()`` produces (what the
``events.data`` column holds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional


def session_started(
    timestamp: float, metadata: Optional[Mapping[str, Any]] = None
) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "session_started", "timestamp": timestamp}
    if metadata:
        event["metadata"] = dict(metadata)
    return event


def action(
    name: str,
    timestamp: float,
    *,
    policy: Optional[str] = None,
    confidence: Optional[float] = None,
) -> dict[str, Any]:
    return {
        "event": "action",
        "timestamp": timestamp,
        "name": name,
        "policy": policy,
        "confidence": confidence,
        "action_text": None,
        "hide_rule_turn": False,
    }


def user(
    text: str,
    timestamp: float,
    *,
    intent: Optional[str],
    confidence: float = 0.95,
    entities: Sequence[Mapping[str, Any]] = (),
    channel: str = "rest",
    metadata: Optional[Mapping[str, Any]] = None,
    message_id: Optional[str] = None,
) -> dict[str, Any]:
    parse_intent = {"name": intent, "confidence": confidence} if intent else {}
    return {
        "event": "user",
        "timestamp": timestamp,
        "metadata": dict(metadata or {}),
        "text": text,
        "parse_data": {
            "intent": parse_intent,
            "entities": [dict(e) for e in entities],
            "text": text,
            "message_id": message_id,
            "metadata": dict(metadata or {}),
            "intent_ranking": [parse_intent] if parse_intent else [],
        },
        "input_channel": channel,
        "message_id": message_id,
    }


def bot(text: str, timestamp: float, *, agent: Optional[str] = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"agent": agent} if agent else {}
    return {
        "event": "bot",
        "timestamp": timestamp,
        "metadata": metadata,
        "text": text,
        "data": {
            "elements": None,
            "quick_replies": None,
            "buttons": None,
            "attachment": None,
            "image": None,
            "custom": None,
        },
    }


def pause(timestamp: float) -> dict[str, Any]:
    return {"event": "pause", "timestamp": timestamp}


def resume(timestamp: float) -> dict[str, Any]:
    return {"event": "resume", "timestamp": timestamp}
