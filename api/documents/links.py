"""Signed, short-lived links to an invoice's PDF.

    /documents/invoices/<invoice id>.pdf?customer=<customer id>&token=<token>

The token is itsdangerous' URL-safe timed serializer of (invoice id, customer id),
signed with `LINK_SIGNING_SECRET` under its own salt (so no other use of the key can
mint one) and stamped with the time it was made. A link is honoured for
`PDF_LINK_TTL_SECONDS` after that; changing the invoice, the customer or the time
stamp breaks the signature, so a link minted for one customer never serves another
customer's invoice. The bot mints links (actions) and the API checks them
(`api/web/routes/documents.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlencode

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeTimedSerializer,
)

from api.settings import Settings, get_settings

PATH = "/documents/invoices/{invoice_id}.pdf"
SALT = "invoice-pdf"  # keeps these signatures apart from any other use of the key


class LinkError(Exception):
    """The link cannot be honoured."""


class LinkForged(LinkError):
    """The signature does not match (tampered, or signed with another key)."""


class LinkExpired(LinkError):
    """The link was genuine but its time is up."""


@dataclass(frozen=True)
class SignedLink:
    url: str
    expires_at: int  # Unix time
    ttl_seconds: int


class _ClockSigner(TimestampSigner):
    """itsdangerous' timestamp signer reading the time from `clock` (its documented
    extension point, `get_timestamp`), so a link can be made or checked as of
    another moment."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


def _serializer(secret: str, now: Optional[float]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret,
        salt=SALT,
        signer=_ClockSigner,
        signer_kwargs={"clock": time.time if now is None else (lambda: now)},
    )


def link_token(
    secret: str, *, invoice_id: int, customer_id: int, now: Optional[float] = None
) -> str:
    """The signed, time-stamped token naming invoice `invoice_id` and customer
    `customer_id`."""
    return _serializer(secret, now).dumps([invoice_id, customer_id])


def invoice_pdf_link(
    *,
    invoice_id: int,
    customer_id: int,
    now: Optional[float] = None,
    settings: Optional[Settings] = None,
) -> SignedLink:
    """A link to the PDF of invoice `invoice_id`, for customer `customer_id`."""
    settings = settings or get_settings()
    ttl = settings.pdf_link_ttl_seconds
    issued = int(now if now is not None else time.time())
    token = link_token(
        settings.link_signing_secret,
        invoice_id=invoice_id,
        customer_id=customer_id,
        now=issued,
    )
    path = PATH.format(invoice_id=invoice_id)
    query = urlencode({"customer": customer_id, "token": token})
    return SignedLink(
        url=f"{settings.base_url.rstrip('/')}{path}?{query}",
        expires_at=issued + ttl,
        ttl_seconds=ttl,
    )


def verify_link(
    secret: str,
    *,
    invoice_id: int,
    customer_id: int,
    token: str,
    max_age_seconds: int,
    now: Optional[float] = None,
) -> None:
    """Check a link; raise `LinkForged` or `LinkExpired`, return None if it is good.

    itsdangerous checks the signature (in constant time) before the age, so a forged
    link is refused as forged even when its time stamp is old.
    """
    try:
        named = _serializer(secret, now).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise LinkExpired("the link has expired") from None
    except BadSignature:
        raise LinkForged("the link's signature does not match") from None
    if named != [invoice_id, customer_id]:
        raise LinkForged("the link was signed for another invoice or customer")
