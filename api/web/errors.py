"""Errors of the HTTP API: one JSON envelope, the handlers that produce it, and the
`responses=` that document it on every route.

Every error is `{"error": "<code>", "detail": ...}` (`ErrorOut`, api/web/schemas.py):
`detail` is a sentence, except for 422, where it is always the list of problems,
`[{"where": "body.summary", "problem": "..."}]` (`ValidationErrorOut`), whether
pydantic found them or a route did.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.web.schemas import ErrorOut, FieldProblem, ValidationErrorOut

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
NUL_REFUSED = "The request contains a NUL character, which no field accepts."
UNEXPECTED = "An unexpected error occurred; it has been logged."

# What each status means when a route says nothing more precise.
DESCRIPTIONS = {
    400: "The path, query or body holds a NUL character, which no field accepts.",
    401: "The service token is missing or wrong "
    "(send `Authorization: Bearer <API_SERVICE_TOKEN>`).",
    403: "The partner user named by `on_behalf_of` may not do this.",
    404: "Nothing with that id.",
    409: "The request conflicts with the resource's current state.",
    413: TOO_LARGE,
    422: "The request is not valid; `detail` lists each problem and where it is.",
    429: "Too many requests from this address; wait `Retry-After` seconds.",
    503: "A service this route needs is not available; try again shortly.",
}
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"schema": {"type": "string"}}},
}


def error_responses(
    *codes: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer with these error statuses (and
    those in `described`, with the route's own wording)."""
    described = dict(described or {})
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *described}):
        entry: dict[str, Any] = {
            "model": ValidationErrorOut if code == 422 else ErrorOut,
            "description": described.get(code, DESCRIPTIONS.get(code, "")),
        }
        if code in HEADERS:
            entry["headers"] = HEADERS[code]
        documented[code] = entry
    return documented


def error_body(status_code: int, detail: object) -> dict[str, object]:
    """The JSON body of every error response."""
    if status_code == 422 and not isinstance(detail, list):
        # A route's own 422 without a field: the request as a whole.
        detail = [FieldProblem(where="body", problem=str(detail)).model_dump()]
    return {
        "error": ERROR_CODES.get(status_code, f"http_{status_code}"),
        "detail": detail,
    }


def unprocessable(where: str, problem: str) -> HTTPException:
    """A 422 for one field that pydantic could not check (the database must)."""
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[FieldProblem(where=where, problem=problem).model_dump()],
    )


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


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        FieldProblem(where=_where(tuple(error.get("loc", ()))), problem=error["msg"])
        for error in exc.errors()
    ]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content=error_body(422, [problem.model_dump() for problem in problems]),
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"error": "internal_error", "detail": UNEXPECTED},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of `app` the JSON envelope, 500 included (logged, never a
    traceback in the response)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
