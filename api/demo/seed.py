"""Deterministic demo data: three CSP partners, their staff and ten customers with a
year of subscriptions, invoices and payments.

`seed_demo(session, anchor=...)` treats `anchor` as "today" and writes the 12 months
before it. The same anchor always gives the same rows: GUIDs are `uuid5` of names,
randomness comes from `random.Random` seeded with the anchor and the customer, and no
clock is read. The notable cases (seat changes, a price rise, a credit note, an
overdue invoice, a suspended subscription, ...) are listed in the returned
`DemoSummary` and described in docs/demo-data.md.

Billing rules the generator follows (DOMAIN.md):

- New-commerce (`G`) invoices cover a calendar month, are dated the 1st of the next
  month and available by the 8th. Licence cycles start on the order day and are billed
  in the month they start; Azure usage is billed for the month it was used.
- Legacy (`D`) invoices are dated on the customer's billing anniversary day, cover the
  month from it (billed in advance) and are available 2 days later.
- Seat changes and cancellations are prorated by days over the billing cycle; line
  tax is rounded half up per line; invoice totals are the sums of their lines.
"""

from __future__ import annotations

import calendar
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.domain.models import (
    BillingFrequency,
    BillingModel,
    ChargeType,
    Commerce,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    Partner,
    PartnerRole,
    PartnerUser,
    Payment,
    ProductKind,
    Subscription,
    SubscriptionStatus,
    SupportEntitlement,
    SupportProgram,
)

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "demo.csp-billing-desk")
SEED = "csp-billing-desk-demo"
CENT = Decimal("0.01")

G_AVAILABLE_DAY = 8  # new-commerce invoices are available by the 8th
D_AVAILABLE_AFTER_DAYS = 2  # legacy invoices, 2 days after the anniversary
MONTHS_OF_HISTORY = 12
G_NUMBER_START = 24_101
D_NUMBER_START = 7_301


class DemoAlreadySeeded(RuntimeError):
    """The demo partners are already in the database."""


# --------------------------------------------------------------------------- helpers


def guid(*parts: str) -> str:
    """A stable GUID for a name, e.g. `guid("tenant", "contoso.com")`."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def cents(value: Decimal) -> Decimal:
    """`value` rounded half up to cents (half away from zero for negatives)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of `day`'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clipped to the end of shorter months."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def anniversary_in(year: int, month: int, anniversary_day: int) -> date:
    """The billing anniversary in a month, clipped to the month's last day."""
    return date(year, month, min(anniversary_day, calendar.monthrange(year, month)[1]))


def anniversary_on_or_after(day: date, anniversary_day: int) -> date:
    """The first billing anniversary (legacy `D` invoice date) on or after `day`."""
    candidate = anniversary_in(day.year, day.month, anniversary_day)
    if candidate >= day:
        return candidate
    following = add_months(month_start(day), 1)
    return anniversary_in(following.year, following.month, anniversary_day)


@dataclass(frozen=True)
class Clock:
    """The demo's calendar, computed from the anchor ("today").

    Attributes:
        anchor: The day the demo treats as today.
        latest_g_month: First day of the newest calendar month whose `G` invoice is
            available on the anchor.
    """

    anchor: date
    latest_g_month: date

    @classmethod
    def for_anchor(cls, anchor: date) -> Clock:
        """The clock for `anchor`."""
        last_closed = add_months(month_start(anchor), -1)
        if anchor.day < G_AVAILABLE_DAY:
            last_closed = add_months(last_closed, -1)
        return cls(anchor=anchor, latest_g_month=last_closed)

    def at(self, months: int, day: int) -> date:
        """Day `day` of the month `months` away from the newest invoiced month."""
        first = add_months(self.latest_g_month, months)
        return first.replace(day=min(day, month_end(first).day))

    def g_months(self) -> list[date]:
        """The invoiced calendar months, oldest first."""
        return [
            add_months(self.latest_g_month, -offset)
            for offset in range(MONTHS_OF_HISTORY - 1, -1, -1)
        ]

    def d_dates(self, anniversary_day: int) -> list[date]:
        """The legacy invoice dates for a billing anniversary day, oldest first."""
        latest = anniversary_on_or_after(month_start(self.anchor), anniversary_day)
        if latest + timedelta(days=D_AVAILABLE_AFTER_DAYS) > self.anchor:
            latest = anniversary_on_or_after(
                add_months(month_start(self.anchor), -1), anniversary_day
            )
        return [
            anniversary_on_or_after(
                add_months(month_start(latest), -offset), anniversary_day
            )
            for offset in range(MONTHS_OF_HISTORY - 1, -1, -1)
        ]


# --------------------------------------------------------------------------- partners


@dataclass(frozen=True)
class _Staff:
    name: str
    role: PartnerRole
    slack_user_id: str
    active: bool = True


@dataclass(frozen=True)
class _PartnerSpec:
    slug: str
    name: str
    domain: str
    mpn_id: str
    billing_model: BillingModel
    country: str
    currency: str
    timezone: str
    support_offer: str
    support_hours: str
    support_contact_method: str
    support_email: str
    support_phone: Optional[str]
    support_pricing: str
    payment_terms_days: int
    payment_methods: tuple[str, ...]
    payment_instructions: str
    collections_policy: str
    reminder_after_days: int
    suspend_after_days_overdue: int
    slack_channel_id: Optional[str]
    staff: tuple[_Staff, ...]


PARTNERS: tuple[_PartnerSpec, ...] = (
    _PartnerSpec(
        slug="northwind",
        name="Northwind Cloud Services",
        domain="northwindtraders.com",
        mpn_id="4810275",
        billing_model=BillingModel.DIRECT,
        country="US",
        currency="USD",
        timezone="America/Los_Angeles",
        support_offer=(
            "Northwind Cloud Services is your first line of support for everything "
            "you buy from us: invoices, payments, licences and subscription changes, "
            "and technical problems with Microsoft 365, Dynamics 365, Azure and "
            "Windows Server. We diagnose and resolve what we can ourselves and "
            "escalate the rest to Microsoft under our Premier Support for Partners "
            "contract, keeping you informed until it is fixed."
        ),
        support_hours=(
            "Monday to Friday, 7:00-19:00 Pacific Time; 24x7 by phone for "
            "Severity A (critical business impact)"
        ),
        support_contact_method=(
            "Chat here or on the customer portal, email, or phone (Severity A by "
            "phone only)"
        ),
        support_email="support@northwindtraders.com",
        support_phone="+1 425 555 0100",
        support_pricing=(
            "Included in your subscription prices: billing questions and technical "
            "support for products bought from us cost nothing extra. Project work "
            "(migrations, custom configuration) is quoted separately at USD 165 per "
            "hour."
        ),
        payment_terms_days=30,
        payment_methods=("ACH bank transfer", "Credit card", "Check"),
        payment_instructions=(
            "ACH: Woodgrove Bank, account name Northwind Cloud Services LLC, routing "
            "number 000000012, account 000123456789; put the invoice number in the "
            "payment reference. Credit card: customer portal > Billing > Pay now "
            "(Visa, Mastercard, American Express). Checks payable to Northwind Cloud "
            "Services LLC, 4000 Northwind Way, Redmond, WA 98052."
        ),
        collections_policy=(
            "Invoices are due 30 days after the invoice date. We email a reminder "
            "7 days after the due date and call your billing contact at 21 days. "
            "At 30 days overdue we suspend the affected subscriptions: your users "
            "lose access, your administrators keep access to your data, and "
            "Microsoft keeps billing us, so charges continue while suspended. Paying "
            "the overdue balance reactivates them within one business day, as long "
            "as the subscription term has not ended."
        ),
        reminder_after_days=7,
        suspend_after_days_overdue=30,
        slack_channel_id="C0NWBILLING",
        staff=(
            _Staff("Megan Bowen", PartnerRole.GLOBAL_ADMIN, "U0NW0GADM1"),
            _Staff("Isaiah Langer", PartnerRole.USER_MANAGEMENT_ADMIN, "U0NW0UMAD1"),
            _Staff("Diego Siciliani", PartnerRole.HELPDESK_AGENT, "U0NW0HELP1"),
            _Staff("Alex Wilber", PartnerRole.BILLING_ADMIN, "U0NW0BILL1"),
            _Staff("Lynne Robbins", PartnerRole.SALES_AGENT, "U0NW0SALE1"),
            _Staff("Patti Fernandez", PartnerRole.ADMIN_AGENT, "U0NW0AAGT1"),
        ),
    ),
    _PartnerSpec(
        slug="fabrikam",
        name="Fabrikam IT Solutions",
        domain="fabrikam.com",
        mpn_id="5127736",
        billing_model=BillingModel.DIRECT,
        country="GB",
        currency="GBP",
        timezone="Europe/London",
        support_offer=(
            "Fabrikam IT Solutions answers your billing, licensing and subscription "
            "questions and supports the Microsoft cloud services you buy from us. "
            "Cloud problems we cannot resolve are escalated to Microsoft through "
            "Advanced Support for Partners; on-premises products are supported on a "
            "paid, per-incident basis."
        ),
        support_hours=(
            "Monday to Friday, 08:00-18:00 UK time, except bank holidays; cloud "
            "outages (Severity A) 24x7 by phone"
        ),
        support_contact_method="Chat, email or phone",
        support_email="servicedesk@fabrikam.com",
        support_phone="+44 20 7946 0100",
        support_pricing=(
            "Billing and subscription questions are free. Technical support for "
            "Microsoft cloud services bought from us is included. On-premises "
            "products (Windows Server, SQL Server, Exchange Server) are supported at "
            "GBP 150 per incident."
        ),
        payment_terms_days=45,
        payment_methods=("BACS bank transfer", "Direct Debit"),
        payment_instructions=(
            "BACS: Woodgrove Bank plc, sort code 00-00-00, account 00012345, account "
            "name Fabrikam IT Solutions Ltd; quote the invoice number. To pay by "
            "Direct Debit, ask us for a mandate form; we collect on the due date."
        ),
        collections_policy=(
            "Payment is due 45 days from the invoice date. We send reminders 10 and "
            "30 days after the due date. After 45 days overdue we may suspend your "
            "subscriptions (users lose access; data is kept, and charges continue) "
            "and we add statutory late-payment interest. We will always contact "
            "your billing contact before suspending anything."
        ),
        reminder_after_days=10,
        suspend_after_days_overdue=45,
        slack_channel_id="C0FBBILLING",
        staff=(
            _Staff("Adele Vance", PartnerRole.GLOBAL_ADMIN, "U0FB0GADM1"),
            _Staff("Johanna Lorenz", PartnerRole.HELPDESK_AGENT, "U0FB0HELP1"),
            _Staff("Nestor Wilke", PartnerRole.BILLING_ADMIN, "U0FB0BILL1"),
            _Staff("Lee Gu", PartnerRole.SALES_AGENT, "U0FB0SALE1"),
        ),
    ),
    _PartnerSpec(
        slug="litware",
        name="Litware Partners",
        domain="litwareinc.com",
        mpn_id="6033418",
        billing_model=BillingModel.INDIRECT_RESELLER,
        country="US",
        currency="USD",
        timezone="America/Chicago",
        support_offer=(
            "Litware Partners answers billing, licensing and subscription questions "
            "for the Microsoft cloud services it resells. Our own engineers help "
            "with technical problems on a best-effort basis. We do not hold a "
            "Microsoft technical support contract, so we cannot open technical "
            "cases with Microsoft on your behalf."
        ),
        support_hours="Monday to Friday, 9:00-17:00 Central Time",
        support_contact_method="Chat or email; phone call-back on request",
        support_email="help@litwareinc.com",
        support_phone="+1 312 555 0142",
        support_pricing=(
            "Billing and subscription questions are free. Technical help is sold in "
            "blocks of 4 hours for USD 480, valid for 12 months."
        ),
        payment_terms_days=15,
        payment_methods=("Credit card", "ACH bank transfer"),
        payment_instructions=(
            "Credit card payments are collected automatically on the invoice date "
            "when a card is on file; otherwise pay at pay.litwareinc.com. ACH: "
            "Woodgrove Bank, routing 000000034, account 000987654321."
        ),
        collections_policy=(
            "Invoices are due 15 days after the invoice date. We remind you 3 days "
            "after the due date and suspend subscriptions 15 days after it; "
            "suspended subscriptions are still billed."
        ),
        reminder_after_days=3,
        suspend_after_days_overdue=15,
        slack_channel_id=None,
        staff=(
            _Staff("Grady Archie", PartnerRole.GLOBAL_ADMIN, "U0LW0GADM1"),
            _Staff(
                "Henrietta Mueller", PartnerRole.USER_MANAGEMENT_ADMIN, "U0LW0UMAD1"
            ),
            _Staff("Pradeep Gupta", PartnerRole.HELPDESK_AGENT, "U0LW0HELP1"),
            _Staff("Miriam Graham", PartnerRole.BILLING_ADMIN, "U0LW0BILL1"),
            _Staff("Joni Sherman", PartnerRole.SALES_AGENT, "U0LW0SALE1", active=False),
        ),
    ),
)


DEMO_PARTNER_SLUGS: tuple[str, ...] = tuple(spec.slug for spec in PARTNERS)


def staff_email(staff_name: str, partner_domain: str) -> str:
    """`Megan Bowen`, `northwindtraders.com` -> `megan.bowen@northwindtraders.com`."""
    return f"{staff_name.lower().replace(' ', '.')}@{partner_domain}"


def _entitlements(slug: str, clock: Clock) -> list[SupportEntitlement]:
    """The support programs each demo partner holds (Litware holds none)."""
    this_month = month_start(clock.anchor)
    if slug == "northwind":
        start = add_months(this_month, -10)
        return [
            SupportEntitlement(
                program=SupportProgram.PREMIER,
                contract_id=f"PSP-{start.year}-104871",
                valid_from=start,
                valid_to=add_months(start, 12) - timedelta(days=1),
            )
        ]
    if slug == "fabrikam":
        advanced = add_months(this_month, -7)
        return [
            SupportEntitlement(
                program=SupportProgram.ADVANCED,
                contract_id=f"ASP-{advanced.year}-220931",
                valid_from=advanced,
                valid_to=add_months(advanced, 12) - timedelta(days=1),
            ),
            SupportEntitlement(
                program=SupportProgram.PARTNER_CLOUD,
                contract_id=None,
                valid_from=add_months(this_month, -22),
                valid_to=None,
            ),
            # Gold/Silver competencies (and Signature Cloud Support with them) were
            # retired in October 2022: an expired entitlement, kept for history.
            SupportEntitlement(
                program=SupportProgram.SIGNATURE_CLOUD,
                contract_id=None,
                valid_from=date(2019, 7, 1),
                valid_to=date(2022, 9, 30),
            ),
        ]
    return []


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class _Product:
    """A product as sold: name, Partner Center SKU, kind, commerce and term."""

    name: str
    sku: str
    kind: ProductKind
    commerce: Commerce
    term_months: Optional[int]  # 1 (P1M), 12 (P1Y) or None (no term)
    billing: BillingFrequency


_LIC, _NEW, _LEGACY = ProductKind.LICENSE, Commerce.NEW, Commerce.LEGACY
_MONTHLY, _ANNUAL = BillingFrequency.MONTHLY, BillingFrequency.ANNUAL

# SKU ids follow Partner Center's PRODUCTID:SKUID form; they are illustrative.
CATALOGUE: dict[str, _Product] = {
    "m365-e3": _Product(
        "Microsoft 365 E3", "CFQ7TTC0LFLX:0001", _LIC, _NEW, 12, _MONTHLY
    ),
    "m365-e5": _Product(
        "Microsoft 365 E5", "CFQ7TTC0LFLZ:0002", _LIC, _NEW, 12, _MONTHLY
    ),
    "m365-business-premium": _Product(
        "Microsoft 365 Business Premium",
        "CFQ7TTC0LCHC:0002",
        _LIC,
        _NEW,
        12,
        _MONTHLY,
    ),
    "m365-business-premium-p1m": _Product(
        "Microsoft 365 Business Premium (monthly term)",
        "CFQ7TTC0LCHC:0002",
        _LIC,
        _NEW,
        1,
        _MONTHLY,
    ),
    "m365-business-standard-p1m": _Product(
        "Microsoft 365 Business Standard (monthly term)",
        "CFQ7TTC0LDPB:0001",
        _LIC,
        _NEW,
        1,
        _MONTHLY,
    ),
    "m365-copilot": _Product(
        "Microsoft 365 Copilot", "CFQ7TTC0MM8R:0001", _LIC, _NEW, 12, _MONTHLY
    ),
    "teams-phone-p1m": _Product(
        "Microsoft Teams Phone Standard (monthly term)",
        "CFQ7TTC0J1FV:0001",
        _LIC,
        _NEW,
        1,
        _MONTHLY,
    ),
    "exchange-online-plan-1-p1m": _Product(
        "Exchange Online (Plan 1) (monthly term)",
        "CFQ7TTC0LH16:0001",
        _LIC,
        _NEW,
        1,
        _MONTHLY,
    ),
    "d365-sales-professional-annual": _Product(
        "Dynamics 365 Sales Professional (annual billing)",
        "CFQ7TTC0LH0R:0002",
        _LIC,
        _NEW,
        12,
        _ANNUAL,
    ),
    "d365-business-central-essentials": _Product(
        "Dynamics 365 Business Central Essentials",
        "CFQ7TTC0LF8Q:0001",
        _LIC,
        _NEW,
        12,
        _MONTHLY,
    ),
    "o365-e3-legacy": _Product(
        "Office 365 E3", guid("offer", "o365-e3").upper(), _LIC, _LEGACY, 12, _MONTHLY
    ),
    "o365-e1-legacy": _Product(
        "Office 365 E1", guid("offer", "o365-e1").upper(), _LIC, _LEGACY, 12, _MONTHLY
    ),
    "azure-plan": _Product(
        "Azure plan", "DZH318Z0BPS6:0001", ProductKind.AZURE_PLAN, _NEW, None, _MONTHLY
    ),
    "relecloud-backup-saas": _Product(
        "Relecloud Backup for Microsoft 365 (Marketplace SaaS)",
        "RELECLOUD-BACKUP-M365:STANDARD",
        ProductKind.SAAS,
        _NEW,
        1,
        _MONTHLY,
    ),
    "windows-server-2022-standard": _Product(
        "Windows Server 2022 Standard - 16 Core License Pack",
        "DG7GMGF0D65N:0002",
        ProductKind.PERPETUAL_SOFTWARE,
        _NEW,
        None,
        BillingFrequency.ONE_TIME,
    ),
}


@dataclass(frozen=True)
class _Sub:
    """A customer's subscription: a catalogue product and what happened to it."""

    key: str  # the catalogue key, unique within a customer
    seats: int
    price: Decimal  # per seat per month (licences, SaaS); per unit (perpetual)
    order_date: date
    price_changes: tuple[tuple[date, Decimal], ...] = ()  # effective at renewal
    seat_changes: tuple[tuple[date, int], ...] = ()
    cancelled_on: Optional[date] = None

    @property
    def product(self) -> _Product:
        return CATALOGUE[self.key]

    @property
    def months_per_cycle(self) -> int:
        return 12 if self.product.billing is BillingFrequency.ANNUAL else 1

    def price_on(self, day: date) -> Decimal:
        price = self.price
        for effective, new_price in self.price_changes:
            if effective <= day:
                price = new_price
        return price

    def seats_on(self, day: date) -> int:
        changes = sum(delta for when, delta in self.seat_changes if when <= day)
        return self.seats + changes

    def cycle_start(self, index: int) -> date:
        return add_months(self.order_date, index * self.months_per_cycle)


def _sub(
    key: str,
    seats: int,
    price: str,
    order_date: date,
    *,
    price_changes: tuple[tuple[date, str], ...] = (),
    seat_changes: tuple[tuple[date, int], ...] = (),
    cancelled_on: Optional[date] = None,
) -> _Sub:
    return _Sub(
        key,
        seats,
        Decimal(price),
        order_date,
        tuple((when, Decimal(value)) for when, value in price_changes),
        seat_changes,
        cancelled_on,
    )


@dataclass(frozen=True)
class _OneOff:
    """A partner's own service, billed once (no Microsoft subscription)."""

    key: str
    product: str
    sku: str
    on: date
    quantity: int
    unit_price: Decimal
    description: str


@dataclass(frozen=True)
class _CustomerSpec:
    """A customer, in its partner's country and currency."""

    domain: str
    name: str
    partner: str
    tax_rate: Decimal
    subscriptions: tuple[_Sub, ...]
    anniversary_day: Optional[int] = None  # legacy billing anniversary (D invoices)
    one_offs: tuple[_OneOff, ...] = ()

    @property
    def country(self) -> str:
        return _partner_spec(self.partner).country

    @property
    def currency(self) -> str:
        return _partner_spec(self.partner).currency


def _partner_spec(slug: str) -> _PartnerSpec:
    return next(spec for spec in PARTNERS if spec.slug == slug)


def _customers(clock: Clock) -> tuple[_CustomerSpec, ...]:
    """The ten demo customers, with dates placed relative to the anchor."""
    at = clock.at
    anchor = clock.anchor
    return (
        _CustomerSpec(
            domain="contoso.com",
            name="Contoso Ltd",
            partner="northwind",
            tax_rate=Decimal("0.101"),
            subscriptions=(
                _sub(
                    "m365-e3",
                    40,
                    "36.00",
                    at(-17, 12),
                    price_changes=((at(-5, 12), "37.80"),),
                    seat_changes=((at(-3, 20), 5),),
                ),
                _sub("teams-phone-p1m", 40, "12.00", at(-20, 3)),
                _sub("azure-plan", 1, "0.00", at(-26, 1)),
            ),
        ),
        _CustomerSpec(
            domain="adventure-works.com",
            name="Adventure Works Cycles",
            partner="northwind",
            tax_rate=Decimal("0.0725"),
            anniversary_day=17,
            subscriptions=(
                _sub("o365-e3-legacy", 120, "23.00", at(-30, 17)),
                _sub("azure-plan", 1, "0.00", at(-8, 4)),
            ),
        ),
        _CustomerSpec(
            domain="alpineskihouse.com",
            name="Alpine Ski House",
            partner="northwind",
            tax_rate=Decimal("0.029"),
            subscriptions=(_sub("m365-business-premium", 18, "22.00", at(-14, 9)),),
        ),
        _CustomerSpec(
            domain="wingtiptoys.com",
            name="Wingtip Toys",
            partner="northwind",
            tax_rate=Decimal("0.0625"),
            subscriptions=(
                _sub("m365-business-premium-p1m", 12, "26.40", at(-19, 21)),
                _sub("relecloud-backup-saas", 12, "3.00", at(-6, 2)),
                _sub("windows-server-2022-standard", 2, "1069.00", at(-4, 18)),
            ),
        ),
        _CustomerSpec(
            domain="woodgrovebank.com",
            name="Woodgrove Bank",
            partner="fabrikam",
            tax_rate=Decimal("0.20"),
            subscriptions=(
                _sub(
                    "m365-e5",
                    60,
                    "47.10",
                    at(-20, 1),
                    seat_changes=((at(-7, 14), 3),),
                ),
                _sub(
                    "d365-sales-professional-annual",
                    10,
                    "53.40",
                    at(-9, 6),
                    seat_changes=((at(-5, 20), 3),),
                ),
            ),
        ),
        _CustomerSpec(
            domain="fourthcoffee.com",
            name="Fourth Coffee",
            partner="fabrikam",
            tax_rate=Decimal("0.20"),
            subscriptions=(
                _sub(
                    "m365-business-premium",
                    25,
                    "18.10",
                    at(-16, 10),
                    seat_changes=((at(-4, 13), -5),),
                ),
            ),
        ),
        _CustomerSpec(
            domain="tailspintoys.com",
            name="Tailspin Toys",
            partner="fabrikam",
            tax_rate=Decimal("0.20"),
            subscriptions=(
                _sub("azure-plan", 1, "0.00", at(-15, 1)),
                _sub("m365-business-standard-p1m", 30, "12.40", at(-13, 6)),
            ),
            one_offs=(
                _OneOff(
                    "landing-zone-onboarding",
                    "Azure landing zone onboarding (Fabrikam professional services)",
                    "FAB-PS-AZ-LZ",
                    at(-10, 22),
                    1,
                    Decimal("2400.00"),
                    "Fixed-price onboarding: landing zone design, policies, "
                    "networking and handover workshop",
                ),
            ),
        ),
        _CustomerSpec(
            domain="proseware.com",
            name="Proseware, Inc.",
            partner="litware",
            tax_rate=Decimal("0"),
            anniversary_day=5,
            subscriptions=(_sub("o365-e1-legacy", 35, "10.00", at(-40, 5)),),
        ),
        _CustomerSpec(
            domain="treyresearch.net",
            name="Trey Research",
            partner="litware",
            tax_rate=Decimal("0.0625"),
            subscriptions=(
                _sub("m365-e3", 15, "37.80", at(-8, 25)),
                _sub(
                    "d365-business-central-essentials",
                    4,
                    "80.00",
                    anchor - timedelta(days=20),
                ),
                _sub("m365-copilot", 5, "30.00", anchor - timedelta(days=3)),
            ),
        ),
        _CustomerSpec(
            domain="cohowinery.com",
            name="Coho Winery",
            partner="litware",
            tax_rate=Decimal("0.0725"),
            subscriptions=(
                _sub("m365-business-premium-p1m", 8, "26.40", at(-30, 14)),
                _sub(
                    "exchange-online-plan-1-p1m",
                    3,
                    "4.80",
                    at(-22, 14),
                    cancelled_on=at(-6, 16),
                ),
            ),
        ),
    )


# Azure meters: (name, meter id, unit, price by currency, monthly quantity range).
_AZURE_METERS: tuple[tuple[str, str, str, dict[str, Decimal], tuple[int, int]], ...] = (
    (
        "Virtual Machines Dsv5 Series - D4s v5",
        "VM-D4SV5",
        "compute hours",
        {"USD": Decimal("0.19"), "GBP": Decimal("0.16")},
        (700, 1460),
    ),
    (
        "Managed Disks - P10 LRS",
        "DISK-P10",
        "disk months",
        {"USD": Decimal("19.71"), "GBP": Decimal("16.90")},
        (2, 8),
    ),
    (
        "Bandwidth - Data Transfer Out",
        "BW-OUT",
        "GB",
        {"USD": Decimal("0.09"), "GBP": Decimal("0.07")},
        (40, 900),
    ),
    (
        "Azure SQL Database - General Purpose Gen5",
        "SQL-GP-GEN5",
        "vCore hours",
        {"USD": Decimal("0.51"), "GBP": Decimal("0.43")},
        (0, 1460),
    ),
)

# The customers behind the notable cases.
OVERDUE_CUSTOMER = "alpineskihouse.com"
PARTIALLY_PAID_CUSTOMER = "woodgrovebank.com"
CREDIT_NOTE_CUSTOMER = "contoso.com"
DUPLICATED_SUBSCRIPTION = "teams-phone-p1m"


# --------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class _Line:
    """An invoice line before it is placed on an invoice.

    `event` decides which invoice carries it; `subscription_key` is None for a
    partner's own service.
    """

    commerce: Commerce
    event: date
    subscription_key: Optional[str]
    product: str
    sku: str
    charge_type: ChargeType
    description: str
    quantity: int
    unit_price: Decimal
    charge_start: date
    charge_end: date
    subtotal: Decimal


def _charge(
    sub: _Sub,
    charge_type: ChargeType,
    description: str,
    quantity: int,
    unit_price: Decimal,
    start: date,
    end: date,
    *,
    cycle: Optional[tuple[date, date]] = None,
    product: Optional[str] = None,
    sku: Optional[str] = None,
) -> _Line:
    """A line for `sub`; prorated by days when `cycle` is the whole billing cycle."""
    subtotal = quantity * unit_price
    if cycle is not None:
        days = (end - start).days + 1
        cycle_days = (cycle[1] - cycle[0]).days + 1
        subtotal = subtotal * days / cycle_days
        description += f", prorated {days}/{cycle_days} days of the billing cycle"
    return _Line(
        commerce=sub.product.commerce,
        event=start,
        subscription_key=sub.key,
        product=product or sub.product.name,
        sku=sku or sub.product.sku,
        charge_type=charge_type,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        charge_start=start,
        charge_end=end,
        subtotal=cents(subtotal),
    )


def _subscription_lines(
    sub: _Sub, clock: Clock, rng: random.Random, currency: str
) -> list[_Line]:
    """Every charge of `sub` up to the anchor (the caller drops those not invoiced)."""
    if sub.product.kind is ProductKind.AZURE_PLAN:
        return _usage_lines(sub, clock, rng, currency)
    if sub.product.kind is ProductKind.PERPETUAL_SOFTWARE:
        day = sub.order_date
        what = f"Perpetual licence purchase, ordered {day.isoformat()}"
        return [_charge(sub, ChargeType.ONE_TIME, what, sub.seats, sub.price, day, day)]
    lines: list[_Line] = []
    per = "year" if sub.months_per_cycle == 12 else "month"
    index = 0
    while True:
        start = sub.cycle_start(index)
        if start > clock.anchor or (sub.cancelled_on and start > sub.cancelled_on):
            break
        end = sub.cycle_start(index + 1) - timedelta(days=1)
        cycle = (start, end)
        unit = sub.price_on(start) * sub.months_per_cycle
        seats = sub.seats_on(start)
        term = sub.product.term_months
        if index == 0:
            charge, what = ChargeType.NEW, "New subscription"
        elif term and (index * sub.months_per_cycle) % term == 0:
            charge, what = ChargeType.RENEW, "Renewal"
        else:
            charge, what = ChargeType.CYCLE_CHARGE, "Billing cycle"
        description = f"{what}: {seats} x {unit} per {per}"
        lines.append(_charge(sub, charge, description, seats, unit, start, end))
        for when, delta in sub.seat_changes:
            if start < when <= end and when <= clock.anchor:
                verb = "added" if delta > 0 else "removed"
                charge = (
                    ChargeType.ADD_QUANTITY if delta > 0 else ChargeType.REMOVE_QUANTITY
                )
                description = f"{abs(delta)} seats {verb} on {when.isoformat()}"
                lines.append(
                    _charge(
                        sub, charge, description, delta, unit, when, end, cycle=cycle
                    )
                )
        cancelled = sub.cancelled_on
        if cancelled and start <= cancelled <= end:
            description = f"Cancelled on {cancelled.isoformat()} (7-day window)"
            seats_then = sub.seats_on(cancelled)
            lines.append(
                _charge(
                    sub,
                    ChargeType.CANCEL,
                    description,
                    -seats_then,
                    unit,
                    cancelled,
                    end,
                    cycle=cycle,
                )
            )
        index += 1
    return lines


def _usage_lines(
    sub: _Sub, clock: Clock, rng: random.Random, currency: str
) -> list[_Line]:
    """Monthly Azure consumption, one line per meter, billed in arrears."""
    lines: list[_Line] = []
    for month in clock.g_months():
        if month_end(month) < sub.order_date:
            continue
        start = max(month, sub.order_date)
        for name, meter, unit_name, prices, (low, high) in _AZURE_METERS:
            quantity = rng.randint(low, high)
            if start != month:  # the first, partial month
                quantity = quantity * ((month_end(month) - start).days + 1) // 30
            if quantity == 0:
                continue
            price = prices[currency]
            lines.append(
                _charge(
                    sub,
                    ChargeType.USAGE,
                    f"{quantity} {unit_name} at {price}",
                    quantity,
                    price,
                    start,
                    month_end(month),
                    product=f"Azure plan - {name}",
                    sku=f"{sub.product.sku}/{meter}",
                )
            )
    return lines


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class DemoCase:
    """One notable situation in the demo data, for tests, the README and demos.

    Attributes:
        key: A stable name, e.g. `overdue_invoice`.
        title: A short human description.
        customer: The customer's name.
        domain: The customer's domain (what `mint-token --tenant` accepts).
        tenant_id: The customer's tenant GUID.
        invoice_number: The invoice that shows the case, if any.
        related_invoice_number: A second invoice (the amended one, the one before).
        subscription_id: The subscription concerned, if any.
        detail: What exactly to look at.
    """

    key: str
    title: str
    customer: str
    domain: str
    tenant_id: str
    invoice_number: Optional[str] = None
    related_invoice_number: Optional[str] = None
    subscription_id: Optional[str] = None
    detail: str = ""


@dataclass(frozen=True)
class DemoSummary:
    """What `seed_demo` wrote: counts, and the notable cases by key."""

    anchor: date
    partners: int
    support_entitlements: int
    partner_users: int
    customers: int
    subscriptions: int
    invoices: int
    credit_notes: int
    invoice_lines: int
    payments: int
    cases: dict[str, DemoCase] = field(default_factory=dict)

    def case(self, key: str) -> DemoCase:
        """The notable case named `key` (KeyError if there is none)."""
        return self.cases[key]

    def describe(self) -> str:
        """A one-line account of the counts."""
        return (
            f"anchor {self.anchor.isoformat()}: {self.partners} partners, "
            f"{self.partner_users} staff, {self.customers} customers, "
            f"{self.subscriptions} subscriptions, {self.invoices} invoices, "
            f"{self.credit_notes} credit note{'' if self.credit_notes == 1 else 's'}, "
            f"{self.invoice_lines} invoice lines, {self.payments} payments"
        )


# --------------------------------------------------------------------------- seeding


def seed_demo(session: Session, *, anchor: date) -> DemoSummary:
    """Write the demo partners, staff, customers and a year of billing.

    The session is flushed, not committed: the caller owns the transaction.

    Args:
        session: An open session on a migrated database.
        anchor: The day the demo treats as today; the data covers the 12 months
            before it.

    Returns:
        The counts and the notable cases.

    Raises:
        DemoAlreadySeeded: A demo partner already exists in the database.
    """
    existing = session.scalar(
        select(func.count())
        .select_from(Partner)
        .where(Partner.slug.in_(DEMO_PARTNER_SLUGS))
    )
    if existing:
        raise DemoAlreadySeeded("the demo partners are already in the database")
    return _Seeder(session, Clock.for_anchor(anchor)).run()


class _Seeder:
    """Builds the demo rows for one clock."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self.partners: dict[str, Partner] = {}
        self.customers: dict[str, Customer] = {}
        self.specs: dict[str, _CustomerSpec] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        # (domain, series, invoice key date) -> invoice
        self.invoices: dict[tuple[str, str, date], Invoice] = {}
        self.credit_notes: list[Invoice] = []
        self.cases: dict[str, DemoCase] = {}

    # ------------------------------------------------------------------ top level

    def run(self) -> DemoSummary:
        for spec in PARTNERS:
            self.partners[spec.slug] = self._partner(spec)
        self.session.add_all(self.partners.values())
        for customer_spec in _customers(self.clock):
            self._customer(customer_spec)
        self.session.flush()  # partners, customers, subscriptions before invoices

        # Invoices are numbered only once they all exist: no flush before that.
        with self.session.no_autoflush:
            for customer_spec in self.specs.values():
                self._invoices_for(customer_spec)
            self._duplicate_charge_and_credit_note()
            self._number_invoices()
            for customer_spec in self.specs.values():
                self._payments_for(customer_spec)
            self._suspend_for_non_payment()
        self._collect_cases()
        self.session.flush()
        return self._summary()

    # ------------------------------------------------------------------ partners

    def _partner(self, spec: _PartnerSpec) -> Partner:
        partner = Partner(
            slug=spec.slug,
            name=spec.name,
            mpn_id=spec.mpn_id,
            billing_model=spec.billing_model,
            country=spec.country,
            currency=spec.currency,
            timezone=spec.timezone,
            support_offer=spec.support_offer,
            support_hours=spec.support_hours,
            support_contact_method=spec.support_contact_method,
            support_email=spec.support_email,
            support_phone=spec.support_phone,
            support_pricing=spec.support_pricing,
            payment_terms_days=spec.payment_terms_days,
            payment_methods=list(spec.payment_methods),
            payment_instructions=spec.payment_instructions,
            collections_policy=spec.collections_policy,
            reminder_after_days=spec.reminder_after_days,
            suspend_after_days_overdue=spec.suspend_after_days_overdue,
            slack_channel_id=spec.slack_channel_id,
        )
        partner.entitlements = _entitlements(spec.slug, self.clock)
        partner.users = [
            PartnerUser(
                name=staff.name,
                email=staff_email(staff.name, spec.domain),
                role=staff.role,
                aad_object_id=guid("aad-user", staff_email(staff.name, spec.domain)),
                slack_user_id=staff.slack_user_id,
                active=staff.active,
            )
            for staff in spec.staff
        ]
        return partner

    # ------------------------------------------------------------------ customers

    def _customer(self, spec: _CustomerSpec) -> None:
        partner = self.partners[spec.partner]
        customer = Customer(
            name=spec.name,
            domain=spec.domain,
            tenant_id=guid("tenant", spec.domain),
            billing_email=f"accounts.payable@{spec.domain}",
            country=spec.country,
            currency=spec.currency,
        )
        partner.customers.append(customer)
        self.customers[spec.domain] = customer
        self.specs[spec.domain] = spec
        for sub in spec.subscriptions:
            row = self._subscription(spec, sub)
            customer.subscriptions.append(row)
            self.subscriptions[(spec.domain, sub.key)] = row

    def _subscription(self, spec: _CustomerSpec, sub: _Sub) -> Subscription:
        """The subscription row as it stands on the anchor."""
        anchor = self.clock.anchor
        product = sub.product
        renewal_date: Optional[date] = None
        term_end: Optional[date] = None
        if product.term_months:
            terms = 0  # whole terms completed by the anchor
            while (
                add_months(sub.order_date, (terms + 1) * product.term_months) <= anchor
            ):
                terms += 1
            if terms:
                renewal_date = add_months(sub.order_date, terms * product.term_months)
            next_term = add_months(sub.order_date, (terms + 1) * product.term_months)
            term_end = next_term - timedelta(days=1)
        status = SubscriptionStatus.ACTIVE
        if sub.cancelled_on:
            status, term_end = SubscriptionStatus.CANCELLED, sub.cancelled_on
        return Subscription(
            id=guid("subscription", spec.domain, sub.key),
            order_id=guid("order", spec.domain, sub.key),
            product_name=product.name,
            sku=product.sku,
            product_kind=product.kind,
            commerce=product.commerce,
            seats=sub.seats_on(anchor),
            unit_price=sub.price_on(anchor),
            currency=spec.currency,
            term={1: "P1M", 12: "P1Y"}.get(product.term_months or 0, "none"),
            billing_frequency=product.billing,
            status=status,
            order_date=sub.order_date,
            renewal_date=renewal_date,
            term_end_date=term_end,
            auto_renew=bool(product.term_months) and not sub.cancelled_on,
        )

    # ------------------------------------------------------------------ invoices

    def _rng(self, domain: str, purpose: str) -> random.Random:
        """A generator for one customer and purpose: adding a customer or a draw
        elsewhere never changes this customer's numbers. Not for secrets."""
        seed = f"{SEED}|{self.clock.anchor.isoformat()}|{domain}|{purpose}"
        return random.Random(seed)  # noqa: S311 - demo data, not cryptography

    def _invoice_key(
        self, spec: _CustomerSpec, commerce: Commerce, event: date
    ) -> tuple[str, date]:
        """The series and invoice date-key of the invoice that carries an event."""
        if commerce is Commerce.LEGACY:
            if spec.anniversary_day is None:
                raise ValueError(
                    f"{spec.domain} has legacy subscriptions but no anniversary"
                )
            return "D", anniversary_on_or_after(event, spec.anniversary_day)
        return "G", month_start(event)

    def _invoices_for(self, spec: _CustomerSpec) -> None:
        """Place every charge on its invoice; create the invoices that have lines."""
        usage_rng = self._rng(spec.domain, "usage")
        drafts: list[_Line] = []
        for sub in spec.subscriptions:
            drafts.extend(
                _subscription_lines(sub, self.clock, usage_rng, spec.currency)
            )
        for one_off in spec.one_offs:
            drafts.append(
                _Line(
                    commerce=Commerce.NEW,
                    event=one_off.on,
                    subscription_key=None,
                    product=one_off.product,
                    sku=one_off.sku,
                    charge_type=ChargeType.ONE_TIME,
                    description=one_off.description,
                    quantity=one_off.quantity,
                    unit_price=one_off.unit_price,
                    charge_start=one_off.on,
                    charge_end=one_off.on,
                    subtotal=cents(one_off.quantity * one_off.unit_price),
                )
            )
        windows = {"G": set(self.clock.g_months())}
        if spec.anniversary_day is not None:
            windows["D"] = set(self.clock.d_dates(spec.anniversary_day))
        grouped: dict[tuple[str, date], list[_Line]] = defaultdict(list)
        for draft in drafts:
            series, key = self._invoice_key(spec, draft.commerce, draft.event)
            if key in windows.get(series, set()):
                grouped[(series, key)].append(draft)
        for (series, key), lines in sorted(grouped.items()):
            invoice = self._new_invoice(spec, series, key)
            for draft in sorted(lines, key=_line_order):
                invoice.lines.append(self._line(spec, draft))
            _total(invoice)
            self.customers[spec.domain].invoices.append(invoice)
            self.invoices[(spec.domain, series, key)] = invoice

    def _new_invoice(self, spec: _CustomerSpec, series: str, key: date) -> Invoice:
        terms = self.partners[spec.partner].payment_terms_days
        if series == "G":
            period_start, period_end = key, month_end(key)
            invoice_date = period_end + timedelta(days=1)
            available = invoice_date.replace(day=G_AVAILABLE_DAY)
        else:
            assert spec.anniversary_day is not None
            period_start = key
            period_end = anniversary_on_or_after(
                key + timedelta(days=1), spec.anniversary_day
            ) - timedelta(days=1)
            invoice_date = key
            available = key + timedelta(days=D_AVAILABLE_AFTER_DAYS)
        return Invoice(
            number=f"{series}?",  # numbered once every invoice exists
            document_type=DocumentType.INVOICE,
            invoice_date=invoice_date,
            billing_period_start=period_start,
            billing_period_end=period_end,
            available_on=available,
            due_date=invoice_date + timedelta(days=terms),
            currency=spec.currency,
            subtotal=Decimal("0.00"),
            tax_total=Decimal("0.00"),
            total=Decimal("0.00"),
            paid_amount=Decimal("0.00"),
        )

    def _line(self, spec: _CustomerSpec, draft: _Line) -> InvoiceLine:
        tax = cents(draft.subtotal * spec.tax_rate)
        sub = (
            self.subscriptions[(spec.domain, draft.subscription_key)]
            if draft.subscription_key
            else None
        )
        return InvoiceLine(
            subscription_id=sub.id if sub else None,
            order_id=sub.order_id if sub else guid("order", spec.domain, draft.sku),
            product_name=draft.product,
            sku=draft.sku,
            charge_type=draft.charge_type,
            description=draft.description,
            quantity=draft.quantity,
            unit_price=draft.unit_price,
            subtotal=draft.subtotal,
            tax=tax,
            total=draft.subtotal + tax,
            charge_start=draft.charge_start,
            charge_end=draft.charge_end,
        )

    def _duplicate_charge_and_credit_note(self) -> None:
        """Bill Contoso's Teams Phone twice in one month, then credit it back."""
        spec = self.specs[CREDIT_NOTE_CUSTOMER]
        amended = self.invoices[(spec.domain, "G", self.clock.at(-2, 1))]
        original = next(
            line
            for line in amended.lines
            if line.subscription_id
            == guid("subscription", spec.domain, DUPLICATED_SUBSCRIPTION)
        )
        amended.lines.append(_copy_line(original))
        _total(amended)

        credit = _copy_line(original)
        credit.charge_type = ChargeType.CREDIT
        credit.description = (
            f"Credit for the duplicate {original.product_name} charge of "
            f"{original.charge_start.isoformat()}"
        )
        credit.quantity = -original.quantity
        credit.subtotal = -original.subtotal
        credit.tax = -original.tax
        credit.total = -original.total
        issued = amended.invoice_date + timedelta(days=12)
        note = Invoice(
            number="G?",
            document_type=DocumentType.CREDIT_NOTE,
            amends_of=amended,
            invoice_date=issued,
            billing_period_start=amended.billing_period_start,
            billing_period_end=amended.billing_period_end,
            available_on=issued,
            due_date=issued,
            currency=amended.currency,
            subtotal=Decimal("0.00"),
            tax_total=Decimal("0.00"),
            total=Decimal("0.00"),
            paid_amount=Decimal("0.00"),
        )
        note.lines.append(credit)
        _total(note)
        self.customers[spec.domain].invoices.append(note)
        self.credit_notes.append(note)

    def _number_invoices(self) -> None:
        """Number every document in date order, one counter per series."""
        order = {domain: index for index, domain in enumerate(self.specs)}
        documents = [
            (invoice, domain)
            for (domain, _series, _key), invoice in self.invoices.items()
        ] + [(note, CREDIT_NOTE_CUSTOMER) for note in self.credit_notes]
        documents.sort(
            key=lambda item: (
                item[0].invoice_date,
                item[0].number[0],
                order[item[1]],
                item[0].document_type.value,
            )
        )
        counters = {"G": G_NUMBER_START, "D": D_NUMBER_START}
        for invoice, _domain in documents:
            series = invoice.number[0]
            invoice.number = f"{series}{counters[series]:09d}"
            counters[series] += 1

    # ------------------------------------------------------------------ payments

    def _unpaid_on_purpose(self, domain: str) -> set[date]:
        """The invoice keys the notable cases leave unpaid or partly paid."""
        if domain == OVERDUE_CUSTOMER:
            return {self.clock.at(offset, 1) for offset in (-2, -1, 0)}
        if domain == PARTIALLY_PAID_CUSTOMER:
            return {self.clock.at(0, 1)}
        return set()

    def _payments_for(self, spec: _CustomerSpec) -> None:
        """Customers pay in full between availability and the due date, unless
        that is after the anchor or a notable case says otherwise."""
        partner = self.partners[spec.partner]
        rng = self._rng(spec.domain, "payments")
        special = self._unpaid_on_purpose(spec.domain)
        for (domain, series, key), invoice in sorted(
            self.invoices.items(), key=lambda item: (item[0][1], item[0][2])
        ):
            if domain != spec.domain:
                continue
            window = max((invoice.due_date - invoice.available_on).days - 1, 1)
            received = invoice.available_on + timedelta(days=rng.randint(1, window))
            method = rng.choice(partner.payment_methods)
            reference = f"PMT-{rng.randint(10**7, 10**8 - 1)}"
            if series == "G" and key in special:
                if domain != PARTIALLY_PAID_CUSTOMER:
                    continue
                amount = cents(invoice.total * Decimal("0.6"))
                received = invoice.available_on
            elif received > self.clock.anchor:
                continue
            else:
                amount = invoice.total
            invoice.payments.append(
                Payment(
                    amount=amount,
                    currency=invoice.currency,
                    received_on=received,
                    method=method,
                    reference=reference,
                )
            )
            invoice.paid_amount = amount

    def _suspend_for_non_payment(self) -> None:
        """Suspend the overdue customer's subscription per the partner's policy."""
        spec = self.specs[OVERDUE_CUSTOMER]
        partner = self.partners[spec.partner]
        overdue = self.invoices[(spec.domain, "G", self.clock.at(-2, 1))]
        suspended_on = overdue.due_date + timedelta(
            days=partner.suspend_after_days_overdue
        )
        if suspended_on > self.clock.anchor:  # cannot happen; keep the data honest
            raise AssertionError("the overdue invoice is not old enough to suspend")
        sub = self.subscriptions[(spec.domain, "m365-business-premium")]
        sub.status = SubscriptionStatus.SUSPENDED
        sub.suspended_on = suspended_on
        sub.suspension_reason = (
            f"Non-payment: invoice {overdue.number} more than "
            f"{partner.suspend_after_days_overdue} days overdue"
        )

    # ------------------------------------------------------------------ summary

    def _case(
        self,
        key: str,
        title: str,
        domain: str,
        *,
        invoice: Optional[Invoice] = None,
        related: Optional[Invoice] = None,
        subscription: Optional[str] = None,
        detail: str = "",
    ) -> None:
        customer = self.customers[domain]
        self.cases[key] = DemoCase(
            key=key,
            title=title,
            customer=customer.name,
            domain=domain,
            tenant_id=customer.tenant_id,
            invoice_number=invoice.number if invoice else None,
            related_invoice_number=related.number if related else None,
            subscription_id=(
                self.subscriptions[(domain, subscription)].id if subscription else None
            ),
            detail=detail,
        )

    def _invoice_with(
        self, domain: str, subscription: str, charge_type: ChargeType
    ) -> Optional[Invoice]:
        """The first invoice with a `charge_type` line for a subscription, if any."""
        sub_id = self.subscriptions[(domain, subscription)].id
        for (owner, _series, _key), invoice in sorted(
            self.invoices.items(), key=lambda item: item[0][2]
        ):
            if owner == domain and any(
                line.subscription_id == sub_id and line.charge_type is charge_type
                for line in invoice.lines
            ):
                return invoice
        return None

    def _g(self, domain: str, months: int) -> Invoice:
        return self.invoices[(domain, "G", self.clock.at(months, 1))]

    def _collect_cases(self) -> None:
        at = self.clock.at
        anchor = self.clock.anchor
        self._case(
            "seat_increase",
            "Seats added mid-cycle, prorated",
            "contoso.com",
            invoice=self._g("contoso.com", -3),
            subscription="m365-e3",
            detail=f"5 Microsoft 365 E3 seats added on {at(-3, 20).isoformat()}: "
            "an add_quantity line prorated to the end of the monthly cycle",
        )
        self._case(
            "seat_increase_annual_billing",
            "Seats added to an annually billed subscription, prorated over the year",
            "woodgrovebank.com",
            invoice=self._g("woodgrovebank.com", -5),
            subscription="d365-sales-professional-annual",
            detail=f"3 Dynamics 365 Sales Professional seats added on "
            f"{at(-5, 20).isoformat()}, prorated over the annual billing cycle",
        )
        self._case(
            "seat_reduction",
            "Seats removed within 7 days of renewal, prorated refund",
            "fourthcoffee.com",
            invoice=self._g("fourthcoffee.com", -4),
            subscription="m365-business-premium",
            detail=f"Renewed on {at(-4, 10).isoformat()} with 25 seats, reduced to "
            f"20 on {at(-4, 13).isoformat()}: a negative remove_quantity line",
        )
        self._case(
            "price_rise",
            "Price up 5% at renewal",
            "contoso.com",
            invoice=self._g("contoso.com", -5),
            related=self._g("contoso.com", -6),
            subscription="m365-e3",
            detail=f"Microsoft 365 E3 renewed on {at(-5, 12).isoformat()} at 37.80 "
            "per seat per month instead of 36.00 (+5%); compare with the invoice "
            "before",
        )
        self._case(
            "one_time_service",
            "One-time partner service charge",
            "tailspintoys.com",
            invoice=self._g("tailspintoys.com", -10),
            detail="Azure landing zone onboarding, GBP 2,400.00 plus VAT, a one_time "
            "line with no subscription",
        )
        self._case(
            "perpetual_licence",
            "Perpetual software purchase",
            "wingtiptoys.com",
            invoice=self._g("wingtiptoys.com", -4),
            subscription="windows-server-2022-standard",
            detail="2 x Windows Server 2022 Standard 16-core packs, one_time line "
            "(perpetual software: full refund within 30 days)",
        )
        self._case(
            "marketplace_saas",
            "Marketplace SaaS subscription",
            "wingtiptoys.com",
            invoice=self._g("wingtiptoys.com", -6),
            subscription="relecloud-backup-saas",
            detail="Relecloud Backup, 12 users, monthly (SaaS: 72-hour cancellation)",
        )
        amended = self._g(CREDIT_NOTE_CUSTOMER, -2)
        self._case(
            "credit_note",
            "Credit note for a duplicate charge",
            CREDIT_NOTE_CUSTOMER,
            invoice=self.credit_notes[0],
            related=amended,
            subscription=DUPLICATED_SUBSCRIPTION,
            detail=f"Teams Phone was billed twice on {amended.number}; the credit "
            "note reverses one charge and amends that invoice",
        )
        overdue = self._g(OVERDUE_CUSTOMER, -2)
        self._case(
            "overdue_invoice",
            "Unpaid invoice past its due date",
            OVERDUE_CUSTOMER,
            invoice=overdue,
            related=self._g(OVERDUE_CUSTOMER, -1),
            detail=f"Due {overdue.due_date.isoformat()}, nothing paid, "
            f"{(anchor - overdue.due_date).days} days overdue on the anchor; the "
            "next invoice is overdue too",
        )
        suspended = self.subscriptions[(OVERDUE_CUSTOMER, "m365-business-premium")]
        self._case(
            "suspended_subscription",
            "Subscription suspended for non-payment",
            OVERDUE_CUSTOMER,
            invoice=overdue,
            subscription="m365-business-premium",
            detail=f"Suspended on {suspended.suspended_on} after "
            f"{self.partners['northwind'].suspend_after_days_overdue} days overdue; "
            "users have no access, data is kept, charges continue",
        )
        partial = self._g(PARTIALLY_PAID_CUSTOMER, 0)
        self._case(
            "partially_paid_invoice",
            "Invoice partly paid, not yet due",
            PARTIALLY_PAID_CUSTOMER,
            invoice=partial,
            detail=f"{partial.paid_amount} of {partial.total} {partial.currency} "
            f"paid; balance due {partial.due_date.isoformat()}",
        )
        self._case(
            "order_in_cancellation_window",
            "Order placed 3 days ago (inside the 7-day window)",
            "treyresearch.net",
            subscription="m365-copilot",
            detail=f"Microsoft 365 Copilot, 5 seats, ordered "
            f"{(anchor - timedelta(days=3)).isoformat()}: can still be cancelled "
            "for a prorated refund; not invoiced yet",
        )
        self._case(
            "order_outside_cancellation_window",
            "Order placed 20 days ago (outside the 7-day window)",
            "treyresearch.net",
            invoice=self._invoice_with(
                "treyresearch.net", "d365-business-central-essentials", ChargeType.NEW
            ),
            subscription="d365-business-central-essentials",
            detail=f"Dynamics 365 Business Central Essentials, 4 seats, ordered "
            f"{(anchor - timedelta(days=20)).isoformat()}: no refund on cancellation",
        )
        self._case(
            "cancelled_subscription",
            "Subscription cancelled within 7 days of renewal",
            "cohowinery.com",
            invoice=self._g("cohowinery.com", -6),
            subscription="exchange-online-plan-1-p1m",
            detail=f"Exchange Online (Plan 1) cancelled on {at(-6, 16).isoformat()}: "
            "a negative cancel line refunds the rest of the month",
        )
        legacy = self.specs["adventure-works.com"]
        assert legacy.anniversary_day is not None
        legacy_key = self.clock.d_dates(legacy.anniversary_day)[-1]
        self._case(
            "legacy_invoice",
            "Legacy (D-series) invoice on a billing anniversary",
            "adventure-works.com",
            invoice=self.invoices[("adventure-works.com", "D", legacy_key)],
            related=self._g("adventure-works.com", 0),
            subscription="o365-e3-legacy",
            detail="Office 365 E3 (legacy) billed from the 17th, beside a G-series "
            "invoice for the Azure plan",
        )
        self._case(
            "usage_invoice",
            "Azure consumption billed in arrears",
            "tailspintoys.com",
            invoice=self._g("tailspintoys.com", 0),
            subscription="azure-plan",
            detail="usage lines per meter (compute hours, disks, bandwidth, SQL)",
        )

    def _summary(self) -> DemoSummary:
        invoices = [*self.invoices.values(), *self.credit_notes]
        return DemoSummary(
            anchor=self.clock.anchor,
            partners=len(self.partners),
            support_entitlements=sum(
                len(p.entitlements) for p in self.partners.values()
            ),
            partner_users=sum(len(p.users) for p in self.partners.values()),
            customers=len(self.customers),
            subscriptions=len(self.subscriptions),
            invoices=len(self.invoices),
            credit_notes=len(self.credit_notes),
            invoice_lines=sum(len(invoice.lines) for invoice in invoices),
            payments=sum(len(invoice.payments) for invoice in invoices),
            cases=dict(self.cases),
        )


# --------------------------------------------------------------------------- utils


def _line_order(draft: _Line) -> tuple[bool, date, str, str]:
    """Licence and one-time charges first, usage last; then by date."""
    usage = draft.charge_type is ChargeType.USAGE
    return (usage, draft.charge_start, draft.product, draft.charge_type.value)


def _copy_line(line: InvoiceLine) -> InvoiceLine:
    return InvoiceLine(
        subscription_id=line.subscription_id,
        order_id=line.order_id,
        product_name=line.product_name,
        sku=line.sku,
        charge_type=line.charge_type,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        subtotal=line.subtotal,
        tax=line.tax,
        total=line.total,
        charge_start=line.charge_start,
        charge_end=line.charge_end,
    )


def _total(invoice: Invoice) -> None:
    """Set the invoice's subtotal, tax and total to the sums of its lines."""
    invoice.subtotal = sum((line.subtotal for line in invoice.lines), Decimal("0.00"))
    invoice.tax_total = sum((line.tax for line in invoice.lines), Decimal("0.00"))
    invoice.total = invoice.subtotal + invoice.tax_total


__all__ = [
    "DEMO_PARTNER_SLUGS",
    "Clock",
    "DemoAlreadySeeded",
    "DemoCase",
    "DemoSummary",
    "add_months",
    "guid",
    "seed_demo",
]
