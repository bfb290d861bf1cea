"""Every /api/v1 route needs the service token; every error is clear JSON."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from api.demo.seed import DemoSummary
from tests.web.conftest import SERVICE_TOKEN, TestClient

PROTECTED = [
    "/api/v1/partners",
    "/api/v1/partners/1",
    "/api/v1/customers",
    "/api/v1/customers?partner_id=1",
    "/api/v1/customers/1",
    "/api/v1/customers/1/invoices",
    "/api/v1/invoices/G000024101",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_no_token_is_401(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "Bearer" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        f"Bearer {SERVICE_TOKEN}x",
        f"Bearer {SERVICE_TOKEN[:-1]}",
        "Bearer ",
        f"Basic {SERVICE_TOKEN}",
        SERVICE_TOKEN,
    ],
)
def test_wrong_token_is_401(
    anonymous: TestClient, path: str, authorization: str
) -> None:
    response = anonymous.get(path, headers={"Authorization": authorization})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized"
    assert SERVICE_TOKEN not in response.text


def test_right_token_is_accepted(anonymous: TestClient) -> None:
    response = anonymous.get(
        "/api/v1/partners", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    )
    assert response.status_code == 200


def test_the_token_comes_from_the_settings(
    anonymous: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.settings import get_settings

    monkeypatch.setenv("API_SERVICE_TOKEN", "rotated-token-0123456789")
    get_settings.cache_clear()
    old = anonymous.get(
        "/api/v1/partners", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    )
    new = anonymous.get(
        "/api/v1/partners", headers={"Authorization": "Bearer rotated-token-0123456789"}
    )
    assert (old.status_code, new.status_code) == (401, 200)


def test_unknown_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "Nothing at /api/v1/nothing-here.",
    }


def test_wrong_method_is_json_405(client: TestClient) -> None:
    response = client.delete("/api/v1/partners")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_unexpected_error_is_json_500_without_traceback(
    app: FastAPI, seeded_db: DemoSummary
) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "detail": "An unexpected error occurred; it has been logged.",
    }
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
