"""Tracker fixtures and response rendering for action unit tests."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

DOMAIN_DIR = Path(__file__).resolve().parents[2] / "domain"


def make_tracker(
    *,
    session_metadata: Optional[dict[str, Any]] = None,
    message_metadata: Optional[dict[str, Any]] = None,
    intent: str = "ask_invoice",
    text: str = "show me my invoice",
    entities: Optional[dict[str, str]] = None,
    slots: Optional[dict[str, Any]] = None,
) -> Tracker:
    """A tracker whose latest message is `text`, as the action server receives it."""
    latest_message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": [
            _entity(name, value, text) for name, value in (entities or {}).items()
        ],
        "metadata": message_metadata or {},
    }
    all_slots: dict[str, Any] = {"session_started_metadata": session_metadata}
    all_slots.update(slots or {})
    return Tracker.from_dict(
        {
            "sender_id": "unit-test",
            "slots": all_slots,
            "latest_message": latest_message,
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def _entity(name: str, value: str, text: str) -> dict[str, Any]:
    """An extracted entity, placed where `value` occurs in `text` (else at 0)."""
    start = max(text.find(value), 0)
    return {"entity": name, "value": value, "start": start, "end": start + len(value)}


@lru_cache
def domain_responses() -> dict[str, list[dict[str, Any]]]:
    """Every response of the domain directory, by name."""
    responses: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(DOMAIN_DIR.rglob("*.yml")):
        content = yaml.safe_load(path.read_text()) or {}
        responses.update(content.get("responses") or {})
    return responses


def render(dispatcher: CollectingDispatcher) -> list[str]:
    """The texts the chatter would see, filled in the way Rasa fills them.

    Fails if an action uses a response the domain lacks, or leaves one of its
    variables unfilled.
    """
    texts = []
    for message in dispatcher.messages:
        if message.get("text"):
            texts.append(message["text"])
            continue
        name = message["response"]
        variations = domain_responses().get(name)
        assert variations, f"response {name!r} is not in the domain"
        values = {k: v for k, v in message.items() if v is not None}
        for variation in variations:
            template = variation["text"]
            wanted = set(re.findall(r"{([^\n{}]+?)}", template))
            missing = wanted - values.keys()
            assert not missing, f"{name} needs {sorted(missing)}"
        texts.append(variations[0]["text"].format(**values))
    return texts
