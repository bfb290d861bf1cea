"""/api/v1/customers: list (by partner), detail with subscriptions, invoices."""

from __future__ import annotations

import re

from api.demo.seed import DemoSummary
from tests.web.conftest import TestClient

MONEY = re.compile(r"^-?\d+\.\d{2}$")


def customer_id(client: TestClient, domain: str) -> int:
    customers = client.get("/api/v1/customers").json()
    return next(c["id"] for c in customers if c["domain"] == domain)


def test_list_customers(client: TestClient, seeded_db: DemoSummary) -> None:
    response = client.get("/api/v1/customers")
    assert response.status_code == 200
    customers = response.json()
    assert len(customers) == seeded_db.customers
    names = [c["name"] for c in customers]
    assert names == sorted(names)
    assert "contoso.com" in {c["domain"] for c in customers}


def test_list_customers_of_one_partner(client: TestClient) -> None:
    partners = client.get("/api/v1/partners").json()
    litware = next(p["id"] for p in partners if p["slug"] == "litware")
    response = client.get("/api/v1/customers", params={"partner_id": litware})
    assert response.status_code == 200
    customers = response.json()
    assert {c["domain"] for c in customers} == {
        "proseware.com",
        "treyresearch.net",
        "cohowinery.com",
    }
    assert {c["partner_id"] for c in customers} == {litware}


def test_list_customers_of_unknown_partner_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/customers", params={"partner_id": 9999})
    assert response.status_code == 404
    assert response.json()["detail"] == "No partner with id 9999."


def test_list_customers_with_malformed_partner_id_is_422(client: TestClient) -> None:
    response = client.get("/api/v1/customers", params={"partner_id": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["where"] == "query.partner_id"


def test_get_customer_with_subscriptions(
    client: TestClient, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("suspended_subscription")
    response = client.get(f"/api/v1/customers/{customer_id(client, case.domain)}")
    assert response.status_code == 200
    body = response.json()
    assert body["tenant_id"] == case.tenant_id
    (sub,) = [s for s in body["subscriptions"] if s["id"] == case.subscription_id]
    assert sub["status"] == "suspended"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", sub["suspended_on"])
    assert sub["unit_price"] == "22.00"
    assert all(MONEY.match(s["unit_price"]) for s in body["subscriptions"])


def test_unknown_customer_is_404(client: TestClient) -> None:
    for path in ("/api/v1/customers/9999", "/api/v1/customers/9999/invoices"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {
            "error": "not_found",
            "detail": "No customer with id 9999.",
        }


def test_malformed_customer_id_is_422(client: TestClient) -> None:
    for path in ("/api/v1/customers/contoso", "/api/v1/customers/0/invoices"):
        response = client.get(path)
        assert response.status_code == 422, path
        assert response.json()["error"] == "validation_error"


def test_customer_invoices_newest_first_with_status(
    client: TestClient, seeded_db: DemoSummary
) -> None:
    overdue = seeded_db.case("overdue_invoice")
    response = client.get(
        f"/api/v1/customers/{customer_id(client, overdue.domain)}/invoices"
    )
    assert response.status_code == 200
    invoices = response.json()
    assert len(invoices) == 12
    dates = [i["invoice_date"] for i in invoices]
    assert dates == sorted(dates, reverse=True)
    by_number = {i["number"]: i for i in invoices}
    row = by_number[overdue.invoice_number]
    assert row["payment_status"] == "overdue"
    assert row["days_overdue"] == 45  # due 2026-10-01, today 2026-11-15
    assert row["paid_amount"] == "0.00"
    assert row["balance"] == row["total"]
    assert "lines" not in row


def test_customer_invoices_include_the_credit_note(
    client: TestClient, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("credit_note")
    invoices = client.get(
        f"/api/v1/customers/{customer_id(client, case.domain)}/invoices"
    ).json()
    (note,) = [i for i in invoices if i["document_type"] == "credit_note"]
    assert note["number"] == case.invoice_number
    assert note["amends_of"] == case.related_invoice_number
    assert note["payment_status"] == "credit"
    assert note["total"].startswith("-")
