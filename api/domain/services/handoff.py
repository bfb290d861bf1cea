"""Human handoff on the API side: an agent answers a paused conversation and hands
it back to the assistant, through Rasa's HTTP API.

The bot side is `actions/handoff.py`: it tells the user a person will reply, records
the partner whose desk owns the conversation in the `handoff_partner_id` slot, and
returns `ConversationPaused`. From then on Rasa stores the user's messages but does
not answer them (shared RASA-NOTES.md), until a `resume` event is appended.

Here:

* `deliver_agent_message(conversation_id, text, agent)` appends a `bot` event with
  metadata `{"agent": <name>}` (how the review dashboard tells an agent's message
  from the bot's, api/dashboard/ingest.py) to `/conversations/{id}/tracker/events`,
  with `output_channel=latest&execute_side_effects=true`, so Rasa also sends it
  through the channel the user last wrote on, when that channel can push
  (the web chat over socket.io can; Slack and Teams reply through their own APIs).
  The REST channel cannot push: a REST client sees an agent's messages only by
  reading the conversation (`GET /conversations/{id}/tracker`).
* `resume_conversation(conversation_id)` appends `resume`, a bot message "You're
  back with the assistant", and `action_listen` (so that the next user message is
  handled by the rules as at any other turn).

Every call uses `RASA_URL` and `RASA_AUTH_TOKEN` from the settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

import httpx

from api.settings import get_settings

HANDOFF_PARTNER_SLOT = "handoff_partner_id"
AGENT_KEY = "agent"  # bot event metadata naming the human agent (the dashboard's key)
RESUMED_TEXT = (
    "You're back with the assistant. Ask me anything about your invoices, "
    "payments, subscriptions or support tickets."
)
TIMEOUT_SECONDS = 10.0


class HandoffError(Exception):
    """A handoff operation that cannot be done."""


class NotHandedOff(HandoffError):
    """The conversation is not waiting for a person (never handed off, or resumed)."""


class RasaUnavailable(HandoffError):
    """Rasa's HTTP API did not answer, or refused our token."""


@dataclass(frozen=True)
class ConversationState:
    conversation_id: str
    paused: bool
    partner_id: Optional[int]  # the partner whose desk took it over, if ever
    latest_input_channel: Optional[str]

    @property
    def was_handed_off(self) -> bool:
        return self.partner_id is not None


def _partner_id(value: Any) -> Optional[int]:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


class RasaConversations:
    """The few calls of Rasa's HTTP API that a handoff needs."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.transport = transport

    @classmethod
    def from_settings(cls) -> RasaConversations:
        settings = get_settings()
        return cls(settings.rasa_url, settings.rasa_auth_token)

    def _url(self, conversation_id: str, suffix: str) -> str:
        # The id is user-controlled (a channel's sender id): quote every character
        # that could change the path.
        return (
            f"{self.base_url}/conversations/{quote(conversation_id, safe='')}{suffix}"
        )

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Optional[dict[str, str]] = None,
        json: Any = None,
    ) -> Any:
        query = {"token": self.token, **(params or {})}
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.request(method, url, params=query, json=json)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(
                f"Rasa did not answer ({type(exc).__name__})"
            ) from exc
        if response.status_code in (401, 403):
            raise RasaUnavailable("Rasa refused the RASA_AUTH_TOKEN")
        if not response.is_success:
            raise RasaUnavailable(f"Rasa answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise RasaUnavailable("Rasa's answer is not JSON") from exc

    def state(self, conversation_id: str) -> ConversationState:
        """Whether the conversation is paused, and which partner took it over."""
        tracker = self._request(
            "GET",
            self._url(conversation_id, "/tracker"),
            params={"include_events": "NONE"},
        )
        if not isinstance(tracker, dict):
            raise RasaUnavailable("Rasa's tracker is not an object")
        slots = tracker.get("slots") or {}
        channel = tracker.get("latest_input_channel")
        return ConversationState(
            conversation_id=conversation_id,
            paused=bool(tracker.get("paused")),
            partner_id=_partner_id(slots.get(HANDOFF_PARTNER_SLOT)),
            latest_input_channel=channel if isinstance(channel, str) else None,
        )

    def append_events(
        self, conversation_id: str, events: list[dict[str, Any]], *, deliver: bool
    ) -> None:
        """Append `events`; with `deliver`, also send bot messages to the user
        through the latest input channel (when it can push)."""
        params = (
            {"output_channel": "latest", "execute_side_effects": "true"}
            if deliver
            else {}
        )
        self._request(
            "POST",
            self._url(conversation_id, "/tracker/events"),
            params=params,
            json=events,
        )


def agent_message_event(
    text: str, agent: str, *, timestamp: Optional[float] = None
) -> dict[str, Any]:
    """A bot event written by a person: the dashboard shows it as the agent's."""
    return {
        "event": "bot",
        "text": text,
        "metadata": {AGENT_KEY: agent},
        "timestamp": timestamp if timestamp is not None else time.time(),
    }


def resume_events(*, timestamp: Optional[float] = None) -> list[dict[str, Any]]:
    """What hands a conversation back to the assistant."""
    now = timestamp if timestamp is not None else time.time()
    return [
        {"event": "resume", "timestamp": now},
        {"event": "bot", "text": RESUMED_TEXT, "timestamp": now},
        {"event": "action", "name": "action_listen", "timestamp": now},
    ]


def _client(client: Optional[RasaConversations]) -> RasaConversations:
    return client or RasaConversations.from_settings()


def conversation_state(
    conversation_id: str, *, client: Optional[RasaConversations] = None
) -> ConversationState:
    return _client(client).state(conversation_id)


def deliver_agent_message(
    conversation_id: str,
    text: str,
    agent: str,
    *,
    client: Optional[RasaConversations] = None,
) -> None:
    """Add an agent's message to a paused conversation and send it to the user.

    Raises:
        NotHandedOff: the conversation is not waiting for a person.
        RasaUnavailable: Rasa's HTTP API failed.
    """
    rasa = _client(client)
    if not rasa.state(conversation_id).paused:
        raise NotHandedOff(f"conversation {conversation_id} is not with a person")
    rasa.append_events(
        conversation_id, [agent_message_event(text, agent)], deliver=True
    )


def resume_conversation(
    conversation_id: str, *, client: Optional[RasaConversations] = None
) -> None:
    """Hand a paused conversation back to the assistant, and tell the user.

    Raises:
        NotHandedOff: the conversation is not paused.
        RasaUnavailable: Rasa's HTTP API failed.
    """
    rasa = _client(client)
    if not rasa.state(conversation_id).paused:
        raise NotHandedOff(f"conversation {conversation_id} is not with a person")
    rasa.append_events(conversation_id, resume_events(), deliver=True)
