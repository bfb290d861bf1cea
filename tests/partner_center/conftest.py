"""Fixtures: the fake Partner Center (HTTPS, its own CA) started once per test
module, with a fresh scenario for each test, and the settings pointing at it.

    def test_x(fake, pc_settings): ...        # PARTNER_CENTER_* and REQUESTS_CA_BUNDLE set
    def test_y(fake, partner_slug): ...       # + a migrated database with the partner
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.domain.profiles import apply_profile, profile_from_data
from api.settings import Settings, get_settings
from tests.partner_center.fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    PARTNER_TENANT,
    FakePartnerCenter,
    scenario,
)

SECRET_ENV = "ADVENTURE_WORKS_PC_SECRET"
SLUG = "adventure-works"


def partner_profile() -> dict[str, Any]:
    """A new partner's profile, with its Partner Center app registration."""
    return {
        "slug": SLUG,
        "name": "Adventure Works Cloud",
        "mpn_id": "4999001",
        "billing_model": "direct",
        "country": "US",
        "currency": "USD",
        "support": {
            "offer": "We answer billing and technical questions about what you buy from us.",
            "hours": {
                "text": "Monday to Friday, 8:00-18:00 Eastern Time",
                "timezone": "America/New_York",
                "weekly": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri"],
                        "opens": "08:00",
                        "closes": "18:00",
                    }
                ],
            },
            "contact": {
                "email": "help@adventure-works.example",
                "method": "Chat or e-mail",
            },
            "pricing": "Included in your subscriptions.",
        },
        "payments": {
            "terms_days": 30,
            "methods": ["Bank transfer"],
            "accepted_currencies": ["USD"],
        },
        "collections": {
            "policy": "Reminders at 7 days overdue, suspension at 30; suspended subscriptions are still billed.",
            "reminder_after_days": 7,
            "suspend_after_days_overdue": 30,
        },
        "partner_center": {
            "tenant_id": PARTNER_TENANT,
            "client_id": CLIENT_ID,
            "client_secret_env": SECRET_ENV,
        },
    }


@pytest.fixture(scope="module")
def fake_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FakePartnerCenter]:
    server = FakePartnerCenter.start(tmp_path_factory.mktemp("fake-pc"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(fake_server: FakePartnerCenter) -> FakePartnerCenter:
    """The fake with a fresh scenario (four customers, two invoices)."""
    fake_server.state = scenario()
    return fake_server


@pytest.fixture
def pc_settings(fake: FakePartnerCenter, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that reach the fake, trusting its CA through REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("PARTNER_CENTER_API_URL", fake.base_url)
    monkeypatch.setenv("PARTNER_CENTER_AUTHORITY", fake.base_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    monkeypatch.setenv("PARTNER_CENTER_RETRY_MAX_SECONDS", "2")
    monkeypatch.setenv("PARTNER_CENTER_MAX_RETRIES", "2")
    for name in (
        "PARTNER_CENTER_TENANT_ID",
        "PARTNER_CENTER_CLIENT_ID",
        "PARTNER_CENTER_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def partner_slug(database_url: str, pc_settings: Settings) -> str:
    """A migrated database holding the partner of `partner_profile()`."""
    from api.domain.db import session_scope

    get_settings.cache_clear()
    with session_scope() as session:
        apply_profile(session, profile_from_data(partner_profile(), "partner.yml"))
    return SLUG


def no_sleep(_seconds: float) -> None:
    """Retries in tests wait nothing (the waits asked for are still recorded)."""


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the sync writes, to compare two runs."""
    from sqlalchemy import text

    tables = {
        "customers": "SELECT * FROM customers ORDER BY id",
        "subscriptions": "SELECT * FROM subscriptions ORDER BY id",
        "pc_invoices": "SELECT * FROM partner_center_invoices ORDER BY id",
        "pc_lines": "SELECT * FROM partner_center_invoice_lines ORDER BY id",
    }
    return {
        name: [tuple(row) for row in session.execute(text(sql))]
        for name, sql in tables.items()
    }
