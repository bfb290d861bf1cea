"""/api/v1/invoices/{number}: one invoice with lines and payments."""

from __future__ import annotations

from decimal import Decimal

from api.demo.seed import DemoSummary
from tests.web.conftest import TestClient


def test_get_invoice_with_lines(client: TestClient, seeded_db: DemoSummary) -> None:
    number = seeded_db.case("seat_increase").invoice_number
    response = client.get(f"/api/v1/invoices/{number}")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == number and body["series"] == "G"
    assert body["billing_period_start"] == "2026-07-01"
    assert body["billing_period_end"] == "2026-07-31"
    assert body["payment_status"] == "paid"
    lines = body["lines"]
    assert {line["charge_type"] for line in lines} >= {"cycle_charge", "add_quantity"}
    assert sum(Decimal(line["total"]) for line in lines) == Decimal(body["total"])
    assert sum(Decimal(line["tax"]) for line in lines) == Decimal(body["tax_total"])
    (added,) = [line for line in lines if line["charge_type"] == "add_quantity"]
    assert added["subtotal"] == "140.23"
    assert added["unit_price"] == "37.80"
    assert added["charge_start"] == "2026-07-20"
    assert [p["amount"] for p in body["payments"]] == [body["total"]]


def test_invoice_number_is_case_insensitive(
    client: TestClient, seeded_db: DemoSummary
) -> None:
    number = seeded_db.case("legacy_invoice").invoice_number
    assert number is not None
    response = client.get(f"/api/v1/invoices/{number.lower()}")
    assert response.status_code == 200
    assert response.json()["number"] == number
    assert response.json()["series"] == "D"


def test_partially_paid_invoice(client: TestClient, seeded_db: DemoSummary) -> None:
    number = seeded_db.case("partially_paid_invoice").invoice_number
    body = client.get(f"/api/v1/invoices/{number}").json()
    assert body["payment_status"] == "partially_paid"
    paid, total, balance = (
        Decimal(body[k]) for k in ("paid_amount", "total", "balance")
    )
    assert 0 < paid < total and balance == total - paid
    assert body["currency"] == "GBP"


def test_credit_note_points_at_the_amended_invoice(
    client: TestClient, seeded_db: DemoSummary
) -> None:
    case = seeded_db.case("credit_note")
    body = client.get(f"/api/v1/invoices/{case.invoice_number}").json()
    assert body["document_type"] == "credit_note"
    assert body["amends_of"] == case.related_invoice_number
    assert [line["charge_type"] for line in body["lines"]] == ["credit"]


def test_unknown_invoice_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/invoices/G000000000")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "No invoice numbered G000000000.",
    }


def test_malformed_invoice_number_is_422(client: TestClient) -> None:
    arabic_indic_digits = "G" + "\u0660" * 9  # \d is 0-9 here, as in the schema
    for bad in (
        "12345",
        "G12",
        "X000024101",
        "G0000241011",
        "G00002410A",
        arabic_indic_digits,
    ):
        response = client.get(f"/api/v1/invoices/{bad}")
        assert response.status_code == 422, bad
        body = response.json()
        assert body["error"] == "validation_error"
        (problem,) = body["detail"]
        assert problem["where"] == "path.number"
        assert "is not an invoice number" in problem["problem"]
