"""Local fakes of the platforms the channels talk to (Slack's Web API; Microsoft's
login, Bot Framework OpenID metadata and Bot Connector), recording what the bot sends,
and helpers for the channel tests that run against the real stack."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.identity import (
    ALGORITHM,
    AUDIENCE,
    ChatIdentity,
    InvalidChatToken,
    verify_chat_token,
)
from tests.e2e.stack import ROOT, Stack, free_port

CHANNELS_BLOCK = """
bot.channels.socketio.SecureSocketIOInput:
bot.channels.slack.SecureSlackInput:
bot.channels.teams.TeamsInput:
"""
TEAMS_APP_ID = "00000000-0000-4000-8000-00000000b07a"
TEAMS_TENANT_ID = "00000000-0000-4000-8000-0000000ten1"
SLACK_BOT_TOKEN = "xoxb-test-bot-token"


# --------------------------------------------------------------------------- servers


class ServerThread:
    """An ASGI app served by uvicorn in a background thread, on a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("a fake server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class FakeSlack:
    """Slack's Web API as far as the bot uses it: chat.postMessage, recorded."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    app: FastAPI = field(default_factory=FastAPI)

    def __post_init__(self) -> None:
        @self.app.post("/api/chat.postMessage")
        async def post_message(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {SLACK_BOT_TOKEN}":
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            body = await request.json()
            ts = f"{time.time():.6f}"
            self.posts.append({**body, "_ts": ts})  # _ts: what Slack answered
            return JSONResponse({"ok": True, "channel": body.get("channel"), "ts": ts})

    def posts_in_thread(self, thread_ts: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p.get("thread_ts") == thread_ts]


@dataclass
class FakeMicrosoft:
    """Bot Framework OpenID metadata + JWKS, the Entra token endpoint, and the Bot
    Connector, with an RSA key generated for the test run."""

    jwks: dict[str, Any]
    base: str = ""
    token_calls: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    # The bot's own posts: threads it started in channels, and posts into them.
    created: list[dict[str, Any]] = field(default_factory=list)
    thread_posts: list[dict[str, Any]] = field(default_factory=list)
    app: FastAPI = field(default_factory=FastAPI)

    def __post_init__(self) -> None:
        @self.app.get("/openid")
        async def openid() -> dict[str, Any]:
            return {
                "issuer": "https://api.botframework.com",
                "jwks_uri": f"{self.base}/keys",
            }

        @self.app.get("/keys")
        async def keys() -> dict[str, Any]:
            return self.jwks

        @self.app.post("/login/{tenant}/oauth2/v2.0/token")
        async def token(tenant: str, request: Request) -> dict[str, Any]:
            form = dict((await request.form()).items())
            self.token_calls.append({"tenant": tenant, **form})
            return {
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": "fake-out",
            }

        @self.app.post("/connector/v3/conversations")
        async def create(request: Request) -> dict[str, Any]:
            body = await request.json()
            channel = body["channelData"]["channel"]["id"]
            message_id = f"17000000{len(self.created):05d}"
            thread = f"{channel};messageid={message_id}"
            self.created.append(
                {
                    "authorization": request.headers.get("authorization"),
                    "body": body,
                    "thread": thread,
                }
            )
            return {"id": thread, "activityId": message_id}

        @self.app.post("/connector/v3/conversations/{cid}/activities")
        async def post_in(cid: str, request: Request) -> dict[str, Any]:
            self.thread_posts.append(
                {"conversation": cid, "body": await request.json()}
            )
            return {"id": f"post-{len(self.thread_posts)}"}

        @self.app.post("/connector/v3/conversations/{cid}/activities/{aid}")
        async def reply(cid: str, aid: str, request: Request) -> dict[str, Any]:
            self.activities.append(
                {
                    "conversation": cid,
                    "reply_to": aid,
                    "raw_path": request.scope.get("raw_path", b"").decode(),
                    "authorization": request.headers.get("authorization"),
                    "body": await request.json(),
                }
            )
            return {"id": f"reply-{len(self.activities)}"}

    @property
    def service_url(self) -> str:
        return f"{self.base}/connector"

    def replies_to(self, activity_id: str) -> list[dict[str, Any]]:
        return [a for a in self.activities if a["reply_to"] == activity_id]


@dataclass
class TeamsKeys:
    """The test's signing key (RS256, as the Bot Framework signs)."""

    private_key: Any
    kid: str = "test-signing-key"

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        public = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {
            "keys": [
                {**public, "kid": self.kid, "use": "sig", "endorsements": ["msteams"]}
            ]
        }


def teams_keys() -> TeamsKeys:
    return TeamsKeys(rsa.generate_private_key(public_exponent=65537, key_size=2048))


# --------------------------------------------------------------------------- stack


@dataclass
class ChannelStack:
    stack: Stack
    slack: FakeSlack
    teams: FakeMicrosoft
    keys: TeamsKeys
    api_url: str  # where /widget/widget.js and /demo/portal are served

    @property
    def rasa_url(self) -> str:
        return self.stack.rasa_url

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    def tracker(self, sender_id: str) -> dict[str, Any]:
        reply = httpx.get(
            f"{self.rasa_url}/conversations/{sender_id}/tracker",
            params={"token": self.env["RASA_AUTH_TOKEN"]},
            timeout=30,
        )
        reply.raise_for_status()
        return dict(reply.json())


def credentials_file(workdir: Path) -> Path:
    """The product's credentials.yml if it names our channels, else a copy with them."""
    product = ROOT / "credentials.yml"
    text = product.read_text()
    if "bot.channels.slack.SecureSlackInput" in text:
        return product
    copy = workdir / "credentials.yml"
    copy.write_text(text.rstrip() + "\n" + CHANNELS_BLOCK)
    return copy


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Sign a request as Slack does (v0, HMAC-SHA256), for the tests' requests."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(6)}"


def stored_identity(secret: str, receipt: str) -> ChatIdentity:
    """Who a chat token kept in the tracker store names. The store keeps only a
    receipt (bot/stores.py): the token's claims, expired when the message came, so
    it must be refused as a token, and reads as the identity it was."""
    with pytest.raises(InvalidChatToken, match="expired"):
        verify_chat_token(secret, receipt)
    claims = jwt.decode(
        receipt,
        secret,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        options={"verify_exp": False},
    )
    return ChatIdentity(
        kind=claims["kind"],
        subject=claims["sub"],
        tenant_id=claims.get("tenant_id"),
        platform=claims.get("platform"),
        name=claims.get("name", ""),
    )
