"""The OpenAPI schema states the API's real error envelope, statuses and patterns.

The finding: 422 bodies were `{where, problem}` lists or plain strings while the
schema promised FastAPI's `loc/msg/type`; 400/401/403/404/409/413/429 were not
documented; the invoice number's pattern was missing. tests/web/test_schema_fuzz.py
holds every operation to its schema with generated requests; these pin the parts a
reader of the schema relies on.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from api.settings import get_settings
from api.web.app import create_app
from api.web.schemas import ErrorOut, ValidationErrorOut
from tests.web.conftest import TestClient


def operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def test_no_operation_promises_fastapis_default_422(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for name, operation in operations(schema).items():
        if "422" in operation["responses"]:
            content = operation["responses"]["422"]["content"]["application/json"]
            assert content["schema"] == {
                "$ref": "#/components/schemas/ValidationErrorOut"
            }, name


def test_every_operation_documents_its_errors(anonymous: TestClient) -> None:
    found = operations(anonymous.get("/openapi.json").json())
    for name, operation in found.items():
        documented = set(operation["responses"])
        assert {"400", "413"} <= documented, name  # the guard in front of every route
        if " /api/v1/" in name:
            assert "401" in documented, name
        if "{" in name:
            assert "404" in documented or name.startswith("GET /documents"), name
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")) and name != "GET /health":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in {"ErrorOut", "ValidationErrorOut"}
    tickets = found["POST /api/v1/tickets"]["responses"]
    assert {"200", "201", "403", "404", "409", "422"} <= set(tickets)
    assert {"403", "404", "410", "429"} <= set(
        found["GET /documents/invoices/{invoice_id}.pdf"]["responses"]
    )
    assert (
        "Retry-After"
        in (
            found["GET /documents/invoices/{invoice_id}.pdf"]["responses"]["429"][
                "headers"
            ]
        )
    )


def test_the_invoice_number_pattern_is_the_settings(
    anonymous: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pattern(app_schema: dict[str, Any]) -> str:
        (number,) = operations(app_schema)["GET /api/v1/invoices/{number}"][
            "parameters"
        ]
        return str(number["schema"]["pattern"])

    assert pattern(anonymous.get("/openapi.json").json()) == r"^(?i:[DG]\d{9})$"
    monkeypatch.setenv("INVOICE_NUMBER_PATTERN", r"INV-\d{6}")
    get_settings.cache_clear()
    other: FastAPI = create_app()
    assert pattern(other.openapi()) == r"^(?i:INV-\d{6})$"


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("GET", "/api/v1/partners/0", None, "path.partner_id"),  # pydantic's
        ("GET", "/api/v1/invoices/X1", None, "path.number"),  # the route's own
        ("POST", "/api/v1/tickets", {"partner_id": 1}, "body.category"),
        ("POST", "/api/v1/tickets", b"{not json", "body.1"),
        ("POST", "/api/v1/nlu/classify", {"text": ""}, "body.text"),
    ],
)
def test_every_422_is_the_documented_list(
    client: TestClient, method: str, path: str, body: Any, where: str
) -> None:
    if isinstance(body, bytes):
        reply = client.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    else:
        reply = client.request(method, path, json=body)
    assert reply.status_code == 422, reply.text
    parsed = ValidationErrorOut.model_validate(reply.json())
    assert parsed.error == "validation_error"
    assert where in [problem.where for problem in parsed.detail]


def test_a_route_raised_422_without_a_field_is_still_a_list(
    client: TestClient,
) -> None:
    # Severity A without the 24x7 commitment: the routing rules refuse the ticket.
    reply = client.post(
        "/api/v1/tickets",
        json={
            "partner_id": 1,
            "category": "technical",
            "summary": "Exchange Online is down",
            "description": "Nobody can send mail since 9:00.",
            "severity": "A",
        },
    )
    assert reply.status_code == 422
    (problem,) = ValidationErrorOut.model_validate(reply.json()).detail
    assert problem.where == "body" and "24x7" in problem.problem


def test_other_errors_are_a_code_and_a_sentence(client: TestClient) -> None:
    for reply in (
        client.get("/api/v1/partners/999999"),
        client.get("/api/v1/customers", params={"partner_id": 999999}),
        client.get("/api/v1/nothing-here"),
    ):
        assert reply.status_code == 404
        parsed = ErrorOut.model_validate(reply.json())
        assert parsed.error == "not_found" and parsed.detail.endswith(".")
