"""`/docs` (Swagger UI) and `/redoc` (ReDoc): the API's documentation pages.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, the favicon from FastAPI's
site and ReDoc's fonts from Google, so they are blank on a machine without internet
access. These are the same pages with every file served from here, under
`/docs/static/`, from the npm-locked build (api/frontend.py). No auth: the schema
they show is public (`/openapi.json`); calling the API still needs the token.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.frontend import BUILD_COMMAND, DOCS_ASSETS, static_file

STATIC = "/docs/static"
# Swagger UI would send the schema's URL to validator.swagger.io for its badge on
# any host but localhost.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# The browser may fetch nothing but from here, whatever a later version of either
# library adds: ReDoc 2 draws its attribution logo from Redocly's CDN, which this
# blocks before any request leaves. Inline script and style stay allowed: FastAPI's
# page starts Swagger UI with an inline script, ReDoc injects its styles, and these
# pages show no user-supplied content.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


def _openapi_url(request: Request) -> str:
    root_path = request.scope.get("root_path", "").rstrip("/")
    return root_path + (request.app.openapi_url or "/openapi.json")


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the API's schema."""
    return _confined(
        get_swagger_ui_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} - Swagger UI",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the API's schema, with the browser's own fonts."""
    return _confined(
        get_redoc_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} - ReDoc",
            redoc_js_url=f"{STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC}/favicon.png",
            with_google_fonts=False,
        )
    )


@router.get(STATIC + "/{name}")
def asset(name: str) -> Response:
    """A file of Swagger UI or ReDoc; only those listed in api/frontend.py."""
    path = DOCS_ASSETS.get(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No file {name!r} here.")
    if not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{name} is not built; run {BUILD_COMMAND}."
        )
    return static_file(path)
