"""Tell a partner's desk about a handoff: its Microsoft Teams and Slack channels.

A partner may configure either or both in its profile:

* `Partner.teams_channel_webhook`: a Teams *incoming webhook* URL; the message is a
  MessageCard (`@type: MessageCard`) POSTed to it.
* `Partner.slack_channel_id`: a Slack channel; the message goes through the Web API
  method `chat.postMessage` with the bot token `SLACK_BOT_TOKEN`, at
  `SLACK_API_BASE_URL` (default https://slack.com/api/; tests point it at a fake).

* `Partner.teams_channel_id`: a Teams channel where the partner's Teams bot (the
  one the Teams channel answers as: TEAMS_APP_ID, TEAMS_APP_PASSWORD,
  TEAMS_TENANT_ID) posts the notice itself, through the Bot Connector at
  TEAMS_SERVICE_URL. Unlike an incoming webhook's card, that message starts a
  thread the bot hears: staff replies in it reach the customer.

The Slack message's `ts` and the Teams thread's conversation id come back in the
`NotifyResult`s; the handoff action stores them on the hand-off, so that staff
replies in those threads reach the customer and the customer's next messages are
posted there (`post_to_slack_thread`, `post_to_teams_thread`; see
api/domain/services/handoff_threads.py).

The dashboard's hand-off inbox needs no notification: it reads the `handoffs` table.

Failures never break the chat: every error is caught, logged and reported in the
returned `NotifyResult`s. No secret or chat text is logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import quote

import httpx

from common import settings as S

logger = logging.getLogger(__name__)

DEFAULT_SLACK_API_BASE_URL = "https://slack.com/api/"
TIMEOUT_SECONDS = 5.0
# Teams MessageCard colour: the "attention" orange of a pending handoff.
THEME_COLOR = "D83B01"


@dataclass(frozen=True)
class HandoffNotice:
    """What the desk is told about a conversation waiting for a person."""

    partner_name: str
    conversation_id: str
    requester: str  # who is chatting: a customer (company, name) or a staff member
    reason: str  # why the bot handed over, in words
    last_message: str  # the user's last message, redacted
    channel: str  # the chat channel (rest, socketio, slack, msteams, ...)
    dashboard_url: str  # where the desk can read the conversation
    reply_url: str  # the API endpoint that answers into the conversation
    facts: Mapping[str, str] = field(default_factory=dict)  # extra facts, in order

    @property
    def title(self) -> str:
        return f"A chat is waiting for a person: {self.requester}"

    def all_facts(self) -> list[tuple[str, str]]:
        facts = [
            ("Who", self.requester),
            ("Why", self.reason),
            ("Last message", self.last_message or "(none)"),
            ("Channel", self.channel or "unknown"),
            ("Conversation", self.conversation_id),
        ]
        facts.extend(self.facts.items())
        return facts


@dataclass(frozen=True)
class NotifyResult:
    target: str  # "teams", "teams_channel" or "slack"
    ok: bool
    detail: str = ""
    channel: Optional[str] = None  # Slack: the channel id the message went to
    thread: Optional[str] = None  # Slack: the message ts; Teams: the thread's id


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    api_base_url: str = DEFAULT_SLACK_API_BASE_URL

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> Optional[SlackConfig]:
        """Slack settings from the environment (the same names as the Slack channel's
        in common/channels.py); None without a bot token."""
        source = os.environ if env is None else env
        token = (source.get("SLACK_BOT_TOKEN") or "").strip()
        if not token:
            return None
        base = (source.get("SLACK_API_BASE_URL") or "").strip()
        return cls(bot_token=token, api_base_url=base or DEFAULT_SLACK_API_BASE_URL)


class TeamsBot:
    """The Teams bot posting on its own (hand-off notices in a channel, customers'
    messages in their threads) through the Bot Connector's REST API.

    Its token is the client-credentials grant of the bot's single-tenant app
    registration, fetched from `{TEAMS_LOGIN_BASE_URL}/{tenant}/oauth2/v2.0/token`
    and kept until five minutes before it expires, as bot/channels/teams.py does in
    Rasa's environment. (msal would do the same call, but accepts only an https
    authority, and the tests' local Microsoft fake is plain http.)
    """

    SCOPE = "https://api.botframework.com/.default"
    MARGIN_SECONDS = 300

    def __init__(
        self,
        app_id: str,
        app_password: str,
        tenant_id: str,
        *,
        login_base_url: str = S.TEAMS_LOGIN_BASE_URL.default,
        service_url: str = S.TEAMS_SERVICE_URL.default,
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.token_url = (
            f"{login_base_url.rstrip('/')}/{quote(tenant_id, safe='')}"
            "/oauth2/v2.0/token"
        )
        self.service_url = service_url.rstrip("/")
        self._token: Optional[tuple[str, float]] = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> Optional[TeamsBot]:
        """The bot of the Teams channel's settings; None while any is missing."""
        app_id, password, tenant = (
            S.TEAMS_APP_ID.get(env),
            S.TEAMS_APP_PASSWORD.get(env),
            S.TEAMS_TENANT_ID.get(env),
        )
        if not (app_id and password and tenant):
            return None
        return cls(
            app_id,
            password,
            tenant,
            login_base_url=S.TEAMS_LOGIN_BASE_URL.get(env),
            service_url=S.TEAMS_SERVICE_URL.get(env),
        )

    def token(self, client: httpx.Client) -> str:
        with self._lock:
            if self._token and time.monotonic() < self._token[1]:
                return self._token[0]
            reply = client.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.app_id,
                    "client_secret": self.app_password,
                    "scope": self.SCOPE,
                },
            )
            body = reply.json() if reply.is_success else {}
            if not isinstance(body, dict) or "access_token" not in body:
                raise httpx.HTTPStatusError(
                    f"token endpoint answered {reply.status_code}",
                    request=reply.request,
                    response=reply,
                )
            lifetime = float(body.get("expires_in", 3600))
            self._token = (
                str(body["access_token"]),
                time.monotonic() + max(lifetime - self.MARGIN_SECONDS, 0),
            )
            return self._token[0]

    def post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
        """POST to the Bot Connector; its JSON answer."""
        reply = client.post(
            f"{self.service_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token(client)}"},
        )
        reply.raise_for_status()
        return reply.json() if reply.content else {}


def teams_message_card(notice: HandoffNotice) -> dict[str, Any]:
    """The MessageCard that a Teams incoming webhook accepts."""
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": notice.title,
        "themeColor": THEME_COLOR,
        "title": notice.title,
        "sections": [
            {
                "activityTitle": f"{notice.partner_name} support desk",
                "facts": [
                    {"name": name, "value": value} for name, value in notice.all_facts()
                ],
                "text": (
                    "The assistant has paused this conversation and told the user "
                    "that a person will reply. Answer with "
                    f"`POST {notice.reply_url}`, and hand back with `.../resume`."
                ),
            }
        ],
        "potentialAction": [
            {
                "@type": "OpenUri",
                "name": "Open the conversations",
                "targets": [{"os": "default", "uri": notice.dashboard_url}],
            }
        ],
    }


def slack_message(notice: HandoffNotice, channel: str) -> dict[str, Any]:
    """The body of a `chat.postMessage` call."""
    lines = "\n".join(f"*{name}:* {value}" for name, value in notice.all_facts())
    return {
        "channel": channel,
        "text": notice.title,  # the notification text and the fallback
        "unfurl_links": False,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notice.title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (
                            f"<{notice.dashboard_url}|Open the conversations> - "
                            f"reply with POST {notice.reply_url}"
                        ),
                    }
                ],
            },
        ],
    }


def teams_channel_text(notice: HandoffNotice) -> str:
    """The notice as the bot posts it in a Teams channel (markdown)."""
    lines = [f"**{notice.title}**", ""]
    lines += [f"- **{name}:** {value}" for name, value in notice.all_facts()]
    lines += [
        "",
        "Reply in this thread to answer the customer; the first reply takes the "
        f"chat. [Open the hand-off inbox]({notice.dashboard_url})",
    ]
    return "\n".join(lines)


def post_to_teams_channel(
    client: httpx.Client, bot: TeamsBot, channel_id: str, notice: HandoffNotice
) -> NotifyResult:
    """Start a thread in the channel with the notice: the Bot Connector's "create
    conversation" with the channel as its target. Its answer's id is the thread's
    conversation id, which replies in the thread carry."""
    body = {
        "isGroup": True,
        "channelData": {"channel": {"id": channel_id}},
        "activity": {
            "type": "message",
            "textFormat": "markdown",
            "text": teams_channel_text(notice),
        },
    }
    try:
        answer = bot.post(client, "/v3/conversations", body)
    except (httpx.HTTPError, ValueError) as exc:
        return NotifyResult(
            "teams_channel", False, f"request failed: {type(exc).__name__}"
        )
    thread = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(thread, str) or not thread:
        return NotifyResult("teams_channel", False, "no conversation id in the answer")
    return NotifyResult("teams_channel", True, channel=channel_id, thread=thread)


def post_to_teams_thread(
    client: httpx.Client, bot: TeamsBot, thread_id: str, text: str
) -> NotifyResult:
    """Post `text` in a Teams thread the bot started."""
    try:
        bot.post(
            client,
            f"/v3/conversations/{quote(thread_id, safe='')}/activities",
            {"type": "message", "textFormat": "markdown", "text": text},
        )
    except (httpx.HTTPError, ValueError) as exc:
        return NotifyResult(
            "teams_channel", False, f"request failed: {type(exc).__name__}"
        )
    return NotifyResult("teams_channel", True, thread=thread_id)


def post_to_slack_thread(
    client: httpx.Client, config: SlackConfig, channel: str, thread_ts: str, text: str
) -> NotifyResult:
    """Post `text` (plain, escaped for mrkdwn) in a Slack thread."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _slack_call(
        client,
        config,
        {"channel": channel, "thread_ts": thread_ts, "text": escaped},
    )


def post_to_teams(
    client: httpx.Client, webhook_url: str, notice: HandoffNotice
) -> NotifyResult:
    try:
        response = client.post(webhook_url, json=teams_message_card(notice))
    except httpx.HTTPError as exc:
        return NotifyResult("teams", False, f"request failed: {type(exc).__name__}")
    if not response.is_success:
        return NotifyResult("teams", False, f"HTTP {response.status_code}")
    return NotifyResult("teams", True)


def post_to_slack(
    client: httpx.Client, config: SlackConfig, channel: str, notice: HandoffNotice
) -> NotifyResult:
    return _slack_call(client, config, slack_message(notice, channel))


def _slack_call(
    client: httpx.Client, config: SlackConfig, message: dict[str, Any]
) -> NotifyResult:
    """`chat.postMessage`; the result names the channel and the message's ts."""
    url = config.api_base_url.rstrip("/") + "/chat.postMessage"
    try:
        response = client.post(
            url,
            json=message,
            headers={"Authorization": f"Bearer {config.bot_token}"},
        )
    except httpx.HTTPError as exc:
        return NotifyResult("slack", False, f"request failed: {type(exc).__name__}")
    if not response.is_success:
        return NotifyResult("slack", False, f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return NotifyResult("slack", False, "the answer is not JSON")
    # Slack answers 200 with {"ok": false, "error": "..."} when the call failed.
    if not isinstance(body, dict) or body.get("ok") is not True:
        error = body.get("error") if isinstance(body, dict) else None
        return NotifyResult("slack", False, f"Slack error: {error or 'unknown'}")
    ts, channel = body.get("ts"), body.get("channel")
    return NotifyResult(
        "slack",
        True,
        channel=channel if isinstance(channel, str) else message.get("channel"),
        thread=ts if isinstance(ts, str) else None,
    )


def notify_handoff(
    notice: HandoffNotice,
    *,
    teams_webhook: Optional[str],
    slack_channel: Optional[str],
    teams_channel: Optional[str] = None,
    slack: Optional[SlackConfig] = None,
    teams_bot: Optional[TeamsBot] = None,
    timeout: float = TIMEOUT_SECONDS,
    transport: Optional[httpx.BaseTransport] = None,
) -> list[NotifyResult]:
    """Post `notice` to the partner's Teams and Slack channels, where configured.

    Never raises: each failure is logged (without the URL, which is a secret for a
    Teams webhook) and returned.
    """
    results: list[NotifyResult] = []
    if not teams_webhook and not slack_channel and not teams_channel:
        return results
    if slack_channel and slack is None:
        slack = SlackConfig.from_env()
    if teams_channel and teams_bot is None:
        teams_bot = TeamsBot.from_env()
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            if teams_webhook:
                results.append(post_to_teams(client, teams_webhook, notice))
            if teams_channel:
                if teams_bot is None:
                    results.append(
                        NotifyResult(
                            "teams_channel", False, "the Teams bot is not configured"
                        )
                    )
                else:
                    results.append(
                        post_to_teams_channel(client, teams_bot, teams_channel, notice)
                    )
            if slack_channel:
                if slack is None:
                    results.append(
                        NotifyResult("slack", False, "SLACK_BOT_TOKEN is not set")
                    )
                else:
                    results.append(post_to_slack(client, slack, slack_channel, notice))
    except Exception:  # never let a notification break the chat
        logger.exception("Handoff notification for %s failed", notice.conversation_id)
        results.append(NotifyResult("notify", False, "unexpected error"))
    for result in results:
        if result.ok:
            logger.info(
                "Handoff of %s announced on %s", notice.conversation_id, result.target
            )
        else:
            logger.warning(
                "Handoff of %s not announced on %s: %s",
                notice.conversation_id,
                result.target,
                result.detail,
            )
    return results
