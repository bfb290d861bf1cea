"""Rate limits per chatter in the three inbound channels (token buckets,
common/ratelimit.py; limits from bot/channels/config.py): over the limit, a chatter is
told to slow down and the message never reaches Rasa; other chatters are not held
back. Served in-process, against fakes of Slack and Microsoft."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels import config
from bot.channels.inbound import NOTICE_INTERVAL_SECONDS, ChatterLimiter
from bot.channels.socketio import SecureSocketIOInput
from common.ratelimit import RateLimit, RateLimiter
from tests.bot.channels.harness import aiohttp_server, channel_server
from tests.bot.channels.test_slack_channel import FakeSlack, event, headers
from tests.bot.channels.test_slack_channel import channel as slack_channel
from tests.bot.channels.test_socketio import SECRET, Chatter, token
from tests.bot.channels.test_teams_channel import (
    FakeMicrosoft,
    activity,
    bf_token,
    teams_channel,
    wait_for,
)

TIGHT = RateLimit(messages=1, period_seconds=60, burst=3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------- the buckets


def test_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(
        RateLimit(messages=20, period_seconds=60, burst=5), clock=clock
    )
    assert [limiter.allow("alice") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.retry_after("alice") == 3  # one message per 3 s
    clock.now += 2.9
    assert not limiter.allow("alice")
    clock.now += 0.2
    assert limiter.allow("alice") and not limiter.allow("alice")
    # Others are not held back; a minute later Alice has her burst again.
    assert limiter.allow("bob")
    clock.now += 60
    assert [limiter.allow("alice") for _ in range(6)] == [True] * 5 + [False]


def test_sustained_sending_at_the_limit_is_never_refused() -> None:
    clock = Clock()
    limiter = RateLimiter(
        RateLimit(messages=20, period_seconds=60, burst=5), clock=clock
    )
    for _ in range(200):  # ten minutes at 20 a minute
        assert limiter.allow("alice")
        clock.now += 3.0


def test_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(TIGHT, max_keys=100, clock=clock)
    for i in range(10_000):
        limiter.allow(f"chatter-{i}")
    assert len(limiter) <= 101
    # Refilled buckets are forgotten: they hold nothing a new bucket would not.
    clock.now += 3600
    limiter.allow("late")
    assert len(limiter) < 101


@pytest.mark.parametrize(
    ("messages", "period", "burst"), [(0, 60, 1), (1, 0, 1), (1, 60, 0)]
)
def test_nonsense_limits_are_refused(messages: int, period: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(messages=messages, period_seconds=period, burst=burst)


def test_the_notice_is_sent_once_per_interval() -> None:
    clock = Clock()
    chatters = ChatterLimiter(TIGHT, clock=clock)
    assert chatters.should_notify("alice") and not chatters.should_notify("alice")
    assert chatters.should_notify("bob")
    clock.now += NOTICE_INTERVAL_SECONDS
    assert chatters.should_notify("alice")


# --------------------------------------------------------------- configuration


def test_limits_come_from_the_environment() -> None:
    assert config.chat_rate_limit({}) == RateLimit(
        messages=20, period_seconds=60, burst=8
    )
    env = {
        "CHAT_RATE_LIMIT_MESSAGES": "5",
        "CHAT_RATE_LIMIT_PERIOD_SECONDS": "10",
        "CHAT_RATE_LIMIT_BURST": "2",
    }
    assert config.chat_rate_limit(env) == RateLimit(
        messages=5, period_seconds=10, burst=2
    )


@pytest.mark.parametrize(
    "env",
    [
        {"CHAT_RATE_LIMIT_MESSAGES": "many"},
        {"CHAT_RATE_LIMIT_MESSAGES": "0"},
        {"CHAT_RATE_LIMIT_MESSAGES": "2.5"},
        {"CHAT_RATE_LIMIT_PERIOD_SECONDS": "-1"},
        {"CHAT_RATE_LIMIT_PERIOD_SECONDS": "nan"},
        {"CHAT_RATE_LIMIT_BURST": "inf"},
    ],
)
def test_bad_limits_stop_the_channels_with_a_clear_message(env: dict[str, str]) -> None:
    with pytest.raises(config.ChannelConfigError, match="CHAT_RATE_LIMIT"):
        config.chat_rate_limit(env)


def test_the_channels_read_the_limit_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAT_RATE_LIMIT_BURST", "4")
    channel = SecureSocketIOInput.from_credentials({})
    assert channel.limiter.limiter.limit.burst == 4
    monkeypatch.setenv("CHAT_RATE_LIMIT_BURST", "lots")
    with pytest.raises(config.ChannelConfigError):
        SecureSocketIOInput.from_credentials({})


# --------------------------------------------------------------- socket.io


def test_the_widget_tells_a_fast_chatter_to_wait_and_keeps_rasa_out_of_it() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "answer")

    async def scenario() -> None:
        channel = SecureSocketIOInput(
            chat_token_secret=SECRET, limiter=ChatterLimiter(TIGHT)
        )
        async with channel_server(channel, bot) as url:
            alice = Chatter(url)
            session = await alice.connect(token("alice", "tenant-a"))
            replies = [await alice.say(f"message {i}") for i in range(5)]
            assert [r[0]["text"] for r in replies] == ["answer"] * 3 + [
                config.RATE_LIMITED_TEXT
            ] * 2
            assert [m.text for m in received] == ["message 0", "message 1", "message 2"]
            await alice.close()
            # Reconnecting to the same conversation does not reset its bucket...
            again = Chatter(url)
            assert await again.connect(token("alice", "tenant-a"), session) == session
            assert (await again.say("after a reconnect"))[0]["text"] == (
                config.RATE_LIMITED_TEXT
            )
            # ... other conversations, signed in or anonymous, have their own.
            bob = Chatter(url)
            await bob.connect(token("bob", "tenant-b"))
            assert (await bob.say("hi"))[0]["text"] == "answer"
            visitor = Chatter(url)
            await visitor.connect(None)
            assert (await visitor.say("hi"))[0]["text"] == "answer"
            assert len(received) == 5
            for chatter in (again, bob, visitor):
                await chatter.close()

    asyncio.run(scenario())


# --------------------------------------------------------------- Slack


def test_slack_tells_a_fast_chatter_once_and_keeps_rasa_out_of_it() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        fake = FakeSlack()
        async with aiohttp_server(fake.app) as slack_api:
            slack = slack_channel(
                api_base_url=f"{slack_api}/api/", limiter=ChatterLimiter(TIGHT)
            )
            async with channel_server(slack, bot) as base:
                url = f"{base}/webhooks/slack/webhook"
                async with aiohttp.ClientSession() as http:
                    for i in range(6):
                        body = json.dumps(
                            {
                                **event(f"message {i}", ts=f"1700000000.00010{i}"),
                                "event_id": f"Ev{i}",
                            }
                        ).encode()
                        hdrs = {"content-type": "application/json", **headers(body)}
                        async with http.post(url, data=body, headers=hdrs) as reply:
                            assert reply.status == 200
                    await wait_for(lambda: len(fake.posts) >= 1)
                    await asyncio.sleep(0.3)
                    # Another user of the workspace is not held back.
                    other = json.dumps(
                        {
                            **event("hello", user="U2", ts="1700000001.1"),
                            "event_id": "EvX",
                        }
                    ).encode()
                    hdrs = {"content-type": "application/json", **headers(other)}
                    async with http.post(url, data=other, headers=hdrs) as reply:
                        assert reply.status == 200
                    await wait_for(lambda: len(received) >= 4)
        assert [m.text for m in received] == [
            "message 0",
            "message 1",
            "message 2",
            "hello",
        ]
        # One notice (not three), in the chatter's thread.
        assert [p["text"] for p in fake.posts] == [config.RATE_LIMITED_TEXT]
        assert fake.posts[0]["channel"] == "D1"
        assert fake.posts[0]["thread_ts"] == "1700000000.000103"

    asyncio.run(scenario())


# --------------------------------------------------------------- Teams


def test_teams_tells_a_fast_chatter_once_and_keeps_rasa_out_of_it() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        fake = FakeMicrosoft()
        async with aiohttp_server(fake.app) as base:
            fake.base = base
            service_url = f"{base}/connector"
            teams = teams_channel(base, limiter=ChatterLimiter(TIGHT))
            async with channel_server(teams, bot) as rasa:
                url = f"{rasa}/webhooks/teams/webhook"
                async with aiohttp.ClientSession() as http:

                    async def post(act: dict[str, Any]) -> int:
                        hdrs = {"Authorization": f"Bearer {bf_token(service_url)}"}
                        async with http.post(url, json=act, headers=hdrs) as reply:
                            return reply.status

                    for i in range(6):
                        assert await post(activity(service_url, f"message {i}")) == 200
                    other = activity(service_url, "hello")
                    other["from"] = {"id": "29:other", "aadObjectId": "aad-obj-2"}
                    assert await post(other) == 200
                    await wait_for(lambda: len(received) >= 4 and fake.activities)
                    await asyncio.sleep(0.3)
        assert [m.text for m in received] == [
            "message 0",
            "message 1",
            "message 2",
            "hello",
        ]
        notices = [a[2]["text"] for a in fake.activities]
        assert notices == [config.RATE_LIMITED_TEXT]

    asyncio.run(scenario())


# --------------------------------------------------------------- the reply


def test_the_reply_is_polite_and_says_what_to_do() -> None:
    text = config.RATE_LIMITED_TEXT
    assert "faster than I can answer" in text and "wait a few seconds" in text
