"""Microsoft Teams through the Bot Framework, for a partner's staff.

Written instead of Rasa 3.6.21's `BotFrameworkInput`, which (see docs/channels.md)
checks neither the issuer nor the `serviceurl` claim of incoming tokens, takes the
algorithm from the token header, gets outbound tokens only from the multi-tenant
`botframework.com` tenant (which fails for single-tenant bots, the only kind Azure
creates now) and posts replies with blocking `requests` inside async code.

Inbound (`POST /webhooks/teams/webhook`): the `Authorization: Bearer` JWT must be
RS256, signed by a key from the Bot Framework's OpenID metadata (the key's
endorsements, when it has any, must include the activity's channelId), issued by
`https://api.botframework.com`, for our app id, unexpired (5 minutes of clock skew),
and its `serviceurl` claim must equal the activity's `serviceUrl`, which is where our
reply, with our own bearer token, goes. Anything else is 401; an activity from
another Entra tenant than ours is 403.

Outbound: a client-credentials token from
`{login base}/{tenant}/oauth2/v2.0/token`, cached until shortly before it expires,
then `POST {serviceUrl}/v3/conversations/{id}/activities/{replyToId}` with aiohttp.
Buttons become a Hero card with `messageBack` actions, so a click posts the payload
back while the chat shows the button's title (rasa#11411).

Staff identity: `from.aadObjectId` becomes a staff chat token in the metadata.
A message in a channel thread goes first to the API (bot/channels/handoff_relay.py):
in the thread of a hand-off notice the bot posted, it reaches the customer instead.
The channel is off (404) when TEAMS_APP_ID, TEAMS_APP_PASSWORD or TEAMS_TENANT_ID is
missing, and says so at start.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Optional
from urllib.parse import quote

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from yarl import URL

from bot.channels.dedupe import SeenIds, SeenSet, seen_ids
from bot.channels.handoff_relay import ThreadRelay
from bot.channels.inbound import (
    MAX_BODY_BYTES,
    ChatterLimiter,
    MessageGate,
    chatter_key,
    clean_text,
    inbound_text,
    log_failure,
    message_gate,
)
from common import channels as config
from common import settings as S
from common.identity import (
    CHATTER_KEY,
    ChatIdentity,
    chatter_fingerprint,
    mint_staff_token,
)

logger = logging.getLogger(__name__)

CHAT_TOKEN_KEY = config.CHAT_TOKEN_KEY
ALGORITHM = "RS256"
CLOCK_SKEW_SECONDS = 5 * 60
KEYS_MAX_AGE_SECONDS = 24 * 3600
KEYS_MIN_REFRESH_SECONDS = 60  # on an unknown kid, refetch at most this often
TOKEN_REFRESH_MARGIN_SECONDS = 5 * 60
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=20)
_BEARER = re.compile(r"^Bearer\s+(\S+)$")
_MENTION = re.compile(r"<at>[^<]*</at>", re.IGNORECASE)


class InvalidBotFrameworkToken(Exception):
    """The incoming request is not from the Bot Framework for this bot."""


# --------------------------------------------------------------- inbound keys


class OpenIdKeys:
    """The Bot Framework's signing keys, fetched from its OpenID metadata (async),
    cached for a day, and refetched early when a token names an unknown key."""

    def __init__(self, metadata_url: str) -> None:
        self.metadata_url = metadata_url
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            async with session.get(self.metadata_url) as reply:
                reply.raise_for_status()
                metadata = await reply.json(content_type=None)
            async with session.get(metadata["jwks_uri"]) as reply:
                reply.raise_for_status()
                jwks = await reply.json(content_type=None)
        self._keys = {k["kid"]: k for k in jwks.get("keys", []) if k.get("kid")}
        self._fetched_at = time.monotonic()
        logger.debug(
            "Teams: %d signing keys from %s", len(self._keys), self.metadata_url
        )

    async def get(self, kid: str) -> Optional[dict[str, Any]]:
        age = time.monotonic() - self._fetched_at
        if kid in self._keys and age < KEYS_MAX_AGE_SECONDS:
            return self._keys[kid]
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = age >= KEYS_MAX_AGE_SECONDS
            if stale or (kid not in self._keys and age >= KEYS_MIN_REFRESH_SECONDS):
                try:
                    await self._fetch()
                except (
                    aiohttp.ClientError,
                    asyncio.TimeoutError,
                    KeyError,
                    ValueError,
                ):
                    logger.exception("Teams: could not fetch the Bot Framework keys")
        return self._keys.get(kid)


async def validate_token(
    authorization: Optional[str],
    activity: dict[str, Any],
    keys: OpenIdKeys,
    app_id: str,
    issuer: str = config.TEAMS_TOKEN_ISSUER,
) -> dict[str, Any]:
    """The claims of a valid Bot Framework token for `activity`; raises
    InvalidBotFrameworkToken otherwise."""
    match = _BEARER.match(authorization or "")
    if not match:
        raise InvalidBotFrameworkToken("no bearer token")
    token = match.group(1)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidBotFrameworkToken(f"malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidBotFrameworkToken(f"algorithm {header.get('alg')!r} refused")
    key = await keys.get(str(header.get("kid", "")))
    if key is None:
        raise InvalidBotFrameworkToken("unknown signing key")
    endorsements = key.get("endorsements")
    channel_id = activity.get("channelId")
    if endorsements and channel_id not in endorsements:
        raise InvalidBotFrameworkToken(f"key not endorsed for channel {channel_id!r}")
    try:
        public_key = RSAAlgorithm.from_jwk(json.dumps(key))
        claims: dict[str, Any] = jwt.decode(
            token,
            key=public_key,  # type: ignore[arg-type]
            algorithms=[ALGORITHM],
            audience=app_id,
            issuer=issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidBotFrameworkToken(str(exc)) from exc
    claimed = str(claims.get("serviceurl") or claims.get("serviceUrl") or "")
    actual = str(activity.get("serviceUrl") or "")
    if not claimed or claimed.rstrip("/") != actual.rstrip("/"):
        raise InvalidBotFrameworkToken("serviceurl claim does not match the activity")
    return claims


# --------------------------------------------------------------- outbound tokens


@dataclass
class _Token:
    value: str
    expires_at: float


class BotTokenProvider:
    """Client-credentials tokens of a single-tenant bot, cached until near expiry."""

    def __init__(
        self,
        app_id: str,
        app_password: str,
        tenant_id: str,
        login_base_url: str = config.TEAMS_LOGIN_BASE_URL,
        scope: str = config.TEAMS_TOKEN_SCOPE,
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.url = f"{login_base_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self.scope = scope
        self._token: Optional[_Token] = None
        self._lock = asyncio.Lock()

    async def token(self, session: aiohttp.ClientSession) -> str:
        if self._token and time.monotonic() < self._token.expires_at:
            return self._token.value
        async with self._lock:
            if self._token and time.monotonic() < self._token.expires_at:
                return self._token.value
            form = {
                "grant_type": "client_credentials",
                "client_id": self.app_id,
                "client_secret": self.app_password,
                "scope": self.scope,
            }
            async with session.post(self.url, data=form) as reply:
                body = await reply.json(content_type=None)
                if reply.status != 200 or "access_token" not in body:
                    raise RuntimeError(
                        f"token endpoint answered {reply.status}: "
                        f"{body.get('error', '')} {body.get('error_description', '')}"
                    )
            lifetime = float(body.get("expires_in", 3600))
            self._token = _Token(
                body["access_token"],
                time.monotonic() + max(lifetime - TOKEN_REFRESH_MARGIN_SECONDS, 0),
            )
            return self._token.value


# --------------------------------------------------------------- output


def hero_card(text: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    """A Hero card whose buttons post their payload back (`messageBack`)."""
    return {
        "contentType": "application/vnd.microsoft.card.hero",
        "content": {
            "text": text,
            "buttons": [
                {
                    "type": "messageBack",
                    "title": str(b.get("title", "")),
                    "displayText": str(b.get("title", "")),
                    "text": str(b.get("payload", "")),
                    "value": {"payload": str(b.get("payload", ""))},
                }
                for b in buttons
            ],
        },
    }


class TeamsOutput(OutputChannel):
    """Replies to one incoming activity, through the Bot Connector."""

    @classmethod
    def name(cls) -> str:
        return "teams"

    def __init__(
        self,
        tokens: BotTokenProvider,
        session_factory: Callable[[], aiohttp.ClientSession],
        activity: dict[str, Any],
    ) -> None:
        super().__init__()
        self.tokens = tokens
        self.session_factory = session_factory
        self.service_url = str(activity["serviceUrl"]).rstrip("/")
        self.conversation = activity.get("conversation") or {}
        self.reply_to_id = activity.get("id")
        self.bot = activity.get("recipient") or {}
        self.user = activity.get("from") or {}

    def activities_url(self) -> str:
        conversation = quote(str(self.conversation.get("id", "")), safe="")
        url = f"{self.service_url}/v3/conversations/{conversation}/activities"
        if self.reply_to_id:
            url += "/" + quote(str(self.reply_to_id), safe="")
        return url

    async def send(self, message: dict[str, Any]) -> None:
        activity = {
            "type": "message",
            "from": self.bot,
            "recipient": {"id": self.user.get("id"), "name": self.user.get("name")},
            "conversation": self.conversation,
            "replyToId": self.reply_to_id,
            "textFormat": "markdown",
            **message,
        }
        session = self.session_factory()
        try:
            async with MessageGate.released():  # the connector's time, not Rasa's
                token = await self.tokens.token(session)
                headers = {"Authorization": f"Bearer {token}"}
                url = URL(self.activities_url(), encoded=True)  # ids stay encoded
                async with session.post(url, json=activity, headers=headers) as reply:
                    if reply.status >= 300:
                        logger.error(
                            "Teams: the connector refused a reply (%s): %s",
                            reply.status,
                            (await reply.text())[:300],
                        )
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as exc:
            logger.error("Teams: could not send a reply: %s", exc)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self.send({"text": text})

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send({"attachments": [hero_card(text, buttons)]})

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        card = {
            "contentType": "application/vnd.microsoft.card.hero",
            "content": {"images": [{"url": image}]},
        }
        await self.send({"attachments": [card]})

    async def send_attachment(  # type: ignore[override]
        self, recipient_id: str, attachment: dict[str, Any], **kwargs: Any
    ) -> None:
        await self.send({"attachments": [attachment]})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        if isinstance(json_message.get("handoff"), str):
            return  # a hand-off state change for the web chat: nothing to show
        if json_message.get("from") == "agent":  # a person's message, named
            name, text = json_message.get("name", ""), json_message.get("text", "")
            await self.send({"text": f"**{name}**: {text}"})
            return
        await self.send(dict(json_message))


# --------------------------------------------------------------- input

_OBJECT_FIELDS = ("from", "recipient", "conversation", "channelData")


def activity_problem(activity: Any) -> Optional[str]:
    """Why a request body is not an activity we can handle, or None."""
    if not isinstance(activity, dict):
        return "the body is not a JSON object"
    if not isinstance(activity.get("serviceUrl"), str) or not activity["serviceUrl"]:
        return "serviceUrl is missing"
    for field in _OBJECT_FIELDS:
        if activity.get(field) is not None and not isinstance(activity[field], dict):
            return f"{field} is not an object"
    tenant = (activity.get("channelData") or {}).get("tenant")
    if tenant is not None and not isinstance(tenant, dict):
        return "channelData.tenant is not an object"
    for value in (
        (tenant or {}).get("id"),
        (activity.get("conversation") or {}).get("tenantId"),
        activity.get("text"),
    ):
        if value is not None and not isinstance(value, str):
            return "a tenant id or the text is not a string"
    return None


def error(status: HTTPStatus, detail: str) -> HTTPResponse:
    """A refusal as JSON: `{"error": "<code>", "detail": "<readable>"}`."""
    code = status.phrase.lower().replace(" ", "_")
    return response.json({"error": code, "detail": detail}, status=status)


def message_text(activity: dict[str, Any]) -> str:
    """What the user said: the text without `<at>bot</at>` mentions, or a card
    button's payload."""
    text = _MENTION.sub("", clean_text(str(activity.get("text") or ""))).strip()
    if text:
        return text
    value = activity.get("value")
    if isinstance(value, dict) and isinstance(value.get("payload"), str):
        return clean_text(value["payload"]).strip()
    return ""


def teams_identity(activity: dict[str, Any]) -> Optional[ChatIdentity]:
    """The staff identity of an activity's sender (its Entra object id), or None
    when it has none (not Teams: then counted by the Bot Framework's user id)."""
    sender = activity.get("from") or {}
    aad_object_id = sender.get("aadObjectId")
    if not aad_object_id:
        return None
    return ChatIdentity(kind="staff", subject=str(aad_object_id), platform="teams")


def teams_chatter(activity: dict[str, Any]) -> str:
    """Who sent an activity, for the rate limit: the staff identity, else the
    Bot Framework user id (there is no client address worth the name: every
    activity comes from Microsoft's connector)."""
    identity = teams_identity(activity)
    if identity is not None:
        return chatter_key(identity)
    sender = activity.get("from") or {}
    return f"teams-user:{sender.get('id') or ''}"


def conversation_id(activity: dict[str, Any]) -> str:
    """One Rasa conversation per Teams conversation and user (opaque, short)."""
    sender = activity.get("from") or {}
    user = sender.get("aadObjectId") or sender.get("id") or ""
    conversation = (activity.get("conversation") or {}).get("id") or ""
    digest = hashlib.sha256(f"{conversation}\x1f{user}".encode()).hexdigest()[:40]
    return f"teams_{digest}"


class TeamsInput(InputChannel):
    """Bot Framework activities from Teams, validated, for a single-tenant bot."""

    @classmethod
    def name(cls) -> str:
        return "teams"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> TeamsInput:
        credentials = credentials or {}
        return cls(
            app_id=config.setting(credentials, "app_id", S.TEAMS_APP_ID),
            app_password=config.setting(
                credentials, "app_password", S.TEAMS_APP_PASSWORD
            ),
            tenant_id=config.setting(credentials, "tenant_id", S.TEAMS_TENANT_ID),
            openid_metadata_url=config.platform_url(
                credentials, "openid_metadata_url", S.TEAMS_OPENID_METADATA_URL
            ),
            login_base_url=config.platform_url(
                credentials, "login_base_url", S.TEAMS_LOGIN_BASE_URL
            ),
            chat_token_secret=config.chat_token_secret(),
            seen=seen_ids(),
            limiter=ChatterLimiter(config.chat_rate_limit()),
            relay=ThreadRelay.from_env(),
        )

    def __init__(
        self,
        app_id: str,
        app_password: str,
        tenant_id: str,
        chat_token_secret: str,
        openid_metadata_url: str = config.TEAMS_OPENID_METADATA_URL,
        login_base_url: str = config.TEAMS_LOGIN_BASE_URL,
        limiter: Optional[ChatterLimiter] = None,
        gate: Optional[MessageGate] = None,
        seen: Optional[SeenSet] = None,
        relay: Optional[ThreadRelay] = None,
    ) -> None:
        self.relay = relay
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.chat_token_secret = chat_token_secret
        self.keys = OpenIdKeys(openid_metadata_url)
        self.tokens = BotTokenProvider(app_id, app_password, tenant_id, login_base_url)
        self.seen: SeenSet = seen if seen is not None else SeenIds()
        self.limiter = limiter or ChatterLimiter()
        self.gate = gate or message_gate()
        self._session: Optional[aiohttp.ClientSession] = None
        self._tasks: set[asyncio.Task] = set()
        missing = [
            name
            for name, value in (
                ("TEAMS_APP_ID", app_id),
                ("TEAMS_APP_PASSWORD", app_password),
                ("TEAMS_TENANT_ID", tenant_id),
            )
            if not value
        ]
        self.enabled = not missing
        if missing:
            logger.warning("Teams channel off: %s not set", ", ".join(missing))
        else:
            logger.info(
                "Teams channel on: messages at /webhooks/teams/webhook, app %s, "
                "tenant %s",
                app_id,
                tenant_id,
            )

    def session(self) -> aiohttp.ClientSession:
        """One HTTP session for all replies, created inside the running loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        return self._session

    def metadata(self, activity: dict[str, Any]) -> dict[str, Any]:
        sender = activity.get("from") or {}
        teams = {
            "conversation_id": (activity.get("conversation") or {}).get("id"),
            "tenant_id": self._activity_tenant(activity),
            "user_name": sender.get("name", ""),
        }
        aad_object_id = sender.get("aadObjectId")
        fingerprint = chatter_fingerprint(
            self.chat_token_secret, teams_chatter(activity)
        )
        if not aad_object_id:
            return {CHATTER_KEY: fingerprint, "teams": teams}
        token = mint_staff_token(
            self.chat_token_secret,
            platform="teams",
            platform_user_id=str(aad_object_id),
            name=str(sender.get("name", "")),
        )
        return {CHAT_TOKEN_KEY: token, CHATTER_KEY: fingerprint, "teams": teams}

    @staticmethod
    def _activity_tenant(activity: dict[str, Any]) -> Optional[str]:
        channel_data = activity.get("channelData") or {}
        tenant = (channel_data.get("tenant") or {}).get("id")
        return tenant or (activity.get("conversation") or {}).get("tenantId")

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("teams_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "off"})

        @webhook.listener("after_server_stop")
        async def close_session(*_: Any) -> None:
            if self._session is not None and not self._session.closed:
                await self._session.close()

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return error(HTTPStatus.NOT_FOUND, "The Teams channel is off.")
            body: bytes = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"The request body is over {MAX_BODY_BYTES} bytes.",
                )
            try:
                activity = json.loads(body or b"{}")
            except (ValueError, RecursionError):
                return error(
                    HTTPStatus.BAD_REQUEST, "The body is not valid UTF-8 JSON."
                )
            problem = activity_problem(activity)
            if problem:
                return error(HTTPStatus.BAD_REQUEST, f"Malformed activity: {problem}.")
            try:
                await validate_token(
                    request.headers.get("authorization"),
                    activity,
                    self.keys,
                    self.app_id,
                )
            except InvalidBotFrameworkToken as exc:
                logger.warning("Teams request refused: %s", exc)
                return error(
                    HTTPStatus.UNAUTHORIZED, "Invalid or missing Bot Framework token."
                )
            tenant = self._activity_tenant(activity)
            if tenant and tenant.lower() != self.tenant_id.lower():
                logger.warning(
                    "Teams activity from another tenant (%s) refused", tenant
                )
                return error(
                    HTTPStatus.FORBIDDEN, "This bot serves another Entra tenant."
                )
            if activity.get("type") != "message":
                return response.text("", status=HTTPStatus.OK)
            if activity.get("id") and not self.seen.add(f"activity:{activity['id']}"):
                return response.text("", status=HTTPStatus.OK)  # redelivery
            text = message_text(activity)
            if not text:
                return response.text("", status=HTTPStatus.OK)
            output = TeamsOutput(self.tokens, self.session, activity)
            # The staff member's identity: one count across conversations, and
            # across the Rasa replicas when REDIS_URL is set.
            chatter = teams_chatter(activity)
            if not self.limiter.admit(chatter):
                # Not passed to Rasa; told at most every few seconds (each notice
                # is a call to the connector).
                logger.info("Teams chatter over the rate limit")
                if self.limiter.should_notify(chatter):
                    self._background(
                        output.send_text_message("", config.RATE_LIMITED_TEXT)
                    )
                return response.text("", status=HTTPStatus.OK)
            message = UserMessage(
                # cut to MAX_MESSAGE_CHARS; card and bank numbers never reach the
                # tracker store
                inbound_text(text),
                output,
                conversation_id(activity),
                input_channel=self.name(),
                metadata=self.metadata(activity),
            )
            # Answer the connector at once; replies go out through its REST API.
            reply = self.thread_reply(activity, message.text or "")
            if reply is not None and self.relay is not None:
                self._background(self._relay_or_handle(reply, message, on_new_message))
            else:
                self._background(self._handle(message, on_new_message))
            return response.text("", status=HTTPStatus.OK)

        return webhook

    @staticmethod
    def thread_reply(activity: dict[str, Any], text: str) -> Optional[dict[str, str]]:
        """A staff member's message in a channel thread (its conversation id names
        the thread's first message), as the hand-off relay needs it; else None."""
        conversation = activity.get("conversation") or {}
        thread = str(conversation.get("id") or "")
        user = (activity.get("from") or {}).get("aadObjectId")
        if ";messageid=" not in thread or not user or not text:
            return None
        return {"thread": thread, "user_id": str(user), "text": text}

    async def _relay_or_handle(
        self,
        reply: dict[str, str],
        message: UserMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """The customer's, if the thread is a hand-off's; else the bot's."""
        assert self.relay is not None
        if not await self.relay.relay("teams", **reply):
            await self._handle(message, on_new_message)

    async def _handle(
        self,
        message: UserMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        try:
            await self.gate.run(message.sender_id, on_new_message(message))
        except Exception as exc:
            log_failure(logger, "Teams message failed", exc)

    def _background(self, work: Awaitable[Any]) -> None:
        """Run `work` after the response; keep a reference so the task is not
        garbage-collected."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
