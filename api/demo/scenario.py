"""The demo scenario as data: api/demo/data/ read and checked.

    scenario = load_scenario()      # DataFileError: file:line: problem

- `demo.yml`: which partner profiles to load and in what order, the day their dates
  are written for, months of history and the first invoice numbers;
- `partners/<slug>.yml`: partner profiles, read by api/domain/profiles.py (the
  same code as `csp-desk partner apply`);
- `catalogue.yml`: products, SKUs, kinds, commerce, terms, billing and prices;
  the Azure plan's meters;
- `customers.yml`: the customers, their subscriptions and what happens to them,
  the invoices left unpaid on purpose, and the notable cases.

Each file is validated by the models below and then checked against the others (a
customer's product is in the catalogue, priced in its currency, ...); every problem
is reported as `file:line: problem`. api/demo/seed.py turns the scenario into rows.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.domain.datafiles import (
    DataFileError,
    Location,
    Problem,
    display_name,
    problem_at,
    read_yaml,
    validate,
)
from api.domain.models import BillingFrequency, ChargeType, Commerce, ProductKind
from api.domain.profiles import PartnerProfile, ProfileError, load_profile

DATA_DIR = Path(__file__).resolve().parent / "data"
CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


Money = Annotated[Decimal, Field(ge=0), AfterValidator(_cents)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Guid = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

TERM_MONTHS: dict[str, Optional[int]] = {"P1M": 1, "P1Y": 12, "P3Y": 36, "none": None}

# What a case's `detail` may name: the root, and the fields of it.
DETAIL_FIELDS: dict[str, frozenset[str]] = {
    "anchor": frozenset(),
    "days_overdue": frozenset(),
    "customer": frozenset({"name", "domain"}),
    "partner": frozenset({"name", "suspend_after_days_overdue", "reminder_after_days"}),
    "invoice": frozenset(
        {
            "number",
            "invoice_date",
            "due_date",
            "billing_period_start",
            "billing_period_end",
            "total",
            "paid_amount",
            "currency",
        }
    ),
    "subscription": frozenset(
        {
            "product_name",
            "seats",
            "unit_price",
            "order_date",
            "term_end_date",
            "suspended_on",
        }
    ),
}
DETAIL_FIELDS["related"] = DETAIL_FIELDS["invoice"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- demo.yml


class MicrosoftInvoices(_Data):
    """demo.yml's `microsoft_invoices`: Microsoft's invoices to the demo partners
    (api/demo/microsoft.py)."""

    first_number: int = Field(default=51000001, ge=1, le=999_999_999)
    # What a partner adds to Microsoft's price when it bills its customer: Microsoft
    # charges the partner price x 100 / (100 + markup_percent).
    markup_percent: Decimal = Field(default=Decimal("15"), ge=0, le=400)
    # Days from Microsoft's invoice date to its due date.
    payment_terms_days: int = Field(default=60, ge=0, le=365)
    # The day of the following month Microsoft's invoice for a month is dated.
    invoice_day: int = Field(default=6, ge=1, le=28)


class Manifest(_Data):
    """demo.yml."""

    partners: list[Key] = Field(min_length=1)
    profiles_dated_for: dt.date
    months_of_history: int = Field(ge=1, le=60)
    first_invoice_numbers: dict[str, int]
    microsoft_invoices: MicrosoftInvoices = Field(default_factory=MicrosoftInvoices)

    @field_validator("partners")
    @classmethod
    def _distinct(cls, slugs: list[str]) -> list[str]:
        if len(set(slugs)) != len(slugs):
            raise ValueError("a partner is listed twice")
        return slugs

    @field_validator("first_invoice_numbers")
    @classmethod
    def _both_series(cls, numbers: dict[str, int]) -> dict[str, int]:
        if set(numbers) != {"G", "D"}:
            raise ValueError("give the first number of both series, G and D")
        return numbers


# --------------------------------------------------------------------------- catalogue


class Meter(_Data):
    """An Azure usage meter."""

    name: Text
    id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9-]+$")]
    unit: Text
    prices: dict[Currency, Money] = Field(min_length=1)
    monthly_quantity: tuple[int, int]

    @field_validator("monthly_quantity")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError("give [lowest, highest], 0 <= lowest <= highest")
        return value


class Product(_Data):
    """A product as sold."""

    name: Text
    sku: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    kind: ProductKind
    commerce: Commerce
    term: Literal["P1M", "P1Y", "P3Y", "none"]
    billing: BillingFrequency
    prices: dict[Currency, Money] = Field(default_factory=dict)
    meters: list[Meter] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        if (self.kind is ProductKind.AZURE_PLAN) != bool(self.meters):
            raise ValueError("an Azure plan, and only an Azure plan, has meters")
        one_time = self.billing is BillingFrequency.ONE_TIME
        if one_time != (self.kind is ProductKind.PERPETUAL_SOFTWARE):
            raise ValueError("perpetual software, and only it, is billed one_time")
        if one_time and self.term != "none":
            raise ValueError("a one-time purchase has no term")
        if self.billing is BillingFrequency.ANNUAL and (self.term_months or 0) < 12:
            raise ValueError("annual billing needs a term of a year or more")
        return self

    @property
    def term_months(self) -> Optional[int]:
        return TERM_MONTHS[self.term]


class Catalogue(_Data):
    """catalogue.yml."""

    products: dict[Key, Product] = Field(min_length=1)


# --------------------------------------------------------------------------- customers


class When(_Data):
    """A day relative to the anchor: `{month: -3, day: 20}` or `{days_ago: 20}`."""

    month: Optional[int] = Field(default=None, le=0)
    day: Optional[int] = Field(default=None, ge=1, le=31)
    days_ago: Optional[int] = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_form(self) -> When:
        by_month = self.month is not None and self.day is not None
        if by_month == (self.days_ago is not None) or (
            (self.month is None) != (self.day is None)
        ):
            raise ValueError("give either {month: N, day: D} or {days_ago: N}")
        return self


class PriceChange(_Data):
    when: When
    price: Money


class SeatChange(_Data):
    when: When
    seats: int

    @field_validator("seats")
    @classmethod
    def _not_zero(cls, seats: int) -> int:
        if seats == 0:
            raise ValueError("a seat change adds (+) or removes (-) seats")
        return seats


class SubscriptionSpec(_Data):
    """A customer's subscription: a catalogue product and what happens to it."""

    product: Key
    seats: int = Field(default=1, ge=1)
    price: Optional[Money] = None
    ordered: When
    price_changes: list[PriceChange] = Field(default_factory=list)
    seat_changes: list[SeatChange] = Field(default_factory=list)
    cancelled: Optional[When] = None
    suspended_for_unpaid_month: Optional[int] = Field(default=None, le=0)


class Service(_Data):
    """A partner's own service, billed once (no Microsoft subscription)."""

    key: Key
    product: Text
    sku: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    when: When
    quantity: int = Field(ge=1)
    unit_price: Money
    description: Text


class CreditNoteSpec(_Data):
    """A subscription charged twice on one invoice, and the credit note for it."""

    duplicate_charge_of: Key
    month: int = Field(le=0)
    issued_after_days: int = Field(ge=0, le=60)


class PartPayment(_Data):
    month: int = Field(le=0)
    share: Decimal = Field(gt=0, lt=1)


class PaymentsSpec(_Data):
    """Invoices the customer leaves unpaid or partly paid on purpose."""

    unpaid_months: list[Annotated[int, Field(le=0)]] = Field(default_factory=list)
    partly_paid: list[PartPayment] = Field(default_factory=list)


class InvoiceRef(_Data):
    """One of the customer's invoices (see customers.yml)."""

    month: Optional[int] = Field(default=None, le=0)
    legacy: Optional[Literal["latest"]] = None
    credit_note_for_month: Optional[int] = Field(default=None, le=0)
    first_with_charge: Optional[ChargeType] = None

    @model_validator(mode="after")
    def _one_form(self) -> InvoiceRef:
        given = [
            self.month,
            self.legacy,
            self.credit_note_for_month,
            self.first_with_charge,
        ]
        if sum(value is not None for value in given) != 1:
            raise ValueError(
                "give one of month, legacy, credit_note_for_month, first_with_charge"
            )
        return self


class CaseSpec(_Data):
    """A notable situation the demo holds, for tests, docs and demos."""

    title: Text
    subscription: Optional[Key] = None
    invoice: Optional[InvoiceRef] = None
    related: Optional[InvoiceRef] = None
    detail: Text

    @field_validator("detail")
    @classmethod
    def _known_fields(cls, detail: str) -> str:
        for root, attribute in _detail_fields(detail):
            if root not in DETAIL_FIELDS:
                raise ValueError(
                    f"{{{root}}} is not known; use one of "
                    f"{', '.join(sorted(DETAIL_FIELDS))}"
                )
            allowed = DETAIL_FIELDS[root]
            if (attribute is None) != (not allowed) or (
                attribute is not None and attribute not in allowed
            ):
                raise ValueError(
                    f"{{{root}{'.' + attribute if attribute else ''}}} is not known"
                    + (f"; use {root}.{', '.join(sorted(allowed))}" if allowed else "")
                )
        return detail

    @model_validator(mode="after")
    def _subscription_for_charges(self) -> CaseSpec:
        for ref in (self.invoice, self.related):
            if ref and ref.first_with_charge and not self.subscription:
                raise ValueError("first_with_charge needs the case's subscription")
        return self


def _detail_fields(detail: str) -> Iterator[tuple[str, Optional[str]]]:
    """(root, attribute) of each replacement field of a `detail` template."""
    try:
        parsed = list(string.Formatter().parse(detail))
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None
    for _literal, name, _spec, _conversion in parsed:
        if name is None:
            continue
        if "[" in name or name.count(".") > 1 or not name:
            raise ValueError(f"{{{name}}}: name a root or root.field")
        root, _, attribute = name.partition(".")
        yield root, attribute or None


class CustomerSpec(_Data):
    """A customer (one Microsoft Entra tenant) of a demo partner."""

    domain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")]
    name: Text
    partner: Key
    tenant_id: Guid
    billing_email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]
    tax_rate: Decimal = Field(ge=0, lt=1)
    anniversary_day: Optional[int] = Field(default=None, ge=1, le=31)
    subscriptions: list[SubscriptionSpec] = Field(min_length=1)
    services: list[Service] = Field(default_factory=list)
    credit_notes: list[CreditNoteSpec] = Field(default_factory=list)
    payments: PaymentsSpec = Field(default_factory=PaymentsSpec)
    cases: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], CaseSpec
    ] = Field(default_factory=dict)

    def subscription(self, key: str) -> Optional[SubscriptionSpec]:
        return next((s for s in self.subscriptions if s.product == key), None)


class Customers(_Data):
    """customers.yml."""

    customers: list[CustomerSpec] = Field(min_length=1)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class SourceFile:
    """A loaded data file: its name for messages and its data, for line numbers."""

    name: str
    data: Any

    def problem(self, loc: Location, message: str) -> Problem:
        return problem_at(self.data, self.name, loc, message)


@dataclass(frozen=True)
class Scenario:
    """The demo, as validated data."""

    manifest: Manifest
    partners: dict[str, PartnerProfile]  # in demo.yml's order
    catalogue: Catalogue
    customers: list[CustomerSpec]
    customers_file: SourceFile

    def product(self, key: str) -> Product:
        return self.catalogue.products[key]

    def partner_of(self, customer: CustomerSpec) -> PartnerProfile:
        return self.partners[customer.partner]

    def customer_problem(
        self, customer: CustomerSpec, loc: Location, message: str
    ) -> DataFileError:
        """A problem with a customer's data that only the simulated billing finds
        (an invoice a case names does not exist for this anchor), at its line."""
        index = self.customers.index(customer)
        return DataFileError(
            [self.customers_file.problem(("customers", index, *loc), message)]
        )


def _read(path: Path, model: type[Any]) -> tuple[Any, SourceFile]:
    data = read_yaml(path)
    source = SourceFile(display_name(path), data)
    return validate(model, data, source.name), source


def load_scenario(directory: Union[str, Path] = DATA_DIR) -> Scenario:
    """Read and check every file of the demo scenario in `directory`.

    Raises:
        DataFileError: Every problem found, each as `file:line: problem`.
    """
    folder = Path(directory)
    manifest, manifest_file = _read(folder / "demo.yml", Manifest)
    problems: list[Problem] = []
    partners: dict[str, PartnerProfile] = {}
    for index, slug in enumerate(manifest.partners):
        path = folder / "partners" / f"{slug}.yml"
        if not path.exists():
            problems.append(
                manifest_file.problem(
                    ("partners", index), f"no file {display_name(path)}"
                )
            )
            continue
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            problems += exc.problems
            continue
        if profile.slug != slug:
            problems.append(
                problem_at(
                    read_yaml(path),
                    display_name(path),
                    ("slug",),
                    f"{profile.slug!r} in a file named for {slug!r}",
                )
            )
        partners[slug] = profile
    catalogue, _ = _read(folder / "catalogue.yml", Catalogue)
    customers, customers_file = _read(folder / "customers.yml", Customers)
    if problems:
        raise DataFileError(problems)
    scenario = Scenario(
        manifest=manifest,
        partners=partners,
        catalogue=catalogue,
        customers=customers.customers,
        customers_file=customers_file,
    )
    problems = [
        customers_file.problem(loc, message) for loc, message in _cross_checks(scenario)
    ]
    if problems:
        raise DataFileError(problems)
    return scenario


def _cross_checks(scenario: Scenario) -> Iterator[tuple[Location, str]]:
    """What the customers file names that the other files do not have."""
    domains: dict[str, int] = {}
    tenants: dict[str, int] = {}
    cases: dict[str, int] = {}
    for index, customer in enumerate(scenario.customers):
        at: Location = ("customers", index)
        if domains.setdefault(customer.domain, index) != index:
            yield (
                (*at, "domain"),
                f"also the domain of customers[{domains[customer.domain]}]",
            )
        if tenants.setdefault(customer.tenant_id, index) != index:
            yield (
                (*at, "tenant_id"),
                f"also the tenant of customers[{tenants[customer.tenant_id]}]",
            )
        if customer.partner not in scenario.partners:
            yield (
                (*at, "partner"),
                (
                    f"{customer.partner!r} is not a demo partner (demo.yml: "
                    f"{', '.join(scenario.partners)})"
                ),
            )
            continue
        currency = scenario.partner_of(customer).currency
        seen: set[str] = set()
        for number, sub in enumerate(customer.subscriptions):
            where: Location = (*at, "subscriptions", number)
            if sub.product in seen:
                yield (*where, "product"), f"{sub.product!r} is listed twice"
            seen.add(sub.product)
            product = scenario.catalogue.products.get(sub.product)
            if product is None:
                yield (*where, "product"), f"{sub.product!r} is not in catalogue.yml"
                continue
            if sub.price is None and currency not in product.prices:
                yield (
                    (*where, "price"),
                    (
                        f"give a price: catalogue.yml has no {currency} price for "
                        f"{sub.product!r}"
                    ),
                )
            for meter in product.meters:
                if currency not in meter.prices:
                    yield (
                        (*where, "product"),
                        (f"catalogue.yml has no {currency} price for meter {meter.id}"),
                    )
            if product.commerce is Commerce.LEGACY and customer.anniversary_day is None:
                yield (
                    (*where, "product"),
                    ("a legacy subscription needs the customer's anniversary_day"),
                )
            month = sub.suspended_for_unpaid_month
            if month is not None and month not in customer.payments.unpaid_months:
                yield (
                    (*where, "suspended_for_unpaid_month"),
                    (f"month {month} is not in payments.unpaid_months"),
                )
        for number, note in enumerate(customer.credit_notes):
            if customer.subscription(note.duplicate_charge_of) is None:
                yield (
                    (*at, "credit_notes", number, "duplicate_charge_of"),
                    (
                        f"{customer.domain} has no {note.duplicate_charge_of!r} subscription"
                    ),
                )
        keys: set[str] = set()
        for number, service in enumerate(customer.services):
            if service.key in keys:
                yield (
                    (*at, "services", number, "key"),
                    f"{service.key!r} is listed twice",
                )
            keys.add(service.key)
        for key, case in customer.cases.items():
            if cases.setdefault(key, index) != index:
                yield (*at, "cases", key), f"also a case of customers[{cases[key]}]"
            if case.subscription and customer.subscription(case.subscription) is None:
                yield (
                    (*at, "cases", key, "subscription"),
                    (f"{customer.domain} has no {case.subscription!r} subscription"),
                )


__all__ = [
    "DATA_DIR",
    "CaseSpec",
    "Catalogue",
    "CustomerSpec",
    "Manifest",
    "Product",
    "Scenario",
    "SubscriptionSpec",
    "When",
    "load_scenario",
]
