"""The app+user refresh token: stored only encrypted, used for the calls that need a
user, rotated on use; and the calls' ids in the log."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import select

from api.domain.db import session_scope
from api.domain.models import PartnerCenterCredential
from api.ops.cli import main
from api.settings import Settings, get_settings
from tests.partner_center.conftest import SLUG
from tests.partner_center.fake import FakePartnerCenter


def test_new_key_then_store_token_then_the_sync_uses_it(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    partner_slug: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["partner-center", "new-key"]) == 0
    key = capsys.readouterr().out.strip()
    monkeypatch.setenv("PARTNER_CENTER_TOKEN_KEY", key)
    get_settings.cache_clear()

    fake.state.refresh_tokens.add("rt-from-consent")
    monkeypatch.setattr("sys.stdin", io.StringIO("rt-from-consent\n"))
    assert (
        main(
            [
                "partner-center",
                "store-token",
                "--partner",
                SLUG,
                "--account",
                "admin@aw.example",
            ]
        )
        == 0
    )
    with session_scope() as session:
        row = session.scalars(select(PartnerCenterCredential)).one()
        assert "rt-from-consent" not in row.encrypted_refresh_token
        assert row.account == "admin@aw.example"
        stored = row.encrypted_refresh_token

    for invoice in fake.state.invoices:
        fake.state.app_only_refused.add(f"/v1/invoices/{invoice['id']}")
    assert main(["partner-center", "sync", "--partner", SLUG]) == 0
    assert "app+user" not in capsys.readouterr().out  # no note: the user token worked
    detail = fake.api_requests("/v1/invoices/G000024130")
    assert detail and detail[0]["headers"]["authorization"].startswith("Bearer user-")
    with session_scope() as session:
        row = session.scalars(select(PartnerCenterCredential)).one()
        assert row.encrypted_refresh_token != stored  # the rotated token replaced it
    assert "rt-from-consent" not in fake.state.refresh_tokens


def test_a_token_is_not_stored_without_the_key(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    partner_slug: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PARTNER_CENTER_TOKEN_KEY", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr("sys.stdin", io.StringIO("rt-x\n"))
    assert main(["partner-center", "store-token", "--partner", SLUG]) == 1
    assert "PARTNER_CENTER_TOKEN_KEY is not set" in capsys.readouterr().err
    with session_scope() as session:
        assert session.scalars(select(PartnerCenterCredential)).all() == []


def test_a_token_under_another_key_is_reported(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    partner_slug: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.partner_center.credentials import new_key

    monkeypatch.setenv("PARTNER_CENTER_TOKEN_KEY", new_key())
    get_settings.cache_clear()
    monkeypatch.setattr("sys.stdin", io.StringIO("rt-y\n"))
    assert main(["partner-center", "store-token", "--partner", SLUG]) == 0
    monkeypatch.setenv("PARTNER_CENTER_TOKEN_KEY", new_key())
    get_settings.cache_clear()
    assert main(["partner-center", "sync", "--partner", SLUG]) == 1
    assert "does not decrypt with PARTNER_CENTER_TOKEN_KEY" in capsys.readouterr().err


def test_each_call_is_logged_with_its_ids(
    fake: FakePartnerCenter, pc_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from api.partner_center.auth import AppRegistration
    from api.partner_center.client import PartnerCenterClient
    from tests.partner_center.fake import CLIENT_ID, CLIENT_SECRET, PARTNER_TENANT

    caplog.set_level(logging.INFO, logger="api.partner_center.client")
    with PartnerCenterClient(
        AppRegistration(PARTNER_TENANT, CLIENT_ID, CLIENT_SECRET), pc_settings
    ) as pc:
        list(pc.customers())
    call = fake.api_requests("/v1/customers")[0]["headers"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"MS-RequestId {call['ms-requestid']}" in logged
    assert f"MS-CorrelationId {call['ms-correlationid']}" in logged
    assert "GET /v1/customers?size=" in logged and "-> 200" in logged


def test_consent_stores_the_refresh_token_the_code_flow_gives(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    partner_slug: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from api.domain.models import Partner
    from api.partner_center.credentials import load_refresh_token, new_key

    monkeypatch.setenv("PARTNER_CENTER_TOKEN_KEY", new_key())
    get_settings.cache_clear()
    fake.state.auth_codes.add("code-from-entra")
    asked: dict[str, str] = {}

    def browser(_question: str) -> str:
        """The admin opens the printed address, consents, pastes where they landed."""
        auth_uri = capsys.readouterr().out.strip().splitlines()[-1]
        query = parse_qs(urlsplit(auth_uri).query)
        asked.update({k: v[0] for k, v in query.items()})
        return f"http://localhost:8400/?code=code-from-entra&state={query['state'][0]}"

    monkeypatch.setattr("typer.prompt", browser)
    assert main(["partner-center", "consent", "--partner", SLUG]) == 0
    assert asked["client_id"] and "user_impersonation" in asked["scope"]
    assert asked["redirect_uri"] == "http://localhost:8400"
    code_grant = [
        t for t in fake.state.token_requests if t["grant_type"] == "authorization_code"
    ]
    assert len(code_grant) == 1
    with session_scope() as session:
        partner = session.scalars(select(Partner).where(Partner.slug == SLUG)).one()
        token = load_refresh_token(session, partner, get_settings())
    assert token in fake.state.refresh_tokens
