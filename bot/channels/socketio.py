"""The web chat widget's channel: Rasa's socket.io protocol, bound to a signed token.

Rasa 3.6.21's `SocketIOInput` has faults this channel fixes (see
docs/channels.md):

- rasa#13027: `enter_room` is not awaited, so with python-socketio 5.x the socket never
  joins its session's room and replies never arrive. Here every room call is awaited.
- The client chooses its session id, and a `jwt_key` token is checked and thrown
  away, so anyone who knows a session id can join or post into that conversation.
  Here the customer's chat token (common/identity.py) is verified on `connect`, the
  session id is issued by the server and signed for the token's subject with
  itsdangerous, the id a client sends is accepted only when it is signed for that
  same subject, and messages go into the session the server recorded for the
  socket, never one named in the message. Every message carries
  `{"chat_token": token, "chatter": fingerprint}` in its metadata.
- It takes any origin; production mode here refuses `*` (WIDGET_ALLOWED_ORIGINS must
  name the partner's sites).

A connection without a token is anonymous (general answers only, when allowed): it
gets a random, server-signed session id that it can resume after a dropped connection
but cannot choose.

Rate limits count per chatter, not per socket or session: a signed-in customer's
messages on every socket (and over REST) share one limit, anonymous chatters one per
client address (behind a trusted proxy, TRUSTED_PROXIES, the address it forwards).
A packet that cannot be decoded is dropped with one log line, not a traceback.

Events (Rasa's socket.io protocol, plus some of ours that Rasa clients ignore):
    client -> server  session_request {session_id?}, user_uttered {message},
                      auth_refresh {token}, handoff_ticket {} (a chat waiting for
                      a closed desk would rather have a ticket: passed to the API)
    server -> client  session_confirm <session_id>, bot_uttered <message>,
                      session_history {session_id, messages}, bot_done {},
                      auth_expired {}
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from itsdangerous import BadSignature, Signer
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from bot.channels.handoff_relay import ThreadRelay, TicketOutcome
from bot.channels.inbound import (
    ChatterLimiter,
    MessageGate,
    chatter_key,
    clean_text,
    client_address,
    inbound_text,
    log_failure,
    message_gate,
)
from common import channels as config
from common import settings as S
from common.conversation_language import LOCALE_KEY
from common.identity import (
    ANONYMOUS,
    CHATTER_KEY,
    ChatIdentity,
    InvalidChatToken,
    chatter_fingerprint,
    identity_key,
    verify_chat_token,
)
from common.texts import catalogue

logger = logging.getLogger(__name__)

# Sanic 21.12's websocket code passes coroutines to asyncio.wait() on every frame, and
# sanic turns DeprecationWarnings on: two log lines per frame, thousands a minute
# under load, each costing the event loop. Harmless on Python 3.10.
warnings.filterwarnings(
    "ignore",
    message="The explicit passing of coroutine objects to asyncio.wait",
    category=DeprecationWarning,
)

CHAT_TOKEN_KEY = config.CHAT_TOKEN_KEY
HISTORY_LIMIT = 60
# A session id: 32 random hex digits, a dot, and their itsdangerous signature
# (HMAC-SHA256, URL-safe base64) for the subject.
_SESSION_ID = re.compile(r"^[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$")
_SESSION_SALT = "csp-billing-desk/widget-session-id/v2"


# --------------------------------------------------------------- session binding


def session_signer(chat_token_secret: str, subject: str) -> Signer:
    """Signs session ids for one subject: the subject is in the salt, so an id
    signed for one customer does not verify for another (nor for `anonymous`)."""
    return Signer(
        chat_token_secret,
        salt=f"{_SESSION_SALT}\x1f{subject}",
        digest_method=hashlib.sha256,
    )


def subject_of(identity: Optional[ChatIdentity]) -> str:
    """Who a session belongs to: a signed-in customer's `key`, or `anonymous`."""
    return identity_key(identity)


def issue_session_id(chat_token_secret: str, subject: str) -> str:
    """A new session id for `subject`: a random nonce, signed."""
    nonce = secrets.token_hex(16)
    return session_signer(chat_token_secret, subject).sign(nonce).decode()


def session_id_is_bound(chat_token_secret: str, subject: str, session_id: Any) -> bool:
    """True if `session_id` was issued by us to `subject`."""
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        return False
    try:
        session_signer(chat_token_secret, subject).unsign(session_id)
    except BadSignature:
        return False
    return True


def resume_or_issue(
    chat_token_secret: str, subject: str, requested: Any
) -> tuple[str, bool]:
    """The session id for a `session_request`: the requested one if it is bound to
    `subject` (a reconnect), else a new one. Returns (session_id, resumed)."""
    if session_id_is_bound(chat_token_secret, subject, requested):
        return requested, True
    return issue_session_id(chat_token_secret, subject), False


class QuietAsyncServer(AsyncServer):
    """python-socketio's server, except that a packet it cannot decode (or a
    handler that fails on one) is dropped with one log line. Anyone can send
    broken packets, signed in or not; a traceback for each one floods the log."""

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:
            logger.warning(
                "Web chat: a packet from %s dropped (%s)",
                str(eio_sid)[:8],
                type(exc).__name__,
            )


# --------------------------------------------------------------- history


def _bot_payloads(text: Optional[str], data: dict[str, Any]) -> list[dict[str, Any]]:
    """A bot utterance as the `bot_uttered` payloads SocketIOOutput would emit."""
    buttons = data.get("buttons") or data.get("quick_replies") or []
    parts = [p for p in (text or "").strip().split("\n\n") if p] if text else []
    payloads: list[dict[str, Any]] = [{"text": part} for part in parts]
    if buttons:
        if not payloads:
            payloads.append({"text": ""})
        payloads[-1]["quick_replies"] = [
            {
                "content_type": "text",
                "title": b.get("title", ""),
                "payload": b.get("payload", ""),
            }
            for b in buttons
            if isinstance(b, dict)
        ]
    if data.get("image"):
        payloads.append(
            {"attachment": {"type": "image", "payload": {"src": data["image"]}}}
        )
    if data.get("custom"):
        payloads.append(dict(data["custom"]))
    return payloads


def transcript(events: list[dict[str, Any]], limit: int = HISTORY_LIMIT) -> list[dict]:
    """The user and bot messages of a tracker's events, oldest first, at most
    `limit` of them, in the shape the widget renders."""
    messages: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "user" and event.get("text"):
            messages.append({"from": "user", "text": event["text"]})
        elif kind == "bot":
            for payload in _bot_payloads(event.get("text"), event.get("data") or {}):
                messages.append({"from": "bot", **payload})
    return messages[-limit:]


# --------------------------------------------------------------- output


class SecureSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, with custom JSON sent as data (Rasa's passes it as
    keyword arguments of `emit`, which breaks on any key but `data` and `room`)."""

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self.sio.emit(self.bot_message_evt, json_message, room=recipient_id)


class _AppCapturingBlueprint(SocketBlueprint):
    """Attaches socket.io to the app like Rasa's, and remembers the app so that
    handlers can read the tracker store (`app.ctx.agent`)."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.app = app
        super().register(app, options)


# --------------------------------------------------------------- input


class SecureSocketIOInput(InputChannel):
    """socket.io for the web chat widget, with sessions bound to chat tokens."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(
        cls, credentials: Optional[dict[str, Any]]
    ) -> SecureSocketIOInput:
        credentials = credentials or {}
        anonymous = config.setting(
            credentials, "allow_anonymous", S.WIDGET_ALLOW_ANONYMOUS
        )
        return cls(
            chat_token_secret=config.chat_token_secret(),
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            cors_allowed_origins=config.widget_origins(credentials),
            allow_anonymous=anonymous.lower() not in {"0", "false", "no", "off"},
            limiter=ChatterLimiter(config.chat_rate_limit()),
            trusted_proxies=config.trusted_proxies(),
            max_chars=config.max_message_chars(),
        )

    def __init__(
        self,
        chat_token_secret: str,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        namespace: Optional[str] = None,
        socketio_path: str = "/socket.io",
        cors_allowed_origins: Optional[list[str]] = None,
        allow_anonymous: bool = True,
        limiter: Optional[ChatterLimiter] = None,
        gate: Optional[MessageGate] = None,
        trusted_proxies: Optional[list[config.Network]] = None,
        max_chars: Optional[int] = None,
        relay: Optional[ThreadRelay] = None,
    ) -> None:
        self.chat_token_secret = chat_token_secret
        self.relay = relay or ThreadRelay.from_env()
        self.limiter = limiter or ChatterLimiter()
        self.gate = gate or message_gate()
        self.trusted_proxies = trusted_proxies or []
        self.max_chars = max_chars or config.max_message_chars()
        self.user_message_evt = user_message_evt
        self.bot_message_evt = bot_message_evt
        self.namespace = namespace
        self.socketio_path = socketio_path
        origins = cors_allowed_origins or ["*"]
        self.cors_allowed_origins: Any = "*" if "*" in origins else origins
        self.allow_anonymous = allow_anonymous
        self.sio: Optional[AsyncServer] = None
        logger.info(
            "Web chat channel on: socket.io at %s, origins %s, anonymous %s",
            socketio_path,
            ", ".join(origins),
            "allowed" if allow_anonymous else "refused",
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        if self.sio is None:
            return None
        return SecureSocketIOOutput(self.sio, self.bot_message_evt)

    def fingerprint(self, identity: Optional[ChatIdentity]) -> str:
        """The `chatter` metadata of a socket's messages (see bot/channels/rest.py:
        whose conversation it is)."""
        key = identity_key(identity)
        if identity is None:
            key = f"{ANONYMOUS}\x1f{self.name()}"
        return chatter_fingerprint(self.chat_token_secret, key)

    def _address(self, environ: dict[str, Any]) -> str:
        """The client's address (anonymous chatters are limited by it)."""
        request = environ.get("sanic.request")
        peer = getattr(request, "ip", None) if request is not None else None
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        return client_address(
            peer if isinstance(peer, str) else None,
            forwarded if isinstance(forwarded, str) else None,
            self.trusted_proxies,
        )

    def verify(self, token: Any) -> ChatIdentity:
        """The customer a widget token names; raises InvalidChatToken otherwise."""
        identity = verify_chat_token(self.chat_token_secret, token)
        if identity.kind != "customer":
            raise InvalidChatToken("the web chat takes customer tokens only")
        return identity

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        sio = QuietAsyncServer(
            async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins
        )
        webhook = _AppCapturingBlueprint(
            sio, self.socketio_path, "secure_socketio_webhook", __name__
        )
        self.sio = sio
        namespace = self.namespace

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: Optional[dict] = None) -> bool:
            token = auth.get("token") if isinstance(auth, dict) else None
            identity: Optional[ChatIdentity] = None
            if token:
                try:
                    identity = self.verify(token)
                except InvalidChatToken as exc:
                    logger.info("Web chat connection %s refused: %s", sid, exc)
                    raise SocketRefused("invalid_token") from None
            elif not self.allow_anonymous:
                raise SocketRefused("sign_in_required")
            await sio.save_session(
                sid,
                {
                    "token": token if identity else None,
                    "subject": subject_of(identity),
                    "chatter": chatter_key(identity, self._address(environ)),
                    "fingerprint": self.fingerprint(identity),
                    "session_id": None,
                },
                namespace=namespace,
            )
            logger.debug(
                "Web chat %s connected (%s)", sid, "signed in" if token else "anonymous"
            )
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            logger.debug("Web chat %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            state = await sio.get_session(sid, namespace=namespace)
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id, resumed = resume_or_issue(
                self.chat_token_secret, state["subject"], requested
            )
            if state.get("session_id") and state["session_id"] != session_id:
                await sio.leave_room(sid, state["session_id"], namespace=namespace)
            state["session_id"] = session_id
            await sio.save_session(sid, state, namespace=namespace)
            await sio.enter_room(sid, session_id, namespace=namespace)  # rasa#13027
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            if resumed:
                messages = await self._history(webhook, session_id)
                await sio.emit(
                    "session_history",
                    {"session_id": session_id, "messages": messages},
                    room=sid,
                    namespace=namespace,
                )
            logger.debug(
                "Web chat %s %s session %s",
                sid,
                "resumed" if resumed else "started",
                session_id[:8],
            )

        @sio.on("auth_refresh", namespace=namespace)
        async def auth_refresh(sid: str, data: Any = None) -> dict[str, Any]:
            """A fresh token for the same customer (the old one is about to expire)."""
            state = await sio.get_session(sid, namespace=namespace)
            token = data.get("token") if isinstance(data, dict) else None
            try:
                identity = self.verify(token)
            except InvalidChatToken:
                return {"ok": False, "error": "invalid_token"}
            if subject_of(identity) != state["subject"]:
                return {"ok": False, "error": "different_chatter"}
            state["token"] = token
            await sio.save_session(sid, state, namespace=namespace)
            return {"ok": True}

        @sio.on("handoff_ticket", namespace=namespace)
        async def handoff_ticket(sid: str, data: Any = None) -> None:
            """ "Open a ticket instead" of waiting for a closed desk: the API opens
            it for this socket's own conversation (never one the client names) and
            hands the chat back; the customer hears of it through Rasa."""
            state = await sio.get_session(sid, namespace=namespace)
            session_id = state.get("session_id")
            if not session_id:
                return
            if not self.limiter.admit(state["chatter"]):
                await sio.emit(
                    self.bot_message_evt,
                    {"text": config.RATE_LIMITED_TEXT},
                    room=sid,
                    namespace=namespace,
                )
                await sio.emit("bot_done", {}, room=sid, namespace=namespace)
                return
            outcome = await self.relay.ticket_instead(session_id)
            if outcome is not TicketOutcome.OPENED:
                key = (
                    "handoff.ticket_not_waiting"
                    if outcome is TicketOutcome.NOT_WAITING
                    else "handoff.ticket_failed"
                )
                await sio.emit(
                    self.bot_message_evt,
                    {"text": catalogue().text(key)},
                    room=session_id,
                    namespace=namespace,
                )
            await sio.emit("bot_done", {}, room=session_id, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            state = await sio.get_session(sid, namespace=namespace)
            session_id = state.get("session_id")
            if not session_id:
                logger.warning(
                    "Web chat %s sent a message before session_request; ignored", sid
                )
                return
            text = data.get("message") if isinstance(data, dict) else None
            if (
                not isinstance(text, str)
                or not clean_text(text, self.max_chars).strip()
            ):
                # Nothing to answer; end the widget's typing indicator.
                await sio.emit("bot_done", {}, room=sid, namespace=namespace)
                return
            # One count per chatter (identity, else client address), whatever the
            # socket or session: a fresh session_request is not a fresh limit.
            if not self.limiter.admit(state["chatter"]):
                # Not passed to Rasa. Told every time: the reply costs nothing but
                # this socket, and the widget waits for bot_done.
                logger.info("Web chat session %s over the rate limit", session_id[:8])
                await sio.emit(
                    self.bot_message_evt,
                    {"text": config.RATE_LIMITED_TEXT},
                    room=sid,
                    namespace=namespace,
                )
                await sio.emit("bot_done", {}, room=sid, namespace=namespace)
                return
            metadata: dict[str, Any] = {CHATTER_KEY: state["fingerprint"]}
            token = state.get("token")
            if token:
                try:
                    identity = self.verify(token)
                    if identity.locale:
                        # the language the partner's site shows
                        # (common/conversation_language.py)
                        metadata[LOCALE_KEY] = identity.locale
                except InvalidChatToken:
                    await sio.emit("auth_expired", {}, room=sid, namespace=namespace)
                metadata[CHAT_TOKEN_KEY] = token
            message = UserMessage(
                # cut to MAX_MESSAGE_CHARS; card and bank numbers never reach the
                # tracker store
                inbound_text(text, self.max_chars),
                SecureSocketIOOutput(sio, self.bot_message_evt),
                session_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            try:
                await self.gate.run(message.sender_id, on_new_message(message))
            except Exception as exc:
                log_failure(logger, f"Web chat message in {session_id[:8]} failed", exc)
            finally:
                await sio.emit("bot_done", {}, room=session_id, namespace=namespace)

        return webhook

    @staticmethod
    async def _history(webhook: Blueprint, session_id: str) -> list[dict[str, Any]]:
        """The conversation so far, from the tracker store (empty if unavailable)."""
        app = getattr(webhook.ctx, "app", None)
        agent = getattr(getattr(app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return []
        try:
            tracker = await store.retrieve(session_id)
        except Exception:  # the widget keeps its own copy; history is a bonus
            logger.exception("Could not read the history of web chat session")
            return []
        if tracker is None:
            return []
        return transcript([event.as_dict() for event in tracker.events])
