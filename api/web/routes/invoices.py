"""`/api/v1/invoices/{number}`: one invoice or credit note, with its lines."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from api.domain.models import Invoice
from api.settings import get_settings
from api.web.deps import SessionDep, TodayDep
from api.web.schemas import InvoiceDetailOut

router = APIRouter(prefix="/invoices", tags=["invoices"])


@router.get("/{number}", response_model=InvoiceDetailOut)
def get_invoice(number: str, session: SessionDep, today: TodayDep) -> InvoiceDetailOut:
    """The invoice numbered `number` (case-insensitive), with lines and payments."""
    wanted = number.strip().upper()
    pattern = get_settings().invoice_number_pattern
    if not re.fullmatch(pattern, wanted):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{number!r} is not an invoice number (expected {pattern}, "
            "e.g. G000024135).",
        )
    invoice = session.scalars(select(Invoice).where(Invoice.number == wanted)).first()
    if invoice is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No invoice numbered {wanted}.",
        )
    return InvoiceDetailOut.from_invoice(invoice, today=today)
