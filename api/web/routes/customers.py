"""`/api/v1/customers`: customers, their subscriptions and their invoices."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import select

from api.domain.models import MAX_DB_ID, Customer, Invoice, Partner
from api.web.deps import SessionDep, TodayDep
from api.web.errors import error_responses
from api.web.schemas import CustomerDetailOut, CustomerOut, InvoiceOut

router = APIRouter(prefix="/customers", tags=["customers"])
NO_CUSTOMER = "No customer has that id."


def _customer_or_404(session: SessionDep, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No customer with id {customer_id}.",
        )
    return customer


@router.get(
    "",
    response_model=list[CustomerOut],
    responses=error_responses(422, described={404: "No partner has that id."}),
)
def list_customers(
    session: SessionDep,
    partner_id: Optional[int] = Query(
        default=None, ge=1, le=MAX_DB_ID, description="Only this partner's customers"
    ),
) -> list[CustomerOut]:
    """Every customer (or one partner's), by name."""
    query = select(Customer).order_by(Customer.name, Customer.id)
    if partner_id is not None:
        if session.get(Partner, partner_id) is None:
            raise HTTPException(
                status_code=status.HTTP_404_NOT_FOUND,
                detail=f"No partner with id {partner_id}.",
            )
        query = query.where(Customer.partner_id == partner_id)
    return [CustomerOut.model_validate(c) for c in session.scalars(query)]


@router.get(
    "/{customer_id}",
    response_model=CustomerDetailOut,
    responses=error_responses(422, described={404: NO_CUSTOMER}),
)
def get_customer(
    session: SessionDep, customer_id: int = Path(ge=1, le=MAX_DB_ID)
) -> CustomerDetailOut:
    """One customer, with its subscriptions."""
    return CustomerDetailOut.model_validate(_customer_or_404(session, customer_id))


@router.get(
    "/{customer_id}/invoices",
    response_model=list[InvoiceOut],
    responses=error_responses(422, described={404: NO_CUSTOMER}),
)
def list_customer_invoices(
    session: SessionDep, today: TodayDep, customer_id: int = Path(ge=1, le=MAX_DB_ID)
) -> list[InvoiceOut]:
    """The customer's invoices and credit notes, newest first."""
    customer = _customer_or_404(session, customer_id)
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer.id)
        .order_by(Invoice.invoice_date.desc(), Invoice.id.desc())
    )
    return [InvoiceOut.from_invoice(invoice, today=today) for invoice in invoices]
