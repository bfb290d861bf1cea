"""`/api/v1/partners`: the partners and their support and payment profiles."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import select

from api.domain.models import MAX_DB_ID, Partner
from api.web.deps import SessionDep, TodayDep
from api.web.errors import error_responses
from api.web.schemas import PartnerOut, PartnerSummaryOut

router = APIRouter(prefix="/partners", tags=["partners"])


@router.get("", response_model=list[PartnerSummaryOut])
def list_partners(session: SessionDep) -> list[PartnerSummaryOut]:
    """Every partner, by name."""
    partners = session.scalars(select(Partner).order_by(Partner.name, Partner.id))
    return [PartnerSummaryOut.model_validate(partner) for partner in partners]


@router.get(
    "/{partner_id}",
    response_model=PartnerOut,
    responses=error_responses(422, described={404: "No partner has that id."}),
)
def get_partner(
    session: SessionDep, today: TodayDep, partner_id: int = Path(ge=1, le=MAX_DB_ID)
) -> PartnerOut:
    """One partner: support offer, payment policy, entitlements and staff."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No partner with id {partner_id}.",
        )
    return PartnerOut.from_partner(partner, today=today)
