"""The HTTP API: `create_app()` builds it, `app` is what uvicorn serves.

    .venv/bin/python -m api        # serves it on API_HOST:API_PORT

Every error is JSON, `{"error": "<code>", "detail": ...}`: 401 without the service
token, 404 for an unknown id, 422 for a malformed one, 500 (logged, never a
traceback) for anything unexpected.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.dashboard import router as dashboard_router
from api.routes import customers, documents, health, invoices, partners
from api.routes import handoff as handoff_routes
from api.routes import tickets as ticket_routes
from api.widget import routes as widget_routes

logger = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    503: "unavailable",
}


def error_body(status_code: int, detail: object) -> dict[str, object]:
    """The JSON body of every error response."""
    return {
        "error": ERROR_CODES.get(status_code, f"http_{status_code}"),
        "detail": detail,
    }


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if detail is None or detail == HTTPStatus(exc.status_code).phrase:
        detail = {
            404: f"Nothing at {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(exc.status_code, HTTPStatus(exc.status_code).phrase)
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(exc.status_code, detail),
        headers=getattr(exc, "headers", None),
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "where": ".".join(str(part) for part in error.get("loc", ())),
            "problem": error.get("msg", "invalid"),
        }
        for error in exc.errors()
    ]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content=error_body(422, fields),
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={
            "error": "internal_error",
            "detail": "An unexpected error occurred; it has been logged.",
        },
    )


def create_app() -> FastAPI:
    """Build the API. Reads no settings and opens no connection until a request."""
    app = FastAPI(
        title="CSP billing desk API",
        version="0.1.0",
        description=(
            "Partners, customers and invoices of the CSP billing desk. Everything "
            "under /api/v1 needs `Authorization: Bearer <API_SERVICE_TOKEN>`."
        ),
    )
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(health.router)
    app.include_router(partners.router)
    app.include_router(customers.router)
    app.include_router(invoices.router)
    app.include_router(documents.router)
    app.include_router(ticket_routes.router)
    app.include_router(handoff_routes.router)
    app.include_router(dashboard_router)
    app.include_router(widget_routes.router)
    return app


app = create_app()
