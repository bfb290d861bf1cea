"""The web chat widget and its demo page.

    GET  /widget/widget.js        the widget: one script tag embeds it on any page
    GET  /demo/portal             "Contoso portal": a fake sign-in, then the widget
    POST /demo/portal/sign-in     pick a demo customer (form field `tenant_id`)
    POST /demo/portal/sign-out

`widget.js` is built per request from two files and cached while they are
unchanged: the official Socket.IO browser client, which `scripts/build_widget.sh`
installs from npm into build/widget/ (the widget never loads anything from a CDN),
wrapped so that it defines no global, and api/widget/static/widget.js.

The demo pages exist in local mode only (404 in production). The demo "session" is a
cookie naming the customer's tenant, signed with a key derived from
CHAT_TOKEN_SECRET; each page view mints a fresh chat token for that customer, as a
partner's real site would after its own sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Form, Header, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.db import session_scope
from api.deps import PublicRateLimit
from api.identity import mint_customer_token
from api.models import Customer
from api.settings import ROOT, Settings, get_settings

HERE = Path(__file__).resolve().parent
WIDGET_SOURCE = HERE / "static" / "widget.js"
PORTAL_CSS = HERE / "static" / "portal.css"
SOCKET_IO_CLIENT = ROOT / "build" / "widget" / "socket.io.min.js"
DEMO_COOKIE = "contoso_portal"
DEMO_USER_NAME = "Demo user"
JAVASCRIPT = "application/javascript; charset=utf-8"  # whatever the host page's charset

router = APIRouter(tags=["widget"])

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


# --------------------------------------------------------------------------- widget


@dataclass
class _Bundle:
    key: tuple[float, float]
    body: str
    etag: str


_bundle_cache: dict[str, _Bundle] = {}


def build_widget_js(
    client: Path = SOCKET_IO_CLIENT, source: Path = WIDGET_SOURCE
) -> str:
    """The Socket.IO client, wrapped so it sets no global (its UMD header takes the
    CommonJS branch), then the widget, all inside one function scope."""
    library = client.read_text(encoding="utf-8")
    library = "\n".join(
        line
        for line in library.splitlines()
        if not line.startswith("//# sourceMappingURL")
    )
    widget = source.read_text(encoding="utf-8")
    return (
        "/*! CSP billing desk chat widget. Includes the Socket.IO client (MIT). */\n"
        "(function () {\n"
        "var io = (function () {\n"
        "var module = { exports: {} }, exports = module.exports, define;\n"
        f"{library}\n"
        "return module.exports;\n"
        "})();\n"
        f"{widget}\n"
        "})();\n"
    )


def widget_bundle() -> _Bundle:
    """The bundle, rebuilt when either file changed."""
    key = (SOCKET_IO_CLIENT.stat().st_mtime, WIDGET_SOURCE.stat().st_mtime)
    cached = _bundle_cache.get("widget")
    if cached is None or cached.key != key:
        body = build_widget_js()
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
        cached = _bundle_cache["widget"] = _Bundle(key, body, etag)
    return cached


MISSING_CLIENT_JS = (
    'console.error("chat widget: the socket.io client is not built; '
    'run scripts/build_widget.sh on the server");\n'
)


@router.get("/widget/widget.js", include_in_schema=False)
def widget_js(if_none_match: Annotated[Optional[str], Header()] = None) -> Response:
    """The embeddable widget (JavaScript)."""
    if not SOCKET_IO_CLIENT.exists():
        return Response(
            MISSING_CLIENT_JS,
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            media_type=JAVASCRIPT,
        )
    bundle = widget_bundle()
    headers = {"Cache-Control": "public, max-age=300", "ETag": bundle.etag}
    if if_none_match == bundle.etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(bundle.body, media_type=JAVASCRIPT, headers=headers)


# --------------------------------------------------------------------------- demo


def _require_local(settings: Settings) -> None:
    if settings.app_mode == "production":
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND)


def _cookie_key(settings: Settings) -> bytes:
    return hmac.new(
        settings.chat_token_secret.encode(), b"contoso-portal-demo", hashlib.sha256
    ).digest()


def sign_cookie(settings: Settings, tenant_id: str) -> str:
    mac = hmac.new(_cookie_key(settings), tenant_id.encode(), hashlib.sha256)
    return f"{tenant_id}.{mac.hexdigest()}"


def tenant_from_cookie(settings: Settings, value: Optional[str]) -> Optional[str]:
    """The tenant a demo cookie names, if its signature is ours."""
    if not value or "." not in value:
        return None
    tenant_id, _, _mac = value.rpartition(".")
    if hmac.compare_digest(sign_cookie(settings, tenant_id), value):
        return tenant_id
    return None


def _security_headers(settings: Settings) -> dict[str, str]:
    """A strict CSP: the widget needs no inline script or style, only a connection
    to Rasa's socket.io endpoint."""
    rasa = urlsplit(settings.rasa_url)
    ws_scheme = "wss" if rasa.scheme == "https" else "ws"
    connect = f"'self' {rasa.scheme}://{rasa.netloc} {ws_scheme}://{rasa.netloc}"
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' https: data:; connect-src {connect}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


@router.get("/demo/portal", include_in_schema=False)
def portal(
    contoso_portal: Annotated[Optional[str], Cookie()] = None,
) -> HTMLResponse:
    """The demo customer portal: sign-in form, or the signed-in page with the widget."""
    settings = get_settings()
    _require_local(settings)
    tenant_id = tenant_from_cookie(settings, contoso_portal)
    with session_scope() as session:
        customers = list(
            session.scalars(
                select(Customer)
                .options(selectinload(Customer.partner))
                .order_by(Customer.name)
            )
        )
        customer = next((c for c in customers if c.tenant_id == tenant_id), None)
        token = None
        user_id = ""
        if customer is not None:
            user_id = f"demo.user@{customer.domain}"
            token = mint_customer_token(
                settings.chat_token_secret,
                tenant_id=customer.tenant_id,
                user_id=user_id,
                name=DEMO_USER_NAME,
                email=customer.billing_email,
                ttl_seconds=settings.chat_token_ttl_seconds,
            )
        html = _templates.get_template("portal.html").render(
            customer=customer,
            customers=customers,
            token=token,
            user_id=user_id,
            user_name=DEMO_USER_NAME,
            socket_url=settings.rasa_url,
            widget_url="/widget/widget.js",
            css_url="/demo/portal.css",
            sign_in_url="/demo/portal/sign-in",
            sign_out_url="/demo/portal/sign-out",
        )
    return HTMLResponse(html, headers=_security_headers(settings))


@router.get("/demo/portal.css", include_in_schema=False)
def portal_css() -> FileResponse:
    _require_local(get_settings())
    return FileResponse(PORTAL_CSS, media_type="text/css")


@router.post(
    "/demo/portal/sign-in", include_in_schema=False, dependencies=[PublicRateLimit]
)
def sign_in(tenant_id: Annotated[str, Form(max_length=64)]) -> RedirectResponse:
    """Fake sign-in as a demo customer (any customer in the database)."""
    settings = get_settings()
    _require_local(settings)
    with session_scope() as session:
        customer = session.scalars(
            select(Customer).where(Customer.tenant_id == tenant_id)
        ).first()
        if customer is None:
            raise HTTPException(
                status_code=status.HTTP_404_NOT_FOUND, detail="No such demo customer."
            )
    redirect = RedirectResponse("/demo/portal", status_code=status.HTTP_303_SEE_OTHER)
    redirect.set_cookie(
        DEMO_COOKIE,
        sign_cookie(settings, tenant_id),
        httponly=True,
        samesite="lax",
        path="/demo",
    )
    return redirect


@router.post("/demo/portal/sign-out", include_in_schema=False)
def sign_out() -> RedirectResponse:
    _require_local(get_settings())
    redirect = RedirectResponse("/demo/portal", status_code=status.HTTP_303_SEE_OTHER)
    redirect.delete_cookie(DEMO_COOKIE, path="/demo")
    return redirect
