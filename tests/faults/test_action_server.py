"""The action server down or slow: the user is told clearly, nothing is
half-filed, and the next message after it is back works.

Without bot/action_guard.py, Rasa 3.6.21 answers nothing at all when the action
server refuses the call, and waits 5 minutes when it is slow.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import (
    ACTION_TIMEOUT_SECONDS,
    CONFIRM_QUESTION,
    UNAVAILABLE,
    FaultStack,
    new_sender,
    texts,
    to_the_confirmation,
)
from tests.production.widget_client import WidgetChat

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def test_down_at_the_confirmation_nothing_is_filed_and_yes_again_files_it(
    faults: FaultStack,
) -> None:
    stack, proxy = faults.stack, faults.proxy
    sender, metadata = new_sender(), faults.customer_metadata()

    def say(text: str) -> list[dict]:
        return stack.say(sender, text, metadata)

    to_the_confirmation(say)
    proxy.down()
    refused = say("/affirm")
    assert UNAVAILABLE in texts(refused), refused
    assert len(refused) == 1, "one clear message, not one per failed call"
    assert faults.tickets(sender) == []

    # The form waits at its confirmation: not closed, not half-done.
    tracker = faults.tracker(sender)
    assert (tracker.get("active_loop") or {}).get("name") == "escalation_form"
    assert tracker["slots"]["requested_slot"] == "ticket_confirmed"

    proxy.up()
    filed = texts(say("/affirm"))
    [ticket] = faults.tickets(sender)
    assert f"I've filed ticket {ticket.public_id}" in filed, filed
    tracker = faults.tracker(sender)
    assert not (tracker.get("active_loop") or {}).get("name"), "the form stayed open"
    assert tracker["slots"]["ticket_description"] is None, "form slots left behind"


def test_slow_filing_is_confirmed_on_the_retry_with_the_same_ticket(
    faults: FaultStack,
) -> None:
    """The worst case: the action server files the ticket, but its answer comes
    after Rasa gave up. The user is told to try again; the retry answers with the
    ticket already filed, and no second one is made."""
    stack, proxy = faults.stack, faults.proxy
    sender, metadata = new_sender(), faults.customer_metadata()

    def say(text: str) -> list[dict]:
        return stack.say(sender, text, metadata)

    to_the_confirmation(say)
    held = ACTION_TIMEOUT_SECONDS + 3
    proxy.slow(held, action="action_file_ticket")
    started = time.monotonic()
    late = say("/affirm")
    waited = time.monotonic() - started
    assert UNAVAILABLE in texts(late), late
    assert waited < ACTION_TIMEOUT_SECONDS + 2, f"the user waited {waited:.1f}s"
    [ticket] = faults.tickets(sender)  # filed after all, but not confirmed yet

    # The confirmation is open again (not a stale "yes"), so a retry is possible.
    tracker = faults.tracker(sender)
    assert (tracker.get("active_loop") or {}).get("name") == "escalation_form"
    assert tracker["slots"]["ticket_confirmed"] is None

    proxy.up()
    retried = texts(say("/affirm"))
    assert f"I've filed ticket {ticket.public_id}" in retried, retried
    assert [t.public_id for t in faults.tickets(sender)] == [ticket.public_id]


def test_a_question_while_down_gets_the_clear_reply_and_the_next_one_works(
    faults: FaultStack,
) -> None:
    stack, proxy = faults.stack, faults.proxy
    sender, metadata = new_sender(), faults.customer_metadata()
    assert texts(stack.say(sender, "hello", metadata)).strip()

    proxy.down()
    refused = stack.say(sender, "What is my latest invoice?", metadata)
    assert texts(refused).strip() and UNAVAILABLE in texts(refused), refused

    proxy.slow(ACTION_TIMEOUT_SECONDS + 2)
    started = time.monotonic()
    slow = stack.say(sender, "What is my latest invoice?", metadata)
    assert UNAVAILABLE in texts(slow), slow
    assert time.monotonic() - started < ACTION_TIMEOUT_SECONDS + 2

    proxy.up()
    answer = texts(stack.say(sender, "What is my latest invoice?", metadata))
    assert "latest invoice" in answer.lower(), answer
    assert UNAVAILABLE not in answer
    assert CONFIRM_QUESTION not in answer.lower()


def test_a_slow_action_holds_up_its_own_conversation_only(faults: FaultStack) -> None:
    """Rasa works on a few messages at once (RASA_MAX_CONCURRENT_MESSAGES, 2 here)
    and takes the rest in turn (bot/channels/inbound.py). Two widget conversations
    wait on a slow invoice lookup; a third one's greeting is answered meanwhile,
    because a message waiting on the action server gives up its place."""
    stack, proxy = faults.stack, faults.proxy
    held = ACTION_TIMEOUT_SECONDS - 1.5
    token = faults.customer_metadata()["chat_token"]

    async def run() -> tuple[list[float], float, list[str]]:
        chats = [WidgetChat(stack.rasa_url, token) for _ in range(3)]
        for chat in chats:
            await chat.connect()
        try:
            for chat in chats:  # a first exchange, so no session start is pending
                await chat.say("hello")
            proxy.slow(held, action="action_invoice_lookup")
            slow = [
                asyncio.ensure_future(chat.say("What is my latest invoice?"))
                for chat in chats[:2]
            ]
            await asyncio.sleep(0.5)  # both are now waiting on the action server
            greeting = await chats[2].say("hello")
            assert not any(task.done() for task in slow), "the lookups were not slow"
            answers = await asyncio.gather(*slow)
            return (
                [a.seconds for a in answers],
                greeting.seconds,
                [" ".join(a.texts) for a in answers],
            )
        finally:
            proxy.up()
            for chat in chats:
                await chat.close()

    slow_seconds, greeting_seconds, answers = asyncio.run(run())
    assert all(seconds >= held for seconds in slow_seconds), slow_seconds
    assert greeting_seconds < held - 1, (
        f"the greeting waited {greeting_seconds:.1f}s behind the slow lookups"
    )
    for answer in answers:
        assert "invoice" in answer.lower() and UNAVAILABLE not in answer, answer
