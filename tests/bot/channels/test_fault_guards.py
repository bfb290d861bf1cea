"""Unit tests, in Rasa's environment, of what the fault tests (tests/faults/) found:
the action server guard (bot/action_guard.py) and the lock store that cannot wait
forever (bot/stores.py). The end-to-end proof is in tests/faults/."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.lock import TicketLock
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    FollowupAction,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import action_guard
from bot.stores import ResilientRedisLockStore

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
slots:
  ticket_confirmed:
    type: text
    mappings: [{type: custom}]
forms:
  escalation_form:
    required_slots: [ticket_confirmed]
actions: [action_file_ticket, action_invoice_lookup]
"""
)


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/webhook"  # nothing listens there now


@pytest.fixture
def guard() -> Iterator[None]:
    action_guard.install(
        action_guard.GuardSettings(
            timeout_seconds=2, reopen={"action_file_ticket": "escalation_form"}
        )
    )
    try:
        yield
    finally:
        action_guard.uninstall()


def run(action_name: str, events: Optional[list[Any]] = None) -> list[Any]:
    tracker = DialogueStateTracker.from_events(
        "conv", events or [UserUttered("hi")], slots=DOMAIN.slots
    )
    action = RemoteAction(action_name, EndpointConfig(url=refused_url()))
    return asyncio.run(
        action.run(
            CollectingOutputChannel(),
            TemplatedNaturalLanguageGenerator(DOMAIN.responses),
            tracker,
            DOMAIN,
        )
    )


def test_an_unreachable_action_server_gets_a_clear_reply(guard: None) -> None:
    events = run("action_invoice_lookup")
    [said] = [e for e in events if isinstance(e, BotUttered)]
    assert "can't reach the billing system" in (said.text or "")
    assert events[-1] == FollowupAction("action_listen")


def test_a_failed_filing_reopens_the_forms_confirmation(guard: None) -> None:
    events = run("action_file_ticket")
    assert ActiveLoop("escalation_form") in events
    assert SlotSet("ticket_confirmed", None) in events
    assert SlotSet("requested_slot", "ticket_confirmed") in events


def test_one_clear_reply_per_user_message(guard: None) -> None:
    apology = BotUttered(
        "sorry", metadata={action_guard.FAULT_METADATA_KEY: action_guard.FAULT_NAME}
    )
    events = run(
        "action_invoice_lookup",
        [UserUttered("hi"), ActionExecuted("action_x"), apology],
    )
    assert not [e for e in events if isinstance(e, BotUttered)]


# Action server responses: valid ones, and ones Rasa's schema must refuse.
RESPONSES_VALID = [
    {},
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "timestamp": None, "name": "invoice", "value": "D1"},
            {"event": "active_loop", "name": "escalation_form"},
            {"event": "followup", "name": "action_listen"},
        ],
        "responses": [{"text": "Your latest invoice", "buttons": []}],
    },
]
RESPONSES_INVALID = [
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "an event without its type"}]},
    {"responses": ["not an object"]},
]


@pytest.mark.parametrize("result", RESPONSES_VALID + RESPONSES_INVALID)
def test_action_responses_are_judged_as_rasa_judges_them(
    guard: None, result: dict[str, Any]
) -> None:
    """The compiled validator accepts and refuses exactly what Rasa's own does."""
    import jsonschema

    action = RemoteAction("action_invoice_lookup", None)
    schema = RemoteAction.action_response_format_spec()
    try:
        jsonschema.validate(result, schema)
        rasa_accepts = True
    except jsonschema.ValidationError:
        rasa_accepts = False
    assert rasa_accepts == (result in RESPONSES_VALID)
    if rasa_accepts:
        assert action._validate_action_result(result) is True
    else:
        with pytest.raises(jsonschema.ValidationError) as refused:
            action._validate_action_result(result)
        assert "Failed to validate Action server response" in refused.value.message


def test_the_response_schema_is_checked_once_not_per_call(
    guard: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jsonschema

    checks: list[Any] = []
    validator_class = jsonschema.validators.validator_for(
        RemoteAction.action_response_format_spec()
    )
    original = validator_class.check_schema
    monkeypatch.setattr(
        validator_class,
        "check_schema",
        classmethod(
            lambda cls, schema, **kw: checks.append(schema) or original(schema)
        ),
    )
    action_guard._response_validator.cache_clear()
    action = RemoteAction("action_invoice_lookup", None)
    for result in RESPONSES_VALID * 5:
        action._validate_action_result(result)
    assert len(checks) == 1


def test_uninstall_gives_rasa_its_own_validation_back() -> None:
    action_guard.uninstall()
    original = RemoteAction._validate_action_result
    action_guard.install()
    assert RemoteAction._validate_action_result is not original
    action_guard.uninstall()
    assert RemoteAction._validate_action_result is original


def test_action_calls_share_one_kept_connection(guard: None) -> None:
    """Rasa opened a new connection per action call; the guard keeps one open."""
    from aiohttp import web

    peers: list[Any] = []

    async def webhook(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername")[1])
        body = await request.json()
        return web.json_response(
            {
                "events": [{"event": "slot", "name": "invoice", "value": "D1"}],
                "responses": [{"text": f"ran {body['next_action']}"}],
            }
        )

    async def scenario() -> tuple[list[Any], list[Any]]:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
        tracker = DialogueStateTracker.from_events(
            "conv", [UserUttered("hi")], slots=DOMAIN.slots
        )
        results = []
        try:
            for _ in range(3):
                action = RemoteAction("action_invoice_lookup", endpoint)
                results.append(
                    await action.run(
                        CollectingOutputChannel(),
                        TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                        tracker,
                        DOMAIN,
                    )
                )
            await action_guard.close_kept_sessions(endpoint)
        finally:
            await runner.cleanup()
        return results, peers

    results, peers = asyncio.run(scenario())
    for events in results:
        assert SlotSet("invoice", "D1") in events
        assert any(
            isinstance(e, BotUttered) and e.text == "ran action_invoice_lookup"
            for e in events
        )
    assert len(peers) == 3 and len(set(peers)) == 1  # one connection, kept


def test_request_bodies_say_what_rasas_json_says() -> None:
    import json

    tracker = DialogueStateTracker.from_events(
        "conv",
        [
            UserUttered("Rechnung für März — 12,50 €? 🙂"),
            SlotSet("ticket_confirmed", "yes"),
        ],
        slots=DOMAIN.slots,
    )
    payload = {
        "tracker": tracker.current_state(),
        "domain": DOMAIN.as_dict(),
        "numbers": {1: 0.1, "big": 2**70},  # a non-str key, a 70-bit integer
    }
    body = action_guard._dumps(payload)
    assert json.loads(body) == json.loads(json.dumps(payload))


class MemoryLockStore(ResilientRedisLockStore):
    """The resilient lock logic over a dict instead of Redis."""

    def __init__(self) -> None:
        self.locks: dict[str, str] = {}
        self.key_prefix = ""

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        raw = self.locks.get(conversation_id)
        return TicketLock.from_dict(__import__("json").loads(raw)) if raw else None

    def delete_lock(self, conversation_id: str) -> None:
        self.locks.pop(conversation_id, None)

    def save_lock(self, lock: TicketLock) -> None:
        self.locks[lock.conversation_id] = lock.dumps()


def test_a_message_whose_ticket_expired_behind_a_dead_replica_still_runs() -> None:
    store = MemoryLockStore()
    # A dead replica's ticket, and ours issued at once: both expire together.
    store.issue_ticket("conv", 0.3)

    async def waiting_message() -> bool:
        async with store.lock("conv", lock_lifetime=0.3, wait_time_in_seconds=0.5):
            return True

    started = time.monotonic()
    assert asyncio.run(asyncio.wait_for(waiting_message(), 5)) is True
    assert time.monotonic() - started < 5
    assert "conv" not in store.locks  # cleaned up
