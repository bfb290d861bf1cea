"""The demo's billing simulator: the scenario in api/demo/data/ (three CSP partners,
their staff, a product catalogue and ten customers) turned into a year of
subscriptions, invoices and payments.

`seed_demo(session, anchor=...)` treats `anchor` as "today" and writes the 12 months
before it. The same anchor always gives the same rows: GUIDs are `uuid5` of names,
randomness comes from `random.Random` seeded with the anchor and the customer, and no
clock is read. The notable cases (seat changes, a price rise, a credit note, an
overdue invoice, a suspended subscription, ...) are declared in customers.yml, listed
in the returned `DemoSummary` and described in docs/demo-data.md.

Billing rules the simulator follows (docs/domain.md):

- New-commerce (`G`) invoices cover a calendar month, are dated the 1st of the next
  month and available by the 8th. Licence cycles start on the order day and are billed
  in the month they start; Azure usage is billed for the month it was used.
- Legacy (`D`) invoices are dated on the customer's billing anniversary day, cover the
  month from it (billed in advance) and are available 2 days later.
- Seat changes and cancellations are prorated by days over the billing cycle; the
  line records the days charged and the days in the cycle; line tax is rounded half
  up per line; invoice totals are the sums of their lines.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.demo.microsoft import seed_microsoft_invoices
from api.demo.scenario import (
    CaseSpec,
    CustomerSpec,
    InvoiceRef,
    Product,
    Scenario,
    SubscriptionSpec,
    When,
    load_scenario,
)
from api.domain.models import (
    BillingFrequency,
    ChargeType,
    Commerce,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    Partner,
    Payment,
    ProductKind,
    Subscription,
    SubscriptionStatus,
)
from api.domain.profiles import PartnerProfile, apply_profile
from api.domain.services import periods

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "demo.csp-billing-desk")
SEED = "csp-billing-desk-demo"
CENT = Decimal("0.01")

G_AVAILABLE_DAY = 8  # new-commerce invoices are available by the 8th
D_AVAILABLE_AFTER_DAYS = 2  # legacy invoices, 2 days after the anniversary


class DemoAlreadySeeded(RuntimeError):
    """The demo partners are already in the database."""


# --------------------------------------------------------------------------- helpers


def purchase_time(day: date, key: str, tz_name: str) -> datetime:
    """When on `day` the demo's subscription `key` was bought (or renewed): a time
    between 08:00 and 18:00 in the partner's zone, the same for every anchor."""
    digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    minutes = 8 * 60 + digest % (10 * 60)
    local = datetime.combine(
        day, time(minutes // 60, minutes % 60), tzinfo=ZoneInfo(tz_name)
    )
    return local.astimezone(timezone.utc)


def guid(*parts: str) -> str:
    """A stable GUID for a name, e.g. `guid("tenant", "contoso.com")`."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def cents(value: Decimal) -> Decimal:
    """`value` rounded half up to cents (half away from zero for negatives)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def day_in_month(first: date, day: int) -> date:
    """Day `day` of the month starting `first`, clipped to the month's last day."""
    return first.replace(day=min(day, periods.month_end(first).day))


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clipped to the end of shorter months."""
    return day_in_month(periods.add_months(month_start(day), months), day.day)


def anniversary_on_or_after(day: date, anniversary_day: int) -> date:
    """The first billing anniversary (legacy `D` invoice date) on or after `day`."""
    candidate = day_in_month(month_start(day), anniversary_day)
    if candidate >= day:
        return candidate
    return day_in_month(periods.add_months(month_start(day), 1), anniversary_day)


@dataclass(frozen=True)
class Clock:
    """The demo's calendar, computed from the anchor ("today").

    Attributes:
        anchor: The day the demo treats as today.
        latest_g_month: First day of the newest calendar month whose `G` invoice is
            available on the anchor.
        months_of_history: How many months are invoiced, up to `latest_g_month`.
    """

    anchor: date
    latest_g_month: date
    months_of_history: int = 12

    @classmethod
    def for_anchor(cls, anchor: date, months_of_history: int = 12) -> Clock:
        """The clock for `anchor`."""
        last_closed = periods.add_months(month_start(anchor), -1)
        if anchor.day < G_AVAILABLE_DAY:
            last_closed = periods.add_months(last_closed, -1)
        return cls(anchor, last_closed, months_of_history)

    def at(self, months: int, day: int) -> date:
        """Day `day` of the month `months` away from the newest invoiced month."""
        return day_in_month(periods.add_months(self.latest_g_month, months), day)

    def on(self, when: When) -> date:
        """The day a scenario date names (see customers.yml)."""
        if when.days_ago is not None:
            return self.anchor - timedelta(days=when.days_ago)
        assert when.month is not None and when.day is not None  # When validated it
        return self.at(when.month, when.day)

    def g_months(self) -> list[date]:
        """The invoiced calendar months, oldest first."""
        return [
            periods.add_months(self.latest_g_month, -offset)
            for offset in range(self.months_of_history - 1, -1, -1)
        ]

    def d_dates(self, anniversary_day: int) -> list[date]:
        """The legacy invoice dates for a billing anniversary day, oldest first."""
        latest = anniversary_on_or_after(month_start(self.anchor), anniversary_day)
        if latest + timedelta(days=D_AVAILABLE_AFTER_DAYS) > self.anchor:
            latest = anniversary_on_or_after(
                periods.add_months(month_start(self.anchor), -1), anniversary_day
            )
        return [
            anniversary_on_or_after(
                periods.add_months(month_start(latest), -offset), anniversary_day
            )
            for offset in range(self.months_of_history - 1, -1, -1)
        ]


# --------------------------------------------------------------------------- partners


def _move(day: date, months: int) -> date:
    """`day` moved by whole months; a month's last day stays its month's last day."""
    if day == periods.month_end(day):
        return periods.month_end(periods.add_months(month_start(day), months))
    return add_months(day, months)


def dated_for(
    profile: PartnerProfile, written_for: date, anchor: date
) -> PartnerProfile:
    """`profile` with the support entitlements current on `written_for` moved by as
    many months as `anchor` is from it, so that they are current on `anchor` too.
    Expired entitlements are history and stay where they are."""
    months = (anchor.year - written_for.year) * 12 + anchor.month - written_for.month
    entitlements = [
        entitlement.model_copy(
            update={
                "start": _move(entitlement.start, months),
                "end": entitlement.end and _move(entitlement.end, months),
            }
        )
        if entitlement.end is None or entitlement.end >= written_for
        else entitlement
        for entitlement in profile.entitlements
    ]
    return profile.model_copy(update={"entitlements": entitlements})


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class _Sub:
    """A customer's subscription with its dates placed on the clock."""

    key: str  # the catalogue key, unique within a customer
    product: Product
    seats: int
    price: Decimal  # per seat per month (licences, SaaS); per unit (perpetual)
    order_date: date
    price_changes: tuple[tuple[date, Decimal], ...] = ()  # effective at renewal
    seat_changes: tuple[tuple[date, int], ...] = ()
    cancelled_on: Optional[date] = None
    suspended_for_unpaid_month: Optional[int] = None

    @classmethod
    def place(
        cls, spec: SubscriptionSpec, product: Product, currency: str, clock: Clock
    ) -> _Sub:
        return cls(
            key=spec.product,
            product=product,
            seats=spec.seats,
            price=spec.price if spec.price is not None else product.prices[currency],
            order_date=clock.on(spec.ordered),
            price_changes=tuple(
                (clock.on(c.when), c.price) for c in spec.price_changes
            ),
            seat_changes=tuple((clock.on(c.when), c.seats) for c in spec.seat_changes),
            cancelled_on=clock.on(spec.cancelled) if spec.cancelled else None,
            suspended_for_unpaid_month=spec.suspended_for_unpaid_month,
        )

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
    billing_cycle: BillingFrequency
    prorated_days: Optional[int] = None
    cycle_days: Optional[int] = None


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
    days: Optional[int] = None
    cycle_days: Optional[int] = None
    if cycle is not None:
        days = (end - start).days + 1
        cycle_days = (cycle[1] - cycle[0]).days + 1
        subtotal = subtotal * days / cycle_days
        # For people reading the invoice; code reads prorated_days / cycle_days.
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
        billing_cycle=sub.product.billing,
        prorated_days=days,
        cycle_days=cycle_days,
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
        last = periods.month_end(month)
        if last < sub.order_date:
            continue
        start = max(month, sub.order_date)
        for meter in sub.product.meters:
            low, high = meter.monthly_quantity
            quantity = rng.randint(low, high)
            if start != month:  # the first, partial month
                quantity = quantity * ((last - start).days + 1) // 30
            if quantity == 0:
                continue
            price = meter.prices[currency]
            lines.append(
                _charge(
                    sub,
                    ChargeType.USAGE,
                    f"{quantity} {meter.unit} at {price}",
                    quantity,
                    price,
                    start,
                    last,
                    product=f"{sub.product.name} - {meter.name}",
                    sku=f"{sub.product.sku}/{meter.id}",
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
    # Microsoft's invoices to the partners (api/demo/microsoft.py).
    microsoft_invoices: int = 0

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
            f"{self.invoice_lines} invoice lines, {self.payments} payments; "
            f"{self.microsoft_invoices} Microsoft invoices to the partners"
        )


# --------------------------------------------------------------------------- seeding


def seed_demo(
    session: Session, *, anchor: date, scenario: Optional[Scenario] = None
) -> DemoSummary:
    """Write the demo partners, staff, customers and a year of billing.

    The session is flushed, not committed: the caller owns the transaction.

    Args:
        session: An open session on a migrated database.
        anchor: The day the demo treats as today; the data covers the months of
            history (demo.yml) before it.
        scenario: The data to seed (default: api/demo/data/, read now).

    Returns:
        The counts and the notable cases.

    Raises:
        DemoAlreadySeeded: A demo partner already exists in the database.
        DataFileError: A data file is invalid, or a case names an invoice that the
            billing for this anchor does not have.
    """
    scenario = scenario or load_scenario()
    existing = session.scalar(
        select(func.count())
        .select_from(Partner)
        .where(Partner.slug.in_(list(scenario.partners)))
    )
    if existing:
        raise DemoAlreadySeeded("the demo partners are already in the database")
    clock = Clock.for_anchor(anchor, scenario.manifest.months_of_history)
    return _Seeder(session, scenario, clock).run()


class _Seeder:
    """Builds the demo rows for one clock."""

    def __init__(self, session: Session, scenario: Scenario, clock: Clock) -> None:
        self.session = session
        self.scenario = scenario
        self.clock = clock
        self.partners: dict[str, Partner] = {}
        self.customers: dict[str, Customer] = {}
        self.specs: dict[str, CustomerSpec] = {}
        self.subs: dict[str, list[_Sub]] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        # (domain, series, invoice key date) -> invoice
        self.invoices: dict[tuple[str, str, date], Invoice] = {}
        # credit notes in the order they were issued, with their customer and the
        # month of the invoice they amend
        self.credit_notes: list[tuple[Invoice, str, int]] = []
        self.cases: dict[str, DemoCase] = {}

    # ------------------------------------------------------------------ top level

    def run(self) -> DemoSummary:
        written_for = self.scenario.manifest.profiles_dated_for
        for slug, profile in self.scenario.partners.items():
            apply_profile(
                self.session, dated_for(profile, written_for, self.clock.anchor)
            )
            self.partners[slug] = self.session.scalars(
                select(Partner).where(Partner.slug == slug)
            ).one()
        for customer_spec in self.scenario.customers:
            self._customer(customer_spec)
        self.session.flush()  # partners, customers, subscriptions before invoices

        # Invoices are numbered only once they all exist: no flush before that.
        with self.session.no_autoflush:
            for customer_spec in self.specs.values():
                self._invoices_for(customer_spec)
            for customer_spec in self.specs.values():
                self._duplicate_charges_and_credit_notes(customer_spec)
            self._number_invoices()
            for customer_spec in self.specs.values():
                self._payments_for(customer_spec)
            for customer_spec in self.specs.values():
                self._suspend_for_non_payment(customer_spec)
        self._collect_cases()
        self.session.flush()
        microsoft = seed_microsoft_invoices(
            self.session, anchor=self.clock.anchor, scenario=self.scenario
        )
        return replace(
            self._summary(),
            microsoft_invoices=microsoft.written + microsoft.unchanged,
        )

    # ------------------------------------------------------------------ customers

    def _customer(self, spec: CustomerSpec) -> None:
        partner = self.partners[spec.partner]
        customer = Customer(
            name=spec.name,
            domain=spec.domain,
            tenant_id=spec.tenant_id,
            billing_email=spec.billing_email,
            country=partner.country,
            currency=partner.currency,
        )
        partner.customers.append(customer)
        self.customers[spec.domain] = customer
        self.specs[spec.domain] = spec
        self.subs[spec.domain] = []
        for sub_spec in spec.subscriptions:
            sub = _Sub.place(
                sub_spec,
                self.scenario.product(sub_spec.product),
                partner.currency,
                self.clock,
            )
            self.subs[spec.domain].append(sub)
            row = self._subscription(spec, sub)
            customer.subscriptions.append(row)
            self.subscriptions[(spec.domain, sub.key)] = row

    def _subscription(self, spec: CustomerSpec, sub: _Sub) -> Subscription:
        """The subscription row as it stands on the anchor."""
        anchor = self.clock.anchor
        product = sub.product
        term_months = product.term_months
        renewal_date: Optional[date] = None
        term_end: Optional[date] = None
        if term_months:
            terms = 0  # whole terms completed by the anchor
            while add_months(sub.order_date, (terms + 1) * term_months) <= anchor:
                terms += 1
            if terms:
                renewal_date = add_months(sub.order_date, terms * term_months)
            next_term = add_months(sub.order_date, (terms + 1) * term_months)
            term_end = next_term - timedelta(days=1)
        status = SubscriptionStatus.ACTIVE
        if sub.cancelled_on:
            status, term_end = SubscriptionStatus.CANCELLED, sub.cancelled_on
        zone = self.partners[spec.partner].timezone
        ordered_at = purchase_time(sub.order_date, f"{spec.domain}/{sub.key}", zone)
        return Subscription(
            id=guid("subscription", spec.domain, sub.key),
            order_id=guid("order", spec.domain, sub.key),
            product_name=product.name,
            sku=product.sku,
            product_kind=product.kind,
            commerce=product.commerce,
            seats=sub.seats_on(anchor),
            unit_price=sub.price_on(anchor),
            currency=self.customers[spec.domain].currency,
            term=product.term,
            billing_frequency=product.billing,
            status=status,
            order_date=sub.order_date,
            ordered_at=ordered_at,
            renewal_date=renewal_date,
            renewed_at=purchase_time(renewal_date, f"{spec.domain}/{sub.key}", zone)
            if renewal_date
            else None,
            term_end_date=term_end,
            auto_renew=bool(term_months) and not sub.cancelled_on,
        )

    # ------------------------------------------------------------------ invoices

    def _rng(self, domain: str, purpose: str) -> random.Random:
        """A generator for one customer and purpose: adding a customer or a draw
        elsewhere never changes this customer's numbers. Not for secrets."""
        seed = f"{SEED}|{self.clock.anchor.isoformat()}|{domain}|{purpose}"
        return random.Random(seed)  # noqa: S311 - demo data, not cryptography

    def _invoice_key(
        self, spec: CustomerSpec, commerce: Commerce, event: date
    ) -> tuple[str, date]:
        """The series and invoice date-key of the invoice that carries an event."""
        if commerce is Commerce.LEGACY:
            assert spec.anniversary_day is not None  # the scenario checks it
            return "D", anniversary_on_or_after(event, spec.anniversary_day)
        return "G", month_start(event)

    def _invoices_for(self, spec: CustomerSpec) -> None:
        """Place every charge on its invoice; create the invoices that have lines."""
        usage_rng = self._rng(spec.domain, "usage")
        currency = self.customers[spec.domain].currency
        drafts: list[_Line] = []
        for sub in self.subs[spec.domain]:
            drafts.extend(_subscription_lines(sub, self.clock, usage_rng, currency))
        for service in spec.services:
            on = self.clock.on(service.when)
            drafts.append(
                _Line(
                    commerce=Commerce.NEW,
                    event=on,
                    subscription_key=None,
                    product=service.product,
                    sku=service.sku,
                    charge_type=ChargeType.ONE_TIME,
                    description=service.description,
                    quantity=service.quantity,
                    unit_price=service.unit_price,
                    charge_start=on,
                    charge_end=on,
                    subtotal=cents(service.quantity * service.unit_price),
                    billing_cycle=BillingFrequency.ONE_TIME,
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

    def _new_invoice(self, spec: CustomerSpec, series: str, key: date) -> Invoice:
        terms = self.partners[spec.partner].payment_terms_days
        if series == "G":
            period_start, period_end = key, periods.month_end(key)
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
            currency=self.customers[spec.domain].currency,
            subtotal=Decimal("0.00"),
            tax_total=Decimal("0.00"),
            total=Decimal("0.00"),
            paid_amount=Decimal("0.00"),
        )

    def _line(self, spec: CustomerSpec, draft: _Line) -> InvoiceLine:
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
            billing_cycle=draft.billing_cycle,
            prorated_days=draft.prorated_days,
            cycle_days=draft.cycle_days,
        )

    def _g(self, domain: str, months: int) -> Optional[Invoice]:
        """The customer's G-series invoice of the month `months` away (0: newest)."""
        return self.invoices.get((domain, "G", self.clock.at(months, 1)))

    def _duplicate_charges_and_credit_notes(self, spec: CustomerSpec) -> None:
        """Charge a subscription twice on one invoice, then credit it back."""
        for index, duplicate in enumerate(spec.credit_notes):
            amended = self._g(spec.domain, duplicate.month)
            sub_id = guid("subscription", spec.domain, duplicate.duplicate_charge_of)
            original = next(
                (
                    line
                    for line in (amended.lines if amended else [])
                    if line.subscription_id == sub_id
                ),
                None,
            )
            if amended is None or original is None:
                raise self.scenario.customer_problem(
                    spec,
                    ("credit_notes", index),
                    f"the invoice of month {duplicate.month} has no "
                    f"{duplicate.duplicate_charge_of!r} charge to duplicate",
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
            issued = amended.invoice_date + timedelta(days=duplicate.issued_after_days)
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
            self.credit_notes.append((note, spec.domain, duplicate.month))

    def _number_invoices(self) -> None:
        """Number every document in date order, one counter per series."""
        order = {domain: index for index, domain in enumerate(self.specs)}
        documents = [
            (invoice, domain)
            for (domain, _series, _key), invoice in self.invoices.items()
        ] + [(note, domain) for note, domain, _month in self.credit_notes]
        documents.sort(
            key=lambda item: (
                item[0].invoice_date,
                item[0].number[0],
                order[item[1]],
                item[0].document_type.value,
            )
        )
        counters = dict(self.scenario.manifest.first_invoice_numbers)
        for invoice, _domain in documents:
            series = invoice.number[0]
            invoice.number = f"{series}{counters[series]:09d}"
            counters[series] += 1

    # ------------------------------------------------------------------ payments

    def _payments_for(self, spec: CustomerSpec) -> None:
        """Customers pay in full between availability and the due date, unless
        that is after the anchor or customers.yml leaves an invoice unpaid or
        partly paid."""
        partner = self.partners[spec.partner]
        rng = self._rng(spec.domain, "payments")
        unpaid = {self.clock.at(month, 1) for month in spec.payments.unpaid_months}
        shares = {self.clock.at(p.month, 1): p.share for p in spec.payments.partly_paid}
        for (domain, series, key), invoice in sorted(
            self.invoices.items(), key=lambda item: (item[0][1], item[0][2])
        ):
            if domain != spec.domain:
                continue
            # Every invoice draws the same numbers, paid or not, so that leaving one
            # unpaid does not change the payments of the others.
            window = max((invoice.due_date - invoice.available_on).days - 1, 1)
            received = invoice.available_on + timedelta(days=rng.randint(1, window))
            method = rng.choice(partner.payment_methods)
            reference = f"PMT-{rng.randint(10**7, 10**8 - 1)}"
            if series == "G" and key in unpaid:
                continue
            if series == "G" and key in shares:
                amount = cents(invoice.total * shares[key])
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

    def _suspend_for_non_payment(self, spec: CustomerSpec) -> None:
        """Suspend subscriptions for an unpaid invoice, per the partner's policy."""
        partner = self.partners[spec.partner]
        for index, sub in enumerate(self.subs[spec.domain]):
            month = sub.suspended_for_unpaid_month
            if month is None:
                continue
            overdue = self._g(spec.domain, month)
            suspended_on = (
                overdue.due_date + timedelta(days=partner.suspend_after_days_overdue)
                if overdue
                else None
            )
            if (
                overdue is None
                or suspended_on is None
                or suspended_on > self.clock.anchor
            ):
                raise self.scenario.customer_problem(
                    spec,
                    ("subscriptions", index, "suspended_for_unpaid_month"),
                    f"the invoice of month {month} is not "
                    f"{partner.suspend_after_days_overdue} days overdue on the anchor",
                )
            row = self.subscriptions[(spec.domain, sub.key)]
            row.status = SubscriptionStatus.SUSPENDED
            row.suspended_on = suspended_on
            row.suspension_reason = (
                f"Non-payment: invoice {overdue.number} more than "
                f"{partner.suspend_after_days_overdue} days overdue"
            )

    # ------------------------------------------------------------------ summary

    def _find(
        self, spec: CustomerSpec, case: CaseSpec, ref: InvoiceRef
    ) -> Optional[Invoice]:
        """The invoice `ref` names; None only for `first_with_charge` not yet billed."""
        domain = spec.domain
        if ref.month is not None:
            return self._g(domain, ref.month)
        if ref.legacy is not None:
            assert spec.anniversary_day is not None
            key = self.clock.d_dates(spec.anniversary_day)[-1]
            return self.invoices.get((domain, "D", key))
        if ref.credit_note_for_month is not None:
            return next(
                (
                    note
                    for note, owner, month in self.credit_notes
                    if owner == domain and month == ref.credit_note_for_month
                ),
                None,
            )
        assert ref.first_with_charge is not None and case.subscription is not None
        sub_id = self.subscriptions[(domain, case.subscription)].id
        for (owner, _series, _key), invoice in sorted(
            self.invoices.items(), key=lambda item: item[0][2]
        ):
            if owner == domain and any(
                line.subscription_id == sub_id
                and line.charge_type is ref.first_with_charge
                for line in invoice.lines
            ):
                return invoice
        return None

    def _collect_cases(self) -> None:
        for spec in self.specs.values():
            customer = self.customers[spec.domain]
            for key, case in spec.cases.items():
                found: dict[str, Optional[Invoice]] = {"invoice": None, "related": None}
                for part in ("invoice", "related"):
                    ref = getattr(case, part)
                    if ref is None:
                        continue
                    found[part] = self._find(spec, case, ref)
                    if found[part] is None and ref.first_with_charge is None:
                        raise self.scenario.customer_problem(
                            spec,
                            ("cases", key, part),
                            f"{spec.domain} has no such invoice for anchor "
                            f"{self.clock.anchor.isoformat()}",
                        )
                invoice, related = found["invoice"], found["related"]
                subscription = (
                    self.subscriptions[(spec.domain, case.subscription)]
                    if case.subscription
                    else None
                )
                context: dict[str, Any] = {
                    "anchor": self.clock.anchor,
                    "customer": customer,
                    "partner": self.partners[spec.partner],
                    "invoice": invoice,
                    "related": related,
                    "subscription": subscription,
                    "days_overdue": invoice.days_overdue(self.clock.anchor)
                    if invoice
                    else 0,
                }
                try:
                    detail = case.detail.format(**context)
                except (AttributeError, KeyError, ValueError) as exc:
                    raise self.scenario.customer_problem(
                        spec, ("cases", key, "detail"), f"cannot be written: {exc}"
                    ) from None
                self.cases[key] = DemoCase(
                    key=key,
                    title=case.title,
                    customer=customer.name,
                    domain=spec.domain,
                    tenant_id=customer.tenant_id,
                    invoice_number=invoice.number if invoice else None,
                    related_invoice_number=related.number if related else None,
                    subscription_id=subscription.id if subscription else None,
                    detail=detail,
                )

    def _summary(self) -> DemoSummary:
        notes = [note for note, _domain, _month in self.credit_notes]
        invoices = [*self.invoices.values(), *notes]
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
            credit_notes=len(notes),
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
        billing_cycle=line.billing_cycle,
        prorated_days=line.prorated_days,
        cycle_days=line.cycle_days,
    )


def _total(invoice: Invoice) -> None:
    """Set the invoice's subtotal, tax and total to the sums of its lines."""
    invoice.subtotal = sum((line.subtotal for line in invoice.lines), Decimal("0.00"))
    invoice.tax_total = sum((line.tax for line in invoice.lines), Decimal("0.00"))
    invoice.total = invoice.subtotal + invoice.tax_total


__all__ = [
    "Clock",
    "DemoAlreadySeeded",
    "DemoCase",
    "DemoSummary",
    "add_months",
    "dated_for",
    "guid",
    "seed_demo",
]
