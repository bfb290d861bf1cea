"""The sync against the fake: what it writes, that a second run writes nothing,
that what disappeared is marked, and that one customer's failure is only that."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from api.domain.db import session_scope
from api.domain.models import (
    BillingFrequency,
    Commerce,
    Customer,
    DocumentType,
    PartnerCenterInvoice,
    PartnerCenterSyncRun,
    ProductKind,
    Subscription,
    SubscriptionStatus,
)
from api.domain.services.billing import subscriptions_of
from api.partner_center.client import PartnerCenterClient
from api.partner_center.sync import SyncReport, sync_partner
from api.settings import Settings, get_settings
from tests.partner_center.conftest import no_sleep, snapshot
from tests.partner_center.fake import (
    ADATUM,
    BLUE_YONDER,
    COHO,
    EXCHANGE,
    FOURTH_COFFEE,
    M365_E3,
    TEAMS,
    FakePartnerCenter,
)


def quick(*args: Any, **kwargs: Any) -> PartnerCenterClient:
    """The client, with retries that wait nothing."""
    return PartnerCenterClient(*args, sleep=no_sleep, **kwargs)  # type: ignore[misc]


def run(slug: str, settings: Settings, **kwargs: Any) -> SyncReport:
    return sync_partner(slug, settings=settings, client_factory=quick, **kwargs)


def by_domain(session: Any, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def test_a_first_sync_brings_in_customers_subscriptions_orders_and_invoices(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    report = run(partner_slug, pc_settings)
    assert report.status == "ok", report.summary()
    counts = {k: c.as_dict() for k, c in report.counts.items()}
    assert counts["customers"] == {
        "read": 4,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
    }
    assert counts["subscriptions"]["created"] == 4
    assert counts["orders"]["read"] == 5
    assert counts["invoices"]["created"] == 2
    assert counts["invoice_lines"]["created"] == 5

    with session_scope() as session:
        adatum = by_domain(session, "adatum.onmicrosoft.com")
        assert (adatum.name, adatum.tenant_id, adatum.partner_center_id) == (
            "Adatum Corporation",
            ADATUM,
            ADATUM,
        )
        assert adatum.partner.slug == partner_slug
        assert adatum.currency == "USD"  # from its orders

        e3 = session.get(Subscription, M365_E3)
        assert e3 is not None and e3.customer_id == adatum.id
        assert (e3.product_name, e3.seats, e3.status) == (
            "Microsoft 365 E3",
            10,
            SubscriptionStatus.ACTIVE,
        )
        assert (e3.product_kind, e3.commerce, e3.term) == (
            ProductKind.LICENSE,
            Commerce.NEW,
            "P1Y",
        )
        assert e3.billing_frequency is BillingFrequency.MONTHLY
        assert (
            e3.order_id == "ord-adatum-e3" and e3.auto_renew and e3.from_partner_center
        )
        order = fake.state.orders[ADATUM][0]
        assert e3.ordered_at is not None
        assert (
            e3.ordered_at.isoformat()[:19] == order["creationDate"][:19]
        )  # the order's time
        assert e3.term_end_date is not None

        exchange = session.get(Subscription, EXCHANGE)
        assert exchange is not None
        assert exchange.status is SubscriptionStatus.SUSPENDED
        assert exchange.suspension_reason == "CustomerCancellation"
        assert exchange.suspended_on is not None

        blue = by_domain(session, "blueyonderairlines.onmicrosoft.com")
        assert (
            blue.tenant_id == BLUE_YONDER
            and subscriptions_of(session, customer_id=blue.id) == []
        )

        azure = session.get(Subscription, "5f2a9c1e-3333-4aaa-8bbb-000000000a21")
        assert azure is not None and azure.product_kind is ProductKind.AZURE_PLAN

        teams = session.get(Subscription, TEAMS)
        assert teams is not None and teams.renewed_at is not None  # the `renew` order
        assert teams.billing_frequency is BillingFrequency.ANNUAL
        assert teams.renewed_at > teams.ordered_at  # type: ignore[operator]

        invoice = session.scalars(
            select(PartnerCenterInvoice).where(
                PartnerCenterInvoice.number == "G000024130"
            )
        ).one()
        assert invoice.total_charges == Decimal("1143.00") and invoice.currency == "USD"
        assert invoice.document_type is DocumentType.INVOICE
        shares = {
            (line.customer.domain if line.customer else None, line.total)
            for line in invoice.lines
        }
        assert shares == {
            ("adatum.onmicrosoft.com", Decimal("392.40")),
            ("adatum.onmicrosoft.com", Decimal("17.44")),
            ("cohowinery.onmicrosoft.com", Decimal("708.50")),
            (None, Decimal("24.66")),  # a customer the partner no longer has
        }
        assert {line.customer_tenant_id for line in invoice.lines} >= {ADATUM, COHO}
        credit = session.scalars(
            select(PartnerCenterInvoice).where(
                PartnerCenterInvoice.number == "G000024131"
            )
        ).one()
        assert (
            credit.document_type is DocumentType.CREDIT_NOTE
            and credit.amends_of == "G000024130"
        )

        runs = session.scalars(select(PartnerCenterSyncRun)).all()
        assert [(r.status, r.trigger) for r in runs] == [("ok", "command")]
        assert runs[0].counts["customers"]["created"] == 4
        assert (
            runs[0].finished_at is not None
            and runs[0].correlation_id == report.correlation_id
        )


def test_a_second_run_changes_nothing(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    run(partner_slug, pc_settings)
    with session_scope() as session:
        before = snapshot(session)
    second = run(partner_slug, pc_settings)
    assert second.status == "ok" and not second.changed, second.summary()
    assert second.counts["customers"].unchanged == 4
    assert second.counts["subscriptions"].unchanged == 4
    assert second.counts["invoices"].unchanged == 2
    with session_scope() as session:
        assert snapshot(session) == before


def test_what_disappeared_is_marked_not_deleted_and_comes_back(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    run(partner_slug, pc_settings)
    removed_customer = fake.state.customers.pop(2)  # Coho Winery
    removed_subscription = fake.state.subscriptions[ADATUM].pop(1)  # Exchange Online
    report = run(partner_slug, pc_settings)
    assert report.counts["customers"].removed == 1
    assert report.counts["subscriptions"].removed == 1
    with session_scope() as session:
        coho = by_domain(session, "cohowinery.onmicrosoft.com")  # still there
        assert coho.partner_center_removed_at is not None
        exchange = session.get(Subscription, EXCHANGE)
        assert exchange is not None and exchange.partner_center_removed_at is not None
        adatum = by_domain(session, "adatum.onmicrosoft.com")
        assert [s.id for s in subscriptions_of(session, customer_id=adatum.id)] == [
            M365_E3
        ]

    third = run(partner_slug, pc_settings)  # still gone: nothing new to mark
    assert (
        third.counts["customers"].removed == 0
        and third.counts["subscriptions"].removed == 0
    )

    fake.state.customers.insert(2, removed_customer)
    fake.state.subscriptions[ADATUM].append(removed_subscription)
    back = run(partner_slug, pc_settings)
    assert (
        back.counts["customers"].updated == 1
        and back.counts["subscriptions"].updated == 1
    )
    with session_scope() as session:
        assert (
            by_domain(session, "cohowinery.onmicrosoft.com").partner_center_removed_at
            is None
        )
        exchange = session.get(Subscription, EXCHANGE)
        assert exchange is not None and exchange.partner_center_removed_at is None


def test_one_customers_failure_leaves_the_others_and_is_reported(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    fake.state.always_fail[f"/v1/customers/{COHO}/subscriptions"] = 500
    report = run(partner_slug, pc_settings)
    assert report.status == "partial"
    assert [(f.kind, f.key) for f in report.failures] == [("customer", COHO)]
    assert "Coho Winery" in report.summary() and "500" in report.summary()
    assert report.counts["customers"].created == 3
    with session_scope() as session:
        assert (
            session.scalars(select(Customer).where(Customer.tenant_id == COHO)).first()
            is None
        )
        for tenant in (ADATUM, BLUE_YONDER, FOURTH_COFFEE):
            assert session.scalars(
                select(Customer).where(Customer.tenant_id == tenant)
            ).one()
        run_row = session.scalars(select(PartnerCenterSyncRun)).one()
        assert run_row.status == "partial"
        assert (
            run_row.failures[0]["key"] == COHO and "500" in run_row.failures[0]["error"]
        )
    # The invoice line for Coho has no customer yet; the next run links it.
    del fake.state.always_fail[f"/v1/customers/{COHO}/subscriptions"]
    again = run(partner_slug, pc_settings)
    assert again.status == "ok" and again.counts["invoice_lines"].updated == 1
    with session_scope() as session:
        coho = by_domain(session, "cohowinery.onmicrosoft.com")
        invoice = session.scalars(
            select(PartnerCenterInvoice).where(
                PartnerCenterInvoice.number == "G000024130"
            )
        ).one()
        assert [
            line.customer_id
            for line in invoice.lines
            if line.customer_tenant_id == COHO
        ] == [coho.id]


def test_a_database_failure_in_one_customer_rolls_back_only_that_one(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    # Another partner already has Fourth Coffee's domain: that customer cannot be
    # written, the rest can.
    from api.domain.models import Partner

    with session_scope() as session:
        other = Partner(
            slug="other",
            name="Other",
            mpn_id="1",
            billing_model="direct",
            country="US",
            currency="USD",  # type: ignore[arg-type]
            support_offer="-",
            support_hours="-",
            support_contact_method="-",
            support_email="a@b.c",
            support_pricing="-",
            collections_policy="-",
        )
        session.add(other)
        session.add(
            Customer(
                partner=other,
                name="Fourth Coffee (other)",
                domain="fourthcoffee.onmicrosoft.com",
                tenant_id="99999999-0000-4000-8000-000000000000",
                billing_email="",
                country="US",
                currency="USD",
            )
        )
    report = run(partner_slug, pc_settings)
    assert [(f.kind, f.key) for f in report.failures] == [("customer", FOURTH_COFFEE)]
    assert "domain fourthcoffee.onmicrosoft.com" in report.failures[0].error
    assert report.counts["customers"].created == 3


def test_throttling_during_a_sync_is_waited_out(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    fake.state.scripted["/v1/customers"] = [(429, "1")]
    fake.state.scripted[f"/v1/customers/{ADATUM}/orders"] = [(502, None)]
    report = run(partner_slug, pc_settings)
    assert report.status == "ok", report.summary()
    assert report.counts["customers"].created == 4


def test_a_refused_token_fails_the_run_and_says_why(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    fake.state.client_secret = "rotated-in-entra"
    report = run(partner_slug, pc_settings)
    assert report.status == "failed"
    assert "AADSTS7000215" in report.summary()
    with session_scope() as session:
        assert session.scalars(select(PartnerCenterSyncRun)).one().status == "failed"
        assert session.scalars(select(Customer)).all() == []


def test_invoice_details_need_app_user_and_the_list_is_used_without(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    for invoice in fake.state.invoices:
        fake.state.app_only_refused.add(f"/v1/invoices/{invoice['id']}")
    report = run(partner_slug, pc_settings)
    assert report.status == "ok"
    assert any("app+user" in note for note in report.notes)
    assert report.counts["invoice_lines"].created == 5


def test_progress_is_reported(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    seen: list[tuple[str, int, int]] = []
    run(partner_slug, pc_settings, progress=lambda *step: seen.append(step))
    assert ("customers", 4, 4) in seen and ("invoices", 2, 2) in seen


def test_ordered_at_starts_the_window_in_the_partners_zone(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    late = datetime.now(timezone.utc).replace(
        hour=3, minute=30, second=0, microsecond=0
    ) - timedelta(days=2)
    fake.state.orders[ADATUM][0]["creationDate"] = late.strftime(
        "%Y-%m-%dT%H:%M:%S.0000000Z"
    )
    run(partner_slug, pc_settings)
    with session_scope() as session:
        e3 = session.get(Subscription, M365_E3)
        assert e3 is not None and e3.ordered_at == late
        # 03:30 UTC is the evening before in New York, the partner's zone.
        assert e3.order_date == (late - timedelta(hours=5)).date()


def test_invoices_the_app_may_not_read_are_a_note_not_a_failure(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    fake.state.always_fail["/v1/invoices"] = 403
    report = run(partner_slug, pc_settings)
    assert report.status == "ok" and report.counts["customers"].created == 4
    assert any(
        "Microsoft invoices not read" in note and "403" in note for note in report.notes
    )
    fake.state.always_fail["/v1/invoices"] = 500
    assert run(partner_slug, pc_settings).status == "partial"


def test_line_items_are_found_in_the_path_form_too(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    fake.state.line_items_by_path_only = True
    report = run(partner_slug, pc_settings)
    assert report.status == "ok", report.summary()
    assert report.counts["invoice_lines"].created == 5
    paths = {r["path"] for r in fake.api_requests("/v1/invoices/G000024130/lineitems")}
    assert "/v1/invoices/G000024130/lineitems/OneTime/BillingLineItems" in paths


def test_an_invoice_whose_line_items_are_nowhere_is_kept_without_them(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    del fake.state.line_items["G000024131"]
    report = run(partner_slug, pc_settings)
    assert report.status == "ok", report.summary()
    assert report.counts["invoices"].created == 2
    assert any("G000024131" in note and "not found" in note for note in report.notes)
    assert report.counts["invoice_lines"].created == 4
    again = run(partner_slug, pc_settings)
    assert not again.changed, again.summary()


def test_a_token_refused_mid_run_stops_the_run_once_keeping_what_was_written(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    fake.state.revoke_tokens_at = f"/v1/customers/{COHO}/"
    report = run(partner_slug, pc_settings)
    assert report.status == "failed"
    assert (
        len(report.failures) == 1
        and "refused the token (401)" in report.failures[0].error
    )
    with session_scope() as session:
        assert {c.tenant_id for c in session.scalars(select(Customer))} == {
            ADATUM,
            BLUE_YONDER,
        }


def test_the_sync_on_postgresql_is_idempotent_too(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.domain.migrate import upgrade
    from api.domain.profiles import apply_profile, profile_from_data
    from tests.conftest import reset_caches
    from tests.partner_center.conftest import SLUG, partner_profile

    upgrade(postgres_url)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    reset_caches()
    try:
        with session_scope() as session:
            apply_profile(session, profile_from_data(partner_profile(), "partner.yml"))
        first = run(SLUG, get_settings())
        assert first.status == "ok", first.summary()
        with session_scope() as session:
            before = snapshot(session)
            e3 = session.get(Subscription, M365_E3)
            assert e3 is not None and e3.from_partner_center
        second = run(SLUG, get_settings())
        assert not second.changed, second.summary()
        with session_scope() as session:
            assert snapshot(session) == before
    finally:
        reset_caches()
