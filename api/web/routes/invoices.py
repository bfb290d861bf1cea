"""`/api/v1/invoices/{number}`: one invoice or credit note, with its lines."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import select

from api.domain.models import Invoice
from api.settings import Settings, get_settings
from api.web.deps import SessionDep, TodayDep
from api.web.errors import error_responses, unprocessable
from api.web.schemas import InvoiceDetailOut

router = APIRouter(prefix="/invoices", tags=["invoices"])

NUMBER_DESCRIPTION = (
    "The invoice or credit note number, e.g. G000024135 (any case). Its pattern "
    "is the INVOICE_NUMBER_PATTERN setting."
)


def number_pattern(settings: Settings) -> str:
    """The pattern an invoice number in the path must match: the setting's, in any
    case. The route checks it, and the OpenAPI schema shows it (api/web/app.py)."""
    return f"^(?i:{settings.invoice_number_pattern})$"


@router.get(
    "/{number}",
    response_model=InvoiceDetailOut,
    responses=error_responses(
        422, described={404: "No invoice or credit note has that number."}
    ),
)
def get_invoice(
    number: Annotated[str, Path(description=NUMBER_DESCRIPTION)],
    session: SessionDep,
    today: TodayDep,
) -> InvoiceDetailOut:
    """The invoice numbered `number` (case-insensitive), with lines and payments."""
    settings = get_settings()
    # The pattern comes from the settings, read per request, so FastAPI cannot check
    # it at import time. ASCII: `\d` means 0-9 here, as in the OpenAPI schema.
    if not re.fullmatch(number_pattern(settings), number, flags=re.ASCII):
        raise unprocessable(
            "path.number",
            f"{number[:40]!r} is not an invoice number (expected "
            f"{settings.invoice_number_pattern}, e.g. G000024135).",
        )
    wanted = number.upper()
    invoice = session.scalars(select(Invoice).where(Invoice.number == wanted)).first()
    if invoice is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No invoice numbered {wanted}.",
        )
    return InvoiceDetailOut.from_invoice(invoice, today=today)
