"""The HTTP API: `create_app()` builds it, `app` is what uvicorn serves.

    .venv/bin/python -m api        # serves it on API_HOST:API_PORT

Every error is JSON, `{"error": "<code>", "detail": ...}`: 401 without the service
token, 400 for a NUL character anywhere in the request, 404 for an unknown id, 413
for a body over `MAX_BODY_BYTES`, 422 for a malformed one, 429 over a public route's rate limit, 500 (logged, never a traceback)
for anything unexpected.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Optional

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.dashboard import router as dashboard_router
from api.demo import portal
from api.web import router as api_v1
from api.web.routes import documents, health
from api.widget import routes as widget_routes

logger = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}

# No request of ours needs more: the largest is a ticket (10 000 characters of
# description) or a dashboard correction form.
MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} kB."


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


class BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE)


class NulCharacter(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_400_BAD_REQUEST, NUL_REFUSED)


# A NUL character, raw, URL-encoded or as a JSON escape. No input of ours needs one,
# and PostgreSQL refuses it in text, so it never gets past the door.
_NUL = re.compile(rb"\x00|%00|\\u0000", re.IGNORECASE)
NUL_REFUSED = "The request contains a NUL character, which no field accepts."


class GuardRequests:
    """Refuse, as JSON errors, what no route can handle:

    - bodies over `max_bytes` (413): at once when Content-Length says so, else as
      soon as the streamed body passes the limit (the route then gets BodyTooLarge);
    - NUL characters in the path, the query or the body (400).
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        refusal: Optional[tuple[int, str]] = None
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            refusal = (status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE)
        elif _NUL.search(scope.get("raw_path") or b"") or _NUL.search(
            scope.get("query_string") or b""
        ):
            refusal = (status.HTTP_400_BAD_REQUEST, NUL_REFUSED)
        if refusal is not None:
            code, detail = refusal
            reply = JSONResponse(status_code=code, content=error_body(code, detail))
            await reply(scope, receive, send)
            return
        seen = 0
        tail = b""  # the end of the previous chunk: a match may straddle two

        async def checked() -> Message:
            nonlocal seen, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > self.max_bytes:
                    raise BodyTooLarge()
                if _NUL.search(tail + chunk):
                    raise NulCharacter()
                tail = chunk[-5:]
            return message

        await self.app(scope, checked, send)


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
    app.add_middleware(GuardRequests)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(api_v1.router)
    app.include_router(dashboard_router)
    app.include_router(widget_routes.router)
    app.include_router(portal.router)
    return app


app = create_app()
