"""Slack against the real stack: signed Events API requests to Rasa's
/webhooks/slack/webhook, replies recorded by a local fake of Slack's Web API."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

import httpx
import pytest

from tests.channels.fakes import (
    ChannelStack,
    slack_signature,
    stored_identity,
    unique,
    wait_until,
)

pytestmark = pytest.mark.e2e

BOT_USER = "UBILLINGBOT"


def slack_ts() -> str:
    return f"{time.time():.6f}"


def message_event(text: str, user: str = "USTAFF01", **event: Any) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": "TPARTNER",
        "api_app_id": "AAPP",
        "event_id": unique("Ev"),
        "event_time": int(time.time()),
        "authorizations": [
            {"user_id": BOT_USER, "is_bot": True, "team_id": "TPARTNER"}
        ],
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "DSTAFF01",
            "user": user,
            "text": text,
            "ts": slack_ts(),
            **event,
        },
    }


def post(
    channels: ChannelStack,
    body: bytes,
    *,
    timestamp: Optional[int] = None,
    secret: Optional[str] = None,
    extra: Optional[dict[str, str]] = None,
    content_type: str = "application/json",
) -> httpx.Response:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signing_secret = secret or channels.env["SLACK_SIGNING_SECRET"]
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": slack_signature(signing_secret, ts, body),
        **(extra or {}),
    }
    return httpx.post(
        f"{channels.rasa_url}/webhooks/slack/webhook",
        content=body,
        headers=headers,
        timeout=30,
    )


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def test_url_verification_answers_the_challenge(channel_stack: ChannelStack) -> None:
    body = encode({"type": "url_verification", "token": "x", "challenge": "abc-123"})
    reply = post(channel_stack, body)
    assert reply.status_code == 200
    assert reply.json() == {"challenge": "abc-123"}


def test_a_bad_signature_is_refused(channel_stack: ChannelStack) -> None:
    body = encode(message_event("hello"))
    assert post(channel_stack, body, secret="not-the-signing-secret").status_code == 401
    unsigned = httpx.post(
        f"{channel_stack.rasa_url}/webhooks/slack/webhook",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert unsigned.status_code == 401
    challenge = encode({"type": "url_verification", "challenge": "c"})
    assert post(channel_stack, challenge, secret="nope").status_code == 401


def test_a_stale_timestamp_is_refused(channel_stack: ChannelStack) -> None:
    body = encode(message_event("hello"))
    stale = int(time.time()) - 6 * 60
    assert post(channel_stack, body, timestamp=stale).status_code == 401


def test_a_message_is_answered_in_its_thread_once(channel_stack: ChannelStack) -> None:
    slack = channel_stack.slack
    event = message_event("hello")
    ts = event["event"]["ts"]
    body = encode(event)
    reply = post(channel_stack, body)
    assert reply.status_code == 200
    assert wait_until(lambda: slack.posts_in_thread(ts)), "no reply reached Slack"
    time.sleep(2)  # let every message of the answer arrive
    answer = slack.posts_in_thread(ts)
    assert all(p["channel"] == "DSTAFF01" for p in answer)
    assert any(p.get("text", "").strip() for p in answer), answer

    # Slack retries the delivery: acknowledged, never processed again.
    retry = post(
        channel_stack,
        body,
        extra={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_error"},
    )
    assert retry.status_code == 200
    timeout_retry = post(
        channel_stack,
        body,
        extra={"x-slack-retry-num": "2", "x-slack-retry-reason": "http_timeout"},
    )
    assert timeout_retry.status_code == 200
    time.sleep(5)
    assert len(slack.posts_in_thread(ts)) == len(answer)

    # The staff member's identity travelled as a staff chat token.
    sender = f"slack_TPARTNER_DSTAFF01_{ts}_USTAFF01"
    tracker = channel_stack.tracker(sender)
    token = tracker["latest_message"]["metadata"]["chat_token"]
    identity = stored_identity(channel_stack.env["CHAT_TOKEN_SECRET"], token)
    assert (identity.kind, identity.platform, identity.subject) == (
        "staff",
        "slack",
        "USTAFF01",
    )


def test_a_follow_up_in_the_thread_continues_the_conversation(
    channel_stack: ChannelStack,
) -> None:
    slack = channel_stack.slack
    first = message_event("hello")
    root = first["event"]["ts"]
    assert post(channel_stack, encode(first)).status_code == 200
    assert wait_until(lambda: slack.posts_in_thread(root))
    follow_up = message_event("thanks", thread_ts=root)
    assert post(channel_stack, encode(follow_up)).status_code == 200
    sender = f"slack_TPARTNER_DSTAFF01_{root}_USTAFF01"

    def user_texts() -> list[str]:
        events = channel_stack.tracker(sender)["events"]
        return [e.get("text") for e in events if e["event"] == "user"]

    assert wait_until(lambda: len(user_texts()) >= 2)
    assert user_texts() == ["hello", "thanks"]


def test_bot_messages_and_edits_are_ignored(channel_stack: ChannelStack) -> None:
    slack = channel_stack.slack
    bot_message = message_event("I am a bot", bot_id="B0001")
    edit = message_event("edited", subtype="message_changed")
    ours = message_event("echo", user=BOT_USER)
    for event in (bot_message, edit, ours):
        assert post(channel_stack, encode(event)).status_code == 200
    time.sleep(5)
    for event in (bot_message, edit, ours):
        assert slack.posts_in_thread(event["event"]["ts"]) == []
