"""Typed dependencies of the HTTP API: the database session, the service token, and
the rate limit of the public routes.

@router.get("/things")
def list_things(session: SessionDep) -> ...:   # one session per request
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Optional

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.domain.db import get_sessionmaker
from api.settings import get_settings
from common.ratelimit import RateLimit, RateLimiter

_bearer = HTTPBearer(auto_error=False, description="The API service token")


def get_db() -> Iterator[Session]:
    """One session per request, from the one session factory; closed afterwards.

    Routes that write commit explicitly; anything left uncommitted is rolled back.
    """
    session = get_sessionmaker()()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]


def require_service_token(
    credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(_bearer)],
) -> None:
    """Let the request through only with `Authorization: Bearer <API_SERVICE_TOKEN>`.

    Raises:
        HTTPException: 401 when the header is missing, not a bearer token, or the
            token is wrong (compared in constant time).
    """
    expected = get_settings().api_service_token.encode()
    given = credentials.credentials.encode() if credentials else b""
    if not credentials or not hmac.compare_digest(given, expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=(
                "A valid service token is required: "
                "send 'Authorization: Bearer <API_SERVICE_TOKEN>'."
                if credentials is None
                else "The service token is not valid."
            ),
            headers={"WWW-Authenticate": "Bearer"},
        )


ServiceToken = Depends(require_service_token)


RATE_LIMITED = "Too many requests from your address; wait a few seconds and try again."


def _public_limiter(request: Request) -> RateLimiter:
    """The app's limiter of public routes, made on first use from the settings:
    in this process's memory, or in Redis when REDIS_URL is set (shared by the
    API's workers and replicas; `limits` library, common/ratelimit.py)."""
    limiter: Optional[RateLimiter] = getattr(request.app.state, "public_limiter", None)
    if limiter is None:
        settings = get_settings()
        limiter = RateLimiter(
            RateLimit(
                messages=settings.public_rate_limit_requests,
                period_seconds=settings.public_rate_limit_period_seconds,
                burst=settings.public_rate_limit_burst,
            ),
            storage_url=settings.redis_url,
            prefix=settings.redis_key_prefix,
            namespace="public",
        )
        request.app.state.public_limiter = limiter
    return limiter


def public_rate_limit(request: Request) -> None:
    """429 when the client's address is over the limit of the public routes.

    For routes that answer without a token or session. The address is uvicorn's
    view of the client: the connection's peer, or the X-Forwarded-For of a proxy
    named in TRUSTED_PROXIES (`csp-desk serve`), never a header any client can set.
    """
    limiter = _public_limiter(request)
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=RATE_LIMITED,
            headers={"Retry-After": str(limiter.retry_after(client))},
        )


PublicRateLimit = Depends(public_rate_limit)


def get_today() -> date:
    """Today's date, for payment status; tests override it with a fixed date."""
    return date.today()


TodayDep = Annotated[date, Depends(get_today)]
