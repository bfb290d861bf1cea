"""Every route of the API needs the right credential: one table, checked against
the routes `create_app()` actually serves.

A route missing from ACCESS fails `test_every_route_is_in_the_table`: whoever adds
a route says here who may call it. For each route, `test_access` then sends the
request with no credential and with wrong ones (a wrong bearer token, a made-up or
the other kind of credential, a forged link, a missing CSRF token) and expects a
refusal; where roles exist, a too-weak role gets 403; and with the right credential
the request is not refused (so the refusals above are about the credential).

Kinds of credential:

| kind | what | refused with |
|---|---|---|
| PUBLIC | nothing (health, docs, widget, static files, sign-in page) | - |
| LOCAL_ONLY | nothing, local mode only (the demo portal) | 404 in production |
| SERVICE | `Authorization: Bearer <API_SERVICE_TOKEN>` | 401 |
| SERVICE_FOR_USER | the service token, and `on_behalf_of` a partner user whose role has the capability | 401; 403 for a weak role or an inactive user |
| DASHBOARD_PAGE | a dashboard session whose role has the permission | 303 to the sign-in page; 403 for a weak role |
| DASHBOARD_FORM | a session, its CSRF token, the permission | 401; 403 without CSRF or for a weak role |
| SIGN_IN_FORM | the sign-in form's double-submit CSRF cookie | 403 |
| SIGNED_LINK | an HMAC-signed, unexpired download link | 403 |

No API route takes a customer's chat token: those go to the chat channels
(bot/channels/, tested in tests/bot/channels/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from api.dashboard.auth import SESSION_COOKIE
from api.documents.links import invoice_pdf_link
from api.domain.db import get_sessionmaker
from api.domain.models import Invoice, PartnerRole, PartnerUser
from api.settings import get_settings
from tests.security.conftest import ADMIN, LEAD, SERVICE_TOKEN, signed_in
from tests.web.conftest import TestClient


class Kind(Enum):
    PUBLIC = "public"
    LOCAL_ONLY = "public, local mode only"
    SERVICE = "service token"
    SERVICE_FOR_USER = "service token + on_behalf_of role"
    DASHBOARD_PAGE = "dashboard session (page)"
    DASHBOARD_FORM = "dashboard session + CSRF (form)"
    SIGN_IN_FORM = "sign-in form CSRF"
    SIGNED_LINK = "signed link"


@dataclass(frozen=True)
class Access:
    kind: Kind
    path: Optional[str] = None  # a concrete path, when the route has parameters
    body: Any = None  # a valid JSON body (validation runs before role checks)
    form: dict[str, str] = field(default_factory=dict)
    needs_admin: bool = False  # a dashboard lead's role is too weak


TICKET = {
    "partner_id": 1,
    "category": "commercial",
    "summary": "Security test",
    "description": "Filed by the route access test.",
}

# fmt: off
ACCESS: dict[tuple[str, str], Access] = {
    # public
    ("GET", "/health"): Access(Kind.PUBLIC),
    ("GET", "/openapi.json"): Access(Kind.PUBLIC),
    ("GET", "/docs"): Access(Kind.PUBLIC),
    ("GET", "/docs/static/{name}"): Access(Kind.PUBLIC, "/docs/static/favicon.png"),
    ("GET", "/redoc"): Access(Kind.PUBLIC),
    ("GET", "/widget/widget.js"): Access(Kind.PUBLIC),
    ("GET", "/dashboard"): Access(Kind.PUBLIC),
    ("GET", "/dashboard/"): Access(Kind.PUBLIC),
    ("GET", "/dashboard/login"): Access(Kind.PUBLIC),
    ("GET", "/dashboard/static/{name:path}"): Access(Kind.PUBLIC, "/dashboard/static/dashboard.css"),
    ("GET", "/demo/portal"): Access(Kind.LOCAL_ONLY),
    ("GET", "/demo/portal.css"): Access(Kind.LOCAL_ONLY),
    ("POST", "/demo/portal/sign-in"): Access(Kind.LOCAL_ONLY, form={"tenant_id": "nobody"}),
    ("POST", "/demo/portal/sign-out"): Access(Kind.LOCAL_ONLY),
    # the service token
    ("GET", "/api/v1/partners"): Access(Kind.SERVICE),
    ("GET", "/api/v1/partners/{partner_id}"): Access(Kind.SERVICE, "/api/v1/partners/1"),
    ("GET", "/api/v1/customers"): Access(Kind.SERVICE),
    ("GET", "/api/v1/customers/{customer_id}"): Access(Kind.SERVICE, "/api/v1/customers/1"),
    ("GET", "/api/v1/customers/{customer_id}/invoices"): Access(Kind.SERVICE, "/api/v1/customers/1/invoices"),
    ("GET", "/api/v1/invoices/{number}"): Access(Kind.SERVICE, "/api/v1/invoices/G000024101"),
    ("POST", "/api/v1/nlu/classify"): Access(Kind.SERVICE, body={"text": "where is my invoice"}),
    ("GET", "/api/v1/nlu/taxonomy"): Access(Kind.SERVICE),
    # the service token, acting for a partner user
    ("POST", "/api/v1/tickets"): Access(Kind.SERVICE_FOR_USER, body=TICKET),
    ("GET", "/api/v1/tickets"): Access(Kind.SERVICE_FOR_USER),
    ("GET", "/api/v1/tickets/{ticket_id}"): Access(Kind.SERVICE_FOR_USER, "/api/v1/tickets/CSP-000001"),
    ("PATCH", "/api/v1/tickets/{ticket_id}"): Access(Kind.SERVICE_FOR_USER, "/api/v1/tickets/CSP-000001", body={}),
    ("POST", "/api/v1/tickets/{ticket_id}/assign"): Access(Kind.SERVICE_FOR_USER, "/api/v1/tickets/CSP-000001/assign", body={"partner_user_id": None}),
    ("POST", "/api/v1/tickets/{ticket_id}/microsoft"): Access(Kind.SERVICE_FOR_USER, "/api/v1/tickets/CSP-000001/microsoft", body={}),
    ("GET", "/api/v1/handoff/{conversation_id}"): Access(Kind.SERVICE_FOR_USER, "/api/v1/handoff/conv-1"),
    ("POST", "/api/v1/handoff/{conversation_id}/messages"): Access(Kind.SERVICE_FOR_USER, "/api/v1/handoff/conv-1/messages", body={"text": "Hello", "agent": "Sam"}),
    ("POST", "/api/v1/handoff/{conversation_id}/resume"): Access(Kind.SERVICE_FOR_USER, "/api/v1/handoff/conv-1/resume"),
    ("POST", "/api/v1/handoff/{conversation_id}/ticket"): Access(Kind.SERVICE, "/api/v1/handoff/conv-1/ticket"),
    ("POST", "/api/v1/handoff/threads/{platform}"): Access(Kind.SERVICE, "/api/v1/handoff/threads/slack", body={"channel": "C1", "thread": "1.2", "user_id": "U1", "text": "Hello"}),
    # the review dashboard
    ("POST", "/dashboard/login"): Access(Kind.SIGN_IN_FORM),
    ("POST", "/dashboard/logout"): Access(Kind.DASHBOARD_FORM),
    ("GET", "/dashboard/conversations"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/conversations/{conversation_id}"): Access(Kind.DASHBOARD_PAGE, "/dashboard/conversations/1"),
    ("POST", "/dashboard/conversations/{conversation_id}/turns/{event_id}/correction"): Access(Kind.DASHBOARD_FORM, "/dashboard/conversations/1/turns/1/correction", form={"intent": "greet"}),
    ("POST", "/dashboard/conversations/{conversation_id}/delete"): Access(Kind.DASHBOARD_FORM, "/dashboard/conversations/1/delete", form={"confirm": "yes"}, needs_admin=True),
    ("GET", "/dashboard/corrections"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/corrections/export.yml"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/metrics"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/metrics.csv"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/webhooks"): Access(Kind.DASHBOARD_PAGE),
    ("POST", "/dashboard/webhooks/{delivery_id}/replay"): Access(Kind.DASHBOARD_FORM, "/dashboard/webhooks/1/replay", needs_admin=True),
    # the agent's seat (leads may answer chats too)
    ("GET", "/dashboard/inbox"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/inbox/events"): Access(Kind.DASHBOARD_PAGE),
    ("GET", "/dashboard/handoffs/{handoff_id}"): Access(Kind.DASHBOARD_PAGE, "/dashboard/handoffs/1"),
    ("GET", "/dashboard/handoffs/{handoff_id}/events"): Access(Kind.DASHBOARD_PAGE, "/dashboard/handoffs/1/events"),
    ("POST", "/dashboard/handoffs/{handoff_id}/claim"): Access(Kind.DASHBOARD_FORM, "/dashboard/handoffs/1/claim"),
    ("POST", "/dashboard/handoffs/{handoff_id}/messages"): Access(Kind.DASHBOARD_FORM, "/dashboard/handoffs/1/messages", form={"text": "Hello"}),
    ("POST", "/dashboard/handoffs/{handoff_id}/release"): Access(Kind.DASHBOARD_FORM, "/dashboard/handoffs/1/release"),
    ("POST", "/dashboard/handoffs/{handoff_id}/close"): Access(Kind.DASHBOARD_FORM, "/dashboard/handoffs/1/close"),
    # signed links
    ("GET", "/documents/invoices/{invoice_id}.pdf"): Access(Kind.SIGNED_LINK, "/documents/invoices/1.pdf"),
}
# fmt: on

STRONG_USER, WEAK_USER, INACTIVE_USER = 1, 5, 15  # demo partner users, checked below
REFUSED = {401, 403}


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD comes with GET)."""
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, str(route.path)))
    return found


def test_every_route_is_in_the_table() -> None:
    from api.web.app import create_app

    served = served_routes(create_app())
    missing = sorted(served - ACCESS.keys())
    assert not missing, f"routes with no access rule in ACCESS: {missing}"
    gone = sorted(ACCESS.keys() - served)
    assert not gone, f"ACCESS names routes the app no longer serves: {gone}"


def test_the_demo_users_have_the_roles_the_table_relies_on(seeded_db: Any) -> None:
    with get_sessionmaker()() as session:
        strong, weak, inactive = (
            session.get(PartnerUser, i) for i in (STRONG_USER, WEAK_USER, INACTIVE_USER)
        )
        assert strong and strong.active and strong.partner_id == TICKET["partner_id"]
        assert strong.role is PartnerRole.GLOBAL_ADMIN
        assert weak and weak.active and weak.role is PartnerRole.SALES_AGENT
        assert inactive and not inactive.active


# --------------------------------------------------------------------------- helpers


def call(
    client: TestClient,
    method: str,
    path: str,
    access: Access,
    *,
    headers: Optional[dict[str, str]] = None,
    params: Optional[dict[str, Any]] = None,
    form: Optional[dict[str, str]] = None,
) -> Any:
    kwargs: dict[str, Any] = {"headers": headers or {}, "params": params or {}}
    if access.body is not None:
        kwargs["json"] = access.body
    elif method == "POST" and (form is not None or access.form):
        kwargs["data"] = {**access.form, **(form or {})}
    return client.request(method, path, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_sign_in_redirect(response: Any) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith(
        "/dashboard/login?next="
    )


def refused(response: Any) -> bool:
    return response.status_code in REFUSED or is_sign_in_redirect(response)


def assert_refused(response: Any, *codes: int) -> None:
    assert response.status_code in (codes or REFUSED), (
        response.status_code,
        response.text[:300],
    )
    body = response.json()
    assert body["error"] in {"unauthorized", "forbidden"} and body["detail"], body
    assert SERVICE_TOKEN not in response.text


def assert_allowed(response: Any) -> None:
    assert not refused(response), (response.status_code, response.text[:300])
    # 503: the routes that need Rasa, which these tests keep unreachable.
    assert response.status_code < 500 or response.status_code == 503, (
        response.status_code,
        response.text[:300],
    )


def pdf_link() -> str:
    with get_sessionmaker()() as session:
        invoice = session.scalars(select(Invoice).order_by(Invoice.id)).first()
        assert invoice is not None
        url = urlsplit(
            invoice_pdf_link(invoice_id=invoice.id, customer_id=invoice.customer_id).url
        )
        return f"{url.path}?{url.query}"


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize(
    ("method", "route"), sorted(ACCESS), ids=[f"{m} {p}" for m, p in sorted(ACCESS)]
)
def test_access(
    app: FastAPI,
    anonymous: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    route: str,
) -> None:
    access = ACCESS[(method, route)]
    path = access.path or route
    monkeypatch.setattr("api.dashboard.seat.STREAM_SECONDS", 0.2)  # live streams end
    assert "{" not in path, f"give ACCESS[{method} {route}] a concrete path"
    kind = access.kind

    if kind is Kind.PUBLIC:
        assert_allowed(call(anonymous, method, path, access))

    elif kind is Kind.LOCAL_ONLY:
        assert_allowed(call(anonymous, method, path, access))
        # Production settings as the demo routes see them (a real production
        # configuration also needs PostgreSQL, which these tests do not have).
        production = get_settings().model_copy(update={"app_mode": "production"})
        monkeypatch.setattr("api.demo.portal.get_settings", lambda: production)
        assert call(anonymous, method, path, access).status_code == 404

    elif kind in (Kind.SERVICE, Kind.SERVICE_FOR_USER):
        assert_refused(call(anonymous, method, path, access), 401)
        for wrong in (
            bearer("wrong-token"),
            bearer(SERVICE_TOKEN + "x"),
            {"Authorization": f"Basic {SERVICE_TOKEN}"},
            {"Authorization": SERVICE_TOKEN},
            {"X-Api-Key": SERVICE_TOKEN},
            {"X-Partner-User": str(STRONG_USER)},
        ):
            assert_refused(call(anonymous, method, path, access, headers=wrong), 401)
        # A dashboard session is not a service credential.
        lead, _csrf = signed_in(app, LEAD)
        with lead:
            assert_refused(call(lead, method, path, access), 401)
        assert_allowed(
            call(anonymous, method, path, access, headers=bearer(SERVICE_TOKEN))
        )
        if kind is Kind.SERVICE_FOR_USER:
            for user in (WEAK_USER, INACTIVE_USER):
                weak = call(
                    anonymous,
                    method,
                    path,
                    access,
                    headers=bearer(SERVICE_TOKEN),
                    params={"on_behalf_of": user},
                )
                assert_refused(weak, 403)
            # on_behalf_of without the token is still nothing.
            assert_refused(
                call(
                    anonymous,
                    method,
                    path,
                    access,
                    params={"on_behalf_of": STRONG_USER},
                ),
                401,
            )
            assert_allowed(
                call(
                    anonymous,
                    method,
                    path,
                    access,
                    headers=bearer(SERVICE_TOKEN),
                    params={"on_behalf_of": STRONG_USER},
                )
            )

    elif kind is Kind.DASHBOARD_PAGE:
        for cookies in ({}, {SESSION_COOKIE: "made-up-session-token"}):
            anonymous.cookies.clear()
            anonymous.cookies.update(cookies)
            assert is_sign_in_redirect(call(anonymous, method, path, access))
        anonymous.cookies.clear()
        # The service token is not a dashboard credential.
        answer = call(anonymous, method, path, access, headers=bearer(SERVICE_TOKEN))
        assert is_sign_in_redirect(answer)
        lead, _csrf = signed_in(app, LEAD)
        with lead:
            assert_allowed(call(lead, method, path, access))

    elif kind is Kind.DASHBOARD_FORM:
        for cookies in ({}, {SESSION_COOKIE: "made-up-session-token"}):
            anonymous.cookies.clear()
            anonymous.cookies.update(cookies)
            assert_refused(call(anonymous, method, path, access, form={}), 401)
        anonymous.cookies.clear()
        assert_refused(
            call(anonymous, method, path, access, headers=bearer(SERVICE_TOKEN)), 401
        )
        lead, lead_csrf = signed_in(app, LEAD)
        admin, admin_csrf = signed_in(app, ADMIN)
        with lead, admin:
            for csrf in ("", "not-the-token", admin_csrf):  # another session's token
                assert_refused(
                    call(lead, method, path, access, form={"csrf_token": csrf}), 403
                )
            as_lead = call(lead, method, path, access, form={"csrf_token": lead_csrf})
            if access.needs_admin:
                assert_refused(as_lead, 403)
                assert_allowed(
                    call(admin, method, path, access, form={"csrf_token": admin_csrf})
                )
            else:
                assert_allowed(as_lead)

    elif kind is Kind.SIGN_IN_FORM:
        form = {"email": LEAD[0], "password": LEAD[1]}
        assert_refused(call(anonymous, method, path, access, form=form), 403)
        anonymous.cookies.set(
            "csp_dashboard_login_csrf", "cookie-token", path="/dashboard"
        )
        assert_refused(
            call(anonymous, method, path, access, form={**form, "csrf_token": "other"}),
            403,
        )
        signed = call(
            anonymous, method, path, access, form={**form, "csrf_token": "cookie-token"}
        )
        assert signed.status_code == 303 and signed.headers["location"].startswith(
            "/dashboard/conversations"
        )

    elif kind is Kind.SIGNED_LINK:
        link = pdf_link()
        assert anonymous.get(link).status_code == 200
        bare = re.sub(r"\?.*", "", link)
        assert_refused(anonymous.get(bare), 403)
        token = link.split("token=")[1]
        forged = link.replace(
            token, token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB")
        )
        assert_refused(anonymous.get(forged), 403)
        # Neither the service token nor a dashboard session stands in for a link.
        assert_refused(anonymous.get(forged, headers=bearer(SERVICE_TOKEN)), 403)
        lead, _csrf = signed_in(app, LEAD)
        with lead:
            assert_refused(lead.get(forged), 403)

    else:  # pragma: no cover - a new Kind needs its checks here
        raise AssertionError(f"no checks for {kind}")
