"""The "Contoso portal": a demo of a partner's customer site with the chat widget.

    GET  /demo/portal             a fake sign-in, then a page that embeds the widget
    POST /demo/portal/sign-in     pick a demo customer (form field `tenant_id`)
    POST /demo/portal/sign-out

Local mode only (404 in production). The demo "session" is a cookie naming the
customer's tenant, signed with itsdangerous under a key derived from
CHAT_TOKEN_SECRET; each page view mints a fresh chat token for that customer, as a
partner's real site would after its own sign-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Form, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, Signer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.domain.db import session_scope
from api.domain.models import Customer
from api.settings import Settings, get_settings
from api.web.deps import PublicRateLimit
from common.identity import mint_customer_token

HERE = Path(__file__).resolve().parent
PORTAL_CSS = HERE / "static" / "portal.css"
DEMO_COOKIE = "contoso_portal"
DEMO_USER_NAME = "Demo user"
COOKIE_SALT = "contoso-portal-demo"

router = APIRouter(tags=["demo"], include_in_schema=False)

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _require_local(settings: Settings) -> None:
    if settings.app_mode == "production":
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND)


def _signer(settings: Settings) -> Signer:
    return Signer(settings.chat_token_secret, salt=COOKIE_SALT)


def sign_cookie(settings: Settings, tenant_id: str) -> str:
    return _signer(settings).sign(tenant_id).decode()


def tenant_from_cookie(settings: Settings, value: Optional[str]) -> Optional[str]:
    """The tenant a demo cookie names, if its signature is ours."""
    if not value:
        return None
    try:
        return _signer(settings).unsign(value).decode()
    except BadSignature:
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


@router.get("/demo/portal")
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


@router.get("/demo/portal.css")
def portal_css() -> FileResponse:
    _require_local(get_settings())
    return FileResponse(PORTAL_CSS, media_type="text/css")


@router.post("/demo/portal/sign-in", dependencies=[PublicRateLimit])
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


@router.post("/demo/portal/sign-out")
def sign_out() -> RedirectResponse:
    _require_local(get_settings())
    redirect = RedirectResponse("/demo/portal", status_code=status.HTTP_303_SEE_OTHER)
    redirect.delete_cookie(DEMO_COOKIE, path="/demo")
    return redirect
