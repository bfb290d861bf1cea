"""Oversized, binary, malformed-Unicode and injection-shaped input to every API route,
with valid credentials (so the input reaches the code behind the checks): a clear
4xx or an ordinary answer, never a 500, never the input echoed as live HTML.

The channels' inbound endpoints get the same treatment in
tests/bot/channels/test_hostile_inbound.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from fastapi import FastAPI

from tests.security.conftest import LEAD, SERVICE_TOKEN, json_error, signed_in
from tests.security.test_route_access import ACCESS, Access, Kind
from tests.web.conftest import TestClient

# Path segments, already URL-encoded where they must be (`%ff`: invalid UTF-8).
SEGMENTS = [
    "' OR '1'='1' --",
    "1; DROP TABLE invoices",
    "<script>alert(1)</script>",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fapi%2fsettings.py",
    "%00",
    "%ff%fe%fd",
    "%ed%a0%80",  # a UTF-16 surrogate encoded as UTF-8: not valid UTF-8
    "%e2%80%ae%f0%9f%98%80",  # right-to-left override, an emoji
    "9" * 40,
    "-1",
    "0",
    "A" * 5000,
    "{{7*7}}${jndi:ldap://x}",
]
# Query values, the same ideas, URL-encoded as sent.
VALUES = [
    "%27%20OR%201%3D1%20--",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "%ed%b3%bf",  # a lone surrogate as UTF-8: not valid UTF-8
    "%ff",
    "9" * 40,
    "-9" * 20,
    "1e400",
    "B" * 5000,
    "%2F%2Fevil.example%2F..",
]
QUERY_PARAMS: dict[tuple[str, str], list[str]] = {
    ("GET", "/api/v1/customers"): ["partner_id"],
    ("GET", "/api/v1/tickets"): [
        "on_behalf_of",
        "status",
        "partner_id",
        "customer_id",
        "category",
        "severity",
        "assigned_to_id",
        "limit",
        "offset",
    ],
    ("GET", "/api/v1/handoff/{conversation_id}"): ["on_behalf_of"],
    ("GET", "/dashboard/login"): ["next"],
    ("GET", "/dashboard/conversations"): [
        "date_from",
        "partner_id",
        "customer_id",
        "channel",
        "triage",
        "outcome",
        "low_confidence",
        "text",
        "after",
        "before",
    ],
    ("GET", "/dashboard/metrics"): ["date_from", "date_to", "granularity", "topic"],
    ("GET", "/dashboard/metrics.csv"): ["date_from", "partner_id"],
    ("GET", "/documents/invoices/{invoice_id}.pdf"): ["customer", "token"],
}
INJECTION = "'; DROP TABLE tickets; -- <script>alert(1)</script> ../../etc/passwd"
DEEP = "[" * 100_000 + "]" * 100_000


def json_bodies(valid: Any) -> Iterator[tuple[str, bytes]]:
    """(name, raw body) of hostile JSON bodies for a route whose valid body is
    `valid` (a dict)."""
    yield "malformed", b'{"text": "unterminated'
    yield "binary", bytes(range(256)) * 4
    yield "invalid utf-8", b'{"text": "\xff\xfe\xfd"}'
    yield "deeply nested", DEEP.encode()
    yield "array", b"[]"
    yield "null", b"null"
    yield "huge", json.dumps({"text": "x" * (2 * 1024 * 1024)}).encode()
    yield "huge number", json.dumps({**valid, "partner_id": 10**30}).encode()
    yield "float overflow", b'{"partner_id": 1e400}'
    for key, value in valid.items():
        if isinstance(value, str):
            for name, hostile in (
                ("lone surrogate", "\ud800 \udfff"),
                ("nul", "a\x00b"),
                ("injection", INJECTION),
                ("long", "y" * 100_000),
            ):
                body = json.dumps({**valid, key: hostile}).encode()
                yield f"{key}: {name}", body


def check(response: Any, what: str) -> None:
    """Not a crash; a 4xx is a readable JSON error (or a dashboard form shown again
    with its message); nothing echoed as markup."""
    status = response.status_code
    assert status < 500 or status == 503, (what, status, response.text[:300])
    html = response.headers.get("content-type", "").startswith("text/html")
    if html:  # JSON may quote the input; a page must escape it
        assert "<script>alert(1)</script>" not in response.text, what
    if 400 <= status < 500:
        if html:
            assert "<html" in response.text.lower(), (what, status)
        else:
            json_error(response)


@pytest.fixture
def clients(app: FastAPI) -> Iterator[dict[str, Any]]:
    lead, csrf = signed_in(app, LEAD)
    with (
        TestClient(
            app,
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
            raise_server_exceptions=False,
            follow_redirects=False,
        ) as service,
        lead,
    ):
        yield {"service": service, "lead": lead, "csrf": csrf}


def client_for(access: Access, clients: dict[str, Any]) -> Optional[TestClient]:
    if access.kind in (Kind.SERVICE, Kind.SERVICE_FOR_USER, Kind.PUBLIC):
        return clients["service"]
    if access.kind in (Kind.DASHBOARD_PAGE, Kind.DASHBOARD_FORM, Kind.SIGNED_LINK):
        return clients["lead"]
    return None


ROUTES = sorted(
    key
    for key, access in ACCESS.items()
    if access.kind not in (Kind.LOCAL_ONLY, Kind.SIGN_IN_FORM)
    and key != ("POST", "/dashboard/logout")  # would end the session
)


@pytest.mark.parametrize(
    ("method", "route"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES]
)
def test_hostile_path_query_and_body(
    app: FastAPI, clients: dict[str, Any], method: str, route: str
) -> None:
    access = ACCESS[(method, route)]
    client = client_for(access, clients)
    assert client is not None
    form = {**access.form, "csrf_token": clients["csrf"]}

    def send(path: str, **kwargs: Any) -> Any:
        if method == "POST" and access.body is None and "content" not in kwargs:
            kwargs.setdefault("data", form)
        elif access.body is not None and "content" not in kwargs:
            kwargs.setdefault("json", access.body)
        return client.request(method, path, **kwargs)

    # Path parameters.
    template = route.replace("{name:path}", "{name}")
    parameters = [part for part in template.split("/") if "{" in part]
    for segment in SEGMENTS if parameters else []:
        path = template
        for part in parameters:
            start, end = part.index("{"), part.index("}")
            path = path.replace(part, part[:start] + segment + part[end + 1 :])
        check(send(path), f"{method} {path[:80]}")

    # Query parameters.
    path = access.path or route
    for name in QUERY_PARAMS.get((method, route), []):
        for value in VALUES:
            url = f"{path}?{name}={value}"
            check(send(url), f"{method} {url[:100]}")

    # JSON bodies.
    if access.body is not None:
        for what, raw in json_bodies(access.body):
            reply = send(
                path, content=raw, headers={"Content-Type": "application/json"}
            )
            check(reply, f"{method} {path} {what}")
            assert reply.status_code in (400, 413, 422) or what.endswith("injection"), (
                what,
                reply.status_code,
                reply.text[:200],
            )

    # Form bodies.
    if method == "POST" and access.body is None:
        for what, raw in (
            ("binary", bytes(range(256)) * 4),
            ("invalid utf-8", b"intent=%ff%fe&annotated_text=%ed%a0%80&csrf_token="),
            ("huge", b"annotated_text=" + b"z" * (2 * 1024 * 1024)),
        ):
            reply = send(
                path,
                content=raw,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            check(reply, f"{method} {path} form {what}")
        for field in ("intent", "annotated_text", "confirm"):
            for value in (INJECTION, "\x00", "w" * 100_000):
                check(
                    send(path, data={**form, field: value}),
                    f"{method} {path} {field}={value!r:.30}",
                )


@pytest.mark.parametrize(
    "request_line",
    [
        ("GET", "/api/v1/invoices/G00%002410"),
        ("GET", "/api/v1/tickets?status=new%00"),
        ("GET", "/dashboard/conversations?text=a%00b"),
        ("POST", "/api/v1/tickets", b'{"summary": "a\\u0000b"}'),
        ("POST", "/dashboard/login", b"email=a%00@b.example&password=x"),
    ],
)
def test_nul_characters_never_get_in(
    clients: dict[str, Any], request_line: tuple[Any, ...]
) -> None:
    method, url, *body = request_line
    kind = (
        "application/json" if "tickets" in url else "application/x-www-form-urlencoded"
    )
    reply = clients["service"].request(
        method, url, content=body[0] if body else None, headers={"Content-Type": kind}
    )
    assert reply.status_code == 400
    assert "NUL" in json_error(reply)["detail"]


def test_an_oversized_body_is_refused_before_it_is_read(
    clients: dict[str, Any],
) -> None:
    reply = clients["service"].post(
        "/api/v1/tickets",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "99999999"},
    )
    assert reply.status_code == 413
    assert "larger than" in json_error(reply)["detail"]


def test_a_streamed_oversized_body_is_refused(clients: dict[str, Any]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    reply = clients["service"].post(
        "/api/v1/nlu/classify",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 413, reply.text[:200]
    json_error(reply)
