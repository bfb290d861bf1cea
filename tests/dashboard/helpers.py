"""Rasa events for tests, written out by hand in the shape of Rasa 3.6's
`Event.as_dict()` (see fixtures/rasa_tracker_events.json for rows Rasa wrote)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Conversation:
    """Builds one conversation's events, one second apart unless told otherwise."""

    start: float
    channel: str = "socketio"
    metadata: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.t = self.start
        self.events.append(self._action("action_session_start"))
        self.events.append(
            {
                "event": "session_started",
                "timestamp": self._next(),
                "metadata": self.metadata,
            }
        )
        self.events.append(self._action("action_listen"))

    def _next(self, step: float = 1.0) -> float:
        self.t += step
        return self.t

    def _action(self, name: str) -> dict[str, Any]:
        return {
            "event": "action",
            "timestamp": self._next(),
            "name": name,
            "policy": "RulePolicy",
            "confidence": 1.0,
            "action_text": None,
            "hide_rule_turn": False,
        }

    def user(
        self,
        text: str,
        intent: Optional[str],
        confidence: float = 0.95,
        entities: Optional[list[dict[str, Any]]] = None,
    ) -> Conversation:
        parse = {
            "intent": {"name": intent, "confidence": confidence} if intent else {},
            "entities": entities or [],
            "text": text,
        }
        self.events.append(
            {
                "event": "user",
                "timestamp": self._next(),
                "metadata": self.metadata,
                "text": text,
                "parse_data": parse,
                "input_channel": self.channel,
                "message_id": None,
            }
        )
        return self

    def action(self, name: str) -> Conversation:
        self.events.append(self._action(name))
        return self

    def bot(
        self,
        text: str,
        agent: Optional[str] = None,
        buttons: Optional[list[tuple[str, str]]] = None,
    ) -> Conversation:
        """A bot message; `buttons` as (title, payload) pairs."""
        data: dict[str, Any] = {}
        if buttons:
            data["buttons"] = [{"title": t, "payload": p} for t, p in buttons]
        self.events.append(
            {
                "event": "bot",
                "timestamp": self._next(),
                "metadata": {"agent": agent} if agent else {},
                "text": text,
                "data": data,
            }
        )
        return self

    def form(self, name: Optional[str]) -> Conversation:
        """An ActiveLoop event: the form `name` starts, or (None) the form ends."""
        self.events.append(
            {"event": "active_loop", "timestamp": self._next(), "name": name}
        )
        return self

    def rejected(self, name: str) -> Conversation:
        """The form `name` did not take the user's message."""
        self.events.append(
            {
                "event": "action_execution_rejected",
                "timestamp": self._next(),
                "name": name,
                "policy": None,
                "confidence": None,
            }
        )
        return self

    def pause(self) -> Conversation:
        self.events.append({"event": "pause", "timestamp": self._next()})
        return self

    def resume(self, after: float = 1.0) -> Conversation:
        self.events.append({"event": "resume", "timestamp": self._next(after)})
        return self

    def slot(self, name: str, value: Any) -> Conversation:
        self.events.append(
            {"event": "slot", "timestamp": self._next(), "name": name, "value": value}
        )
        return self

    def exchange(
        self,
        text: str,
        intent: Optional[str],
        confidence: float = 0.95,
        reply: str = "ok",
    ) -> Conversation:
        """A user message, the action that answers it, the reply, and listen."""
        self.user(text, intent, confidence)
        self.action("utter_answer")
        self.bot(reply)
        self.action("action_listen")
        return self
