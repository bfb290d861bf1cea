"""The REST channel: Rasa's `rest` protocol, with what every other channel does.

Rasa's built-in `rest:` channel hands Rasa whatever it is posted: the whole text
(a 100 kB message held Rasa's event loop for every conversation), card numbers as
typed, any metadata, and under any sender id, so a message posted under someone
else's sender id was answered in their conversation. This one keeps Rasa's name,
URL and shapes, so every REST client works as before:

    POST /webhooks/rest/webhook
    {"sender": "<conversation id>", "message": "<text>",
     "metadata": {"chat_token": "<signed token>"}}          (metadata optional)
    -> 200 [{"recipient_id": "<sender>", "text": "...", "buttons": [...]}, ...]

and, before Rasa sees the message (docs/channels.md, "REST"):

- the text is cut to MAX_MESSAGE_CHARS, cleaned and redacted (`inbound_text`);
- the chat token is verified here; the metadata Rasa gets is exactly
  `{"chat_token": <the valid token>, "chatter": <fingerprint>}`, plus `"locale"`
  when the token has that claim (nothing else the client sent), and an invalid
  token counts as none (general answers, as before);
- a sender id is one chatter's conversation: a message under a sender id whose
  conversation belongs to someone else (another token's customer, a signed-in
  customer's when anonymous, or a conversation of another channel) is refused with
  **409** and reaches nobody;
- a chatter over the rate limit (per verified identity, else per client address)
  gets the "slow down" reply and Rasa never sees the message;
- messages take their turn at the process's `MessageGate`, like the others';
- a failure is logged as one line without the message (`log_failure`).

Not supported: Rasa's `?stream=true` and the client-chosen `input_channel`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Optional

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from rasa.shared.core.events import UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.inbound import (
    MAX_BODY_BYTES,
    ChatterLimiter,
    MessageGate,
    chatter_key,
    client_address,
    header,
    inbound_text,
    log_failure,
    message_gate,
)
from common import channels as config
from common.conversation_language import LOCALE_KEY
from common.identity import (
    ANONYMOUS,
    CHAT_TOKEN_KEY,
    CHATTER_KEY,
    ChatIdentity,
    InvalidChatToken,
    chatter_fingerprint,
    identity_key,
    verify_chat_token,
)

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 128
OWNERS_KEPT = 10_000  # conversations whose owner this process remembers

CONFLICT_DETAIL = (
    "This sender id is another chatter's conversation. Start a new conversation "
    "with a new sender id, one nobody can guess (a random UUID)."
)


def error(status: HTTPStatus, detail: str) -> HTTPResponse:
    """A refusal as JSON: `{"error": "<code>", "detail": "<readable>"}`."""
    code = status.phrase.lower().replace(" ", "_")
    return response.json({"error": code, "detail": detail}, status=status)


def owner_of(events: Any) -> Optional[str]:
    """The `chatter` fingerprint of a conversation's latest user message that has
    one, or None (a new conversation, or one from before fingerprints)."""
    for event in reversed(list(events or [])):
        if isinstance(event, UserUttered):
            owner = (event.metadata or {}).get(CHATTER_KEY)
            if isinstance(owner, str) and owner:
                return owner
    return None


class SecureRestInput(InputChannel):
    """Rasa's REST channel protocol, with the product's checks (module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> SecureRestInput:
        return cls(
            chat_token_secret=config.chat_token_secret(),
            limiter=ChatterLimiter(config.chat_rate_limit()),
            trusted_proxies=config.trusted_proxies(),
            max_chars=config.max_message_chars(),
        )

    def __init__(
        self,
        chat_token_secret: str,
        limiter: Optional[ChatterLimiter] = None,
        gate: Optional[MessageGate] = None,
        trusted_proxies: Optional[list[config.Network]] = None,
        max_chars: Optional[int] = None,
    ) -> None:
        self.chat_token_secret = chat_token_secret
        self.limiter = limiter or ChatterLimiter()
        self.gate = gate or message_gate()
        self.trusted_proxies = trusted_proxies or []
        self.max_chars = max_chars or config.max_message_chars()
        self._owners: OrderedDict[str, str] = OrderedDict()
        logger.info(
            "REST channel on: /webhooks/rest/webhook, messages cut to %d characters",
            self.max_chars,
        )

    def identity(self, metadata: Any) -> tuple[Optional[ChatIdentity], Optional[str]]:
        """The verified chatter and their token, or (None, None)."""
        token = metadata.get(CHAT_TOKEN_KEY) if isinstance(metadata, dict) else None
        if not token:
            return None, None
        try:
            return verify_chat_token(self.chat_token_secret, token), token
        except InvalidChatToken as exc:
            # As before: general answers, and the reason in the log only.
            logger.info("REST message with an invalid chat token: %s", exc)
            return None, None

    def fingerprint(self, identity: Optional[ChatIdentity]) -> str:
        """Whose conversation a message starts or continues. Anonymous REST
        chatters share one, distinct from other channels' anonymous chatters."""
        key = identity_key(identity)
        if identity is None:
            key = f"{ANONYMOUS}\x1f{self.name()}"
        return chatter_fingerprint(self.chat_token_secret, key)

    async def _owner(self, request: Request, sender_id: str) -> Optional[str]:
        """Who the conversation `sender_id` belongs to: remembered, else read once
        from the tracker store (a conversation from before this process)."""
        known = self._owners.get(sender_id)
        if known is not None:
            self._owners.move_to_end(sender_id)
            return known
        agent = getattr(getattr(request.app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return None
        tracker = await store.retrieve(sender_id)
        owner = owner_of(tracker.events) if tracker is not None else None
        if owner is not None:
            self._remember(sender_id, owner)
        return owner

    def _remember(self, sender_id: str, owner: str) -> None:
        self._owners[sender_id] = owner
        self._owners.move_to_end(sender_id)
        while len(self._owners) > OWNERS_KEPT:
            self._owners.popitem(last=False)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("secure_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body: bytes = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"The request body is over {MAX_BODY_BYTES} bytes.",
                )
            try:
                data = json.loads(body or b"{}")
            except (ValueError, RecursionError):
                return error(
                    HTTPStatus.BAD_REQUEST, "The body is not valid UTF-8 JSON."
                )
            if not isinstance(data, dict):
                return error(HTTPStatus.BAD_REQUEST, "The body is not a JSON object.")
            sender_id, text = data.get("sender"), data.get("message")
            if (
                not isinstance(sender_id, str)
                or not sender_id.strip()
                or len(sender_id) > MAX_SENDER_CHARS
            ):
                return error(
                    HTTPStatus.BAD_REQUEST,
                    f"`sender` must be a string of 1 to {MAX_SENDER_CHARS} "
                    "characters: the id of the conversation.",
                )
            if not isinstance(text, str):
                return error(HTTPStatus.BAD_REQUEST, "`message` must be a string.")
            metadata = data.get("metadata")
            if metadata is not None and not isinstance(metadata, dict):
                return error(HTTPStatus.BAD_REQUEST, "`metadata` must be an object.")
            return await self._handle(
                request, on_new_message, sender_id, text, metadata
            )

        return webhook

    async def _handle(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender_id: str,
        text: str,
        metadata: Optional[dict[str, Any]],
    ) -> HTTPResponse:
        identity, token = self.identity(metadata)
        address = client_address(
            request.ip,
            header(request.headers, "x-forwarded-for"),
            self.trusted_proxies,
        )
        chatter = chatter_key(identity, address)
        clean = inbound_text(text, self.max_chars)
        if not clean.strip():
            return response.json([])
        if not self.limiter.admit(chatter):
            logger.info("REST chatter over the rate limit (%s)", sender_id[:16])
            return response.json(
                [{"recipient_id": sender_id, "text": config.RATE_LIMITED_TEXT}]
            )
        fingerprint = self.fingerprint(identity)
        message_metadata: dict[str, Any] = {CHATTER_KEY: fingerprint}
        if token:
            message_metadata[CHAT_TOKEN_KEY] = token
        if identity is not None and identity.locale:
            # the language the partner's site shows (common/conversation_language.py)
            message_metadata[LOCALE_KEY] = identity.locale
        collector = CollectingOutputChannel()
        message = UserMessage(
            clean,
            collector,
            sender_id,
            input_channel=self.name(),
            metadata=message_metadata,
        )

        async def work() -> bool:
            # In the conversation's turn: no other message of it is being
            # handled, so its owner cannot change under us.
            owner = await self._owner(request, sender_id)
            if owner is not None and owner != fingerprint:
                return False
            await on_new_message(message)
            self._remember(sender_id, fingerprint)
            return True

        try:
            accepted = await self.gate.run(sender_id, work())
        except asyncio.CancelledError:
            logger.error("REST message in %s timed out", sender_id[:16])
            return response.json(collector.messages)
        except Exception as exc:
            log_failure(logger, f"REST message in {sender_id[:16]} failed", exc)
            return error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "The message could not be handled; try again in a moment.",
            )
        if not accepted:
            logger.warning(
                "REST message refused: conversation %s belongs to another chatter",
                sender_id[:16],
            )
            return error(HTTPStatus.CONFLICT, CONFLICT_DETAIL)
        return response.json(collector.messages)
