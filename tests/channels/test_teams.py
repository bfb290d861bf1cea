"""Microsoft Teams against the real stack: Bot Framework activities with RS256 tokens
signed by a key generated here (served by a fake OpenID/JWKS endpoint) posted to
Rasa's /webhooks/teams/webhook; replies recorded by a fake Bot Connector, with
outbound tokens from a fake single-tenant token endpoint.

Buttons as cards are checked in tests/bot/channels/test_teams_channel.py: the bot's
domain has no response with buttons yet."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.channels.fakes import (
    TEAMS_APP_ID,
    TEAMS_TENANT_ID,
    ChannelStack,
    FakeMicrosoft,
    TeamsKeys,
    stored_identity,
    unique,
    wait_until,
)

pytestmark = pytest.mark.e2e

ISSUER = "https://api.botframework.com"


@pytest.fixture(scope="module")
def teams(channel_stack: ChannelStack) -> tuple[FakeMicrosoft, TeamsKeys]:
    return channel_stack.teams, channel_stack.keys


def token(keys: TeamsKeys, service_url: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": TEAMS_APP_ID,
        "serviceurl": service_url,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(
        body, keys.private_key, algorithm="RS256", headers={"kid": keys.kid}
    )


def activity(service_url: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": unique("1700000000"),
        "timestamp": "2026-11-24T10:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {
            "id": "29:1staff",
            "name": "Pat Billing",
            "aadObjectId": "6f1c2a8e-0000-4000-8000-00000000aad1",
        },
        "recipient": {"id": f"28:{TEAMS_APP_ID}", "name": "Billing desk"},
        "conversation": {
            "id": "a:1personal-chat-id",
            "conversationType": "personal",
            "tenantId": TEAMS_TENANT_ID,
        },
        "channelData": {"tenant": {"id": TEAMS_TENANT_ID}},
        "text": text,
        "textFormat": "plain",
    }


def send(channels: ChannelStack, body: dict[str, Any], bearer: str) -> httpx.Response:
    return httpx.post(
        f"{channels.rasa_url}/webhooks/teams/webhook",
        json=body,
        headers={"Authorization": f"Bearer {bearer}"} if bearer else {},
        timeout=30,
    )


def test_a_valid_activity_is_answered_through_the_connector(
    channel_stack: ChannelStack, teams: tuple[FakeMicrosoft, TeamsKeys]
) -> None:
    fake, keys = teams
    message = activity(fake.service_url, "hello")
    reply = send(channel_stack, message, token(keys, fake.service_url))
    assert reply.status_code == 200
    assert wait_until(lambda: fake.replies_to(message["id"])), (
        "no reply at the connector"
    )
    answer = fake.replies_to(message["id"])[0]
    assert answer["authorization"] == "Bearer fake-out"
    assert answer["raw_path"] == (
        f"/connector/v3/conversations/a%3A1personal-chat-id/activities/{message['id']}"
    )
    body = answer["body"]
    assert body["type"] == "message"
    assert body["replyToId"] == message["id"]
    assert body["conversation"]["id"] == "a:1personal-chat-id"
    assert body["recipient"]["id"] == "29:1staff"
    assert body.get("text", "").strip()

    # A single-tenant app: client credentials at its own tenant's endpoint.
    call = fake.token_calls[0]
    assert call["tenant"] == TEAMS_TENANT_ID
    assert call["grant_type"] == "client_credentials"
    assert call["client_id"] == TEAMS_APP_ID
    assert call["scope"] == "https://api.botframework.com/.default"


def test_the_staff_identity_comes_from_the_aad_object_id(
    channel_stack: ChannelStack, teams: tuple[FakeMicrosoft, TeamsKeys]
) -> None:
    fake, keys = teams
    message = activity(fake.service_url, "hello")
    assert (
        send(channel_stack, message, token(keys, fake.service_url)).status_code == 200
    )
    assert wait_until(lambda: fake.replies_to(message["id"]))
    # The channel's conversation id (bot/channels/teams.py: conversation_id).
    key = f"{message['conversation']['id']}\x1f{message['from']['aadObjectId']}"
    sender = "teams_" + hashlib.sha256(key.encode()).hexdigest()[:40]
    metadata = channel_stack.tracker(sender)["latest_message"]["metadata"]
    identity = stored_identity(
        channel_stack.env["CHAT_TOKEN_SECRET"], metadata["chat_token"]
    )
    assert (identity.kind, identity.platform, identity.subject) == (
        "staff",
        "teams",
        "6f1c2a8e-0000-4000-8000-00000000aad1",
    )
    assert identity.name == "Pat Billing"


@pytest.mark.parametrize(
    "case",
    [
        "wrong issuer",
        "wrong audience",
        "expired",
        "wrong serviceUrl",
        "HS256",
        "no token",
    ],
)
def test_invalid_tokens_are_refused(
    channel_stack: ChannelStack, teams: tuple[FakeMicrosoft, TeamsKeys], case: str
) -> None:
    fake, keys = teams
    service = fake.service_url
    bearer = {
        "wrong issuer": lambda: token(keys, service, iss="https://sts.windows.net/x/"),
        "wrong audience": lambda: token(keys, service, aud="another-bot-app-id"),
        "expired": lambda: token(keys, service, exp=int(time.time()) - 3600),
        "wrong serviceUrl": lambda: token(keys, "https://attacker.example/"),
        "HS256": lambda: jwt.encode(
            {
                "iss": ISSUER,
                "aud": TEAMS_APP_ID,
                "serviceurl": service,
                "exp": int(time.time()) + 600,
            },
            "a-guessed-shared-secret-0123456789abcdef",
            algorithm="HS256",
            headers={"kid": keys.kid},
        ),
        "no token": lambda: "",
    }[case]()
    message = activity(service, "hello")
    reply = send(channel_stack, message, bearer)
    assert reply.status_code in (401, 403), reply.text
    time.sleep(1)
    assert fake.replies_to(message["id"]) == []
