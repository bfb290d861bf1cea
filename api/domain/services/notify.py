"""Tell a partner's desk about a handoff: its Microsoft Teams and Slack channels.

A partner may configure either or both in its profile:

* `Partner.teams_channel_webhook`: a Teams *incoming webhook* URL; the message is a
  MessageCard (`@type: MessageCard`) POSTed to it.
* `Partner.slack_channel_id`: a Slack channel; the message goes through the Web API
  method `chat.postMessage` with the bot token `SLACK_BOT_TOKEN`, at
  `SLACK_API_BASE_URL` (default https://slack.com/api/; tests point it at a fake).

The review dashboard needs no notification: it reads the `pause` event that the
handoff action leaves in the conversation (api/dashboard/ingest.py).

Failures never break the chat: every error is caught, logged and reported in the
returned `NotifyResult`s. No secret or chat text is logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx

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
    target: str  # "teams" or "slack"
    ok: bool
    detail: str = ""


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
    url = config.api_base_url.rstrip("/") + "/chat.postMessage"
    try:
        response = client.post(
            url,
            json=slack_message(notice, channel),
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
    return NotifyResult("slack", True)


def notify_handoff(
    notice: HandoffNotice,
    *,
    teams_webhook: Optional[str],
    slack_channel: Optional[str],
    slack: Optional[SlackConfig] = None,
    timeout: float = TIMEOUT_SECONDS,
    transport: Optional[httpx.BaseTransport] = None,
) -> list[NotifyResult]:
    """Post `notice` to the partner's Teams and Slack channels, where configured.

    Never raises: each failure is logged (without the URL, which is a secret for a
    Teams webhook) and returned.
    """
    results: list[NotifyResult] = []
    if not teams_webhook and not slack_channel:
        return results
    if slack_channel and slack is None:
        slack = SlackConfig.from_env()
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            if teams_webhook:
                results.append(post_to_teams(client, teams_webhook, notice))
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
