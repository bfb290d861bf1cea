"""The helpdesk webhooks' delivery log on the dashboard: status, attempts, the last
answer and error, filters; replay by an admin (a lead may look, not replay)."""

from __future__ import annotations

import re

from sqlalchemy import select

from api.domain.db import get_sessionmaker
from api.domain.models import (
    DeliveryStatus,
    Partner,
    TicketCategory,
    WebhookDelivery,
    utcnow,
)
from api.domain.services.tickets import NewTicket, create_ticket
from tests.dashboard.conftest import TestClient

HOOK = {
    "name": "zendesk",
    "url": "https://desk.example/hooks?sig=KEY-IN-THE-URL",
    "secret_env": "Z",
}


def make_log() -> tuple[int, int]:
    """Two deliveries of Northwind's: one failed with a 500, one delivered."""
    with get_sessionmaker()() as session:
        partner = session.scalars(
            select(Partner).where(Partner.slug == "northwind")
        ).one()
        partner.webhook_endpoints = [HOOK]
        for key in ("first", "second"):
            create_ticket(
                session,
                new=NewTicket(
                    partner_id=partner.id,
                    requester="service",
                    category=TicketCategory.COMMERCIAL,
                    topic="billing",
                    summary=f"The {key} ticket",
                    description="For the delivery log test.",
                    idempotency_key=f"log-{key}",
                ),
            )
        failed, delivered = session.scalars(
            select(WebhookDelivery).order_by(WebhookDelivery.id)
        ).all()
        failed.status = DeliveryStatus.FAILED
        failed.attempts = 9
        failed.last_status_code = 500
        failed.last_error = "HTTP 500 Internal Server Error"
        failed.next_attempt_at = None
        delivered.status = DeliveryStatus.DELIVERED
        delivered.attempts = 1
        delivered.last_status_code = 204
        delivered.delivered_at = utcnow()
        delivered.next_attempt_at = None
        session.commit()
        return failed.id, delivered.id


def row_of(page: str, delivery_id: int) -> str:
    found = re.search(
        rf'<tr id="delivery-{delivery_id}".*?</tr>', page, flags=re.DOTALL
    )
    assert found, f"no row for delivery {delivery_id}"
    return found.group(0)


def test_the_log_shows_status_attempts_answer_and_error(
    lead_client: tuple[TestClient, str],
) -> None:
    client, _csrf = lead_client
    failed, delivered = make_log()
    page = client.get("/dashboard/webhooks")
    assert page.status_code == 200
    assert 'href="/dashboard/webhooks" aria-current="page"' in page.text
    bad = row_of(page.text, failed)
    assert "ticket.created" in bad and "zendesk" in bad
    assert "https://desk.example/hooks?..." in bad
    assert "KEY-IN-THE-URL" not in page.text
    assert '<td class="status">failed</td>' in bad
    assert "<td>9</td>" in bad and "<td>500</td>" in bad
    assert "HTTP 500 Internal Server Error" in bad
    assert "Replay" not in bad  # a lead may look, not replay
    good = row_of(page.text, delivered)
    assert '<td class="status">delivered</td>' in good and "<td>204</td>" in good

    only_failed = client.get("/dashboard/webhooks", params={"status": "failed"})
    assert f'id="delivery-{failed}"' in only_failed.text
    assert f'id="delivery-{delivered}"' not in only_failed.text
    wrong = client.get("/dashboard/webhooks", params={"status": "lost"})
    assert "Filter ignored: status must be pending, delivered or failed" in wrong.text


def test_a_lead_cannot_replay(lead_client: tuple[TestClient, str]) -> None:
    client, csrf = lead_client
    failed, _ = make_log()
    response = client.post(
        f"/dashboard/webhooks/{failed}/replay", data={"csrf_token": csrf}
    )
    assert response.status_code == 403


def test_an_admin_replays_a_failed_delivery(
    admin_client: tuple[TestClient, str],
) -> None:
    client, csrf = admin_client
    failed, _ = make_log()
    page = client.get("/dashboard/webhooks")
    assert f'action="/dashboard/webhooks/{failed}/replay"' in row_of(page.text, failed)

    refused = client.post(f"/dashboard/webhooks/{failed}/replay", data={})
    assert refused.status_code == 403  # no CSRF token

    response = client.post(
        f"/dashboard/webhooks/{failed}/replay", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(
        "/dashboard/webhooks?notice=replayed"
    )
    with get_sessionmaker()() as session:
        row = session.get(WebhookDelivery, failed)
        assert row is not None
        assert row.status is DeliveryStatus.PENDING
        assert row.attempts == 0 and row.replays == 1
    shown = client.get("/dashboard/webhooks?notice=replayed")
    assert "The delivery is queued again" in shown.text
    assert "(replayed 1&times;)" in row_of(shown.text, failed)

    pending = client.post(
        f"/dashboard/webhooks/{failed}/replay", data={"csrf_token": csrf}
    )
    assert pending.status_code == 409
    missing = client.post(
        "/dashboard/webhooks/999999/replay", data={"csrf_token": csrf}
    )
    assert missing.status_code == 404
