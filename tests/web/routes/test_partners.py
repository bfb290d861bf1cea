"""/api/v1/partners: list and profile."""

from __future__ import annotations

from tests.web.conftest import TestClient


def partner_id(client: TestClient, slug: str) -> int:
    partners = client.get("/api/v1/partners").json()
    return next(p["id"] for p in partners if p["slug"] == slug)


def test_list_partners(client: TestClient) -> None:
    response = client.get("/api/v1/partners")
    assert response.status_code == 200
    partners = response.json()
    assert [p["name"] for p in partners] == [
        "Fabrikam IT Solutions",
        "Litware Partners",
        "Northwind Cloud Services",
    ]
    assert set(partners[0]) == {
        "id",
        "slug",
        "name",
        "mpn_id",
        "billing_model",
        "country",
        "currency",
    }


def test_get_partner_profile(client: TestClient) -> None:
    response = client.get(f"/api/v1/partners/{partner_id(client, 'northwind')}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Northwind Cloud Services"
    assert body["active_programs"] == ["premier_support_for_partners"]
    assert body["support"]["email"] == "support@northwindtraders.com"
    assert body["support"]["hours"] and body["support"]["pricing"]
    assert body["payments"]["terms_days"] == 30
    assert body["payments"]["suspend_after_days_overdue"] == 30
    assert "ACH bank transfer" in body["payments"]["methods"]
    assert {u["role"] for u in body["staff"]} >= {
        "global_admin",
        "user_management_admin",
        "helpdesk_agent",
        "billing_admin",
        "sales_agent",
    }
    entitlement = body["entitlements"][0]
    assert entitlement["valid_from"] == "2026-01-01"  # ISO dates


def test_partner_without_entitlements(client: TestClient) -> None:
    body = client.get(f"/api/v1/partners/{partner_id(client, 'litware')}").json()
    assert body["active_programs"] == []
    assert body["entitlements"] == []


def test_expired_entitlement_is_listed_but_not_active(client: TestClient) -> None:
    body = client.get(f"/api/v1/partners/{partner_id(client, 'fabrikam')}").json()
    programs = {e["program"] for e in body["entitlements"]}
    assert "signature_cloud_support" in programs
    assert sorted(body["active_programs"]) == [
        "advanced_support_for_partners",
        "partner_cloud_support",
    ]


def test_unknown_partner_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/partners/9999")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "No partner with id 9999.",
    }


def test_malformed_partner_id_is_422(client: TestClient) -> None:
    for bad in ("abc", "0", "-1", "1.5"):
        response = client.get(f"/api/v1/partners/{bad}")
        assert response.status_code == 422, bad
        body = response.json()
        assert body["error"] == "validation_error"
        assert body["detail"][0]["where"] == "path.partner_id"
