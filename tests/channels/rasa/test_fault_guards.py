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
