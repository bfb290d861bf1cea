"""`/api/v1`: the one router of the REST API, and its authentication.

Every route under it needs `Authorization: Bearer <API_SERVICE_TOKEN>`
(`ServiceToken`, api/web/deps.py), checked here once for all of them. The public
routes (`/health`, the signed PDF links) are added to the app beside it.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.web.deps import ServiceToken
from api.web.errors import error_responses
from api.web.routes import customers, handoff, invoices, nlu, partners, tickets

API_PREFIX = "/api/v1"

router = APIRouter(
    prefix=API_PREFIX, dependencies=[ServiceToken], responses=error_responses(401)
)
for module in (partners, customers, invoices, tickets, handoff, nlu):
    router.include_router(module.router)
