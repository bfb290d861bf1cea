"""Standard Webhooks signatures: the secrets, the endpoint addresses and the headers.

Every webhook we send carries the three headers of the Standard Webhooks
specification (standardwebhooks.com):

    webhook-id:        msg_...     the event's id, the same on every retry
    webhook-timestamp: 1767225600  the attempt's time, Unix seconds
    webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">

The signature is made by the `standardwebhooks` package (the specification's own
Python library); what is ours is the checking around it: a secret is `whsec_` and
the base64 of 24 to 64 random bytes (the specification's bounds), decoded strictly
(the library's decoder pads and skips what is not base64, so a mistyped secret
would sign with other bytes than the consumer holds), and an endpoint is HTTPS, or
plain HTTP on this machine's loopback address for local tools and tests.

No module of the app is imported here: the settings check the default endpoint
with these functions.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import urlsplit

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
NEW_SECRET_BYTES = 32
MESSAGE_ID_PREFIX = "msg_"
LOOPBACK_NAMES = frozenset({"localhost"})


class WebhookSecretError(ValueError):
    """A signing secret that is missing or not a `whsec_` secret."""


def webhook_secret_problem(secret: str) -> Optional[str]:
    """What is wrong with a signing secret, or None when it is a good one."""
    if not secret:
        return "the signing secret is empty"
    if not secret.startswith(SECRET_PREFIX):
        return f"a signing secret starts with {SECRET_PREFIX}"
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return f"the signing secret is not {SECRET_PREFIX} and base64"
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        return (
            f"the signing secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} "
            f"bytes, not {len(key)} (make one with `csp-desk webhooks new-secret`)"
        )
    return None


def webhook_url_problem(url: str) -> Optional[str]:
    """What is wrong with an endpoint address, or None when it is a good one."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return f"{url!r} is not a URL"
    if not host:
        return f"{url!r} names no host"
    if parts.username or parts.password:
        return "an endpoint URL carries no user name or password (the signature is the proof)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(host):
        return None
    return f"{url!r} must be https:// (plain http only to this machine, for tests)"


def display_url(url: str) -> str:
    """An endpoint address to show: without its query and fragment, which some
    receivers use for a key (an Azure Logic Apps or Power Automate trigger's
    `sig=`), and without any user name or password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not a URL)"
    if ":" in host:
        host = f"[{host}]"
    hidden = "?..." if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 32 random bytes."""
    return (
        SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_SECRET_BYTES)).decode()
    )


def new_message_id() -> str:
    """A new event id: `msg_` and 32 hex digits (never a `.`, which the signed
    content uses as its separator)."""
    return MESSAGE_ID_PREFIX + secrets.token_hex(16)


def signed_headers(
    secret: str, *, message_id: str, body: str, at: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt to send `body`.

    Raises:
        WebhookSecretError: `secret` is not a good `whsec_` secret.
    """
    problem = webhook_secret_problem(secret)
    if problem:
        raise WebhookSecretError(problem)
    moment = at.astimezone(timezone.utc)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }
