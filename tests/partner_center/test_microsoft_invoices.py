"""Microsoft's invoices to the partner after a sync: the latest one, and what part
of it each customer accounts for."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from api.domain.db import session_scope
from api.domain.models import Customer, Partner
from api.domain.services.microsoft_invoices import (
    customer_share,
    latest_microsoft_invoice,
    microsoft_invoice,
    shares_by_customer,
)
from api.partner_center.client import PartnerCenterClient
from api.partner_center.sync import sync_partner
from api.settings import Settings
from tests.partner_center.conftest import no_sleep
from tests.partner_center.fake import ADATUM, FakePartnerCenter


def test_the_latest_invoice_and_a_customers_share_of_it(
    fake: FakePartnerCenter, pc_settings: Settings, partner_slug: str
) -> None:
    def factory(*args, **kwargs):  # type: ignore[no-untyped-def]
        return PartnerCenterClient(*args, sleep=no_sleep, **kwargs)

    assert (
        sync_partner(partner_slug, settings=pc_settings, client_factory=factory).status
        == "ok"
    )
    with session_scope() as session:
        partner = session.scalars(
            select(Partner).where(Partner.slug == partner_slug)
        ).one()
        latest = latest_microsoft_invoice(session, partner_id=partner.id)
        assert (
            latest is not None and latest.number == "G000024130"
        )  # not the credit note
        adatum = session.scalars(
            select(Customer).where(Customer.tenant_id == ADATUM)
        ).one()
        share = customer_share(latest, customer_id=adatum.id)
        assert len(share.lines) == 2
        assert (share.subtotal, share.tax, share.total) == (
            Decimal("376.00"),
            Decimal("33.84"),
            Decimal("409.84"),
        )
        shares = shares_by_customer(latest)
        assert [(name, s.total) for name, s in shares] == [
            ("Coho Winery", Decimal("708.50")),
            ("Adatum Corporation", Decimal("409.84")),
            ("Gone Customer", Decimal("24.66")),
        ]
        credit = microsoft_invoice(session, partner_id=partner.id, number="g000024131")
        assert credit is not None and credit.amends_of == "G000024130"
        assert customer_share(credit, customer_id=adatum.id).total == Decimal("-36.00")
