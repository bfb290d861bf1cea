"""The Slack channel: signatures, event filtering, de-duplication, formatting, and a
signed request through the channel served in-process to a fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Optional
from urllib.parse import urlencode

import aiohttp
import pytest
import redis
from aiohttp import web
from rasa.core.channels.channel import UserMessage

from bot.channels.dedupe import SeenIds, SharedSeenIds, seen_ids
from bot.channels.slack import (
    SecureSlackInput,
    button_blocks,
    sign,
    signature_problem,
    to_mrkdwn,
)
from bot.channels.teams import TeamsInput
from common.identity import verify_chat_token
from tests.bot.channels.harness import aiohttp_server, channel_server

SIGNING_SECRET = "slack-signing-secret-for-tests"
REDIS_URL = (
    f"{os.environ.get('TEST_REDIS_URL_BASE', 'redis://127.0.0.1:6379')}/"
    f"{os.environ.get('TEST_REDIS_DB', '13')}"
)
CHAT_SECRET = "chat-secret-for-slack-tests-0123456789"
BOT_USER = "UBOT"


def channel(**kwargs: Any) -> SecureSlackInput:
    return SecureSlackInput(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        chat_token_secret=CHAT_SECRET,
        **kwargs,
    )


def headers(body: bytes, timestamp: Optional[int] = None, secret: str = SIGNING_SECRET):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sign(secret, ts, body),
    }


def event(text: str = "latest invoice?", **overrides: Any) -> dict[str, Any]:
    body = {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": "Ev1",
        "authorizations": [{"user_id": BOT_USER, "is_bot": True}],
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U1",
            "text": text,
            "ts": "1700000000.000100",
        },
    }
    body["event"].update(overrides)
    return body


# --------------------------------------------------------------- signatures


def test_slacks_documented_example_signature() -> None:
    # https://api.slack.com/authentication/verifying-requests-from-slack
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA"
        b"&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url="
        b"https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F"
        b"96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a1"
        b"4d10d2c447fce8b6703c"
    )
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    assert sign(secret, "1531420618", body) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_signature_checks() -> None:
    body = b'{"type":"event_callback"}'
    now = time.time()
    assert signature_problem(SIGNING_SECRET, headers(body), body, now) is None
    assert signature_problem(SIGNING_SECRET, headers(body), body + b" ", now)
    assert signature_problem(SIGNING_SECRET, headers(body, secret="other"), body, now)
    stale = headers(body, timestamp=int(now) - 301)
    assert "window" in (signature_problem(SIGNING_SECRET, stale, body, now) or "")
    future = headers(body, timestamp=int(now) + 301)
    assert signature_problem(SIGNING_SECRET, future, body, now)
    assert (
        signature_problem(SIGNING_SECRET, {}, body, now) == "missing signature headers"
    )
    bad_ts = {"x-slack-request-timestamp": "soon", "x-slack-signature": "v0=00"}
    assert signature_problem(SIGNING_SECRET, bad_ts, body, now) == "malformed timestamp"


# --------------------------------------------------------------- events


def test_a_direct_message_becomes_a_staff_message_in_its_thread() -> None:
    text, sender, metadata = channel().message_from_event(event()) or ("", "", {})
    assert text == "latest invoice?"
    assert sender == "slack_T1_D1_1700000000.000100_U1"
    identity = verify_chat_token(CHAT_SECRET, metadata["chat_token"])
    assert (identity.kind, identity.platform, identity.subject) == (
        "staff",
        "slack",
        "U1",
    )
    assert metadata["slack"]["thread_ts"] == "1700000000.000100"


def test_a_reply_in_a_thread_stays_in_that_thread() -> None:
    parsed = channel().message_from_event(event(thread_ts="1699999999.000001"))
    assert parsed is not None
    assert parsed[2]["slack"]["thread_ts"] == "1699999999.000001"


def test_a_mention_in_a_channel_is_answered_without_the_mention() -> None:
    body = event(
        type="app_mention",
        channel_type="channel",
        channel="C1",
        text=f"<@{BOT_USER}> hi",
    )
    parsed = channel().message_from_event(body)
    assert parsed is not None and parsed[0] == "hi"


@pytest.mark.parametrize(
    "overrides",
    [
        {"bot_id": "B1"},
        {"subtype": "bot_message"},
        {"subtype": "message_changed"},
        {"user": BOT_USER},
        {"channel_type": "channel"},  # a plain channel message, no mention
        {"text": ""},
        {"type": "reaction_added"},
    ],
)
def test_ignored_events(overrides: dict[str, Any]) -> None:
    assert channel().message_from_event(event(**overrides)) is None


def test_duplicates_by_event_id_or_message() -> None:
    slack = channel()
    assert slack.first_delivery(slack.dedupe_keys(event()))
    assert not slack.first_delivery(slack.dedupe_keys(event()))
    # The same message again as an app_mention with another event id.
    mention = event(type="app_mention")
    mention["event_id"] = "Ev2"
    assert not slack.first_delivery(slack.dedupe_keys(mention))


def test_seen_ids_expire_and_are_bounded() -> None:
    now = [0.0]
    seen = SeenIds(ttl=10, max_entries=3, clock=lambda: now[0])
    assert seen.add("a") and not seen.add("a")
    now[0] = 11
    assert "a" not in seen and seen.add("a")
    for key in "bcd":
        seen.add(key)
    assert len(seen) == 3 and "a" not in seen


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the local Redis; its keys go afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"csptest{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_replicas_share_what_they_have_seen_in_redis(redis_prefix: str) -> None:
    one, two = (SharedSeenIds(REDIS_URL, redis_prefix, ttl=60) for _ in range(2))
    assert one.add("Ev1") and not two.add("Ev1") and not one.add("Ev1")
    assert two.add("Ev2")
    assert SharedSeenIds(REDIS_URL, redis_prefix + "other").add("Ev1")
    ttl = redis.Redis.from_url(REDIS_URL).ttl(one.key("Ev1"))
    assert 0 < ttl <= 60


def test_without_redis_the_process_still_remembers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.bot.channels.harness import free_port

    seen = SharedSeenIds(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=0.5)
    assert seen.add("Ev1") and not seen.add("Ev1")
    assert "de-duplicating in this process only" in caplog.text


def test_the_channels_share_the_set_when_redis_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert isinstance(seen_ids(), SeenIds)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("REDIS_KEY_PREFIX", "partnerdesk")
    shared = seen_ids()
    assert isinstance(shared, SharedSeenIds) and shared.prefix == "partnerdesk"
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    assert isinstance(SecureSlackInput.from_credentials(None).seen, SharedSeenIds)
    for name in ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID"):
        monkeypatch.setenv(name, f"{name.lower()}-for-tests")
    assert isinstance(TeamsInput.from_credentials(None).seen, SharedSeenIds)


def test_a_retry_that_reaches_another_replica_is_dropped(redis_prefix: str) -> None:
    """Slack retries from wherever it likes, and the proxy routes Slack by address:
    the retry of an event one replica is handling lands on the other."""
    received: list[tuple[str, UserMessage]] = []

    def bot(replica: str) -> Callable[[UserMessage], Awaitable[None]]:
        async def handle(message: UserMessage) -> None:
            received.append((replica, message))

        return handle

    async def scenario() -> None:
        replicas = [
            channel(seen=SharedSeenIds(REDIS_URL, redis_prefix)) for _ in range(2)
        ]
        async with (
            channel_server(replicas[0], bot("one")) as one,
            channel_server(replicas[1], bot("two")) as two,
            aiohttp.ClientSession() as http,
        ):
            body = json.dumps(event()).encode()
            first = {**headers(body), "content-type": "application/json"}
            retry = {**first, "x-slack-retry-num": "1", "x-slack-retry-reason": "x"}
            for base, extra in ((one, first), (two, retry), (one, retry)):
                async with http.post(
                    f"{base}/webhooks/slack/webhook", data=body, headers=extra
                ) as reply:
                    assert reply.status == 200
            other = json.dumps(event("and my payments?", ts="1700000000.000200"))
            other_body = other.replace('"Ev1"', '"Ev2"').encode()
            async with http.post(
                f"{two}/webhooks/slack/webhook",
                data=other_body,
                headers={**headers(other_body), "content-type": "application/json"},
            ) as reply:
                assert reply.status == 200
            await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert [(replica, m.text) for replica, m in received] == [
        ("one", "latest invoice?"),
        ("two", "and my payments?"),
    ]


def test_a_button_click_becomes_its_payload_in_the_same_thread() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "channel": {"id": "D1"},
        "container": {"message_ts": "1700000001.000200"},
        "message": {"ts": "1700000001.000200", "thread_ts": "1700000000.000100"},
        "actions": [{"type": "button", "value": "/affirm", "action_ts": "1.2"}],
    }
    parsed = channel().message_from_action(payload)
    assert parsed is not None
    text, sender, metadata = parsed
    assert text == "/affirm"
    assert sender == "slack_T1_D1_1700000000.000100_U1"
    assert metadata["slack"]["thread_ts"] == "1700000000.000100"
    link_button = {**payload, "actions": [{"type": "button", "url": "https://x"}]}
    assert channel().message_from_action(link_button) is None


# --------------------------------------------------------------- formatting


def test_bot_text_cannot_mention_or_inject_markup() -> None:
    assert to_mrkdwn("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert to_mrkdwn("See [invoice](https://x.test/a?b=1&c=2)") == (
        "See <https://x.test/a?b=1&amp;c=2|invoice>"
    )
    assert to_mrkdwn("**Total** due") == "*Total* due"
    assert to_mrkdwn("[x](javascript:alert(1))") == "[x](javascript:alert(1))"


def test_buttons_are_block_kit_actions() -> None:
    blocks = button_blocks("Pick", [{"title": "Yes", "payload": "/affirm"}])
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "Pick"}}
    assert blocks[1]["type"] == "actions"
    assert blocks[1]["elements"] == [
        {
            "type": "button",
            "action_id": "rasa_button_0",
            "text": {"type": "plain_text", "text": "Yes"},
            "value": "/affirm",
        }
    ]


def test_without_credentials_the_channel_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    off = SecureSlackInput(
        bot_token="", signing_secret="", chat_token_secret=CHAT_SECRET
    )
    assert not off.enabled
    assert "Slack channel off: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set" in (
        caplog.text
    )


# --------------------------------------------------------------- over HTTP


class FakeSlack:
    """Slack's Web API, as far as chat.postMessage goes."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/api/chat.postMessage", self.post_message)

    async def post_message(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer xoxb-test"
        body = await request.json()
        self.posts.append(body)
        return web.json_response(
            {"ok": True, "channel": body["channel"], "ts": f"{time.time():.6f}"}
        )


def test_signed_events_over_http() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            "Open a ticket?",
            [{"title": "Yes", "payload": "/affirm"}],
        )

    async def scenario() -> None:
        fake = FakeSlack()
        async with aiohttp_server(fake.app) as slack_api:
            slack = channel(api_base_url=f"{slack_api}/api/")
            async with channel_server(slack, bot) as base:
                url = f"{base}/webhooks/slack/webhook"
                async with aiohttp.ClientSession() as http:

                    async def post(body: bytes, extra: dict[str, str], ctype: str):
                        hdrs = {"content-type": ctype, **extra}
                        async with http.post(url, data=body, headers=hdrs) as reply:
                            return reply.status, await reply.text()

                    js = "application/json"
                    challenge = json.dumps(
                        {"type": "url_verification", "challenge": "c-123"}
                    ).encode()
                    status, text = await post(challenge, headers(challenge), js)
                    assert (status, json.loads(text)) == (200, {"challenge": "c-123"})
                    status, _ = await post(challenge, {}, js)
                    assert status == 401

                    body = json.dumps(event()).encode()
                    forged = headers(body, secret="not-the-secret")
                    assert (await post(body, forged, js))[0] == 401
                    stale = headers(body, timestamp=int(time.time()) - 600)
                    assert (await post(body, stale, js))[0] == 401
                    assert not received

                    assert (await post(body, headers(body), js))[0] == 200
                    for _ in range(50):
                        if fake.posts:
                            break
                        await asyncio.sleep(0.1)
                    retry = {
                        **headers(body),
                        "x-slack-retry-num": "1",
                        "x-slack-retry-reason": "http_error",
                    }
                    assert (await post(body, retry, js))[0] == 200
                    await asyncio.sleep(0.5)
                    assert len(received) == 1 and len(fake.posts) == 1
                    post_body = fake.posts[0]
                    assert post_body["channel"] == "D1"
                    assert post_body["thread_ts"] == "1700000000.000100"
                    assert post_body["blocks"][1]["elements"][0]["value"] == "/affirm"

                    click = {
                        "type": "block_actions",
                        "user": {"id": "U1"},
                        "team": {"id": "T1"},
                        "channel": {"id": "D1"},
                        "message": {
                            "ts": "1700000001.000200",
                            "thread_ts": "1700000000.000100",
                        },
                        "actions": [
                            {"type": "button", "value": "/affirm", "action_ts": "9.1"}
                        ],
                    }
                    form = urlencode({"payload": json.dumps(click)}).encode()
                    fct = "application/x-www-form-urlencoded"
                    assert (await post(form, headers(form), fct))[0] == 200
                    assert (await post(form, headers(form), fct))[0] == 200  # again
                    for _ in range(50):
                        if len(fake.posts) == 2:
                            break
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.3)
                    assert [m.text for m in received] == ["latest invoice?", "/affirm"]
                    assert received[1].sender_id == received[0].sender_id
                    assert fake.posts[1]["thread_ts"] == "1700000000.000100"

    asyncio.run(scenario())


def test_an_http_timeout_retry_is_acknowledged_and_dropped() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        slack = channel()
        async with channel_server(slack, bot) as base:
            body = json.dumps(event()).encode()
            retry = {
                **headers(body),
                "content-type": "application/json",
                "x-slack-retry-num": "1",
                "x-slack-retry-reason": "http_timeout",
            }
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{base}/webhooks/slack/webhook", data=body, headers=retry
                ) as reply,
            ):
                assert reply.status == 200
                assert reply.headers.get("X-Slack-No-Retry") == "1"
            await asyncio.sleep(0.2)

    asyncio.run(scenario())
    assert received == []


def test_an_off_channel_answers_404() -> None:
    async def bot(message: UserMessage) -> None:
        raise AssertionError("an off channel handled a message")

    async def scenario() -> None:
        off = SecureSlackInput(bot_token="", signing_secret="", chat_token_secret="x")
        async with (
            channel_server(off, bot) as base,
            aiohttp.ClientSession() as http,
            http.post(f"{base}/webhooks/slack/webhook", data=b"{}") as reply,
        ):
            assert reply.status == 404

    asyncio.run(scenario())


def test_card_numbers_are_redacted_before_rasa_sees_them() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        fake = FakeSlack()
        async with aiohttp_server(fake.app) as slack_api:
            slack = channel(api_base_url=f"{slack_api}/api/")
            async with channel_server(slack, bot) as base:
                body = json.dumps(
                    event("pay with my card 4111 1111 1111 1111 please", event_id="Ev9")
                ).encode()
                hdrs = {"content-type": "application/json", **headers(body)}
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(
                        f"{base}/webhooks/slack/webhook", data=body, headers=hdrs
                    ) as reply,
                ):
                    assert reply.status == 200
                for _ in range(50):
                    if received:
                        break
                    await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert len(received) == 1
    assert "4111" not in received[0].text
    assert received[0].text.startswith("pay with my card ")
