"""/api/v1/tickets: create (idempotent), list and filter, get, update, assign, with
the service token and the partner-user (`on_behalf_of`) checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.domain.db import get_sessionmaker
from api.domain.models import (
    Customer,
    Partner,
    PartnerUser,
    ProductKind,
    TicketCategory,
)
from api.domain.services.routing import route
from tests.conftest import DEMO_ANCHOR
from tests.web.conftest import TestClient


def ids() -> dict[str, int]:
    """Partner, customer and staff ids of the demo, by slug, domain and email."""
    with get_sessionmaker()() as session:
        found = {p.slug: p.id for p in session.scalars(select(Partner))}
        found |= {c.domain: c.id for c in session.scalars(select(Customer))}
        found |= {u.email: u.id for u in session.scalars(select(PartnerUser))}
    return found


DIEGO = "diego.siciliani@northwindtraders.com"  # Northwind helpdesk agent
LYNNE = "lynne.robbins@northwindtraders.com"  # Northwind sales agent
ADELE = "adele.vance@fabrikam.com"  # Fabrikam global admin
JONI = "joni.sherman@litwareinc.com"  # Litware, inactive


def body(known: dict[str, int], **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "partner_id": known["northwind"],
        "customer_id": known["contoso.com"],
        "category": "technical",
        "topic": "technical_issue",
        "summary": "Outlook is down",
        "description": "Since 9:00 nobody can open Outlook.",
        "product": "Exchange Online",
        "product_kind": "license",
        "severity": "B",
        "identifiers": {"invoice_number": ["G000024167"]},
        "steps_tried": ["restarted Outlook"],
    }
    fields.update(overrides)
    return fields


def open_ticket(client: TestClient, known: dict[str, int], **overrides: Any) -> dict:
    response = client.post("/api/v1/tickets", json=body(known, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def test_the_service_token_is_required(anonymous: TestClient) -> None:
    for method, path in [
        ("get", "/api/v1/tickets"),
        ("post", "/api/v1/tickets"),
        ("get", "/api/v1/tickets/CSP-000001"),
        ("patch", "/api/v1/tickets/CSP-000001"),
        ("post", "/api/v1/tickets/CSP-000001/assign"),
    ]:
        response = getattr(anonymous, method)(path)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "unauthorized"


def test_create_routes_and_returns_the_packet(client: TestClient) -> None:
    known = ids()
    ticket = open_ticket(client, known)
    assert ticket["id"].startswith("CSP-")
    assert ticket["status"] == "new"
    with get_sessionmaker()() as session:
        partner = session.get(Partner, known["northwind"])
        assert partner is not None
        expected = route(
            TicketCategory.TECHNICAL,
            product_kind=ProductKind.LICENSE,
            programs=set(partner.active_programs(DEMO_ANCHOR)),
        )
    assert ticket["route"] == expected.escalate_to
    assert ticket["route_name"] == expected.escalate_to_name
    assert ticket["sla_due_at"] is not None
    assert ticket["packet"]["identifiers"] == {"invoice_number": ["G000024167"]}
    assert ticket["packet"]["steps_tried"] == ["restarted Outlook"]
    assert ticket["requester"] == "service"


def test_create_is_idempotent_with_the_same_key(client: TestClient) -> None:
    known = ids()
    headers = {"Idempotency-Key": "retry-me-1"}
    first = client.post("/api/v1/tickets", json=body(known), headers=headers)
    again = client.post("/api/v1/tickets", json=body(known), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert len(client.get("/api/v1/tickets").json()) == 1
    other_partner = client.post(
        "/api/v1/tickets",
        json=body(known, partner_id=known["litware"], customer_id=None),
        headers=headers,
    )
    assert other_partner.status_code == 409


def test_create_refuses_what_the_rules_refuse(client: TestClient) -> None:
    known = ids()
    sev_a = client.post("/api/v1/tickets", json=body(known, severity="A"))
    assert sev_a.status_code == 422
    assert sev_a.json()["detail"][0]["where"] == "body"
    assert "24x7" in sev_a.json()["detail"][0]["problem"]
    ok = client.post(
        "/api/v1/tickets", json=body(known, severity="A", customer_24x7=True)
    )
    assert ok.status_code == 201
    wrong_customer = client.post(
        "/api/v1/tickets", json=body(known, customer_id=known["proseware.com"])
    )
    assert wrong_customer.status_code == 422
    unknown = client.post("/api/v1/tickets", json=body(known, partner_id=9999))
    assert unknown.status_code == 404
    extra = client.post("/api/v1/tickets", json=body(known, owner="me"))
    assert extra.status_code == 422


def test_no_entitlement_stays_with_the_partner(client: TestClient) -> None:
    known = ids()
    ticket = open_ticket(
        client,
        known,
        partner_id=known["litware"],
        customer_id=known["proseware.com"],
    )
    assert ticket["route"] == "partner_desk"
    assert "no Microsoft technical route" in ticket["packet"]["routing"]["explanation"]


def test_list_and_filter(client: TestClient) -> None:
    known = ids()
    a = open_ticket(client, known)
    b = open_ticket(client, known, category="commercial", topic="refund", severity="C")
    c = open_ticket(
        client, known, partner_id=known["litware"], customer_id=known["proseware.com"]
    )

    def listed(**params: Any) -> list[str]:
        response = client.get("/api/v1/tickets", params=params)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()]

    assert listed() == [c["id"], b["id"], a["id"]]
    assert listed(partner_id=known["northwind"]) == [b["id"], a["id"]]
    assert listed(customer_id=known["proseware.com"]) == [c["id"]]
    assert listed(category="commercial") == [b["id"]]
    assert listed(severity="B") == [c["id"], a["id"]]
    assert listed(status="new", limit=1) == [c["id"]]
    assert listed(status="closed") == []
    assert client.get("/api/v1/tickets", params={"status": "nope"}).status_code == 422


def test_get_one(client: TestClient) -> None:
    ticket = open_ticket(client, ids())
    response = client.get(f"/api/v1/tickets/{ticket['id'].lower()}")
    assert response.status_code == 200
    assert response.json()["description"] == "Since 9:00 nobody can open Outlook."
    assert client.get("/api/v1/tickets/CSP-999999").status_code == 404
    assert client.get("/api/v1/tickets/INV-1").status_code == 422


def test_update_follows_the_lifecycle(client: TestClient) -> None:
    ticket = open_ticket(client, ids())
    path = f"/api/v1/tickets/{ticket['id']}"
    assert client.patch(path, json={"status": "triaged"}).json()["status"] == "triaged"
    no_case = client.patch(path, json={"status": "escalated"})
    assert no_case.status_code == 409
    assert "case number" in no_case.json()["detail"]
    escalated = client.patch(
        path, json={"status": "escalated", "microsoft_case_number": "2611240010001"}
    )
    assert escalated.status_code == 200
    assert escalated.json()["microsoft_case_number"] == "2611240010001"
    client.patch(path, json={"status": "closed"})
    reopened = client.patch(path, json={"status": "triaged"})
    assert reopened.status_code == 409


def test_a_ticket_without_a_microsoft_route_cannot_be_escalated(
    client: TestClient,
) -> None:
    known = ids()
    ticket = open_ticket(
        client, known, partner_id=known["litware"], customer_id=known["proseware.com"]
    )
    response = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"status": "escalated", "microsoft_case_number": "123"},
    )
    assert response.status_code == 409
    assert "no Microsoft route" in response.json()["detail"]


def test_assignment_is_to_the_same_partners_staff(client: TestClient) -> None:
    known = ids()
    ticket = open_ticket(client, known)  # Northwind
    assign = f"/api/v1/tickets/{ticket['id']}/assign"
    ok = client.post(assign, json={"partner_user_id": known[DIEGO]})
    assert ok.status_code == 200 and ok.json()["assigned_to_id"] == known[DIEGO]
    other = client.post(assign, json={"partner_user_id": known[ADELE]})
    assert other.status_code == 422
    assert other.json()["detail"] == [
        {
            "where": "body.partner_user_id",
            "problem": "the assignee works for another partner",
        }
    ]
    sales = client.post(assign, json={"partner_user_id": known[LYNNE]})
    assert sales.status_code == 422
    missing = client.post(assign, json={"partner_user_id": 9999})
    assert missing.status_code == 422
    unassigned = client.post(assign, json={"partner_user_id": None})
    assert unassigned.json()["assigned_to_id"] is None
    patched = client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"assigned_to_id": known[DIEGO]}
    )
    assert patched.json()["assigned_to_id"] == known[DIEGO]


# --------------------------------------------------------------------------- on behalf of


def test_a_partner_user_sees_only_their_partners_tickets(client: TestClient) -> None:
    known = ids()
    mine = open_ticket(client, known)  # Northwind
    theirs = open_ticket(
        client,
        known,
        partner_id=known["fabrikam"],
        customer_id=known["woodgrovebank.com"],
    )
    as_diego = {"on_behalf_of": known[DIEGO]}
    listed = client.get("/api/v1/tickets", params=as_diego).json()
    assert [t["id"] for t in listed] == [mine["id"]]
    assert (
        client.get(
            "/api/v1/tickets", params={**as_diego, "partner_id": known["fabrikam"]}
        ).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/tickets/{mine['id']}", params=as_diego).status_code == 200
    )
    hidden = client.get(f"/api/v1/tickets/{theirs['id']}", params=as_diego)
    assert hidden.status_code == 404
    patched = client.patch(
        f"/api/v1/tickets/{theirs['id']}", params=as_diego, json={"status": "triaged"}
    )
    assert patched.status_code == 404
    assigned = client.post(
        f"/api/v1/tickets/{theirs['id']}/assign",
        params=as_diego,
        json={"partner_user_id": known[DIEGO]},
    )
    assert assigned.status_code == 404


def test_a_partner_user_opens_tickets_for_their_own_partner(client: TestClient) -> None:
    known = ids()
    as_diego = {"on_behalf_of": known[DIEGO]}
    created = client.post("/api/v1/tickets", params=as_diego, json=body(known))
    assert created.status_code == 201
    assert created.json()["requester"] == f"partner_user:{known[DIEGO]}"
    elsewhere = client.post(
        "/api/v1/tickets",
        params=as_diego,
        json=body(known, partner_id=known["fabrikam"], customer_id=None),
    )
    assert elsewhere.status_code == 403


def test_roles_without_the_capability_are_refused(client: TestClient) -> None:
    known = ids()
    as_lynne = {"on_behalf_of": known[LYNNE]}  # sales agent: no ticket capabilities
    listed = client.get("/api/v1/tickets", params=as_lynne)
    assert listed.status_code == 403
    assert listed.json()["error"] == "forbidden"
    assert "Sales agent" in listed.json()["detail"]
    created = client.post("/api/v1/tickets", params=as_lynne, json=body(known))
    assert created.status_code == 403


def test_inactive_or_unknown_users_are_refused(client: TestClient) -> None:
    known = ids()
    for user_id in (known[JONI], 9999):
        response = client.get("/api/v1/tickets", params={"on_behalf_of": user_id})
        assert response.status_code == 403


def test_the_openapi_schema_documents_on_behalf_of(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/tickets"]["get"]
    names = {p["name"]: p for p in operation["parameters"]}
    assert "permissions.yml" in names["on_behalf_of"]["description"]
    create = schema["paths"]["/api/v1/tickets"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert "/api/v1/handoff/{conversation_id}/messages" in schema["paths"]
