"""The API's per-client limit on the routes anyone can call without a token or
session (api/web/deps.py, PUBLIC_RATE_LIMIT_*): signed PDF links, the dashboard's
sign-in, the demo sign-in. The chat channels' limits per chatter are tested in
tests/bot/channels/test_rate_limits.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from api.settings import get_settings
from tests.security.conftest import json_error
from tests.security.test_route_access import pdf_link
from tests.web.conftest import TestClient

BURST = 3


@pytest.fixture
def limited(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("PUBLIC_RATE_LIMIT_BURST", str(BURST))
    monkeypatch.setenv("PUBLIC_RATE_LIMIT_REQUESTS", str(BURST))  # 3 a minute
    monkeypatch.setenv("PUBLIC_RATE_LIMIT_PERIOD_SECONDS", "60")
    get_settings.cache_clear()
    return app


def client(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000), follow_redirects=False)


@pytest.fixture
def alice(limited: FastAPI) -> Iterator[TestClient]:
    with client(limited, "203.0.113.7") as c:
        yield c


def test_pdf_links_are_limited_per_client_address(
    limited: FastAPI, alice: TestClient
) -> None:
    link = pdf_link()
    assert [alice.get(link).status_code for _ in range(BURST)] == [200] * BURST
    refused = alice.get(link)
    assert refused.status_code == 429
    assert "wait a few seconds" in json_error(refused)["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Forged links count too (guessing is what the limit is for).
    assert alice.get(link.replace("signature=", "signature=0")).status_code == 429
    with client(limited, "198.51.100.23") as bob:
        assert bob.get(link).status_code == 200


def test_dashboard_sign_in_attempts_are_limited(alice: TestClient) -> None:
    form = {"email": "nobody@example.com", "password": "wrong", "csrf_token": "t"}
    codes = []
    for _ in range(5):
        alice.cookies.clear()  # the form's CSRF cookie is renewed after each try
        alice.cookies.set("csp_dashboard_login_csrf", "t", path="/dashboard")
        codes.append(alice.post("/dashboard/login", data=form).status_code)
    assert codes == [401] * BURST + [429] * 2


def test_health_and_token_routes_are_not_limited(alice: TestClient) -> None:
    assert {alice.get("/health").status_code for _ in range(BURST * 3)} == {200}
    # Routes behind a credential answer 401, not 429, however often they are hit.
    assert {alice.get("/api/v1/partners").status_code for _ in range(BURST * 3)} == {
        401
    }
