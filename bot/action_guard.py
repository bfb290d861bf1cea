"""A clear answer, not silence, when the action server is down or slow (issue 8).

What Rasa 3.6.21 does on its own (`rasa/core/actions/action.py`, `processor.py`): it
waits up to 5 minutes for the action server (`DEFAULT_REQUEST_TIMEOUT`, not
configurable), and when the call fails (refused, timed out, a 5xx) it logs the error,
drops the action's events and says nothing; the user's message just gets no answer.
Rasa has no hook for this, so `install()` wraps two methods:

- `RemoteAction.run`: every call to the action server gets a deadline
  (`timeout_seconds`, ACTION_SERVER_TIMEOUT_SECONDS, default 20 s; keep it below the
  lock store's 60 s lock lifetime). A refused call, a 5xx or the deadline becomes
  `ActionServerUnavailable`. A 400 (`ActionExecutionRejection`, how a form's
  validation rejects) is left alone.
- `FormAction.run`: a form whose validation or question could not reach the action
  server fails as a whole, so its slots and requested slot stay as they were.

The action the dialogue policy chose (a custom action, or a form) then answers with
`message` ("Sorry, I can't reach the billing system right now. ..."), once per user
message, and ends the turn (`FollowupAction("action_listen")`), so nothing else runs
against a server that is not there. The next message, once the server is back,
continues where the conversation was: a form asks its pending question again.

A custom action that runs after a form completed can name that form in `reopen`
(`action_file_ticket: escalation_form`): when it fails, the form is opened again at
its last question (the confirmation), so the user's next "yes" retries it. The action
must be idempotent across that retry (actions/tickets.py keys a ticket on the message
that started the escalation), because a slow server may have done the work after Rasa
gave up.

Turned on by naming `bot.action_guard.ActionServerGuard` in credentials.yml (it is
not a chat channel: Rasa loads custom classes from there, and it only serves a health
route at /webhooks/action_guard/).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from rasa.shared.core.events import (
    ActiveLoop,
    BotUttered,
    Event,
    FollowupAction,
    SlotSet,
    UserUttered,
)
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import config

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_MESSAGE = (
    "Sorry, I can't reach the billing system right now. Please try again in a minute."
)
# Marks the apology in the tracker (and the dashboard's transcripts).
FAULT_METADATA_KEY = "fault"
FAULT_NAME = "action_server_unavailable"


class ActionServerUnavailable(RasaException):
    """A call to the action server was refused, failed or timed out."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"action server unavailable for '{action}': {reason}")
        self.action = action
        self.reason = reason


@dataclass
class GuardSettings:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    message: str = DEFAULT_MESSAGE
    reopen: dict[str, str] = field(default_factory=dict)  # action -> form


# The settings in force, and how deep inside an action run we are (0: the action the
# policy chose; deeper: a form's validation or question).
_settings = GuardSettings()
_depth: contextvars.ContextVar[int] = contextvars.ContextVar(
    "action_guard_depth", default=0
)
_original_remote_run: Optional[Callable[..., Awaitable[list[Event]]]] = None
_original_form_run: Optional[Callable[..., Awaitable[list[Event]]]] = None


def settings() -> GuardSettings:
    return _settings


def install(new_settings: Optional[GuardSettings] = None) -> None:
    """Wrap `RemoteAction.run` and `FormAction.run` (once; later calls only update
    the settings)."""
    global _settings, _original_remote_run, _original_form_run
    if new_settings is not None:
        _settings = new_settings
    if _original_remote_run is not None:
        return
    _original_remote_run = RemoteAction.run
    _original_form_run = FormAction.run
    RemoteAction.run = _guarded_remote_run  # type: ignore[method-assign]
    FormAction.run = _guarded_form_run  # type: ignore[method-assign]
    logger.info(
        "Action server guard on: %.0f s deadline per call, a clear reply on failure",
        _settings.timeout_seconds,
    )


def uninstall() -> None:
    """Undo `install` (for tests)."""
    global _original_remote_run, _original_form_run
    if _original_remote_run is not None and _original_form_run is not None:
        RemoteAction.run = _original_remote_run  # type: ignore[method-assign]
        FormAction.run = _original_form_run  # type: ignore[method-assign]
    _original_remote_run = _original_form_run = None


async def _guarded_remote_run(
    self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> list[Event]:
    assert _original_remote_run is not None
    outer = _depth.get() == 0
    token = _depth.set(_depth.get() + 1)
    try:
        try:
            return await asyncio.wait_for(
                _original_remote_run(self, output_channel, nlg, tracker, domain),
                timeout=_settings.timeout_seconds,
            )
        except ActionExecutionRejection:
            raise
        except asyncio.TimeoutError:
            failure = ActionServerUnavailable(
                self.name(), f"no answer within {_settings.timeout_seconds:g} s"
            )
        except RasaException as exc:
            failure = ActionServerUnavailable(self.name(), str(exc))
    finally:
        _depth.reset(token)
    if not outer:
        raise failure
    return _apology(self.name(), failure, tracker, domain)


async def _guarded_form_run(
    self: FormAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> list[Event]:
    assert _original_form_run is not None
    outer = _depth.get() == 0
    token = _depth.set(_depth.get() + 1)
    try:
        return await _original_form_run(self, output_channel, nlg, tracker, domain)
    except ActionServerUnavailable as failure:
        if not outer:
            raise
        return _apology(self.name(), failure, tracker, domain)
    finally:
        _depth.reset(token)


def _apologised_this_turn(tracker: Any) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and (event.metadata or {}).get(
            FAULT_METADATA_KEY
        ):
            return True
    return False


def _apology(
    action: str, failure: ActionServerUnavailable, tracker: Any, domain: Any
) -> list[Event]:
    """The events of an action that could not reach the action server."""
    logger.error(
        "Action server unavailable in conversation %s: %s (the user was told)",
        tracker.sender_id,
        failure,
    )
    events: list[Event] = []
    if not _apologised_this_turn(tracker):
        events.append(
            BotUttered(
                text=_settings.message, metadata={FAULT_METADATA_KEY: FAULT_NAME}
            )
        )
    form = _settings.reopen.get(action)
    slots = _required_slots(domain, form) if form else []
    if form and slots:
        # Back to the form's last question, unanswered: the next answer retries.
        events += [
            ActiveLoop(form),
            SlotSet(slots[-1], None),
            SlotSet(REQUESTED_SLOT, slots[-1]),
        ]
    events.append(FollowupAction(ACTION_LISTEN_NAME))
    return events


def _required_slots(domain: Any, form: str) -> list[str]:
    try:
        return list(domain.required_slots_for_form(form) or [])
    except (AttributeError, KeyError):
        return []


class ActionServerGuard(InputChannel):
    """Not a chat channel: installs the guard when Rasa reads credentials.yml.

    credentials.yml:

        bot.action_guard.ActionServerGuard:
          timeout_seconds: 20          # or ACTION_SERVER_TIMEOUT_SECONDS
          reopen:
            action_file_ticket: escalation_form
    """

    @classmethod
    def name(cls) -> str:
        return "action_guard"

    @classmethod
    def from_credentials(
        cls, credentials: Optional[dict[str, Any]]
    ) -> ActionServerGuard:
        credentials = credentials or {}
        timeout = config.setting(
            credentials,
            "timeout_seconds",
            "ACTION_SERVER_TIMEOUT_SECONDS",
            str(DEFAULT_TIMEOUT_SECONDS),
        )
        message = config.setting(
            credentials, "message", "ACTION_SERVER_UNAVAILABLE_MESSAGE", DEFAULT_MESSAGE
        )
        reopen = credentials.get("reopen") or {}
        if not isinstance(reopen, Mapping):
            raise ValueError("action_guard: `reopen` maps an action to a form")
        return cls(
            GuardSettings(
                timeout_seconds=float(timeout),
                message=message,
                reopen={str(k): str(v) for k, v in reopen.items()},
            )
        )

    def __init__(self, guard: Optional[GuardSettings] = None) -> None:
        self.guard = guard or GuardSettings()
        install(self.guard)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("action_guard", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json(
                {
                    "status": "ok",
                    "timeout_seconds": self.guard.timeout_seconds,
                    "reopen": self.guard.reopen,
                }
            )

        return webhook
