"""Who is chatting: signed chat tokens.

A partner's site mints a token for a signed-in customer (tenant + user); the Slack and
Teams channels (in bot/, inside Rasa) mint one for a partner's staff member after they
have verified the platform's own signature. This module needs only PyJWT and the
standard library, so both virtual environments can import it. The token travels in
the message metadata, and actions trust only what its signature covers (on the
message being handled, never one before it), never what the user typed.

A token is a credential for an hour; a conversation is kept for much longer. So
nothing stores one: before Rasa's tracker store writes or publishes an event
(bot/stores.py), `scrub_metadata` swaps the token for a *receipt*, the same claims
signed to have expired when the message arrived. It still says who chatted (the
review dashboard reads it, api/dashboard/ingest.py), and opens nothing: every check
of a token (`verify_chat_token`) refuses it as expired.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional

import jwt

ALGORITHM = "HS256"
CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (the metadata key, not a secret)
CHATTER_KEY = "chatter"  # metadata: `chatter_fingerprint` of who sent the message
ANONYMOUS = "anonymous"
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
    locale: str = ""  # the `locale` claim: the language the partner's site shows

    @property
    def requester(self) -> str:
        """A stable label of who asked, stored on tickets."""
        if self.kind == "customer":
            return f"customer:{self.tenant_id}:{self.subject}"
        return f"staff:{self.platform}:{self.subject}"

    @property
    def key(self) -> str:
        """Who this is, whatever the token's expiry or display name: kind, tenant
        (customers) or platform (staff), and subject. Rate limits count per key;
        sessions and conversations are bound to it."""
        return "\x1f".join(
            (self.kind, self.tenant_id or self.platform or "", self.subject)
        )


def identity_key(identity: Optional[ChatIdentity]) -> str:
    """`identity.key`, or `anonymous` for nobody."""
    return ANONYMOUS if identity is None else identity.key


def chatter_fingerprint(secret: str, key: str) -> str:
    """A short keyed hash of an identity key (`identity_key`), stored in the
    message metadata under `chatter` so that a channel can tell whose a
    conversation is without storing anything that names them or opens anything."""
    digest = hashlib.blake2b(
        key.encode(), key=secret.encode()[:64], person=b"csp-chatter", digest_size=16
    )
    return digest.hexdigest()


def mint_customer_token(
    secret: str,
    *,
    tenant_id: str,
    user_id: str,
    name: str = "",
    email: str = "",
    locale: str = "",
    ttl_seconds: int = 3600,
    now: Optional[float] = None,
) -> str:
    """A token for a customer signed in on the partner's site; `locale` ("ja",
    "en-US") the language the site shows, which the bot answers in until the
    customer writes in another language the desk speaks."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "kind": "customer",
        "tenant_id": tenant_id,
        "name": name,
        "email": email,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if locale:
        claims["locale"] = locale
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
            locale=str(claims.get("locale") or ""),
        )
    if kind == "staff" and claims.get("platform") in PLATFORMS:
        return ChatIdentity(
            kind="staff",
            subject=str(claims["sub"]),
            platform=claims["platform"],
            name=str(claims.get("name", "")),
            email=str(claims.get("email", "")),
            locale=str(claims.get("locale") or ""),
        )
    raise InvalidChatToken("token names no known kind of chatter")


def _claims(secret: str, token: Any) -> Optional[dict[str, Any]]:
    """The claims of a token that `verify_chat_token` accepts now, or None."""
    try:
        verify_chat_token(secret, token)
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=AUDIENCE
        )
    except (InvalidChatToken, jwt.PyJWTError):
        return None
    return claims


def token_receipt(secret: str, token: Any, at: float) -> Optional[str]:
    """`token`'s claims signed to expire at `at` (when its message arrived), or
    None if `token` is not valid now. Names who chatted; opens nothing."""
    claims = _claims(secret, token)
    if claims is None:
        return None
    expired = int(at)
    claims["exp"] = expired
    claims["iat"] = min(int(claims.get("iat", expired)), expired)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def scrub_metadata(
    metadata: Mapping[str, Any], secret: str, at: float
) -> dict[str, Any]:
    """A copy of message metadata fit to store: the chat token replaced by its
    receipt (`token_receipt`), or dropped when it is not a valid token."""
    scrubbed = dict(metadata)
    token = scrubbed.pop(CHAT_TOKEN_KEY, None)
    if token is not None:
        receipt = token_receipt(secret, token, at)
        if receipt is not None:
            scrubbed[CHAT_TOKEN_KEY] = receipt
    return scrubbed
