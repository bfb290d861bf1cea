"""The metrics page shows each partner's last Partner Center sync and its counts."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.domain.db import session_scope
from api.domain.models import Partner, PartnerCenterSyncRun


def counts(customers: int, created: int) -> dict[str, dict[str, int]]:
    zero = {"read": 0, "created": 0, "updated": 0, "unchanged": 0, "removed": 0}
    return {
        "customers": {**zero, "read": customers, "created": created},
        "subscriptions": {**zero, "read": 7, "created": 2, "removed": 1},
        "invoices": {**zero, "read": 3},
        "invoice_lines": {**zero, "read": 41},
    }


def test_the_last_run_of_each_partner_is_on_the_metrics_page(
    lead_client: tuple[TestClient, str],
) -> None:
    client, _ = lead_client
    page = client.get("/dashboard/metrics")
    assert "No Partner Center sync has run yet" in page.text

    with session_scope() as session:
        northwind = session.scalars(
            select(Partner).where(Partner.slug == "northwind")
        ).one()
        session.add_all(
            [
                PartnerCenterSyncRun(
                    partner_id=northwind.id,
                    trigger="schedule",
                    status="ok",
                    started_at=datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc),
                    finished_at=datetime(2026, 12, 4, 6, 1, tzinfo=timezone.utc),
                    counts=counts(9, 9),
                    failures=[],
                ),
                PartnerCenterSyncRun(
                    partner_id=northwind.id,
                    trigger="command",
                    status="partial",
                    started_at=datetime(2026, 12, 5, 6, 0, tzinfo=timezone.utc),
                    finished_at=datetime(2026, 12, 5, 6, 2, tzinfo=timezone.utc),
                    counts=counts(12, 3),
                    failures=[
                        {
                            "kind": "customer",
                            "key": "c0ffee",
                            "name": "Coho Winery",
                            "error": "HTTP 500",
                        }
                    ],
                ),
            ]
        )
    page = client.get("/dashboard/metrics")
    assert page.status_code == 200
    section = page.text[page.text.index('id="partner-center-sync"') :]
    assert "Northwind Cloud Services" in section
    assert "2026-12-05 06:02:00 UTC" in section and "2026-12-04 06:01" not in section
    assert "partial" in section and "12 (3 new, 0 updated, 0 removed)" in section
    assert "7 (2 new, 0 updated, 1 removed)" in section and "3 (41 lines)" in section
    assert "customer Coho Winery: HTTP 500" in section
