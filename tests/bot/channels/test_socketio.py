"""The web chat channel: session ids bound to the chat token's subject, and a real
socket.io conversation against the channel served in-process (rasa#13027 fixed:
replies arrive; one chatter cannot join or post into another's conversation)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Optional

import aiohttp
import pytest
import socketio
from rasa.core.channels.channel import UserMessage

from bot.channels.socketio import (
    ANONYMOUS,
    SecureSocketIOInput,
    issue_session_id,
    resume_or_issue,
    session_id_is_bound,
    subject_of,
    transcript,
)
from common import channels as config
from common.identity import (
    ChatIdentity,
    InvalidChatToken,
    mint_customer_token,
    mint_staff_token,
    verify_chat_token,
)
from tests.bot.channels.harness import channel_server

SECRET = "socket-test-secret-0123456789abcdef"
KEY = SECRET  # session ids are signed with the chat token secret (itsdangerous)
ALICE = ChatIdentity(kind="customer", subject="alice", tenant_id="tenant-a")
BOB = ChatIdentity(kind="customer", subject="bob", tenant_id="tenant-b")


def token(user: str, tenant: str, secret: str = SECRET, **kwargs: Any) -> str:
    return mint_customer_token(secret, tenant_id=tenant, user_id=user, **kwargs)


# --------------------------------------------------------------- session binding


def test_an_issued_session_id_is_bound_to_its_subject_only() -> None:
    session_id = issue_session_id(KEY, subject_of(ALICE))
    assert session_id_is_bound(KEY, subject_of(ALICE), session_id)
    assert not session_id_is_bound(KEY, subject_of(BOB), session_id)
    assert not session_id_is_bound(KEY, ANONYMOUS, session_id)
    assert not session_id_is_bound(
        "another-secret-0123456789abcdef", subject_of(ALICE), session_id
    )


def test_same_user_in_another_tenant_is_another_subject() -> None:
    twin = ChatIdentity(kind="customer", subject="alice", tenant_id="tenant-b")
    assert subject_of(twin) != subject_of(ALICE)


@pytest.mark.parametrize(
    "requested",
    [
        None,
        "",
        42,
        "abc",
        "0" * 64,
        "0" * 32 + "." + "A" * 43,  # the shape of an id, not our signature
        "0" * 32 + "." + "A" * 42,
        {"id": "x"},
    ],
)
def test_made_up_session_ids_are_replaced(requested: Any) -> None:
    session_id, resumed = resume_or_issue(KEY, subject_of(ALICE), requested)
    assert not resumed
    assert session_id != requested
    assert session_id_is_bound(KEY, subject_of(ALICE), session_id)


def test_a_tampered_session_id_is_not_resumed() -> None:
    session_id = issue_session_id(KEY, subject_of(ALICE))
    flipped = session_id[:-1] + ("0" if session_id[-1] != "0" else "1")
    assert not session_id_is_bound(KEY, subject_of(ALICE), flipped)


def test_resume_keeps_the_session_of_the_same_subject() -> None:
    first, resumed = resume_or_issue(KEY, subject_of(ALICE), None)
    assert not resumed
    again, resumed = resume_or_issue(KEY, subject_of(ALICE), first)
    assert resumed and again == first
    for_bob, resumed = resume_or_issue(KEY, subject_of(BOB), first)
    assert not resumed and for_bob != first


def test_anonymous_sessions_are_random() -> None:
    ids = {issue_session_id(KEY, ANONYMOUS) for _ in range(50)}
    assert len(ids) == 50


def test_the_widget_takes_customer_tokens_only() -> None:
    channel = SecureSocketIOInput(chat_token_secret=SECRET)
    assert channel.verify(token("alice", "tenant-a")).subject == "alice"
    staff = mint_staff_token(SECRET, platform="slack", platform_user_id="U1")
    with pytest.raises(InvalidChatToken):
        channel.verify(staff)
    with pytest.raises(InvalidChatToken):
        channel.verify(
            token("alice", "tenant-a", secret="forged-secret-0123456789abcdefghij")
        )
    with pytest.raises(InvalidChatToken):
        channel.verify(token("alice", "tenant-a", ttl_seconds=-10))


def test_transcript_matches_what_the_channel_emits() -> None:
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "hi"},
        {
            "event": "bot",
            "text": "Hello!\n\nPick one:",
            "data": {"buttons": [{"title": "Invoices", "payload": "/ask_invoice"}]},
        },
        {"event": "user", "text": "/ask_invoice"},
        {"event": "bot", "text": "Your invoice", "data": {}},
    ]
    assert transcript(events) == [
        {"from": "user", "text": "hi"},
        {"from": "bot", "text": "Hello!"},
        {
            "from": "bot",
            "text": "Pick one:",
            "quick_replies": [
                {"content_type": "text", "title": "Invoices", "payload": "/ask_invoice"}
            ],
        },
        {"from": "user", "text": "/ask_invoice"},
        {"from": "bot", "text": "Your invoice"},
    ]
    assert len(transcript(events * 50, limit=7)) == 7


def test_production_refuses_the_default_chat_token_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_MODE", "production")
    monkeypatch.setenv("WIDGET_ALLOWED_ORIGINS", "https://www.partner.example")
    monkeypatch.delenv("CHAT_TOKEN_SECRET", raising=False)
    with pytest.raises(config.ChannelConfigError):
        SecureSocketIOInput.from_credentials(None)
    monkeypatch.setenv("CHAT_TOKEN_SECRET", config.LOCAL_CHAT_TOKEN_SECRET)
    with pytest.raises(config.ChannelConfigError):
        SecureSocketIOInput.from_credentials({})
    monkeypatch.setenv("CHAT_TOKEN_SECRET", SECRET)
    assert SecureSocketIOInput.from_credentials({}).chat_token_secret == SECRET


# --------------------------------------------------------------- over socket.io


class Chatter:
    """A socket.io client speaking Rasa's protocol (polling transport: the engine.io
    websocket client needs a newer aiohttp than Rasa pins)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.session_id: Optional[str] = None
        self.replies: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self._confirmed = asyncio.Event()
        self._done = asyncio.Event()
        self.client.on("session_confirm", self._on_confirm)
        self.client.on("bot_uttered", self._on_bot)
        self.client.on("session_history", self._on_history)
        self.client.on("bot_done", self._on_done)

    async def _on_confirm(self, session_id: str) -> None:
        self.session_id = session_id
        self._confirmed.set()

    async def _on_bot(self, message: dict[str, Any]) -> None:
        self.replies.append(message)

    async def _on_history(self, data: dict[str, Any]) -> None:
        self.history = data["messages"]

    async def _on_done(self, _: Any) -> None:
        self._done.set()

    async def connect(self, chat_token: Optional[str], session_id: Any = None) -> str:
        auth = {"token": chat_token} if chat_token else None
        await self.client.connect(self.url, auth=auth, transports=["polling"])
        self._confirmed.clear()
        await self.client.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self._confirmed.wait(), 10)
        assert self.session_id is not None
        return self.session_id

    async def say(self, text: str, **extra: Any) -> list[dict[str, Any]]:
        self._done.clear()
        before = len(self.replies)
        await self.client.emit("user_uttered", {"message": text, **extra})
        await asyncio.wait_for(self._done.wait(), 10)
        return self.replies[before:]

    async def close(self) -> None:
        """Disconnect without waiting out the pending long-poll (about 25 s)."""
        eio = self.client.eio
        pending = [eio.read_loop_task, eio.write_loop_task]
        await eio.disconnect(abort=True)
        for task in pending:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in pending if t), return_exceptions=True)
        if eio.http is not None:
            await eio.http.close()


def test_conversations_are_bound_to_the_token_over_socketio() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        identity = verify_chat_token(SECRET, (message.metadata or {}).get("chat_token"))
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            f"Hello {identity.subject}",
            [{"title": "Invoices", "payload": "/ask_invoice"}],
        )

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET)
        async with channel_server(channel, bot) as url:
            alice = Chatter(url)
            alice_session = await alice.connect(token("alice", "tenant-a"))
            # A reply arrives (rasa#13027: the room is joined) and carries buttons.
            replies = await alice.say("hi", session_id="someone-elses-session")
            assert replies == [
                {
                    "text": "Hello alice",
                    "quick_replies": [
                        {
                            "content_type": "text",
                            "title": "Invoices",
                            "payload": "/ask_invoice",
                        }
                    ],
                }
            ]
            # The message went into the server's session, not the one it named.
            assert received[-1].sender_id == alice_session
            # Exactly the verified token and whose conversation it is.
            assert received[-1].metadata == {
                "chat_token": received[-1].metadata["chat_token"],
                "chatter": channel.fingerprint(ALICE),
            }
            await alice.close()

            # Bob presents Alice's session id: he gets a session of his own.
            bob = Chatter(url)
            bob_session = await bob.connect(token("bob", "tenant-b"), alice_session)
            assert bob_session != alice_session
            await bob.say("hi", session_id=alice_session)
            assert received[-1].sender_id == bob_session
            assert bob.history == []
            await bob.close()

            # Anonymous: a random session, no token in the metadata, no hijack.
            anonymous = Chatter(url)
            anonymous_session = await anonymous.connect(None, alice_session)
            assert anonymous_session not in {alice_session, bob_session}
            assert session_id_is_bound(KEY, ANONYMOUS, anonymous_session)
            await anonymous.close()

            # Alice reconnects with her session id (a dropped connection): resumed.
            again = Chatter(url)
            assert await again.connect(token("alice", "tenant-a"), alice_session) == (
                alice_session
            )
            await again.close()

    asyncio.run(scenario())


async def refusal(url: str, auth: Optional[dict[str, Any]]) -> Optional[str]:
    """Open an Engine.IO polling session and connect to the namespace with `auth`;
    the server's CONNECT_ERROR message, or None if it accepted. (Spoken by hand: the
    python client waits out a 25 s long-poll when it closes a refused session.)"""
    endpoint = f"{url}/socket.io/"
    async with aiohttp.ClientSession() as http:
        async with http.get(endpoint, params={"EIO": "4", "transport": "polling"}) as r:
            handshake = await r.text()
        assert handshake.startswith("0"), handshake
        sid = json.loads(handshake[1:])["sid"]
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        packet = "40" + (json.dumps(auth) if auth is not None else "")
        async with http.post(endpoint, params=params, data=packet) as r:
            assert r.status == 200
        async with http.get(endpoint, params=params) as r:
            reply = await r.text()
    if reply.startswith("44"):
        return str(json.loads(reply[2:]).get("message"))
    assert reply.startswith("40"), reply
    return None


def test_a_forged_or_expired_token_is_refused_at_connect() -> None:
    async def bot(message: UserMessage) -> None:  # never called
        raise AssertionError("a refused connection sent a message")

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET)
        async with channel_server(channel, bot) as url:
            for bad in (
                token("alice", "tenant-a", secret="forged-secret-0123456789abcdefghij"),
                token("alice", "tenant-a", ttl_seconds=-60),
                "not-a-jwt",
                mint_staff_token(SECRET, platform="teams", platform_user_id="x"),
            ):
                assert await refusal(url, {"token": bad}) == "invalid_token"
            assert await refusal(url, {"token": token("alice", "tenant-a")}) is None
            assert await refusal(url, None) is None  # anonymous is allowed

    asyncio.run(scenario())


def test_anonymous_chat_can_be_switched_off() -> None:
    async def bot(message: UserMessage) -> None:
        raise AssertionError("an anonymous connection sent a message")

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET, allow_anonymous=False)
        async with channel_server(channel, bot) as url:
            assert await refusal(url, None) == "sign_in_required"
            assert await refusal(url, {"token": token("alice", "tenant-a")}) is None

    asyncio.run(scenario())


def test_anonymous_messages_carry_no_token() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET)
        async with channel_server(channel, bot) as url:
            chatter = Chatter(url)
            await chatter.connect(None)
            await chatter.say("hello", metadata={"chat_token": token("x", "y")})
            await chatter.close()

    asyncio.run(scenario())
    assert received and set(received[0].metadata) == {"chatter"}


def test_only_the_listed_sites_may_open_the_socket() -> None:
    async def bot(message: UserMessage) -> None:
        pass

    async def handshake(url: str, origin: str) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{url}/socket.io/",
                params={"EIO": "4", "transport": "polling"},
                headers={"Origin": origin},
            ) as reply,
        ):
            return reply.status

    async def scenario() -> tuple[int, int]:
        channel = SecureSocketIOInput(
            chat_token_secret=SECRET,
            cors_allowed_origins=["https://www.partner.example"],
        )
        async with channel_server(channel, bot) as url:
            return (
                await handshake(url, "https://www.partner.example"),
                await handshake(url, "https://evil.example"),
            )

    assert asyncio.run(scenario()) == (200, 400)


@pytest.mark.parametrize(
    "packet",
    ['42["user_uttered",', "4{{{", "47", '451-["user_uttered",{"_placeholder":true}]'],
)
def test_a_broken_packet_is_one_log_line_not_a_traceback(
    packet: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone, signed in or not, can send packets that do not decode; each one
    logged a full traceback (easy log flooding)."""

    async def bot(message: UserMessage) -> None:
        pass

    async def scenario() -> None:
        channel = SecureSocketIOInput(chat_token_secret=SECRET)
        async with channel_server(channel, bot) as url:
            async with aiohttp.ClientSession() as http:
                query = {"EIO": "4", "transport": "polling"}
                async with http.get(f"{url}/socket.io/", params=query) as reply:
                    opened = await reply.text()
                sid = json.loads(opened[1:])["sid"]
                for _ in range(3):
                    async with http.post(
                        f"{url}/socket.io/", params={**query, "sid": sid}, data=packet
                    ) as reply:
                        assert reply.status == 200
            await asyncio.sleep(0.2)

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    dropped = [r for r in caplog.records if "packet from" in r.getMessage()]
    assert len(dropped) == 3 and all(r.levelno == logging.WARNING for r in dropped)


# --------------------------------------------------------------- a person


def test_the_transcript_keeps_agents_and_hand_off_states() -> None:
    events = [
        {
            "event": "bot",
            "text": "I'm handing this conversation to a person.",
            "data": {"custom": {"handoff": "waiting", "desk_open": True}},
        },
        {
            "event": "bot",
            "text": None,
            "data": {"custom": {"from": "agent", "name": "Sam", "text": "Hi"}},
        },
        {
            "event": "bot",
            "text": "You're back with the assistant.",
            "data": {"custom": {"handoff": "ended"}},
        },
    ]
    assert transcript(events) == [
        {"from": "bot", "text": "I'm handing this conversation to a person."},
        {"from": "bot", "handoff": "waiting", "desk_open": True},
        {"from": "agent", "name": "Sam", "text": "Hi"},
        {"from": "bot", "text": "You're back with the assistant."},
        {"from": "bot", "handoff": "ended"},
    ]


def test_a_ticket_instead_is_asked_for_the_sockets_own_conversation() -> None:
    from aiohttp import web

    from bot.channels.handoff_relay import ThreadRelay
    from common.texts import catalogue
    from tests.bot.channels.harness import aiohttp_server

    asked: list[tuple[str, str]] = []
    answers = [200, 404, 503]

    async def ticket(request: web.Request) -> web.Response:
        asked.append(
            (request.match_info["conversation"], request.headers["Authorization"])
        )
        status = answers.pop(0)
        return web.json_response({"ticket": "CSP-1"}, status=status)

    async def bot(message: UserMessage) -> None:  # never called
        raise AssertionError("a ticket request is not a message")

    async def scenario() -> None:
        api = web.Application()
        api.router.add_post("/api/v1/handoff/{conversation}/ticket", ticket)
        async with aiohttp_server(api) as api_url:
            channel = SecureSocketIOInput(
                chat_token_secret=SECRET, relay=ThreadRelay(api_url, "service-token")
            )
            async with channel_server(channel, bot) as url:
                alice = Chatter(url)
                session = await alice.connect(token("alice", "tenant-a"))

                async def ask() -> list[dict[str, Any]]:
                    alice._done.clear()
                    before = len(alice.replies)
                    # A session id in the request is ignored, as for messages.
                    await alice.client.emit(
                        "handoff_ticket", {"session_id": "someone-elses"}
                    )
                    await asyncio.wait_for(alice._done.wait(), 10)
                    return alice.replies[before:]

                # Opened: the API hands the chat back through Rasa; nothing here.
                assert await ask() == []
                assert asked == [(session, "Bearer service-token")]
                # Not waiting any more (asked twice, or an agent took it).
                assert await ask() == [
                    {"text": catalogue().text("handoff.ticket_not_waiting")}
                ]
                # The API failed: the customer knows, and may try again.
                assert await ask() == [
                    {"text": catalogue().text("handoff.ticket_failed")}
                ]
                await alice.close()

    asyncio.run(scenario())
