"""Signed, short-lived links to an invoice's PDF.

A link names the invoice, the customer it was minted for and when it expires, and
carries an HMAC-SHA256 of all three made with `LINK_SIGNING_SECRET`. Changing any of
them (another invoice, another customer, a later expiry) breaks the signature, so a
link minted for one customer never serves another customer's invoice. The bot mints
links (actions) and the API checks them (`api/web/routes/documents.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlencode

from api.settings import Settings, get_settings

PATH = "/documents/invoices/{invoice_id}.pdf"
PURPOSE = "invoice-pdf"  # keeps these signatures apart from any other use of the key


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


def signature(secret: str, *, invoice_id: int, customer_id: int, expires: int) -> str:
    """The hex HMAC-SHA256 of (invoice id, customer id, expiry)."""
    message = f"{PURPOSE}|{invoice_id}|{customer_id}|{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


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
    expires = int(now if now is not None else time.time()) + ttl
    query = urlencode(
        {
            "customer": customer_id,
            "expires": expires,
            "signature": signature(
                settings.link_signing_secret,
                invoice_id=invoice_id,
                customer_id=customer_id,
                expires=expires,
            ),
        }
    )
    path = PATH.format(invoice_id=invoice_id)
    return SignedLink(
        url=f"{settings.base_url.rstrip('/')}{path}?{query}",
        expires_at=expires,
        ttl_seconds=ttl,
    )


def verify_link(
    secret: str,
    *,
    invoice_id: int,
    customer_id: int,
    expires: int,
    given: str,
    now: Optional[float] = None,
) -> None:
    """Check a link; raise `LinkForged` or `LinkExpired`, return None if it is good.

    The signature is checked first (in constant time), so a forged link is refused
    as forged even when its expiry has passed.
    """
    expected = signature(
        secret, invoice_id=invoice_id, customer_id=customer_id, expires=expires
    )
    if not hmac.compare_digest(expected.encode(), (given or "").encode()):
        raise LinkForged("the link's signature does not match")
    if (now if now is not None else time.time()) >= expires:
        raise LinkExpired("the link has expired")
