"""What comes back from a helpdesk through the ticket API (status, assignee,
Microsoft case number), and the webhooks those changes send: one per change,
none for a change that changes nothing, naming the system that made it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from api.domain.db import get_sessionmaker
from api.domain.models import Partner, WebhookEvent
from tests.web.conftest import TestClient
from tests.web.routes.test_handoff import FakeRasa, rasa  # noqa: F401 (fixture)
from tests.web.routes.test_tickets import ADELE, DIEGO, body, ids

HOOK = {"name": "connectwise", "url": "https://cw.example/hooks", "secret_env": "CW"}


@pytest.fixture
def hooked(client: TestClient) -> dict[str, int]:
    """Northwind with a helpdesk endpoint; the demo's ids."""
    with get_sessionmaker()() as session:
        partner = session.scalars(
            select(Partner).where(Partner.slug == "northwind")
        ).one()
        partner.webhook_endpoints = [HOOK]
        session.commit()
    return ids()


def sent() -> list[dict[str, Any]]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))
        return [json.loads(row.body) for row in rows]


def open_ticket(client: TestClient, known: dict[str, int]) -> str:
    response = client.post("/api/v1/tickets", json=body(known))
    assert response.status_code == 201, response.text
    return f"/api/v1/tickets/{response.json()['id']}"


def test_a_helpdesk_assigns_by_email_and_names_itself(
    client: TestClient, hooked: dict[str, int]
) -> None:
    path = open_ticket(client, hooked)
    response = client.patch(
        path,
        json={
            "status": "triaged",
            "assigned_to_email": " Diego.Siciliani@NorthwindTraders.com ",
            "source": "connectwise",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["assigned_to_id"] == hooked[DIEGO]
    assert response.json()["status"] == "triaged"
    created, updated = sent()
    assert created["type"] == "ticket.created"
    assert updated["type"] == "ticket.updated"
    assert set(updated["data"]["changes"]) == {"status", "assignee"}
    assert updated["data"]["changed_by"] == {
        "kind": "service",
        "partner_user": None,
        "source": "connectwise",
    }


def test_an_update_that_changes_nothing_sends_nothing(
    client: TestClient, hooked: dict[str, int]
) -> None:
    path = open_ticket(client, hooked)
    change = {"status": "triaged", "assigned_to_id": hooked[DIEGO]}
    assert client.patch(path, json=change).status_code == 200
    assert len(sent()) == 2
    again = client.patch(path, json={**change, "source": "connectwise"})
    assert again.status_code == 200
    assert len(sent()) == 2  # the helpdesk echoed our change: no loop


def test_another_partners_staff_is_not_an_assignee_nor_revealed(
    client: TestClient, hooked: dict[str, int]
) -> None:
    path = open_ticket(client, hooked)
    elsewhere = client.patch(path, json={"assigned_to_email": ADELE})
    nobody = client.patch(path, json={"assigned_to_email": "nobody@example.com"})
    assert elsewhere.status_code == nobody.status_code == 422
    assert elsewhere.json()["detail"][0]["where"] == "body.assigned_to_email"
    assert elsewhere.json()["detail"][0]["problem"].startswith(
        "No member of this ticket's partner has the e-mail"
    )
    both = client.patch(
        path, json={"assigned_to_email": DIEGO, "assigned_to_id": hooked[DIEGO]}
    )
    assert both.status_code == 422
    assert [e["type"] for e in sent()] == ["ticket.created"]


def test_the_case_number_escalates_once_then_updates(
    client: TestClient, hooked: dict[str, int]
) -> None:
    path = open_ticket(client, hooked)
    refused = client.patch(path, json={"status": "escalated"})
    assert refused.status_code == 409
    escalated = client.patch(
        path, json={"status": "escalated", "microsoft_case_number": "2612040010001"}
    )
    assert escalated.status_code == 200
    renumbered = client.patch(path, json={"microsoft_case_number": "2612040010009"})
    assert renumbered.json()["microsoft_case_number"] == "2612040010009"
    types = [e["type"] for e in sent()]
    assert types == ["ticket.created", "ticket.escalated", "ticket.updated"]
    escalation = sent()[1]["data"]["escalation"]
    assert escalation["case_number"] == "2612040010001"
    assert escalation["via"] == "recorded"


def test_assigning_on_behalf_of_a_partner_user_names_them(
    client: TestClient, hooked: dict[str, int]
) -> None:
    path = open_ticket(client, hooked)
    response = client.post(
        f"{path}/assign",
        params={"on_behalf_of": hooked[DIEGO]},
        json={"partner_user_id": hooked[DIEGO], "source": "autotask"},
    )
    assert response.status_code == 200, response.text
    updated = sent()[-1]
    assert updated["data"]["changes"] == {
        "assignee": {"from": None, "to": hooked[DIEGO]}
    }
    actor = updated["data"]["changed_by"]
    assert actor["kind"] == "partner_user" and actor["source"] == "autotask"
    assert actor["partner_user"]["id"] == hooked[DIEGO]
    refused = client.post(f"{path}/assign", json={"partner_user_id": hooked[ADELE]})
    assert refused.status_code == 422
    assert len(sent()) == 2


def test_handing_back_sends_handoff_ended(
    client: TestClient,
    hooked: dict[str, int],
    rasa: FakeRasa,  # noqa: F811 (the fixture)
) -> None:
    rasa.handoff("conv-9", hooked["northwind"])
    rasa.down = True
    assert client.post("/api/v1/handoff/conv-9/resume").status_code == 503
    assert sent() == []  # Rasa did not hand back: no event
    rasa.down = False
    assert client.post("/api/v1/handoff/conv-9/resume").status_code == 200
    [ended] = sent()
    assert ended["type"] == "handoff.ended"
    assert ended["data"]["conversation_id"] == "conv-9"
    assert ended["data"]["partner"]["slug"] == "northwind"
    assert client.post("/api/v1/handoff/conv-9/resume").status_code == 409
    assert len(sent()) == 1  # a refused hand-back sends nothing
