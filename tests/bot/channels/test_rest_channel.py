"""The REST channel (bot/channels/rest.py) in-process: Rasa's request and reply
shapes, and what Rasa's built-in `rest:` did not do (every finding replayed):

- a 100 kB message reached Rasa whole: it is cut to MAX_MESSAGE_CHARS;
- card numbers and IBANs reached the tracker as typed: they are redacted;
- a message under someone's sender id without their token (or with another
  tenant's) was answered as them: it is refused with 409, for REST conversations
  and for a widget session's id alike;
- no rate limit: per identity, else per client address;
- a failure logged the message at ERROR: one line, without it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered

from bot.channels.inbound import ChatterLimiter
from bot.channels.rest import CONFLICT_DETAIL, SecureRestInput
from bot.channels.socketio import SecureSocketIOInput
from common import channels as config
from common.identity import ChatIdentity, mint_customer_token
from common.ratelimit import RateLimit
from common.redaction import CARD, IBAN
from tests.bot.channels.harness import channel_server

SECRET = "rest-test-secret-0123456789abcdefghij"
CONTOSO = ChatIdentity(kind="customer", subject="alex", tenant_id="tenant-contoso")


def token(user: str = "alex", tenant: str = "tenant-contoso") -> str:
    return mint_customer_token(SECRET, tenant_id=tenant, user_id=user)


class Store:
    """A tracker store with one conversation of another channel in it."""

    def __init__(self, conversations: dict[str, list[Any]]) -> None:
        self.conversations = conversations

    async def retrieve(self, sender_id: str) -> Any:
        events = self.conversations.get(sender_id)
        return None if events is None else type("T", (), {"events": events})()


class Agent:
    def __init__(self, store: Store) -> None:
        self.tracker_store = store


class Bot:
    """Stands for Rasa: records what it is handed and answers with a button."""

    def __init__(self, fail: bool = False) -> None:
        self.received: list[UserMessage] = []
        self.fail = fail

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.fail:
            raise ValueError(f"the NLU choked on {message.text!r}")
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            f"you said {len(message.text)} characters",
            [{"title": "Invoices", "payload": "/ask_invoice"}],
        )


async def post(url: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/webhooks/rest/webhook", json=body, **kwargs) as reply,
    ):
        return reply.status, await reply.json(content_type=None)


def say(
    sender: str, text: str, chat_token: Optional[str] = None, **metadata: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if chat_token is not None:
        metadata["chat_token"] = chat_token
    if metadata:
        body["metadata"] = metadata
    return body


def channel(**kwargs: Any) -> SecureRestInput:
    kwargs.setdefault(
        "limiter", ChatterLimiter(RateLimit(100, 60, 100), storage_url="")
    )
    return SecureRestInput(chat_token_secret=SECRET, **kwargs)


def test_rasas_shapes_in_and_out_and_only_the_token_goes_on() -> None:
    bot = Bot()

    async def scenario() -> tuple[int, Any]:
        async with channel_server(channel(), bot) as url:
            return await post(
                url,
                say("conv-1", "hello", token(), input_channel="x", tenant="evil"),
            )

    status, replies = asyncio.run(scenario())
    assert status == 200
    assert replies == [
        {
            "recipient_id": "conv-1",
            "text": "you said 5 characters",
            "buttons": [{"title": "Invoices", "payload": "/ask_invoice"}],
        }
    ]
    (message,) = bot.received
    assert message.input_channel == "rest" and message.sender_id == "conv-1"
    assert set(message.metadata) == {"chat_token", "chatter"}


def test_the_tokens_locale_goes_on_as_the_messages_locale() -> None:
    """The partner's site asks for Japanese in the token it signed; the language of
    the answers follows it (common/conversation_language.py)."""
    bot = Bot()
    japanese = mint_customer_token(
        SECRET, tenant_id="tenant-contoso", user_id="alex", locale="ja-JP"
    )

    async def scenario() -> None:
        async with channel_server(channel(), bot) as url:
            await post(url, say("conv-ja", "hello", japanese, locale="en"))

    asyncio.run(scenario())
    (message,) = bot.received
    assert message.metadata["locale"] == "ja-JP"
    assert set(message.metadata) == {"chat_token", "chatter", "locale"}


def test_a_huge_message_is_cut_before_rasa_sees_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = Bot()

    async def scenario(rest: SecureRestInput) -> None:
        async with channel_server(rest, bot) as url:
            status, _ = await post(url, say("conv-1", "x" * 100_000))
            assert status == 200

    asyncio.run(scenario(channel()))
    assert len(bot.received[-1].text) == config.max_message_chars() == 4000
    # One setting for every channel.
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "500")
    asyncio.run(scenario(SecureRestInput.from_credentials(None)))
    assert len(bot.received[-1].text) == 500


def test_card_numbers_and_ibans_never_reach_rasa() -> None:
    bot = Bot()

    async def scenario() -> None:
        async with channel_server(channel(), bot) as url:
            await post(
                url,
                say(
                    "conv-1",
                    "card 4111.1111.1111.1111 and GB82-WEST-1234-5698-7654-32",
                ),
            )

    asyncio.run(scenario())
    assert bot.received[0].text == f"card {CARD} and {IBAN}"


def test_a_sender_id_cannot_be_taken_over() -> None:
    """The finding's repro: Contoso starts `v1` with its token; the same sender id
    without a token, or with Fabrikam's, was answered as Contoso."""
    bot = Bot()

    async def scenario() -> list[int]:
        async with channel_server(channel(), bot) as url:
            codes = []
            for body in (
                say("v1", "hi", token()),
                say("v1", "what is my latest invoice?"),  # no token
                say("v1", "what is my latest invoice?", token("eve", "tenant-fab")),
                say("v1", "what is my latest invoice?", "forged.token.here"),
                say("v1", "and my payments?", token()),  # Contoso again: fine
                say("v2", "hi"),  # an anonymous conversation
                say("v2", "hi", token()),  # is not Contoso's either
            ):
                status, reply = await post(url, body)
                codes.append(status)
                if status == 409:
                    assert reply == {"error": "conflict", "detail": CONFLICT_DETAIL}
            return codes

    assert asyncio.run(scenario()) == [200, 409, 409, 409, 200, 200, 409]
    assert [m.text for m in bot.received] == ["hi", "and my payments?", "hi"]


def test_a_widget_session_id_cannot_be_posted_into_over_rest() -> None:
    """A widget conversation is in the tracker store (its messages carry the
    widget customer's fingerprint): REST cannot write into it as anyone else."""
    widget = SecureSocketIOInput(chat_token_secret=SECRET)
    session_id = "a" * 32 + ".widget-session"
    store = Store(
        {
            session_id: [
                UserUttered("hi", metadata={"chatter": widget.fingerprint(CONTOSO)})
            ],
            "anonymous-widget": [
                UserUttered("hi", metadata={"chatter": widget.fingerprint(None)})
            ],
        }
    )
    bot = Bot()

    async def scenario() -> list[int]:
        async with channel_server(channel(), bot, agent=Agent(store)) as url:
            return [
                (await post(url, body))[0]
                for body in (
                    say(session_id, "what is my latest invoice?"),
                    say(session_id, "my invoice", token("eve", "tenant-fab")),
                    say("anonymous-widget", "hello"),  # anonymous, another channel
                    say(session_id, "my invoice", token()),  # the customer herself
                )
            ]

    assert asyncio.run(scenario()) == [409, 409, 409, 200]
    assert [m.sender_id for m in bot.received] == [session_id]


def test_rate_limit_per_identity_else_per_address() -> None:
    bot = Bot()

    async def scenario() -> list[str]:
        rest = channel(limiter=ChatterLimiter(RateLimit(2, 60, 2), storage_url=""))
        texts = []
        async with channel_server(rest, bot) as url:
            # One customer on three sender ids: one count.
            for sender in ("a", "b", "c"):
                _, replies = await post(url, say(sender, "hi", token()))
                texts.append(replies[0]["text"])
            # Anonymous: counted by client address (all 127.0.0.1 here).
            for sender in ("d", "e", "f"):
                _, replies = await post(url, say(sender, "hi"))
                texts.append(replies[0]["text"])
        return texts

    texts = asyncio.run(scenario())
    slow = config.RATE_LIMITED_TEXT
    assert [t == slow for t in texts] == [False, False, True, False, False, True]
    assert len(bot.received) == 4


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"message": "hi"}', 400),
        (b'{"sender": "", "message": "hi"}', 400),
        (b'{"sender": "s", "message": 42}', 400),
        (b'{"sender": "s", "message": "hi", "metadata": [1]}', 400),
        (b'{"sender": "' + b"s" * 200 + b'", "message": "hi"}', 400),
        (b'{"sender": "s", "message": "' + b"x" * 300_000 + b'"}', 413),
    ],
)
def test_bad_requests_get_a_clear_error(body: bytes, status: int) -> None:
    bot = Bot()

    async def scenario() -> tuple[int, Any]:
        async with (
            channel_server(channel(), bot) as url,
            aiohttp.ClientSession() as http,
            http.post(
                f"{url}/webhooks/rest/webhook",
                data=body,
                headers={"content-type": "application/json"},
            ) as reply,
        ):
            return reply.status, await reply.json(content_type=None)

    code, reply = asyncio.run(scenario())
    assert code == status
    assert isinstance(reply.get("error"), str) and reply.get("detail")
    assert not bot.received


def test_a_failure_is_logged_without_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = Bot(fail=True)

    async def scenario() -> tuple[int, Any]:
        async with channel_server(channel(), bot) as url:
            return await post(url, say("conv-1", "my secret plan for the merger"))

    with caplog.at_level(logging.INFO):
        status, reply = asyncio.run(scenario())
    assert status == 500 and reply["error"] == "internal_server_error"
    assert "merger" not in caplog.text
    assert "REST message in conv-1 failed: ValueError at" in caplog.text
