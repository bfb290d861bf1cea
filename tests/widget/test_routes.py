"""The widget's HTTP routes: the bundled script and the "Contoso portal" demo."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.demo import portal
from api.demo.seed import DemoSummary
from api.domain.db import session_scope
from api.domain.models import Customer
from api.settings import get_settings
from api.web.app import create_app
from api.widget import routes
from common.identity import verify_chat_token
from tests.conftest import reset_caches


@pytest.fixture
def client(seeded_db: DemoSummary) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def socket_io_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for build/frontend/socket.io.min.js, with its UMD header."""
    fake = tmp_path / "socket.io.min.js"
    fake.write_text(
        '!function(t,n){"object"==typeof exports&&"undefined"!=typeof module?'
        "module.exports=n():t.io=n()}(this,(function(){return function io(){}}));\n"
        "//# sourceMappingURL=socket.io.min.js.map\n"
    )
    monkeypatch.setattr(routes, "SOCKET_IO_CLIENT", fake)
    return fake


def contoso() -> Customer:
    with session_scope() as session:
        customer = session.scalars(
            select(Customer).where(Customer.domain == "contoso.com")
        ).one()
        session.expunge(customer)
        return customer


def test_widget_js_bundles_the_client_without_a_global(
    client: TestClient, socket_io_client: Path
) -> None:
    reply = client.get("/widget/widget.js")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/javascript")
    body = reply.text
    assert "module.exports=n()" in body  # the client, in a CommonJS-style wrapper
    assert "var module = { exports: {} }" in body
    assert "window.CSPChat" in body  # the widget
    assert "sourceMappingURL" not in body
    assert not re.search(r"https?://[^\s\"']*(cdn|unpkg|jsdelivr)", body)
    etag = reply.headers["etag"]
    again = client.get("/widget/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.skipif(
    not (shutil.which("node") and routes.SOCKET_IO_CLIENT.exists()),
    reason="needs node and the built socket.io client (scripts/build_frontend.sh)",
)
def test_the_real_bundle_runs_and_defines_no_globals_but_its_api() -> None:
    script = """
    const vm = require("vm"), fs = require("fs");
    const code = fs.readFileSync(0, "utf8");
    const sandbox = { console, setTimeout, clearTimeout };
    sandbox.window = sandbox; sandbox.self = sandbox; sandbox.globalThis = sandbox;
    sandbox.document = { currentScript: null };
    const before = new Set(Object.keys(sandbox));
    vm.runInNewContext(code, sandbox);
    const added = Object.keys(sandbox).filter((k) => !before.has(k));
    console.log(JSON.stringify(added));
    """
    result = subprocess.run(
        ["node", "-e", script],
        input=routes.build_widget_js(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == []  # no `io`, and no widget without a tag


def test_widget_js_says_when_the_client_is_not_built(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "SOCKET_IO_CLIENT", tmp_path / "missing.js")
    reply = client.get("/widget/widget.js")
    assert reply.status_code == 503
    assert "scripts/build_frontend.sh" in reply.text


def test_the_portal_lists_demo_customers_until_sign_in(client: TestClient) -> None:
    page = client.get("/demo/portal")
    assert page.status_code == 200
    assert "Contoso portal" in page.text
    assert 'name="tenant_id"' in page.text
    assert "Contoso Ltd (contoso.com)" in page.text
    assert "data-token" not in page.text  # anonymous: the widget without a token
    assert 'src="/widget/widget.js"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert get_settings().rasa_url.replace("http://", "ws://") in csp


def test_sign_in_mints_a_chat_token_for_the_customers_tenant(
    client: TestClient,
) -> None:
    customer = contoso()
    signed_in = client.post(
        "/demo/portal/sign-in",
        data={"tenant_id": customer.tenant_id},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/demo/portal"
    page = client.get("/demo/portal")
    assert "Welcome back, Contoso Ltd" in page.text
    match = re.search(r'data-token="([^"]+)"', page.text)
    assert match, page.text
    identity = verify_chat_token(get_settings().chat_token_secret, match.group(1))
    assert identity.kind == "customer"
    assert identity.tenant_id == customer.tenant_id
    assert identity.subject == "demo.user@contoso.com"
    assert f'data-socket-url="{get_settings().rasa_url}"' in page.text

    client.post("/demo/portal/sign-out")
    assert "data-token" not in client.get("/demo/portal").text


def test_a_forged_demo_cookie_signs_nobody_in(client: TestClient) -> None:
    customer = contoso()
    client.cookies.set(
        portal.DEMO_COOKIE, f"{customer.tenant_id}.{'0' * 27}", path="/demo"
    )
    page = client.get("/demo/portal")
    assert "data-token" not in page.text


def test_signing_in_as_an_unknown_tenant_is_refused(client: TestClient) -> None:
    reply = client.post("/demo/portal/sign-in", data={"tenant_id": "nope"})
    assert reply.status_code == 404


def test_the_demo_is_off_in_production(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_MODE", "production")
    for name in ("RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "API_SERVICE_TOKEN"):
        monkeypatch.setenv(name, f"{name.lower()}-production-value-0123456789")
    monkeypatch.setenv("CHAT_TOKEN_SECRET", "chat-token-secret-production-0123456789")
    monkeypatch.setenv(
        "LINK_SIGNING_SECRET", "link-signing-secret-production-0123456789"
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@localhost/none")
    reset_caches()
    assert client.get("/demo/portal").status_code == 404
    assert (
        client.post("/demo/portal/sign-in", data={"tenant_id": "x"}).status_code == 404
    )


def test_every_string_the_widget_shows_comes_from_the_catalogue() -> None:
    source = routes.WIDGET_SOURCE.read_text(encoding="utf-8")
    called = set(re.findall(r"\bt\(\s*\"([a-z_]+)\"", source))
    literals = set(re.findall(r"\"([a-z_]+)\"", source))  # t(cond ? "a" : "b")
    texts = routes.widget_texts()
    assert called - set(texts) == set(), "ids the catalogue lacks"
    assert set(texts) - literals == set(), "catalogue ids the widget never shows"
    # No sentence written into the code: labels and texts are t(...) calls.
    inline = re.findall(
        r"(?:text|placeholder|\"aria-label\"|alt|label)\s*:\s*\"[A-Za-z][^\"]*\"",
        source,
    )
    assert inline == []


def test_the_bundle_carries_the_catalogue_strings(
    client: TestClient, socket_io_client: Path
) -> None:
    body = client.get("/widget/widget.js").text
    texts = json.loads(re.search(r"var TEXTS = (\{.*?\});\n", body).group(1))  # type: ignore[union-attr]
    assert texts == routes.widget_texts("en")
    assert texts["ticket_instead"] == "Open a ticket instead"
    # A language without a catalogue gets English rather than an error.
    other = client.get("/widget/widget.js", params={"lang": "xx"})
    assert other.status_code == 200
    assert "var TEXTS = " in other.text
