"""The Partner Center client against the fake: tokens through MSAL, HTTPS with the
fake's own CA, paging by continuation token, Retry-After, back-off, 401."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from pydantic import ValidationError

from api.partner_center.auth import AppRegistration
from api.partner_center.client import PartnerCenterClient, retry_after_seconds
from api.partner_center.errors import PartnerCenterAuthError, PartnerCenterError
from api.settings import Settings, get_settings
from tests.partner_center.conftest import no_sleep
from tests.partner_center.fake import (
    ADATUM,
    CLIENT_ID,
    CLIENT_SECRET,
    PARTNER_TENANT,
    FakePartnerCenter,
)

REGISTRATION = AppRegistration(PARTNER_TENANT, CLIENT_ID, CLIENT_SECRET)


def client(settings: Settings, **kwargs: object) -> PartnerCenterClient:
    return PartnerCenterClient(REGISTRATION, settings, sleep=no_sleep, **kwargs)  # type: ignore[arg-type]


def test_customers_are_read_page_by_page_with_the_continuation_token(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    with client(pc_settings) as pc:
        customers = list(pc.customers())
    assert [c["companyProfile"]["companyName"] for c in customers] == [
        "Adatum Corporation",
        "Blue Yonder Airlines",
        "Coho Winery",
        "Fourth Coffee",
    ]
    calls = fake.api_requests("/v1/customers")
    assert len(calls) == 2  # two pages of two
    assert "ms-continuationtoken" not in calls[0]["headers"]
    assert calls[1]["headers"]["ms-continuationtoken"]
    assert calls[1]["query"].get("seekOperation") == "Next"


def test_every_call_carries_a_request_id_and_the_runs_correlation_id(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    with client(pc_settings) as pc:
        list(pc.customers())
        pc.subscriptions(ADATUM)
        correlation = pc.correlation_id
    calls = fake.api_requests()
    assert {c["headers"]["ms-correlationid"] for c in calls} == {correlation}
    request_ids = [c["headers"]["ms-requestid"] for c in calls]
    assert len(set(request_ids)) == len(calls) == 3
    for value in request_ids:
        uuid.UUID(value)
    assert all(c["headers"]["authorization"].startswith("Bearer app-") for c in calls)
    assert all(c["headers"]["accept"] == "application/json" for c in calls)


def test_the_token_comes_from_the_authority_with_the_partner_center_scope(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    with client(pc_settings) as pc:
        pc.subscriptions(ADATUM)
        pc.orders(ADATUM)
    tokens = [
        t for t in fake.state.token_requests if t["grant_type"] == "client_credentials"
    ]
    assert len(tokens) == 1  # MSAL keeps the token for the next call
    assert tokens[0]["tenant"] == PARTNER_TENANT
    assert tokens[0]["client_id"] == CLIENT_ID
    assert (
        "https://api.partnercenter.microsoft.com/.default" in tokens[0]["scope"].split()
    )


def test_429_waits_the_seconds_retry_after_gives_then_succeeds(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    fake.state.scripted[f"/v1/customers/{ADATUM}/subscriptions"] = [(429, "1")]
    with client(pc_settings) as pc:
        items = pc.subscriptions(ADATUM)
        assert pc.log.waits == [1.0]
    assert len(items) == 2
    calls = fake.api_requests(f"/v1/customers/{ADATUM}/subscriptions")
    assert len(calls) == 2
    # A retry is the same call: the same MS-RequestId.
    assert calls[0]["headers"]["ms-requestid"] == calls[1]["headers"]["ms-requestid"]


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 5, 8, 0, 0, tzinfo=timezone.utc)
    assert (
        retry_after_seconds(
            format_datetime(now + timedelta(seconds=30), usegmt=True), now
        )
        == 30
    )
    assert retry_after_seconds("7", now) == 7
    assert (
        retry_after_seconds(
            format_datetime(now - timedelta(seconds=30), usegmt=True), now
        )
        == 0
    )
    assert retry_after_seconds("soon", now) == 0


def test_a_retry_after_longer_than_the_ceiling_is_cut_to_it(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    fake.state.scripted["/v1/customers"] = [(429, "3600")]
    with client(pc_settings) as pc:
        list(pc.customers())
        assert pc.log.waits == [pc_settings.partner_center_retry_max_seconds]


def test_5xx_backs_off_and_then_succeeds(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    fake.state.scripted[f"/v1/customers/{ADATUM}/orders"] = [(503, None), (500, None)]
    with client(pc_settings) as pc:
        orders = pc.orders(ADATUM)
        waits = pc.log.waits
    assert len(orders) == 2
    assert len(waits) == 2 and all(
        0 < w <= pc_settings.partner_center_retry_max_seconds for w in waits
    )


def test_5xx_that_persists_is_one_clear_error_with_the_ids(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    fake.state.always_fail[f"/v1/customers/{ADATUM}/orders"] = 500
    with client(pc_settings) as pc, pytest.raises(PartnerCenterError) as caught:
        pc.orders(ADATUM)
    message = str(caught.value)
    assert caught.value.status == 500
    assert "after 3 tries" in message  # PARTNER_CENTER_MAX_RETRIES=2
    assert "Internal error" in message
    assert "MS-RequestId" in message and "MS-CorrelationId" in message
    assert len(fake.api_requests(f"/v1/customers/{ADATUM}/orders")) == 3


def test_a_token_partner_center_did_not_issue_gets_a_clear_401(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    with client(pc_settings) as pc:
        pc.tokens.app_token = lambda: "forged-token"  # type: ignore[method-assign]
        with pytest.raises(PartnerCenterAuthError) as caught:
            list(pc.customers())
    assert caught.value.status == 401
    assert "refused the token (401)" in str(caught.value)
    assert len(fake.api_requests()) == 1  # never retried


def test_a_wrong_client_secret_is_refused_at_the_token_endpoint(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    wrong = AppRegistration(PARTNER_TENANT, CLIENT_ID, "not-the-secret")
    with (
        PartnerCenterClient(wrong, pc_settings, sleep=no_sleep) as pc,
        pytest.raises(PartnerCenterAuthError) as caught,
    ):
        list(pc.customers())
    assert "invalid_client" in str(caught.value)
    assert "AADSTS7000215" in str(caught.value)
    assert fake.api_requests() == []


def test_the_fakes_certificate_is_not_trusted_without_its_ca(
    fake: FakePartnerCenter, pc_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with client(pc_settings) as pc, pytest.raises(PartnerCenterAuthError) as caught:
        list(pc.customers())
    assert (
        "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        or "certificate" in str(caught.value).lower()
    )


def test_ssl_cert_file_is_honoured_too(
    fake: FakePartnerCenter, pc_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_path))
    with client(pc_settings) as pc:
        assert len(list(pc.customers())) == 4


def test_only_https_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_CENTER_API_URL", "http://api.partnercenter.example")
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="https:// only"):
        get_settings()
    get_settings.cache_clear()


def test_invoice_by_id_uses_the_app_user_token_when_one_is_stored(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    fake.state.app_only_refused.add("/v1/invoices/G000024130")
    with client(pc_settings) as pc, pytest.raises(PartnerCenterAuthError, match="403"):
        pc.invoice("G000024130")
    fake.state.refresh_tokens.add("rt-consented")
    rotated: list[str] = []
    with client(
        pc_settings, refresh_token="rt-consented", on_refresh_token=rotated.append
    ) as pc:
        invoice = pc.invoice("G000024130")
        list(pc.customers())  # app-only calls stay app-only
    assert invoice["pdfDownloadLink"].endswith("/documents/statement")
    assert len(rotated) == 1 and rotated[0] in fake.state.refresh_tokens
    user_call = fake.api_requests("/v1/invoices/G000024130")[-1]
    assert user_call["headers"]["authorization"].startswith("Bearer user-")
    assert fake.api_requests("/v1/customers")[-1]["headers"][
        "authorization"
    ].startswith("Bearer app-")
    grant = [t for t in fake.state.token_requests if t["grant_type"] == "refresh_token"]
    assert (
        "https://api.partnercenter.microsoft.com/user_impersonation"
        in grant[0]["scope"].split()
    )


def test_invoice_line_items_follow_the_continuation_token(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    with client(pc_settings) as pc:
        lines = list(pc.invoice_line_items("G000024130", "onetime", "billinglineitems"))
    assert len(lines) == 4
    calls = fake.api_requests("/v1/invoices/G000024130/lineitems")
    assert len(calls) == 2
    assert calls[0]["query"]["provider"] == "onetime"
    assert calls[1]["headers"]["ms-continuationtoken"]


def test_an_authority_without_openid_configuration_gets_the_documented_token_endpoint(
    fake: FakePartnerCenter, pc_settings: Settings
) -> None:
    fake.state.serve_openid_configuration = False
    with client(pc_settings) as pc:
        assert len(list(pc.customers())) == 4
    assert [t["tenant"] for t in fake.state.token_requests] == [PARTNER_TENANT]
