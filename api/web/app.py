"""The HTTP API: `create_app()` builds it, `app` is what uvicorn serves.

    .venv/bin/python -m api        # serves it on API_HOST:API_PORT

Every error is JSON, `{"error": "<code>", "detail": ...}` (api/web/errors.py): 401
without the service token, 400 for a NUL character anywhere in the request, 404 for
an unknown id, 413 for a body over `MAX_BODY_BYTES`, 422 for a malformed one (its
`detail` lists each problem), 429 over a public route's rate limit, 500 (logged,
never a traceback) for anything unexpected. Each route documents the statuses it
may answer in the OpenAPI schema, and tests/web/test_schema_fuzz.py holds it to it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Optional

from fastapi import FastAPI, status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.dashboard import router as dashboard_router
from api.demo import portal
from api.settings import get_settings
from api.web import router as api_v1
from api.web.errors import (
    MAX_BODY_BYTES,
    NUL_REFUSED,
    TOO_LARGE,
    error_body,
    error_responses,
    install_error_handlers,
)
from api.web.handoff_worker import Worker
from api.web.router import API_PREFIX
from api.web.routes import docs, documents, health, invoices
from api.widget import routes as widget_routes


class BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE)


class NulCharacter(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_400_BAD_REQUEST, NUL_REFUSED)


# A NUL character, raw, URL-encoded or as a JSON escape. No input of ours needs one,
# and PostgreSQL refuses it in text, so it never gets past the door.
_NUL = re.compile(rb"\x00|%00|\\u0000", re.IGNORECASE)


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


def _document_setting_patterns(app: FastAPI) -> None:
    """Show in the OpenAPI schema the patterns that come from the settings (read
    when the schema is first asked for, like every setting): the invoice number's."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        operation = schema["paths"][f"{API_PREFIX}/invoices/{{number}}"]["get"]
        for parameter in operation["parameters"]:
            if parameter["name"] == "number":
                parameter["schema"]["pattern"] = invoices.number_pattern(get_settings())
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


@asynccontextmanager
async def with_handoff_worker(app: FastAPI) -> AsyncIterator[None]:
    """Run the hand-off worker (api/web/handoff_worker.py) while the app serves."""
    worker = Worker()
    worker.start()
    try:
        yield
    finally:
        await worker.close()


def create_app(*, background: bool = False) -> FastAPI:
    """Build the API. Reads no settings and opens no connection until a request.

    With `background`, the hand-off worker runs while the app is served (the
    served app has it; tests build theirs without).
    """
    app = FastAPI(
        lifespan=with_handoff_worker if background else None,
        title="CSP billing desk API",
        version="0.1.0",
        description=(
            "Partners, customers and invoices of the CSP billing desk. Everything "
            "under /api/v1 needs `Authorization: Bearer <API_SERVICE_TOKEN>`. Every "
            'error is `{"error": <code>, "detail": <sentence>}`; a 422\'s '
            '`detail` is the list of problems, `[{"where", "problem"}]`.'
        ),
        # Served from local files by api/web/routes/docs.py, never from a CDN.
        docs_url=None,
        redoc_url=None,
        # GuardRequests (below) may refuse any request so.
        responses=error_responses(400, 413),
    )
    install_error_handlers(app)
    app.add_middleware(GuardRequests)
    _document_setting_patterns(app)
    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(api_v1.router)
    app.include_router(dashboard_router)
    app.include_router(widget_routes.router)
    app.include_router(portal.router)
    return app


app = create_app(background=True)
