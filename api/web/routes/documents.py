"""`GET /documents/invoices/{id}.pdf`: an invoice's PDF, through a signed link.

No service token here: the chatter's browser follows a link the bot sent, and the
link itself is the authorisation (`api/documents/links.py`). Being public, the route
is rate-limited per client address (`PUBLIC_RATE_LIMIT_*`, api/web/deps.py). A link that was
tampered with or signed with another key gets 403, an expired one 410, and a valid
link never serves an invoice of a customer other than the one it was minted for.
An imported invoice that came with the partner's own PDF (`csp-desk import
invoices`) is served as that PDF; every other invoice is rendered from its rows.
"""

from __future__ import annotations

import logging
import re
from typing import Optional

from fastapi import APIRouter, HTTPException, Response, status

from api.documents.links import LinkExpired, LinkForged, verify_link
from api.documents.render import render_invoice_pdf
from api.domain.models import Invoice
from api.settings import get_settings
from api.web.deps import PublicRateLimit, SessionDep, TodayDep
from api.web.errors import error_responses

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/documents", tags=["documents"])

DIGITS = re.compile(r"[0-9]{1,18}")
# itsdangerous' URL-safe tokens: base64url payload, time stamp and signature.
TOKEN = re.compile(
    r"[A-Za-z0-9_\-]{1,200}\.[A-Za-z0-9_\-]{1,20}\.[A-Za-z0-9_\-]{1,100}"
)
NOT_VALID = "This download link is not valid. Ask the assistant for a new one."
EXPIRED = "This download link has expired. Ask the assistant for a new one."


def _forbidden() -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=NOT_VALID)


@router.get(
    "/invoices/{invoice_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF"},
        **error_responses(
            429,
            described={
                403: "Forged, tampered or malformed link.",
                404: "The invoice no longer exists.",
                410: "The link has expired.",
                # The parameters are strings and checked by the route (403), so
                # FastAPI never refuses them; documented for the envelope's sake.
                422: "Never sent: a malformed link is a 403.",
            },
        ),
    },
    dependencies=[PublicRateLimit],
)
def invoice_pdf(
    invoice_id: str,
    session: SessionDep,
    today: TodayDep,
    customer: Optional[str] = None,
    token: Optional[str] = None,
) -> Response:
    """The PDF of an invoice or credit note, for the customer the link names."""
    if not (
        DIGITS.fullmatch(invoice_id)
        and customer
        and DIGITS.fullmatch(customer)
        and token
        and TOKEN.fullmatch(token)
    ):
        raise _forbidden()
    settings = get_settings()
    try:
        verify_link(
            settings.link_signing_secret,
            invoice_id=int(invoice_id),
            customer_id=int(customer),
            token=token,
            max_age_seconds=settings.pdf_link_ttl_seconds,
        )
    except LinkForged:
        logger.warning("refused a forged PDF link for invoice id %s", invoice_id)
        raise _forbidden() from None
    except LinkExpired:
        raise HTTPException(status_code=status.HTTP_410_GONE, detail=EXPIRED) from None
    invoice = session.get(Invoice, int(invoice_id))
    # The signature binds the invoice to the customer; check the row agrees anyway.
    if invoice is None or invoice.customer_id != int(customer):
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail="This invoice is no longer available.",
        )
    # The partner's own PDF when its invoice import gave one; ours otherwise.
    stored = invoice.pdf
    pdf = (
        stored.content
        if stored is not None
        else render_invoice_pdf(invoice, today=today)
    )
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{invoice.number}.pdf"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
