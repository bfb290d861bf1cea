"""Escalating to Microsoft from the command line and the ticket API, and the
service request's status in the chat's ticket status answer, against the fake."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette now prefers the `httpx2` package; our pinned environment has httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient
from sqlalchemy import select

from actions.tickets import ActionTicketStatus
from api.domain.db import session_scope
from api.domain.models import (
    Customer,
    Partner,
    PartnerRole,
    PartnerUser,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
    utcnow,
)
from api.domain.services.tickets import NewTicket, create_ticket
from api.ops.cli import main
from api.partner_center import service_requests as sr
from api.settings import Settings, get_settings
from api.web.app import create_app
from tests.actions.billing_helpers import run
from tests.actions.helpers import make_tracker, signed_in
from tests.partner_center.conftest import SLUG, partner_profile
from tests.partner_center.fake import ADATUM, FakePartnerCenter

SERVICE_TOKEN = "test-service-token-escalations"


@pytest.fixture(autouse=True)
def _fresh_topics() -> Iterator[None]:
    sr.forget_support_topics()
    yield
    sr.forget_support_topics()


@pytest.fixture
def synced(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> str:
    profile = tmp_path / "adventure-works.yml"
    profile.write_text(yaml.safe_dump(partner_profile(), sort_keys=False))
    assert main(["partner", "apply", str(profile)]) == 0
    assert main(["partner-center", "sync", "--partner", SLUG]) == 0
    capsys.readouterr()
    return SLUG


def open_ticket(
    route: str = "microsoft_commercial", severity: Severity = Severity.A
) -> str:
    with session_scope() as session:
        partner = session.scalars(select(Partner).where(Partner.slug == SLUG)).one()
        adatum = session.scalars(
            select(Customer).where(Customer.tenant_id == ADATUM)
        ).one()
        ticket, _ = create_ticket(
            session,
            new=NewTicket(
                partner_id=partner.id,
                customer_id=adatum.id,
                requester=f"customer:{ADATUM}:ann",
                category=TicketCategory.COMMERCIAL,
                topic="subscription_change",
                summary="Cannot reduce seats of Microsoft 365 E3",
                description="Partner Center refuses to lower the seat count to 8.",
                idempotency_key=f"k-{route}",
                product="Microsoft 365 E3",
                severity=severity,
                customer_24x7=severity is Severity.A,
            ),
        )
        ticket.route = route
        return ticket.public_id


def test_the_command_shows_the_packet_asks_and_files(
    fake: FakePartnerCenter,
    synced: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticket_id = open_ticket()
    monkeypatch.setattr("typer.confirm", lambda _text: False)
    assert main(["tickets", "escalate-to-microsoft", ticket_id]) == 0
    out = capsys.readouterr().out
    assert "Severity:    critical" in out
    assert "Topic:       Subscription management (32444673)" in out
    assert "Nothing filed." in out
    assert fake.state.service_requests == []

    assert main(["tickets", "escalate-to-microsoft", ticket_id, "--yes"]) == 0
    out = capsys.readouterr().out
    filed = fake.state.service_requests
    assert len(filed) == 1 and filed[0]["Severity"] == "critical"
    assert f"Filed Microsoft service request {filed[0]['Id']} (open)" in out

    assert main(["tickets", "escalate-to-microsoft", ticket_id, "--yes"]) == 0
    assert f"Already filed: Microsoft service request {filed[0]['Id']}" in (
        capsys.readouterr().out
    )
    assert len(fake.state.service_requests) == 1


def test_the_command_reports_a_refusal(
    fake: FakePartnerCenter, synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket_id = open_ticket()
    fake.state.scripted["/v1/servicerequests/en-US"] = [(400, None)]
    assert main(["tickets", "escalate-to-microsoft", ticket_id, "--yes"]) == 1
    assert "can be escalated again" in capsys.readouterr().err
    assert main(["tickets", "escalate-to-microsoft", ticket_id, "--yes"]) == 0
    assert len(fake.state.service_requests) == 1


@pytest.fixture
def api(synced: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("API_SERVICE_TOKEN", SERVICE_TOKEN)
    get_settings.cache_clear()
    with TestClient(
        create_app(), headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as client:
        yield client


def staff(role: PartnerRole) -> int:
    with session_scope() as session:
        partner = session.scalars(select(Partner).where(Partner.slug == SLUG)).one()
        user = PartnerUser(
            partner_id=partner.id,
            email=f"{role.value}@adventure-works.example",
            name=role.value,
            role=role,
        )
        session.add(user)
        session.flush()
        return user.id


def test_the_api_files_for_a_helpdesk_agent_and_refuses_a_billing_admin(
    fake: FakePartnerCenter, api: TestClient
) -> None:
    ticket_id = open_ticket(severity=Severity.C)
    billing = staff(PartnerRole.BILLING_ADMIN)
    refused = api.post(
        f"/api/v1/tickets/{ticket_id}/microsoft?on_behalf_of={billing}", json={}
    )
    assert refused.status_code == 403
    helpdesk = staff(PartnerRole.HELPDESK_AGENT)
    answer = api.post(
        f"/api/v1/tickets/{ticket_id}/microsoft?on_behalf_of={helpdesk}", json={}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["packet"]["severity"] == "minimal"
    assert body["filed_now"] is True
    assert body["service_request_id"] == fake.state.service_requests[0]["Id"]
    assert body["ticket"]["status"] == "escalated"
    again = api.post(f"/api/v1/tickets/{ticket_id}/microsoft", json={})
    assert again.json()["filed_now"] is False
    assert len(fake.state.service_requests) == 1


def test_the_api_answers_502_and_the_ticket_stays_escalatable(
    fake: FakePartnerCenter, api: TestClient
) -> None:
    ticket_id = open_ticket()
    fake.state.scripted["/v1/servicerequests/en-US"] = [(400, None)]
    failed = api.post(f"/api/v1/tickets/{ticket_id}/microsoft", json={})
    assert failed.status_code == 502
    assert "can be escalated again" in failed.json()["detail"]
    assert api.get(f"/api/v1/tickets/{ticket_id}").json()["status"] == "new"
    assert (
        api.post(f"/api/v1/tickets/{ticket_id}/microsoft", json={}).status_code == 200
    )


def test_services_hub_gets_the_packet_and_the_patch_hint(
    fake: FakePartnerCenter, api: TestClient
) -> None:
    ticket_id = open_ticket(route="advanced_support_for_partners")
    answer = api.post(f"/api/v1/tickets/{ticket_id}/microsoft", json={})
    assert answer.status_code == 200
    body = answer.json()
    assert body["packet"]["services_hub"] is True
    assert body["service_request_id"] is None
    assert f"PATCH /api/v1/tickets/{ticket_id}" in body["next_step"]
    assert fake.state.service_requests == []


def test_the_desk_route_is_a_conflict(fake: FakePartnerCenter, api: TestClient) -> None:
    ticket_id = open_ticket(route="partner_desk")
    assert (
        api.post(f"/api/v1/tickets/{ticket_id}/microsoft", json={}).status_code == 409
    )


async def test_the_chat_status_shows_the_service_request_and_its_status(
    fake: FakePartnerCenter, synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket_id = open_ticket()
    assert main(["tickets", "escalate-to-microsoft", ticket_id, "--yes"]) == 0
    capsys.readouterr()
    request_id = fake.state.service_requests[0]["Id"]
    fake.state.service_requests[0]["Status"] = "attention_needed"
    with session_scope() as session:  # read a while ago
        ticket = session.scalars(select(Ticket)).one()
        ticket.microsoft_service_request_checked_at = utcnow() - timedelta(hours=1)
    assert main(["mint-token", "--tenant", ADATUM, "--user", "ann"]) == 0
    token = capsys.readouterr().out.strip()

    async def status_text() -> str:
        tracker = make_tracker(
            session_metadata=signed_in(token),
            intent="ask_ticket_status",
            text=f"what's the status of {ticket_id}?",
            entities={"ticket_id": ticket_id},
        )
        said, _, _ = await run(ActionTicketStatus(), tracker)
        return "\n".join(said)

    shown = await status_text()
    assert f"service request {request_id}" in shown
    assert "Microsoft needs more information" in shown

    # Partner Center down: the last status read is shown.
    fake.state.always_fail[f"/v1/servicerequests/{request_id}"] = 503
    fake.state.service_requests[0]["Status"] = "closed"
    with session_scope() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.microsoft_service_request_checked_at = utcnow() - timedelta(hours=1)
        assert ticket.status is TicketStatus.ESCALATED
    shown = await status_text()
    assert "Microsoft needs more information" in shown
    assert "closed by Microsoft" not in shown
