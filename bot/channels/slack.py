"""Slack: the Events API and interactivity (buttons), for a partner's staff.

Built beside Rasa 3.6.21's `SlackInput`, reusing its text clean-up, with what it lacks
(see docs/channels.md):

- every request is signed (HMAC-SHA256 `v0`, 5-minute window, constant-time
  compare) or refused with 401, including `url_verification`;
- Slack retries are never processed twice: event ids (and message timestamps, as
  one message can arrive as both `message.im` and `app_mention`) go into a TTL set
  (in Redis with several replicas, bot/channels/dedupe.py), a retry of something
  seen is acknowledged with 200 and dropped, and so is any `http_timeout` retry (we
  answered but late, so the first delivery is running);
- messages from bots (ours included) and edits/joins (any `subtype`) are ignored;
- replies go into the thread of the message (`thread_ts`), one conversation per
  thread and user; buttons are Block Kit `actions`, and a click comes back as the
  button's payload;
- the Slack user id becomes a staff chat token in the metadata, minted only after
  the signature was checked;
- the Web API base URL is configurable (SLACK_API_BASE_URL), for a local fake in tests;
- a staff reply in a channel thread goes first to the API (bot/channels/handoff_relay.py):
  in the thread of a hand-off notice, it reaches the customer instead of the bot.

The channel is off (webhook answers 404) when SLACK_BOT_TOKEN or
SLACK_SIGNING_SECRET is missing, and says so at start.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, Optional
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

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
SIGNATURE_VERSION = "v0"
MAX_CLOCK_SKEW_SECONDS = 5 * 60
MAX_BUTTONS = 25  # Block Kit: elements in one actions block
MAX_BUTTON_TEXT = 75
IGNORED_RETRY_REASONS = {"http_timeout"}


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (malformed payloads)."""
    return value if isinstance(value, dict) else {}


def error(status: HTTPStatus, detail: str) -> HTTPResponse:
    """A refusal as JSON: `{"error": "<code>", "detail": "<readable>"}`."""
    code = status.phrase.lower().replace(" ", "_")
    return response.json({"error": code, "detail": detail}, status=status)


def staff_identity(user_id: str) -> ChatIdentity:
    """The staff identity the channel's token names (for the rate limit's key and
    the `chatter` fingerprint)."""
    return ChatIdentity(kind="staff", subject=user_id, platform="slack")


# --------------------------------------------------------------- signatures


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signature_problem(
    signing_secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: Optional[float] = None,
) -> Optional[str]:
    """Why a request is not from Slack, or None if it is."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp or not signature:
        return "missing signature headers"
    try:
        sent = int(timestamp)
    except ValueError:
        return "malformed timestamp"
    current = time.time() if now is None else now
    if abs(current - sent) > MAX_CLOCK_SKEW_SECONDS:
        return "timestamp outside the 5-minute window"
    if not hmac.compare_digest(
        sign(signing_secret, timestamp, body).encode(), signature.encode()
    ):
        return "bad signature"
    return None


# --------------------------------------------------------------- formatting


_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")


def to_mrkdwn(text: str) -> str:
    """Bot text as Slack mrkdwn: `&<>` escaped (so nothing becomes a mention or
    `<!channel>`), markdown links as `<url|text>`, `**bold**` as `*bold*`."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    linked = _MD_LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", escaped)
    return _MD_BOLD.sub(r"*\1*", linked)


def button_blocks(text: str, buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A section with the text and an actions block with one button per choice."""
    elements = [
        {
            "type": "button",
            "action_id": f"rasa_button_{index}",
            "text": {
                "type": "plain_text",
                "text": str(button.get("title", ""))[:MAX_BUTTON_TEXT] or "…",
            },
            "value": str(button.get("payload", ""))[:2000],
        }
        for index, button in enumerate(buttons[:MAX_BUTTONS])
    ]
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append({"type": "actions", "elements": elements})
    return blocks


# --------------------------------------------------------------- output


class SlackOutput(OutputChannel):
    """Posts the bot's messages with chat.postMessage, in the user's thread."""

    @classmethod
    def name(cls) -> str:
        return "slack"

    def __init__(
        self, client: AsyncWebClient, channel: str, thread_ts: Optional[str]
    ) -> None:
        super().__init__()
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts

    async def _post(self, **kwargs: Any) -> None:
        if self.thread_ts:
            kwargs["thread_ts"] = self.thread_ts
        try:
            async with MessageGate.released():  # Slack's time, not Rasa's
                await self.client.chat_postMessage(channel=self.channel, **kwargs)
        except SlackApiError as exc:
            logger.error("Slack chat.postMessage failed: %s", exc.response.get("error"))

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self._post(text=to_mrkdwn(text), mrkdwn=True)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        formatted = to_mrkdwn(text)
        await self._post(text=formatted, blocks=button_blocks(formatted, buttons))

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
        block = {"type": "image", "image_url": image, "alt_text": "image"}
        await self._post(text=image, blocks=[block])

    async def send_attachment(  # type: ignore[override]
        self, recipient_id: str, attachment: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._post(attachments=[attachment])

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        if isinstance(json_message.get("handoff"), str):
            return  # a hand-off state change for the web chat: nothing to show
        if json_message.get("from") == "agent":  # a person's message, named
            said = f"{json_message.get('name', '')}: {json_message.get('text', '')}"
            await self._post(text=to_mrkdwn(said), mrkdwn=True)
            return
        message = {k: v for k, v in json_message.items() if k != "channel"}
        await self._post(**message)


# --------------------------------------------------------------- input


class SecureSlackInput(InputChannel):
    """Slack Events API + interactivity, signed, de-duplicated, threaded."""

    @classmethod
    def name(cls) -> str:
        return "slack"

    @classmethod
    def from_credentials(
        cls, credentials: Optional[dict[str, Any]]
    ) -> SecureSlackInput:
        credentials = credentials or {}
        return cls(
            bot_token=config.setting(credentials, "slack_token", S.SLACK_BOT_TOKEN),
            signing_secret=config.setting(
                credentials, "slack_signing_secret", S.SLACK_SIGNING_SECRET
            ),
            api_base_url=config.platform_url(
                credentials, "api_base_url", S.SLACK_API_BASE_URL
            ),
            chat_token_secret=config.chat_token_secret(),
            seen=seen_ids(),
            limiter=ChatterLimiter(config.chat_rate_limit()),
            relay=ThreadRelay.from_env(),
        )

    def __init__(
        self,
        bot_token: str,
        signing_secret: str,
        chat_token_secret: str,
        api_base_url: str = config.SLACK_API_BASE_URL,
        seen: Optional[SeenSet] = None,
        limiter: Optional[ChatterLimiter] = None,
        gate: Optional[MessageGate] = None,
        relay: Optional[ThreadRelay] = None,
    ) -> None:
        self.relay = relay
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.chat_token_secret = chat_token_secret
        self.api_base_url = api_base_url
        self.seen: SeenSet = seen if seen is not None else SeenIds()
        self.limiter = limiter or ChatterLimiter()
        self.gate = gate or message_gate()
        self._tasks: set[asyncio.Task] = set()
        missing = [
            name
            for name, value in (
                ("SLACK_BOT_TOKEN", bot_token),
                ("SLACK_SIGNING_SECRET", signing_secret),
            )
            if not value
        ]
        self.enabled = not missing
        if missing:
            logger.warning("Slack channel off: %s not set", " and ".join(missing))
        else:
            logger.info(
                "Slack channel on: events at /webhooks/slack/webhook, Web API %s",
                api_base_url,
            )

    # ------------------------------------------------------------ parsing

    def client(self) -> AsyncWebClient:
        return AsyncWebClient(token=self.bot_token, base_url=self.api_base_url)

    def get_output_channel(
        self, channel: Optional[str] = None, thread_ts: Optional[str] = None
    ) -> Optional[OutputChannel]:
        if not self.enabled or not channel:
            return None
        return SlackOutput(self.client(), channel, thread_ts)

    def staff_metadata(self, user_id: str, slack: dict[str, Any]) -> dict[str, Any]:
        token = mint_staff_token(
            self.chat_token_secret, platform="slack", platform_user_id=user_id
        )
        return {
            CHAT_TOKEN_KEY: token,
            CHATTER_KEY: chatter_fingerprint(
                self.chat_token_secret, staff_identity(user_id).key
            ),
            "slack": slack,
        }

    @staticmethod
    def conversation_id(team: str, channel: str, thread_ts: str, user: str) -> str:
        """One Rasa conversation per Slack thread and user."""
        return f"slack_{team}_{channel}_{thread_ts}_{user}"

    def message_from_event(
        self, body: dict[str, Any]
    ) -> Optional[tuple[str, str, dict[str, Any]]]:
        """(text, conversation id, metadata) of a user's message, or None to ignore."""
        event = body.get("event")
        if not isinstance(event, dict):
            return None
        authorizations = body.get("authorizations")
        kind = event.get("type")
        if kind not in {"message", "app_mention"}:
            return None
        if event.get("bot_id") or event.get("subtype") or event.get("hidden"):
            return None  # bots (ours too), edits, joins, deletions
        user, channel, text = event.get("user"), event.get("channel"), event.get("text")
        if not (
            isinstance(user, str)
            and isinstance(channel, str)
            and isinstance(text, str)
            and text
        ):
            return None
        bot_users = [
            a.get("user_id")
            for a in (authorizations if isinstance(authorizations, list) else [])
            if isinstance(a, dict) and a.get("is_bot")
        ]
        if user in bot_users:
            return None
        # In channels only mentions count; direct messages always do. (An app that
        # also subscribes to message.channels would otherwise answer every message.)
        if kind == "message" and event.get("channel_type") != "im":
            return None
        thread_ts = str(event.get("thread_ts") or event.get("ts") or "")
        team = str(body.get("team_id") or event.get("team") or "")
        clean = SlackInput._sanitize_user_message(clean_text(text), [*bot_users])
        metadata = self.staff_metadata(
            user,
            {"team": team, "channel": channel, "thread_ts": thread_ts, "user": user},
        )
        return clean, self.conversation_id(team, channel, thread_ts, user), metadata

    @staticmethod
    def thread_reply(body: dict[str, Any]) -> Optional[dict[str, str]]:
        """A person's message in a channel thread (not a DM, not the thread's
        first message), as the hand-off relay needs it; None otherwise."""
        event = body.get("event")
        if not isinstance(event, dict) or event.get("type") not in {
            "message",
            "app_mention",
        }:
            return None
        if event.get("bot_id") or event.get("subtype") or event.get("hidden"):
            return None
        user, channel, text = event.get("user"), event.get("channel"), event.get("text")
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if (
            event.get("channel_type") == "im"
            or not all(isinstance(v, str) and v for v in (user, channel, text))
            or not isinstance(thread_ts, str)
            or not thread_ts
            or thread_ts == ts
        ):
            return None
        bot_users = {
            a.get("user_id")
            for a in body.get("authorizations") or []
            if isinstance(a, dict) and a.get("is_bot")
        }
        if user in bot_users:
            return None
        said = SlackInput._sanitize_user_message(
            clean_text(str(text)), [u for u in bot_users if isinstance(u, str)]
        ).strip()
        if not said:
            return None
        return {
            "channel": str(channel),
            "thread": thread_ts,
            "user_id": str(user),
            "text": inbound_text(said),
        }

    def message_from_action(
        self, payload: dict[str, Any]
    ) -> Optional[tuple[str, str, dict[str, Any]]]:
        """(payload text, conversation id, metadata) of a button click, or None."""
        if payload.get("type") != "block_actions":
            return None
        actions = payload.get("actions")
        action = _dict(actions[0]) if isinstance(actions, list) and actions else {}
        value = action.get("value")
        user = _dict(payload.get("user")).get("id")
        container = _dict(payload.get("container"))
        channel = _dict(payload.get("channel")).get("id") or container.get("channel_id")
        if (
            action.get("type") != "button"
            or not isinstance(value, str)
            or not value
            or not isinstance(user, str)
            or not user
            or not isinstance(channel, str)
            or not channel
        ):
            return None  # link buttons have no value
        message = _dict(payload.get("message"))
        thread_ts = str(
            message.get("thread_ts")
            or container.get("thread_ts")
            or message.get("ts")
            or container.get("message_ts")
            or ""
        )
        team = str(_dict(payload.get("team")).get("id") or "")
        metadata = self.staff_metadata(
            user,
            {"team": team, "channel": channel, "thread_ts": thread_ts, "user": user},
        )
        return (
            clean_text(value),
            self.conversation_id(team, channel, thread_ts, user),
            metadata,
        )

    @staticmethod
    def dedupe_keys(body: dict[str, Any]) -> list[str]:
        """Ids under which this delivery counts as seen."""
        keys = []
        if body.get("event_id"):
            keys.append(f"event:{body['event_id']}")
        event = body.get("event") or {}
        if isinstance(event, dict) and event.get("channel") and event.get("ts"):
            keys.append(f"message:{event['channel']}:{event['ts']}")
        return keys

    def first_delivery(self, keys: list[str]) -> bool:
        """Record `keys`; True unless one of them was seen already."""
        new = [self.seen.add(key) for key in keys]
        return all(new)

    # ------------------------------------------------------------ HTTP

    def _dispatch(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        text: str,
        sender_id: str,
        metadata: dict[str, Any],
    ) -> None:
        slack = metadata["slack"]
        # The staff member's identity: one count across threads, and across the
        # Rasa replicas when REDIS_URL is set.
        chatter = chatter_key(staff_identity(slack["user"]))
        if not self.limiter.admit(chatter):
            # Not passed to Rasa; told at most every few seconds (each notice is a
            # Web API call, which Slack rate-limits too).
            logger.info("Slack user %s over the rate limit", slack["user"])
            if self.limiter.should_notify(chatter):
                output = SlackOutput(
                    self.client(), slack["channel"], slack["thread_ts"] or None
                )
                self._background(
                    output.send_text_message(slack["user"], config.RATE_LIMITED_TEXT)
                )
            return
        message = UserMessage(
            # cut to MAX_MESSAGE_CHARS; card and bank numbers never reach the
            # tracker store
            inbound_text(text),
            SlackOutput(self.client(), slack["channel"], slack["thread_ts"] or None),
            sender_id,
            input_channel=self.name(),
            metadata=metadata,
        )
        # Answer Slack at once (it retries after 3 s); the bot replies through the
        # Web API.
        self._background(self._handle(message, on_new_message))

    async def _handle(
        self,
        message: UserMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        try:
            await self.gate.run(message.sender_id, on_new_message(message))
        except Exception as exc:
            log_failure(logger, "Slack message failed", exc)

    def _background(self, work: Awaitable[Any]) -> None:
        """Run `work` after the response; keep a reference so the task is not
        garbage-collected."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("secure_slack_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "off"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return error(HTTPStatus.NOT_FOUND, "The Slack channel is off.")
            body: bytes = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"The request body is over {MAX_BODY_BYTES} bytes.",
                )
            problem = signature_problem(self.signing_secret, request.headers, body)
            if problem:
                logger.warning("Slack request refused: %s", problem)
                return error(
                    HTTPStatus.UNAUTHORIZED, f"Invalid Slack signature: {problem}."
                )
            content_type = (request.headers.get("content-type") or "").split(";")[0]
            try:
                if content_type == "application/x-www-form-urlencoded":
                    form = parse_qs(body.decode())
                    payload = json.loads(form.get("payload", ["{}"])[0])
                    return self._interaction(payload, on_new_message)
                data = json.loads(body or b"{}")
            except (ValueError, UnicodeDecodeError, RecursionError):
                return error(
                    HTTPStatus.BAD_REQUEST, "The body is not valid UTF-8 JSON."
                )
            if not isinstance(data, dict):
                return error(HTTPStatus.BAD_REQUEST, "The body is not a JSON object.")
            if data.get("type") == "url_verification":
                return response.json({"challenge": data.get("challenge", "")})
            return self._event(data, request, on_new_message)

        return webhook

    def _event(
        self,
        data: dict[str, Any],
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        retry_num = request.headers.get("x-slack-retry-num")
        retry_reason = request.headers.get("x-slack-retry-reason", "")
        first = self.first_delivery(self.dedupe_keys(data))
        if not first or (retry_num and retry_reason in IGNORED_RETRY_REASONS):
            logger.info(
                "Slack retry %s (%s) of event %s acknowledged, not processed again",
                retry_num or "-",
                retry_reason or "duplicate",
                data.get("event_id"),
            )
            return response.text("", headers={"X-Slack-No-Retry": "1"})
        if data.get("type") != "event_callback":
            return response.text("")
        parsed = self.message_from_event(data)
        reply = self.thread_reply(data) if self.relay is not None else None
        if reply is not None:
            self._background(self._relay_or_dispatch(reply, parsed, on_new_message))
            return response.text("")
        if parsed is None:
            return response.text("")
        text, sender_id, metadata = parsed
        self._dispatch(on_new_message, text, sender_id, metadata)
        return response.text("")

    async def _relay_or_dispatch(
        self,
        reply: dict[str, str],
        parsed: Optional[tuple[str, str, dict[str, Any]]],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """A thread reply: the customer's, if the thread is a hand-off's; else
        the bot's as any mention (a plain channel message is then ignored)."""
        assert self.relay is not None
        if await self.relay.relay("slack", **reply):
            return
        if parsed is not None:
            text, sender_id, metadata = parsed
            self._dispatch(on_new_message, text, sender_id, metadata)

    def _interaction(
        self,
        payload: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        if not isinstance(payload, dict):
            return error(HTTPStatus.BAD_REQUEST, "The payload is not a JSON object.")
        parsed = self.message_from_action(payload)
        if parsed is None:
            return response.text("")
        text, sender_id, metadata = parsed
        action = _dict(payload["actions"][0])  # message_from_action checked it
        key = f"action:{metadata['slack']['user']}:{action.get('action_ts', '')}"
        if not self.first_delivery([key]):
            return response.text("")
        self._dispatch(on_new_message, text, sender_id, metadata)
        return response.text("")
