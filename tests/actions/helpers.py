"""Tracker fixtures and response rendering for action unit tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from common.texts import catalogue

DOMAIN_DIR = Path(__file__).resolve().parents[2] / "domain"


def make_tracker(
    *,
    session_metadata: Optional[dict[str, Any]] = None,
    message_metadata: Optional[dict[str, Any]] = None,
    intent: str = "ask_invoice",
    text: str = "show me my invoice",
    entities: Optional[dict[str, str]] = None,
    slots: Optional[dict[str, Any]] = None,
    entity_list: Optional[list[tuple[str, str]]] = None,
    sender_id: str = "unit-test",
    message_id: Optional[str] = None,
    active_loop: Optional[str] = None,
) -> Tracker:
    """A tracker whose latest message is `text`, as the action server receives it.

    `entities` gives one value per entity; `entity_list` several (e.g. two
    `billing_period`s). `message_id` is the id Rasa gives the user's message.
    `session_metadata` is also the latest message's metadata unless
    `message_metadata` is given: every channel sends the token with every message,
    and actions read it only from there (actions/identity.py).
    """
    pairs = list((entities or {}).items()) + list(entity_list or [])
    latest_message: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": [_entity(name, value, text) for name, value in pairs],
        "metadata": (
            message_metadata if message_metadata is not None else session_metadata
        )
        or {},
    }
    if message_id is not None:
        latest_message["message_id"] = message_id
    all_slots: dict[str, Any] = {"session_started_metadata": session_metadata}
    all_slots.update(slots or {})
    return Tracker.from_dict(
        {
            "sender_id": sender_id,
            "slots": all_slots,
            "latest_message": latest_message,
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": active_loop} if active_loop else {},
            "latest_action_name": "action_listen",
        }
    )


def _entity(name: str, value: str, text: str) -> dict[str, Any]:
    """An extracted entity, placed where `value` occurs in `text` (else at 0)."""
    start = max(text.find(value), 0)
    return {"entity": name, "value": value, "start": start, "end": start + len(value)}


def domain_responses() -> dict[str, list[dict[str, Any]]]:
    """Every response of the English catalogue (the domain's texts), by name."""
    return dict(catalogue("en").responses)


def render(dispatcher: CollectingDispatcher) -> list[str]:
    """The texts the chatter would see, filled in the way Rasa fills them.

    Fails if an action uses a response the catalogue lacks, or leaves one of its
    variables unfilled.
    """
    texts = []
    for message in dispatcher.messages:
        if message.get("text"):
            texts.append(message["text"])
            continue
        name = message["response"]
        variations = domain_responses().get(name)
        assert variations, f"response {name!r} is not in the catalogue"
        values = {k: v for k, v in message.items() if v is not None}
        for variation in variations:
            template = variation["text"]
            wanted = set(re.findall(r"{([^\n{}]+?)}", template))
            missing = wanted - values.keys()
            assert not missing, f"{name} needs {sorted(missing)}"
        texts.append(variations[0]["text"].format(**values))
    return texts


# --------------------------------------------------------------------------- tokens


def customer_token(tenant_id: str, **kwargs: Any) -> str:
    """A chat token for a signed-in user of the customer tenant `tenant_id`."""
    from api.settings import get_settings
    from common.identity import mint_customer_token

    return mint_customer_token(
        kwargs.pop("secret", None) or get_settings().chat_token_secret,
        tenant_id=tenant_id,
        user_id=kwargs.pop("user_id", "alex@example.com"),
        **kwargs,
    )


def staff_token(platform_user_id: str, platform: str = "slack", **kwargs: Any) -> str:
    """A chat token the Slack or Teams channel mints for a partner staff member."""
    from api.settings import get_settings
    from common.identity import mint_staff_token

    return mint_staff_token(
        kwargs.pop("secret", None) or get_settings().chat_token_secret,
        platform=platform,  # type: ignore[arg-type]
        platform_user_id=platform_user_id,
        **kwargs,
    )


def signed_in(token: Optional[str]) -> Optional[dict[str, Any]]:
    """Session metadata carrying `token`, or None for an anonymous chatter."""
    return {"chat_token": token} if token else None
