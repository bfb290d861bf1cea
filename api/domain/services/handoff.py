"""Human handoff on the API side: the hand-off records (the agent seat's queue),
claims, and the calls of Rasa's HTTP API that let a person answer a paused
conversation and hand it back.

The bot side is `actions/handoff.py`: it tells the user a person will reply, records
the partner whose desk owns the conversation in the `handoff_partner_id` slot, opens
a `handoffs` row (`open_handoff`), announces it on the partner's Slack and Teams
channels, and returns `ConversationPaused`. From then on Rasa stores the user's
messages but does not answer them (shared RASA-NOTES.md), until a `resume` event is
appended.

Here:

* `open_handoff`, `claim_handoff`, `end_handoff`: the record. A claim is one
  conditional UPDATE (`... WHERE status = 'waiting'`): of two agents who click at
  once, the database lets exactly one row change, so exactly one gets it.
* `deliver_agent_message(conversation_id, text, agent)` appends a `bot` event whose
  payload is `{"from": "agent", "name": <agent>, "text": <text>}` (the widget shows
  it under the agent's name; docs/channels.md) and whose metadata is
  `{"agent": <name>}` (how the review dashboard tells an agent's message from the
  bot's, api/dashboard/ingest.py), to `/conversations/{id}/tracker/events`, with
  `output_channel=latest&execute_side_effects=true`, so Rasa also sends it through
  the channel the user last wrote on, when that channel can push (the web chat over
  socket.io can; Slack and Teams reply through their own APIs). The REST channel
  cannot push: a REST client sees an agent's messages only by reading the
  conversation (`GET /conversations/{id}/tracker`).
* `resume_conversation(conversation_id)` appends `resume`, a bot message ("You're
  back with the assistant", or why the chat ends) that carries the custom payload
  `{"handoff": "ended"}` (the widget ends its "waiting for a person" banner on
  it), and `action_listen` (so that the next user message is handled by the rules
  as at any other turn).
* `desk_hours(partner, now)`: whether the partner's desk is open, and when it next
  opens; `waiting_payload(...)` is the custom payload `{"handoff": "waiting", ...}`
  that the bot's hand-off message carries for the widget.

Every call to Rasa uses `RASA_URL` and `RASA_AUTH_TOKEN` from the settings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional, cast
from urllib.parse import quote

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from api.domain.models import (
    OPEN_HANDOFF_STATUSES,
    Handoff,
    HandoffStatus,
    Partner,
    utcnow,
)
from api.domain.services.routing import Opening, business_time_after
from api.settings import get_settings
from common.texts import catalogue

HANDOFF_PARTNER_SLOT = "handoff_partner_id"
AGENT_KEY = "agent"  # bot event metadata naming the human agent (the dashboard's key)
AGENT_SENDER = "agent"  # `from` of an agent's message payload (docs/channels.md)
TIMEOUT_SECONDS = 10.0
MAX_AGENT_NAME = 100
# The custom payload key of a hand-off state change, for the widget
# (docs/channels.md): "waiting" on the bot's hand-off message, "ended" on the
# message that hands the chat back. Slack and Teams show nothing for it.
HANDOFF_STATE_KEY = "handoff"
WAITING, ENDED = "waiting", "ended"


class HandoffError(Exception):
    """A handoff operation that cannot be done."""


class NotHandedOff(HandoffError):
    """The conversation is not waiting for a person (never handed off, or resumed)."""


class RasaUnavailable(HandoffError):
    """Rasa's HTTP API did not answer, or refused our token."""


class NotYours(HandoffError):
    """Someone else holds this hand-off, or nobody has claimed it."""


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

    def events(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's events since its last restart."""
        tracker = self._request(
            "GET",
            self._url(conversation_id, "/tracker"),
            params={"include_events": "AFTER_RESTART"},
        )
        events = tracker.get("events") if isinstance(tracker, dict) else None
        return [e for e in events or [] if isinstance(e, dict)]

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


def agent_payload(
    text: str, agent: str, *, event: Optional[str] = None
) -> dict[str, Any]:
    """What the customer's channel receives from a person: ``{"from": "agent",
    "name", "text"}``, and ``"event": "joined"`` when it says an agent joined."""
    payload: dict[str, Any] = {
        "from": AGENT_SENDER,
        "name": agent[:MAX_AGENT_NAME],
        "text": text,
    }
    if event:
        payload["event"] = event
    return payload


def agent_message_event(
    text: str,
    agent: str,
    *,
    timestamp: Optional[float] = None,
    event: Optional[str] = None,
) -> dict[str, Any]:
    """A bot event written by a person: its payload carries the agent's name for
    the widget, its metadata for the review dashboard."""
    return {
        "event": "bot",
        "text": None,
        "data": {"custom": agent_payload(text, agent, event=event)},
        "metadata": {AGENT_KEY: agent[:MAX_AGENT_NAME]},
        "timestamp": timestamp if timestamp is not None else time.time(),
    }


@dataclass(frozen=True)
class DeskHours:
    """Whether a partner's desk is open at a moment, and when it next opens."""

    known: bool  # the partner's profile gives its hours as data
    open: bool
    opens_at: Optional[datetime] = None  # when closed: the next opening, UTC


def desk_hours(partner: Partner, now: Optional[datetime] = None) -> DeskHours:
    """The partner's desk at `now`, from its `support_schedule` (weekly hours and
    holidays in its zone). A partner without one is taken as open: nothing says
    otherwise, and its hours in words are in the bot's message anyway."""
    now = now or utcnow()
    schedule = partner.support_schedule
    if not schedule or not schedule.get("weekly"):
        return DeskHours(known=False, open=True)
    opening = Opening.from_schedule(schedule, partner.timezone or "UTC")
    try:
        # No open time to add: the moment itself if open, else the next opening.
        opens = business_time_after(opening, now, timedelta(0))
    except ValueError:  # a schedule that never opens
        return DeskHours(known=True, open=False)
    if opens <= now:
        return DeskHours(known=True, open=True)
    return DeskHours(known=True, open=False, opens_at=opens)


def waiting_payload(hours: DeskHours, *, ticket: bool) -> dict[str, Any]:
    """What the bot's hand-off message carries for the widget: the chat waits for
    a person; whether the desk is open (None: not known) and when it opens; with
    `ticket`, the widget offers "Open a ticket instead" while the desk is closed."""
    return {
        HANDOFF_STATE_KEY: WAITING,
        "desk_open": hours.open if hours.known else None,
        "opens_at": hours.opens_at.isoformat() if hours.opens_at else None,
        "ticket": ticket and not hours.open,
    }


def is_state_payload(payload: Any) -> bool:
    """Whether a custom payload is a hand-off state change (nothing to show on
    channels other than the widget)."""
    return isinstance(payload, dict) and isinstance(payload.get(HANDOFF_STATE_KEY), str)


def resumed_text() -> str:
    return catalogue().text("handoff.resumed")


def resume_events(
    *, timestamp: Optional[float] = None, text: Optional[str] = None
) -> list[dict[str, Any]]:
    """What hands a conversation back to the assistant: `text` tells the user why
    (by default, that they are back with the assistant)."""
    now = timestamp if timestamp is not None else time.time()
    return [
        {"event": "resume", "timestamp": now},
        {
            "event": "bot",
            "text": text or resumed_text(),
            "data": {"custom": {HANDOFF_STATE_KEY: ENDED}},
            "timestamp": now,
        },
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
    event: Optional[str] = None,
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
        conversation_id, [agent_message_event(text, agent, event=event)], deliver=True
    )


def resume_conversation(
    conversation_id: str,
    *,
    client: Optional[RasaConversations] = None,
    text: Optional[str] = None,
) -> None:
    """Hand a paused conversation back to the assistant, and tell the user.

    Raises:
        NotHandedOff: the conversation is not paused.
        RasaUnavailable: Rasa's HTTP API failed.
    """
    rasa = _client(client)
    if not rasa.state(conversation_id).paused:
        raise NotHandedOff(f"conversation {conversation_id} is not with a person")
    rasa.append_events(conversation_id, resume_events(text=text), deliver=True)


# --------------------------------------------------------------------------- records


def open_handoff_for(session: Session, conversation_id: str) -> Optional[Handoff]:
    """The conversation's open (waiting or claimed) hand-off, if any."""
    return session.scalars(
        select(Handoff)
        .where(
            Handoff.conversation_id == conversation_id,
            Handoff.status.in_(OPEN_HANDOFF_STATUSES),
        )
        .order_by(Handoff.id.desc())
    ).first()


def open_handoff(
    session: Session,
    *,
    conversation_id: str,
    partner_id: int,
    requester: str,
    requester_key: str,
    customer_id: Optional[int] = None,
    reason: str = "",
    topic: Optional[str] = None,
    triage: Optional[str] = None,
    last_message: str = "",
    channel: str = "",
    now: Optional[datetime] = None,
) -> Handoff:
    """Record that a conversation waits for a person; the caller commits. A
    conversation already waiting (or being answered) keeps its record: asking
    again does not put it back at the end of the queue."""
    existing = open_handoff_for(session, conversation_id)
    if existing is not None:
        existing.last_message = last_message or existing.last_message
        return existing
    now = now or utcnow()
    handoff = Handoff(
        conversation_id=conversation_id,
        partner_id=partner_id,
        customer_id=customer_id,
        requester=requester[:300],
        requester_key=requester_key[:200],
        reason=reason[:300],
        topic=topic,
        triage=triage,
        last_message=last_message,
        channel=channel[:40],
        status=HandoffStatus.WAITING,
        requested_at=now,
        updated_at=now,
        forwarded_until=now.timestamp(),
    )
    session.add(handoff)
    session.flush()
    return handoff


def _changed(result: Any) -> bool:
    return cast("CursorResult[Any]", result).rowcount == 1


def claim_handoff(
    session: Session,
    handoff_id: int,
    *,
    agent_key: str,
    agent_name: str,
    now: Optional[datetime] = None,
) -> bool:
    """Take a waiting hand-off for `agent_key`; True if this call got it. The
    caller commits. Safe under concurrency: the UPDATE changes the row only while
    it is still waiting, so of any number of simultaneous claims one wins."""
    now = now or utcnow()
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.WAITING)
        .values(
            status=HandoffStatus.CLAIMED,
            agent_key=agent_key,
            agent_name=agent_name[:200],
            claimed_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return _changed(result)


def end_handoff(
    session: Session,
    handoff_id: int,
    *,
    status: HandoffStatus,
    agent_key: Optional[str] = None,
    from_statuses: Sequence[HandoffStatus] = OPEN_HANDOFF_STATUSES,
    ticket_id: Optional[int] = None,
    now: Optional[datetime] = None,
) -> bool:
    """Close an open hand-off as `status` (returned, closed, ticketed); with
    `agent_key`, only when that agent holds it. True if this call ended it."""
    now = now or utcnow()
    query = update(Handoff).where(
        Handoff.id == handoff_id, Handoff.status.in_(from_statuses)
    )
    if agent_key is not None:
        query = query.where(Handoff.agent_key == agent_key)
    values: dict[str, Any] = {"status": status, "ended_at": now, "updated_at": now}
    if ticket_id is not None:
        values["ticket_id"] = ticket_id
    result = session.execute(
        query.values(**values).execution_options(synchronize_session=False)
    )
    session.expire_all()
    return _changed(result)


def holds(handoff: Handoff, agent_key: str) -> bool:
    """Whether `agent_key` is the agent answering this hand-off now."""
    return handoff.status is HandoffStatus.CLAIMED and handoff.agent_key == agent_key


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ChatLine:
    """One message of a handed-off chat, as the agent's screen shows it."""

    sender: str  # "user", "bot" or "agent"
    text: str
    timestamp: float
    name: str = ""  # the agent's name

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.sender,
            "text": self.text,
            "name": self.name,
            "timestamp": self.timestamp,
        }


def chat_lines(events: Sequence[dict[str, Any]]) -> list[ChatLine]:
    """The user's, the bot's and agents' messages among a tracker's events."""
    lines: list[ChatLine] = []
    for event in events:
        kind = event.get("event")
        when = float(event.get("timestamp") or 0.0)
        if kind == "user" and event.get("text"):
            lines.append(ChatLine("user", str(event["text"]), when))
        elif kind == "bot":
            data = event.get("data") or {}
            custom = data.get("custom") if isinstance(data, dict) else None
            if isinstance(custom, dict) and custom.get("from") == AGENT_SENDER:
                lines.append(
                    ChatLine(
                        "agent",
                        str(custom.get("text") or ""),
                        when,
                        name=str(custom.get("name") or ""),
                    )
                )
            elif event.get("text"):
                lines.append(ChatLine("bot", str(event["text"]), when))
    return lines
