"""A clear answer, not silence, when the action server is down or slow.

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

Rasa also checks every action server response against its JSON schema with
`jsonschema.validate`, which first validates the schema itself against the 2020-12
meta-schema: ~19 ms of CPU per custom action call, ~40 % of a reply's CPU under load
(docs/production.md, "Where a reply's CPU goes"). `install()` replaces
`RemoteAction._validate_action_result` with the same check against a validator built
once (~0.5 ms); an invalid response still raises the same `ValidationError`.

Rasa also opens a new HTTP connection (a new aiohttp session) for every call to the
action server. The guard gives the action endpoint one session per event loop that
keeps its connections open for `KEEPALIVE_SECONDS` (2 s, below the action server's 5 s
keep-alive, so a kept connection is never one the server is closing); the sessions
close when Rasa stops. They encode the request (the whole conversation, and the
domain) with orjson, ~10x faster than the `json` module on the same data.

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
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

import aiohttp
import jsonschema
import orjson
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.constants import DOCS_BASE_URL
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
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.inbound import MessageGate
from common import channels as config
from common import settings as S

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = S.ACTION_SERVER_TIMEOUT_SECONDS.default
KEEPALIVE_SECONDS = 2.0
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
_original_validate: Optional[Callable[[RemoteAction, dict[str, Any]], bool]] = None


def settings() -> GuardSettings:
    return _settings


def install(new_settings: Optional[GuardSettings] = None) -> None:
    """Wrap `RemoteAction.run` and `FormAction.run` (once; later calls only update
    the settings)."""
    global _settings, _original_remote_run, _original_form_run, _original_validate
    if new_settings is not None:
        _settings = new_settings
    if _original_remote_run is not None:
        return
    _original_remote_run = RemoteAction.run
    _original_form_run = FormAction.run
    _original_validate = RemoteAction._validate_action_result
    RemoteAction.run = _guarded_remote_run  # type: ignore[method-assign]
    FormAction.run = _guarded_form_run  # type: ignore[method-assign]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    logger.info(
        "Action server guard on: %.0f s deadline per call, a clear reply on failure",
        _settings.timeout_seconds,
    )


def uninstall() -> None:
    """Undo `install` (for tests)."""
    global _original_remote_run, _original_form_run, _original_validate
    if _original_remote_run is not None and _original_form_run is not None:
        RemoteAction.run = _original_remote_run  # type: ignore[method-assign]
        FormAction.run = _original_form_run  # type: ignore[method-assign]
    if _original_validate is not None:
        RemoteAction._validate_action_result = _original_validate  # type: ignore[method-assign]
    _original_remote_run = _original_form_run = _original_validate = None


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    """Rasa's action response schema, checked once, as a reusable validator."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """`RemoteAction._validate_action_result` without re-checking the schema."""
    try:
        _response_validator().validate(result)
    except jsonschema.ValidationError as error:
        # Rasa's own wording, so its logs read the same
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            "response from the Action endpoint is valid. For more information "
            f"about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


@asynccontextmanager
async def _kept(session: aiohttp.ClientSession) -> AsyncIterator[aiohttp.ClientSession]:
    """`async with` over a session that outlives the block (see `keep_alive`).

    The block is the call to the action server: the message gives up its place at
    the channels' gate meanwhile (`MessageGate.released`), so that a slow action
    holds up its own conversation, not every other one this process is serving.
    """
    async with MessageGate.released():
        yield session


# Per endpoint and event loop: the session its calls share.
_SESSIONS_KEY = "_csp_sessions"


def keep_alive(endpoint: EndpointConfig) -> None:
    """Make `endpoint.request` reuse one session (and its open connections) per
    event loop instead of opening a new one per call."""
    if _SESSIONS_KEY in vars(endpoint):
        return
    sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
    setattr(endpoint, _SESSIONS_KEY, sessions)

    def session() -> AbstractAsyncContextManager[aiohttp.ClientSession]:
        loop = asyncio.get_running_loop()
        kept = sessions.get(loop)
        if kept is None or kept.closed:
            for old in [old for old in sessions if old.is_closed()]:
                del sessions[old]
            auth = (
                aiohttp.BasicAuth(
                    endpoint.basic_auth["username"], endpoint.basic_auth["password"]
                )
                if endpoint.basic_auth
                else None
            )
            kept = sessions[loop] = aiohttp.ClientSession(
                headers=endpoint.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                json_serialize=_dumps,
            )
        return _kept(kept)

    endpoint.session = session  # type: ignore[method-assign]


def _dumps(payload: Any) -> str:
    """JSON for a request body: orjson, or the `json` module for what orjson
    refuses (a number too big for 64 bits), so the body is what Rasa would send."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(payload)


async def close_kept_sessions(endpoint: Optional[EndpointConfig]) -> None:
    """Close the sessions `keep_alive` opened on this loop (at shutdown)."""
    sessions = vars(endpoint).get(_SESSIONS_KEY, {}) if endpoint else {}
    session = sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


async def _guarded_remote_run(
    self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> list[Event]:
    assert _original_remote_run is not None
    if self.action_endpoint is not None:
        keep_alive(self.action_endpoint)
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
            credentials, "timeout_seconds", S.ACTION_SERVER_TIMEOUT_SECONDS
        )
        message = str(credentials.get("message") or DEFAULT_MESSAGE)
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

        @webhook.listener("before_server_stop")
        async def close_sessions(app: Any, _: Any) -> None:
            agent = getattr(app.ctx, "agent", None)
            await close_kept_sessions(getattr(agent, "action_endpoint", None))

        return webhook
