"""Who is chatting: signed chat tokens.

A partner's site mints a token for a signed-in customer (tenant + user); the Slack and
Teams channels (in bot/, inside Rasa) mint one for a partner's staff member after they
have verified the platform's own signature. This module needs only PyJWT and the
standard library, so both virtual environments can import it. The token travels in the message metadata, and actions
trust only what its signature covers, never what the user typed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Optional

import jwt

ALGORITHM = "HS256"
Platform = Literal["slack", "teams"]
PLATFORMS: tuple[str, ...] = ("slack", "teams")
AUDIENCE = "csp-billing-desk"


class InvalidChatToken(Exception):
    """The token is missing, expired, malformed or not signed by us."""


@dataclass(frozen=True)
class ChatIdentity:
    """A verified chatter."""

    kind: Literal["customer", "staff"]
    subject: str  # the customer's user id, or the staff member's platform user id
    tenant_id: Optional[str] = None  # customers: their Entra tenant
    platform: Optional[Platform] = None  # staff: where they chat from
    name: str = ""
    email: str = ""

    @property
    def requester(self) -> str:
        """A stable label of who asked, stored on tickets."""
        if self.kind == "customer":
            return f"customer:{self.tenant_id}:{self.subject}"
        return f"staff:{self.platform}:{self.subject}"


def mint_customer_token(
    secret: str,
    *,
    tenant_id: str,
    user_id: str,
    name: str = "",
    email: str = "",
    ttl_seconds: int = 3600,
    now: Optional[float] = None,
) -> str:
    """A token for a customer signed in on the partner's site."""
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": user_id,
        "kind": "customer",
        "tenant_id": tenant_id,
        "name": name,
        "email": email,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def mint_staff_token(
    secret: str,
    *,
    platform: Platform,
    platform_user_id: str,
    name: str = "",
    email: str = "",
    ttl_seconds: int = 3600,
    now: Optional[float] = None,
) -> str:
    """A token for a partner's staff member, minted by the Slack or Teams channel
    after it verified the platform's signature. `platform_user_id` is the Slack user
    id or the Entra (AAD) object id; actions map it to a partner user."""
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": platform_user_id,
        "kind": "staff",
        "platform": platform,
        "name": name,
        "email": email,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_chat_token(secret: str, token: Any) -> ChatIdentity:
    """Check the signature, audience and expiry, and return who it names."""
    if not isinstance(token, str) or not token:
        raise InvalidChatToken("no chat token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidChatToken(str(exc)) from exc
    kind = claims.get("kind")
    if kind == "customer" and isinstance(claims.get("tenant_id"), str):
        return ChatIdentity(
            kind="customer",
            subject=str(claims["sub"]),
            tenant_id=claims["tenant_id"],
            name=str(claims.get("name", "")),
            email=str(claims.get("email", "")),
        )
    if kind == "staff" and claims.get("platform") in PLATFORMS:
        return ChatIdentity(
            kind="staff",
            subject=str(claims["sub"]),
            platform=claims["platform"],
            name=str(claims.get("name", "")),
            email=str(claims.get("email", "")),
        )
    raise InvalidChatToken("token names no known kind of chatter")
