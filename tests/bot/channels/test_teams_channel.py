"""The Teams channel: Bot Framework token validation, single-tenant outbound tokens,
cards for buttons, served in-process against a fake connector, token endpoint and
OpenID metadata with RSA keys generated here."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Optional

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from rasa.core.channels.channel import UserMessage

from bot.channels.teams import (
    BotTokenProvider,
    InvalidBotFrameworkToken,
    OpenIdKeys,
    TeamsInput,
    conversation_id,
    hero_card,
    message_text,
    validate_token,
)
from common.identity import verify_chat_token
from tests.bot.channels.harness import aiohttp_server, channel_server

APP_ID = "11111111-2222-3333-4444-555555555555"
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CHAT_SECRET = "chat-secret-for-teams-tests-0123456789"


def teams_channel(base: str, **extra: Any) -> TeamsInput:
    """The Teams channel pointed at a FakeMicrosoft served at `base`."""
    return TeamsInput(
        app_id=APP_ID,
        app_password="app-secret",
        tenant_id=TENANT,
        chat_token_secret=CHAT_SECRET,
        openid_metadata_url=f"{base}/openid",
        login_base_url=f"{base}/login",
        **extra,
    )


ISSUER = "https://api.botframework.com"
KID = "test-key-1"

PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private_key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    key = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**key, "kid": kid, "use": "sig", **extra}


def bf_token(service_url: str, **claims: Any) -> str:
    key = claims.pop("_key", PRIVATE_KEY)
    kid = claims.pop("_kid", KID)
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": service_url,
        "nbf": now - 10,
        "iat": now - 10,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def activity(service_url: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"act-{time.time_ns()}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:user", "name": "Pat Billing", "aadObjectId": "aad-obj-1"},
        "recipient": {"id": "28:bot", "name": "Billing desk"},
        "conversation": {"id": "a:1Xyz;messageid=123", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
        **extra,
    }


class StaticKeys(OpenIdKeys):
    """Keys given directly, no HTTP."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        super().__init__("unused")
        self._keys = {k["kid"]: k for k in keys}
        self._fetched_at = time.monotonic()


SERVICE = "https://smba.trafficmanager.net/emea/"
KEYS = StaticKeys([jwk(PRIVATE_KEY, KID, endorsements=["msteams"])])


def check(token: Optional[str], act: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    header = f"Bearer {token}" if token is not None else None
    return asyncio.run(validate_token(header, act or activity(SERVICE), KEYS, APP_ID))


# --------------------------------------------------------------- inbound tokens


def test_a_valid_token_passes() -> None:
    claims = check(bf_token(SERVICE))
    assert claims["aud"] == APP_ID


@pytest.mark.parametrize(
    ("token_factory", "reason"),
    [
        (lambda: bf_token(SERVICE, iss="https://sts.windows.net/evil/"), "issuer"),
        (lambda: bf_token(SERVICE, aud="another-bot"), "audience"),
        (lambda: bf_token(SERVICE, exp=int(time.time()) - 3600), "expired"),
        (lambda: bf_token("https://evil.example/"), "serviceurl"),
        (lambda: bf_token(SERVICE, serviceurl=None), "serviceurl"),
        (lambda: bf_token(SERVICE, _key=OTHER_KEY), "signature"),
        (lambda: bf_token(SERVICE, _kid="unknown"), "unknown signing key"),
        (
            lambda: jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": APP_ID,
                    "serviceurl": SERVICE,
                    "exp": int(time.time()) + 600,
                },
                "shared-secret-guess-0123456789abcdef",
                algorithm="HS256",
                headers={"kid": KID},
            ),
            "algorithm",
        ),
        (
            lambda: jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": APP_ID,
                    "serviceurl": SERVICE,
                    "exp": int(time.time()) + 600,
                },
                None,
                algorithm="none",
                headers={"kid": KID},
            ),
            "algorithm",
        ),
        (lambda: "not.a.jwt", "malformed"),
    ],
)
def test_invalid_tokens_are_refused(token_factory: Any, reason: str) -> None:
    with pytest.raises(InvalidBotFrameworkToken) as error:
        check(token_factory())
    assert reason in str(error.value).lower() or reason == "signature"


def test_missing_or_non_bearer_authorization_is_refused() -> None:
    with pytest.raises(InvalidBotFrameworkToken):
        check(None)
    with pytest.raises(InvalidBotFrameworkToken):
        asyncio.run(validate_token("Basic abc", activity(SERVICE), KEYS, APP_ID))


def test_a_key_endorsed_for_other_channels_is_refused() -> None:
    webchat = activity(SERVICE, channelId="webchat")
    with pytest.raises(InvalidBotFrameworkToken, match="endorsed"):
        check(bf_token(SERVICE), webchat)


def test_trailing_slash_of_the_service_url_does_not_matter() -> None:
    check(bf_token(SERVICE.rstrip("/")))


# --------------------------------------------------------------- pure parts


def test_message_text_drops_mentions_and_reads_card_values() -> None:
    assert message_text({"text": "<at>Billing desk</at> my invoice"}) == "my invoice"
    assert message_text({"text": "", "value": {"payload": "/affirm"}}) == "/affirm"
    assert message_text({}) == ""


def test_conversation_ids_separate_users_and_conversations() -> None:
    base = activity(SERVICE)
    other_user = {**base, "from": {"id": "29:x", "aadObjectId": "aad-obj-2"}}
    other_chat = {**base, "conversation": {"id": "a:other"}}
    ids = {
        conversation_id(base),
        conversation_id(other_user),
        conversation_id(other_chat),
    }
    assert len(ids) == 3
    assert conversation_id(base) == conversation_id(dict(base))


def test_buttons_become_a_hero_card_that_posts_back() -> None:
    card = hero_card("Open a ticket?", [{"title": "Yes", "payload": "/affirm"}])
    assert card["contentType"] == "application/vnd.microsoft.card.hero"
    assert card["content"]["buttons"] == [
        {
            "type": "messageBack",
            "title": "Yes",
            "displayText": "Yes",
            "text": "/affirm",
            "value": {"payload": "/affirm"},
        }
    ]


def test_without_credentials_the_channel_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    off = TeamsInput(app_id="", app_password="", tenant_id="", chat_token_secret="x")
    assert not off.enabled
    assert "Teams channel off: TEAMS_APP_ID, TEAMS_APP_PASSWORD, TEAMS_TENANT_ID" in (
        caplog.text
    )


# --------------------------------------------------------------- over HTTP


class FakeMicrosoft:
    """OpenID metadata + JWKS, the Entra token endpoint and the Bot Connector."""

    def __init__(self) -> None:
        self.base = ""
        self.token_requests: list[dict[str, str]] = []
        self.token_paths: list[str] = []
        self.activities: list[tuple[str, str, dict[str, Any]]] = []
        self.jwks_fetches = 0
        app = web.Application()
        app.router.add_get("/openid", self.openid)
        app.router.add_get("/keys", self.keys)
        app.router.add_post("/login/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_post(
            "/connector/v3/conversations/{cid}/activities/{aid}", self.reply
        )
        self.app = app

    async def openid(self, _: web.Request) -> web.Response:
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.base}/keys"})

    async def keys(self, _: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response(
            {"keys": [jwk(PRIVATE_KEY, KID, endorsements=["msteams"])]}
        )

    async def token(self, request: web.Request) -> web.Response:
        self.token_paths.append(request.path)
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": "outbound-1"}
        )

    async def reply(self, request: web.Request) -> web.Response:
        self.activities.append(
            (
                request.headers.get("Authorization", ""),
                request.raw_path,
                await request.json(),
            )
        )
        return web.json_response({"id": "reply-1"})


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def test_teams_over_http() -> None:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "Hi Pat")
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            "Open a ticket?",
            [{"title": "Yes", "payload": "/affirm"}],
        )

    async def scenario() -> None:
        fake = FakeMicrosoft()
        async with aiohttp_server(fake.app) as base:
            fake.base = base
            service_url = f"{base}/connector"
            teams = teams_channel(base)
            async with channel_server(teams, bot) as rasa:
                url = f"{rasa}/webhooks/teams/webhook"
                async with aiohttp.ClientSession() as http:

                    async def post(act: dict[str, Any], token: Optional[str]) -> int:
                        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
                        async with http.post(url, json=act, headers=hdrs) as reply:
                            return reply.status

                    first = activity(service_url)
                    assert await post(first, None) == 401
                    assert await post(first, bf_token(f"{base}/elsewhere")) == 401
                    assert await post(first, bf_token(service_url, aud="x")) == 401
                    assert not received

                    assert await post(first, bf_token(service_url)) == 200
                    await wait_for(lambda: len(fake.activities) >= 2)
                    assert len(received) == 1
                    metadata = received[0].metadata or {}
                    identity = verify_chat_token(CHAT_SECRET, metadata["chat_token"])
                    assert (identity.kind, identity.platform, identity.subject) == (
                        "staff",
                        "teams",
                        "aad-obj-1",
                    )
                    assert identity.name == "Pat Billing"

                    auth, path, text_reply = fake.activities[0]
                    assert auth == "Bearer outbound-1"
                    assert path == (
                        "/connector/v3/conversations/a%3A1Xyz%3Bmessageid%3D123"
                        f"/activities/{first['id']}"
                    )
                    assert text_reply["text"] == "Hi Pat"
                    assert text_reply["replyToId"] == first["id"]
                    assert text_reply["recipient"]["id"] == "29:user"
                    card = fake.activities[1][2]["attachments"][0]
                    assert card["contentType"] == "application/vnd.microsoft.card.hero"
                    assert card["content"]["buttons"][0]["type"] == "messageBack"
                    assert card["content"]["buttons"][0]["text"] == "/affirm"

                    # The single-tenant token endpoint, asked once, then cached.
                    assert fake.token_paths == [f"/login/{TENANT}/oauth2/v2.0/token"]
                    assert fake.token_requests[0] == {
                        "grant_type": "client_credentials",
                        "client_id": APP_ID,
                        "client_secret": "app-secret",
                        "scope": "https://api.botframework.com/.default",
                    }
                    # A button click (messageBack) comes back as its payload.
                    click = activity(service_url, text="/affirm")
                    assert await post(click, bf_token(service_url)) == 200
                    # The same activity delivered again is not processed twice.
                    assert await post(click, bf_token(service_url)) == 200
                    await wait_for(lambda: len(fake.activities) >= 4)
                    await asyncio.sleep(0.2)
                    assert [m.text for m in received] == ["hello", "/affirm"]
                    assert len(fake.token_requests) == 1
                    assert len(fake.activities) == 4

                    # Another tenant is refused even with a valid token.
                    foreign = activity(service_url, channelData={"tenant": {"id": "x"}})
                    assert await post(foreign, bf_token(service_url)) == 403

    asyncio.run(scenario())


def test_outbound_tokens_are_refreshed_when_they_expire() -> None:
    calls: list[int] = []

    async def token(_: web.Request) -> web.Response:
        calls.append(1)
        return web.json_response({"access_token": f"t{len(calls)}", "expires_in": 1})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post(f"/{TENANT}/oauth2/v2.0/token", token)
        async with aiohttp_server(app) as base:
            provider = BotTokenProvider(APP_ID, "pw", TENANT, login_base_url=base)
            async with aiohttp.ClientSession() as session:
                first = await provider.token(session)
                # expires_in 1 s is inside the refresh margin: asked again.
                second = await provider.token(session)
        assert (first, second) == ("t1", "t2")

    asyncio.run(scenario())
