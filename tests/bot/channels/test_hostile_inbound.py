"""Oversized, binary, malformed-Unicode and malformed-shape input to the channels'
inbound endpoints: a clear 4xx JSON error (or a quiet 200 for a well-signed event
that is not a message), never a 500; text that reaches Rasa is clean.

Slack bodies are signed with the test secret and Teams activities carry a valid
token where noted, so the input gets past the signature checks to the parsing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional
from urllib.parse import urlencode

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.inbound import MAX_BODY_BYTES, MAX_MESSAGE_CHARS, clean_text
from bot.channels.socketio import SecureSocketIOInput
from tests.bot.channels.harness import aiohttp_server, channel_server
from tests.bot.channels.test_slack_channel import FakeSlack, event, headers
from tests.bot.channels.test_slack_channel import channel as slack_channel
from tests.bot.channels.test_socketio import SECRET, Chatter, token
from tests.bot.channels.test_teams_channel import (
    FakeMicrosoft,
    activity,
    bf_token,
    teams_channel,
)

DEEP = ("[" * 100_000 + "]" * 100_000).encode()


def test_clean_text() -> None:
    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("a\x00b\x07c\x1bd\x7f\x85e") == "abcde"
    assert clean_text("one\r\ntwo\rthree\tfour") == "one\ntwo\nthree\tfour"
    assert clean_text("€ 😀 ‮") == "€ 😀 ‮"
    assert len(clean_text("x" * 10 * MAX_MESSAGE_CHARS)) == MAX_MESSAGE_CHARS
    assert clean_text("<script>alert(1)</script>' OR 1=1") == (
        "<script>alert(1)</script>' OR 1=1"  # text, not markup: the outputs escape it
    )


def assert_json_error(status: int, text: str, expected: int) -> None:
    assert status == expected, (status, text[:200])
    body = json.loads(text)
    assert body["error"] and body["detail"], body


# --------------------------------------------------------------- Slack


SLACK_BODIES: list[tuple[str, bytes, str, int]] = [
    ("not json", b"{not json", "application/json", 400),
    ("binary", bytes(range(256)), "application/json", 400),
    ("invalid utf-8", b'{"type": "\xff\xfe"}', "application/json", 400),
    ("deep nesting", DEEP, "application/json", 400),
    ("array", b"[1, 2]", "application/json", 400),
    ("form, binary", b"payload=%ff%fe", "application/x-www-form-urlencoded", 400),
    ("form, not an object", b"payload=[1]", "application/x-www-form-urlencoded", 400),
    ("too large", b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}", "application/json", 413),
]


def slack_click(**overrides: Any) -> bytes:
    click = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "channel": {"id": "D1"},
        "message": {"ts": "1.1"},
        "actions": [{"type": "button", "value": "/affirm", "action_ts": "9.1"}],
        **overrides,
    }
    return urlencode({"payload": json.dumps(click)}).encode()


def test_slack_refuses_malformed_bodies_clearly() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        fake = FakeSlack()
        async with aiohttp_server(fake.app) as slack_api:
            slack = slack_channel(api_base_url=f"{slack_api}/api/")
            async with channel_server(slack, bot) as base:
                url = f"{base}/webhooks/slack/webhook"
                async with aiohttp.ClientSession() as http:

                    async def post(body: bytes, ctype: str, signed: bool = True):
                        hdrs = {
                            "content-type": ctype,
                            **(headers(body) if signed else {}),
                        }
                        async with http.post(url, data=body, headers=hdrs) as reply:
                            return reply.status, await reply.text()

                    for what, body, ctype, expected in SLACK_BODIES:
                        status, text = await post(body, ctype)
                        assert status == expected, (what, status, text[:200])
                        assert_json_error(status, text, expected)
                    # Unsigned garbage is refused before it is parsed.
                    assert_json_error(
                        *await post(b"\xff" * 100, "text/plain", False), 401
                    )

                    # Well-signed, but odd shapes in the right places: 200, no crash.
                    odd_events = [
                        {**event(), "event": "a string"},
                        {**event(), "authorizations": 42},
                        {**event(), "authorizations": "UBOT"},
                        event(text={"a": 1}),
                        event(user=["U1"]),
                        event(channel=None),
                        {**event(), "event_id": {"x": 1}},
                    ]
                    for odd in odd_events:
                        body = json.dumps(odd).encode()
                        status, text = await post(body, "application/json")
                        assert status == 200, (odd, status, text[:200])
                    odd_clicks = [
                        slack_click(user="U1"),
                        slack_click(actions={"type": "button"}),
                        slack_click(actions=["button"]),
                        slack_click(channel="D1", container=[1]),
                        slack_click(message="1.1", team=7),
                        slack_click(actions=[{"type": "button", "value": {"x": 1}}]),
                    ]
                    for click in odd_clicks:
                        status, text = await post(
                            click, "application/x-www-form-urlencoded"
                        )
                        assert status == 200, (click, status, text[:200])
                    await asyncio.sleep(0.2)
                    # A well-formed click still works after all that.
                    status, _ = await post(
                        slack_click(team={"id": "T1"}),
                        "application/x-www-form-urlencoded",
                    )
                    assert status == 200
                    # And hostile text reaches Rasa cleaned.
                    body = json.dumps(
                        {
                            **event("hi\ud800\x00 " + "z" * 10_000, ts="2.2"),
                            "event_id": "Ev-text",
                        }
                    ).encode()
                    assert (await post(body, "application/json"))[0] == 200
                    for _ in range(50):
                        if len(received) >= 2:
                            break
                        await asyncio.sleep(0.05)
        texts = [m.text for m in received]
        assert texts[0] == "/affirm"
        assert texts[1].startswith("hi\ufffd ") and len(texts[1]) <= MAX_MESSAGE_CHARS

    asyncio.run(scenario())


# --------------------------------------------------------------- Teams


def test_teams_refuses_malformed_bodies_clearly() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        fake = FakeMicrosoft()
        async with aiohttp_server(fake.app) as base:
            fake.base = base
            service_url = f"{base}/connector"
            teams = teams_channel(base)
            async with channel_server(teams, bot) as rasa:
                url = f"{rasa}/webhooks/teams/webhook"
                good = f"Bearer {bf_token(service_url)}"
                async with aiohttp.ClientSession() as http:

                    async def post(body: bytes, auth: Optional[str] = good):
                        hdrs = {"content-type": "application/json"}
                        if auth:
                            hdrs["Authorization"] = auth
                        async with http.post(url, data=body, headers=hdrs) as reply:
                            return reply.status, await reply.text()

                    for body, expected in (
                        (b"{not json", 400),
                        (bytes(range(256)), 400),
                        (b'{"text": "\xff\xfe"}', 400),
                        (DEEP, 400),
                        (b"[]", 400),
                        (b'{"type": "message"}', 400),  # no serviceUrl
                        (b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}", 413),
                    ):
                        assert_json_error(*await post(body), expected)

                    def shaped(**fields: Any) -> bytes:
                        return json.dumps(activity(service_url, **fields)).encode()

                    # Without a token the shape does not matter: 401.
                    assert_json_error(*await post(shaped(), auth=None), 401)
                    assert_json_error(*await post(shaped(), auth="Bearer x.y.z"), 401)
                    # With a valid token, the wrong shapes are malformed: 400.
                    for fields in (
                        {"channelData": ["tenant"]},
                        {"channelData": {"tenant": "x"}},
                        {"channelData": {"tenant": {"id": 7}}},
                        {"conversation": "a:1"},
                        {"from": ["29:user"]},
                        {"text": {"a": 1}},
                        {"serviceUrl": 42},
                    ):
                        status, text = await post(shaped(**fields))
                        assert status in (400, 401), (fields, status, text[:200])
                        assert_json_error(status, text, status)
                    # Odd but harmless values are handled.
                    status, _ = await post(
                        shaped(text="hi\ud800\x00 " + "z" * 10_000, value=[1])
                    )
                    assert status == 200
                    for _ in range(50):
                        if received:
                            break
                        await asyncio.sleep(0.05)
        assert len(received) == 1
        assert received[0].text.startswith("hi\ufffd ")
        assert len(received[0].text) <= MAX_MESSAGE_CHARS

    asyncio.run(scenario())


# --------------------------------------------------------------- socket.io


@pytest.mark.parametrize(
    "payload",
    [None, "a string", 42, [1, 2], {"message": None}, {"message": {"x": 1}}, {}],
)
def test_the_widget_ignores_malformed_messages(payload: Any) -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET)
        async with channel_server(channel, bot) as url:
            chatter = Chatter(url)
            await chatter.connect(token("alice", "tenant-a"))
            await chatter.client.emit("user_uttered", payload)
            await asyncio.sleep(0.3)  # its bot_done must not end the next say()
            # The connection still works afterwards.
            await chatter.say("still here")
            await chatter.close()

    asyncio.run(scenario())
    assert [m.text for m in received] == ["still here"]


def test_the_widget_cleans_what_it_passes_on() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET)
        async with channel_server(channel, bot) as url:
            chatter = Chatter(url)
            await chatter.connect(token("alice", "tenant-a"))
            await chatter.say("a\ud800b\x00c" + "z" * 50_000)
            await chatter.say("\x00\x01\x02")  # nothing left: not passed on
            await chatter.say("last")
            await chatter.close()

    asyncio.run(scenario())
    assert [m.text[:4] for m in received] == ["a\ufffdbc", "last"]
    assert len(received[0].text) == MAX_MESSAGE_CHARS
