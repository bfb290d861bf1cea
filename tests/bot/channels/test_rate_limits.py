"""Rate limits per chatter in the inbound channels (common/ratelimit.py on the
`limits` library; limits from common/channels.py): over the limit, a chatter is
told to slow down and the message never reaches Rasa; other chatters are not held
back. A chatter is a verified identity (whatever the socket, session or channel) or,
anonymous, a client address. Served in-process, against fakes of Slack and
Microsoft; the shared counts against the local Redis (127.0.0.1:6379, keys under a
unique prefix, deleted afterwards)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import redis
from rasa.core.channels.channel import UserMessage

from bot.channels.inbound import ChatterLimiter, chatter_key, client_address
from bot.channels.socketio import SecureSocketIOInput
from common import channels as config
from common.identity import ChatIdentity
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

TIGHT = RateLimit(messages=3, period_seconds=60, burst=3)  # 3 a minute
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the local Redis; its keys are deleted
    afterwards. Skips when Redis is not running."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


# --------------------------------------------------------------- the windows


def test_a_burst_then_the_sustained_rate() -> None:
    # 4 per 2 s, at most 2 of them within 1 s.
    limiter = RateLimiter(RateLimit(messages=4, period_seconds=2, burst=2))
    assert [limiter.allow("alice") for _ in range(3)] == [True, True, False]
    assert 1 <= limiter.retry_after("alice") <= 2
    assert limiter.allow("bob")  # others are not held back
    time.sleep(1.1)
    assert [limiter.allow("alice") for _ in range(3)] == [True, True, False]
    time.sleep(1.1)  # the first two have left the 2 s window
    assert limiter.allow("alice")


def test_refused_messages_do_not_count() -> None:
    limiter = RateLimiter(RateLimit(messages=2, period_seconds=1, burst=2))
    assert [limiter.allow("alice") for _ in range(10)] == [True, True] + [False] * 8
    time.sleep(1.1)
    assert limiter.allow("alice") and limiter.allow("alice")


def test_burst_above_messages_is_the_period_window() -> None:
    assert [str(item) for item in RateLimit(20, 60, 8).items()] == [
        "8 per 24 second",
        "20 per 60 second",
    ]
    assert [str(item) for item in RateLimit(3, 60, 10).items()] == ["3 per 60 second"]


@pytest.mark.parametrize(
    ("messages", "period", "burst"), [(0, 60, 1), (1, 0, 1), (1, 60, 0)]
)
def test_nonsense_limits_are_refused(messages: int, period: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(messages=messages, period_seconds=period, burst=burst)


def test_the_notice_is_sent_once_per_interval() -> None:
    chatters = ChatterLimiter(TIGHT, storage_url="")
    assert chatters.should_notify("alice") and not chatters.should_notify("alice")
    assert chatters.should_notify("bob")


def test_replicas_share_one_count_in_redis(redis_prefix: str) -> None:
    # Two Rasa replicas: two limiters on the same Redis and prefix.
    first = ChatterLimiter(TIGHT, storage_url=REDIS_URL, prefix=redis_prefix)
    second = ChatterLimiter(TIGHT, storage_url=REDIS_URL, prefix=redis_prefix)
    assert [first.admit("id:alice"), second.admit("id:alice")] == [True, True]
    assert first.admit("id:alice")
    assert not second.admit("id:alice") and not first.admit("id:alice")
    # Without Redis each process counts alone.
    alone = ChatterLimiter(TIGHT, storage_url="", prefix=redis_prefix)
    assert alone.admit("id:alice")


def test_without_redis_the_limit_holds_per_process_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = ChatterLimiter(TIGHT, storage_url="redis://127.0.0.1:1/0")
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        admitted = [limiter.admit("id:alice") for _ in range(5)]
    assert admitted == [True] * 3 + [False] * 2
    assert time.perf_counter() - started < 2.0  # one failed connect, not five
    assert "Redis did not answer" in caplog.text


# --------------------------------------------------------------- who is a chatter


def test_a_chatter_is_their_identity_else_their_address() -> None:
    alice = ChatIdentity(kind="customer", subject="alice", tenant_id="t-a")
    renamed = ChatIdentity(kind="customer", subject="alice", tenant_id="t-a", name="A")
    assert chatter_key(alice, "198.51.100.1") == chatter_key(renamed, "203.0.113.9")
    assert chatter_key(None, "198.51.100.1") != chatter_key(None, "203.0.113.9")
    assert chatter_key(None, "198.51.100.1") != chatter_key(alice, "198.51.100.1")


def test_forwarded_addresses_count_only_from_a_trusted_proxy() -> None:
    proxy = config.parse_networks("10.0.0.0/8, 127.0.0.1")
    # Not behind a trusted proxy: whatever the header says, the peer is the client.
    assert client_address("198.51.100.1", "203.0.113.5", proxy) == "198.51.100.1"
    assert client_address("127.0.0.1", "203.0.113.5", []) == "127.0.0.1"
    # Behind one: the last address it did not add itself, read from the right.
    assert client_address("127.0.0.1", "203.0.113.5", proxy) == "203.0.113.5"
    assert (
        client_address("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3", proxy)
        == "203.0.113.5"
    )
    assert client_address("127.0.0.1", "not-an-ip", proxy) == "127.0.0.1"
    assert client_address("127.0.0.1", None, proxy) == "127.0.0.1"


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
            chat_token_secret=SECRET, limiter=ChatterLimiter(TIGHT, storage_url="")
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
            # Reconnecting to the same conversation does not reset the count...
            again = Chatter(url)
            assert await again.connect(token("alice", "tenant-a"), session) == session
            assert (await again.say("after a reconnect"))[0]["text"] == (
                config.RATE_LIMITED_TEXT
            )
            # ... and neither does a new session: it is still Alice.
            fresh = Chatter(url)
            assert await fresh.connect(token("alice", "tenant-a")) != session
            assert (await fresh.say("a new session"))[0]["text"] == (
                config.RATE_LIMITED_TEXT
            )
            # Other chatters, signed in or anonymous, have their own.
            bob = Chatter(url)
            await bob.connect(token("bob", "tenant-b"))
            assert (await bob.say("hi"))[0]["text"] == "answer"
            visitor = Chatter(url)
            await visitor.connect(None)
            assert (await visitor.say("hi"))[0]["text"] == "answer"
            assert len(received) == 5
            for chatter in (again, fresh, bob, visitor):
                await chatter.close()

    asyncio.run(scenario())


def test_five_sockets_of_one_customer_share_one_limit() -> None:
    """The finding: five sockets sending 8 messages each, 40 in a few seconds,
    were all answered because each `session_request` started a fresh count."""
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "answer")

    async def scenario() -> list[str]:
        channel = SecureSocketIOInput(
            chat_token_secret=SECRET,
            limiter=ChatterLimiter(RateLimit(20, 60, 8), storage_url=""),
        )
        async with channel_server(channel, bot) as url:
            sockets = [Chatter(url) for _ in range(5)]
            for chatter in sockets:
                await chatter.connect(token("mallory", "tenant-m"))

            async def flood(chatter: Chatter, n: int) -> list[str]:
                return [
                    (await chatter.say(f"socket {n} message {i}"))[0]["text"]
                    for i in range(8)
                ]

            answers = await asyncio.gather(
                *(flood(chatter, n) for n, chatter in enumerate(sockets))
            )
            for chatter in sockets:
                await chatter.close()
        return [text for texts in answers for text in texts]

    texts = asyncio.run(scenario())
    assert texts.count("answer") == 8  # the default burst, across all five
    assert texts.count(config.RATE_LIMITED_TEXT) == 32
    assert len(received) == 8


def test_anonymous_chatters_are_counted_by_address() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "answer")

    async def scenario() -> list[str]:
        channel = SecureSocketIOInput(
            chat_token_secret=SECRET, limiter=ChatterLimiter(TIGHT, storage_url="")
        )
        async with channel_server(channel, bot) as url:
            texts = []
            for _ in range(2):  # two anonymous sockets from the same address
                visitor = Chatter(url)
                await visitor.connect(None)
                texts += [(await visitor.say("hello"))[0]["text"] for _ in range(2)]
                await visitor.close()
        return texts

    texts = asyncio.run(scenario())
    assert texts == ["answer"] * 3 + [config.RATE_LIMITED_TEXT]


# --------------------------------------------------------------- Slack


def test_slack_tells_a_fast_chatter_once_and_keeps_rasa_out_of_it() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        fake = FakeSlack()
        async with aiohttp_server(fake.app) as slack_api:
            slack = slack_channel(
                api_base_url=f"{slack_api}/api/",
                limiter=ChatterLimiter(TIGHT, storage_url=""),
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
            teams = teams_channel(base, limiter=ChatterLimiter(TIGHT, storage_url=""))
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
