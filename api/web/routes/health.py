"""`GET /health`: is the API up, and can it reach its database? No auth."""

from __future__ import annotations

import logging

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.web.deps import SessionDep
from api.web.schemas import HealthOut

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database is down"}},
)
def health(session: SessionDep) -> HealthOut | JSONResponse:
    """`{"status": "ok", "database": "ok"}`, or 503 when `SELECT 1` fails."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        logger.exception("health check: the database does not answer")
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"status": "error", "database": "unavailable"},
        )
    return HealthOut(status="ok", database="ok")
