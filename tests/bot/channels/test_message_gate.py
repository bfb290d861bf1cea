"""The gate in front of Rasa (bot/channels/inbound.py, MessageGate): a few
messages at a time, the rest in arrival order, one at a time per conversation, and
a message waiting on another server gives its place up.

The gate in a running Rasa, with a slow action server behind it, is in
tests/faults/test_action_server.py; what it does to latency under load, in
docs/production.md.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.inbound import MessageGate
from common import channels as config
from common import settings as S


class Recorder:
    """Messages whose work can be released step by step, recording the order in
    which they start and finish and how many run at once."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.running = 0
        self.most = 0
        self.release: dict[str, asyncio.Event] = {}

    async def work(self, name: str, *, call_out: bool = False) -> str:
        self.release[name] = gate_open = asyncio.Event()
        self.started.append(name)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if call_out:  # waits on another server, as an action call does
                async with MessageGate.released():
                    self.running -= 1
                    await gate_open.wait()
                    self.release[name] = gate_open = asyncio.Event()
                self.running += 1
                self.most = max(self.most, self.running)
            await gate_open.wait()
        finally:
            self.running -= 1
            self.finished.append(name)
        return name

    def start(
        self, gate: MessageGate, conversation: str, name: str, **kwargs: bool
    ) -> asyncio.Future[str]:
        """Hand the message `name` of `conversation` to the gate."""
        return asyncio.ensure_future(gate.run(conversation, self.work(name, **kwargs)))

    async def finish(self, name: str) -> None:
        while name not in self.release:
            await asyncio.sleep(0)
        self.release.pop(name).set()
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_few_at_a_time_and_the_rest_in_arrival_order() -> None:
    gate, record = MessageGate(2), Recorder()
    names = [f"m{n}" for n in range(6)]
    tasks = [record.start(gate, name, name) for name in names]
    await settle()
    assert record.started == ["m0", "m1"]
    assert gate.waiting() == 4
    for name in ["m1", "m0", "m2", "m3", "m4", "m5"]:
        await record.finish(name)
    assert await asyncio.gather(*tasks) == names
    assert record.started == names
    assert record.most == 2
    assert gate.waiting() == 0


async def test_one_message_of_a_conversation_at_a_time() -> None:
    gate, record = MessageGate(2), Recorder()
    a1 = record.start(gate, "a", "a1")
    a2 = record.start(gate, "a", "a2")
    b1 = record.start(gate, "b", "b1")
    await settle()
    # a2 waits for a1 outside the gate, so b1 gets the second place.
    assert record.started == ["a1", "b1"]
    assert gate.waiting() == 0
    await record.finish("b1")
    assert record.started == ["a1", "b1"], "a2 ran beside a1"
    await record.finish("a1")
    assert record.started == ["a1", "b1", "a2"]
    await record.finish("a2")
    await asyncio.gather(a1, a2, b1)


async def test_a_message_waiting_on_another_server_lets_the_next_one_in() -> None:
    gate, record = MessageGate(1), Recorder()
    slow = record.start(gate, "a", "slow", call_out=True)
    await settle()
    queued = [record.start(gate, name, name) for name in ("b", "c")]
    await settle()
    assert record.started == ["slow", "b"], "the slot was not given up"
    await record.finish("slow")  # the other server answers
    assert record.finished == [], "it took the slot back while b held it"
    await record.finish("b")
    # Back from its call, the slow message goes ahead of c, which came later.
    assert record.started == ["slow", "b"] and record.running == 1
    await record.finish("slow")
    assert record.finished == ["b", "slow"]
    await record.finish("c")
    await asyncio.gather(slow, *queued)
    assert record.most == 1


async def test_cancelled_messages_give_their_place_back() -> None:
    gate, record = MessageGate(1), Recorder()
    holder = record.start(gate, "a", "holder")
    waiter = record.start(gate, "b", "waiter")
    same = record.start(gate, "a", "same")
    await settle()
    waiter.cancel()
    same.cancel()
    holder.cancel()
    for task in (holder, waiter, same):
        with pytest.raises(asyncio.CancelledError):
            await task
    after = record.start(gate, "a", "after")
    await settle()
    assert record.started == ["holder", "after"]
    await record.finish("after")
    assert await after == "after"
    state = gate._state()
    assert state.conversations == {} and state.queued == {}
    assert state.slots.free == 1


async def test_released_outside_the_gate_is_harmless() -> None:
    async with MessageGate.released():
        pass
    gate, record = MessageGate(0), Recorder()
    tasks = [record.start(gate, "a", n) for n in "xyz"]
    await settle()
    assert record.started == ["x", "y", "z"], "limit 0 lets every message in"
    for name in "xyz":
        await record.finish(name)
    await asyncio.gather(*tasks)


def test_the_limit_comes_from_the_environment() -> None:
    assert config.max_concurrent_messages({}) == S.RASA_MAX_CONCURRENT_MESSAGES.default
    assert config.max_concurrent_messages({"RASA_MAX_CONCURRENT_MESSAGES": "0"}) == 0
    assert config.max_concurrent_messages({"RASA_MAX_CONCURRENT_MESSAGES": " 8 "}) == 8
    for bad in ("-1", "two", "2.5", "1e3"):
        with pytest.raises(config.ChannelConfigError, match="RASA_MAX_CONCURRENT"):
            config.max_concurrent_messages({"RASA_MAX_CONCURRENT_MESSAGES": bad})
