"""Schemas of the HTTP API (pydantic v2): responses, the error envelope, and the
text fields requests share.

Money is a string with exactly two decimals ("1234.50"), never a float; dates are
ISO 8601 (`2026-11-15`). Schemas are built from the ORM rows with
`Model.model_validate(row)`; values that depend on the day (payment status) are
passed in by the route.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Generic, Optional, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from api.domain.models import (
    BillingFrequency,
    BillingModel,
    ChargeType,
    Commerce,
    DocumentType,
    Invoice,
    Partner,
    PartnerRole,
    ProductKind,
    SubscriptionStatus,
    SupportProgram,
)

MoneyStr = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
]


class _FromRows(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --------------------------------------------------------------------------- errors


class FieldProblem(BaseModel):
    """One reason a request was refused with 422."""

    where: str = Field(
        description="Where in the request: `path.<name>`, `query.<name>`, "
        "`body.<field>` (`.<index>` into lists), or `body` for the body as a whole.",
        examples=["body.summary"],
    )
    problem: str = Field(
        description="What is wrong with it, in a sentence.",
        examples=["String should have at least 5 characters"],
    )


DetailT = TypeVar("DetailT")


class _Envelope(BaseModel, Generic[DetailT]):
    """The body of every error response (api/web/errors.py)."""

    error: str = Field(
        description="A stable code: bad_request, unauthorized, forbidden, "
        "not_found, conflict, gone, too_large, validation_error, rate_limited, "
        "unavailable, internal_error.",
        examples=["not_found"],
    )
    detail: DetailT


class ErrorOut(_Envelope[str]):
    """An error: its code, and a sentence saying what went wrong."""


class ValidationErrorOut(_Envelope[list[FieldProblem]]):
    """A 422: `error` is `validation_error`, `detail` lists every problem found."""

    detail: list[FieldProblem] = Field(min_length=1)


# --------------------------------------------------------------------------- input text


def _no_controls(allowed: str) -> Callable[[str], str]:
    """A check that a text holds no control character (C0, DEL, C1) but those
    `allowed`. (Unpaired surrogates never get this far: pydantic's JSON parser
    refuses them.)"""

    def check(value: str) -> str:
        for position, char in enumerate(value):
            if unicodedata.category(char) == "Cc" and char not in allowed:
                raise PydanticCustomError(
                    "control_character",
                    "Control characters are not allowed "
                    "(found {code} at position {position})",
                    {"code": f"U+{ord(char):04X}", "position": position},
                )
        return value

    return check


def _normalise_newlines(value: object) -> object:
    """CRLF and lone CR (a Windows client's text area) become LF."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


# Bounds go on each field (`Field(min_length=..., max_length=...)`); pydantic checks
# them after the trim, so "   q   " is one character.
OneLine = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_no_controls(""))
]
"""A one-line text: trimmed; no control character at all (no newline, no tab)."""

Text = Annotated[
    str,
    BeforeValidator(_normalise_newlines),
    StringConstraints(strip_whitespace=True),
    AfterValidator(_no_controls("\n\t")),
]
"""A free text: line breaks made LF, trimmed; newline and tab are the only control
characters it may hold."""


class HealthOut(BaseModel):
    status: str
    database: str


# --------------------------------------------------------------------------- partners


class EntitlementOut(_FromRows):
    program: SupportProgram
    contract_id: Optional[str]
    valid_from: date
    valid_to: Optional[date]
    incidents_remaining: Optional[int]


class PartnerUserOut(_FromRows):
    id: int
    name: str
    email: str
    role: PartnerRole
    active: bool


class PartnerSummaryOut(_FromRows):
    id: int
    slug: str
    name: str
    mpn_id: str
    billing_model: BillingModel
    country: str
    currency: str


class SupportOut(BaseModel):
    """What the partner tells its customers about support."""

    offer: str
    hours: str
    contact_method: str
    email: str
    phone: Optional[str]
    pricing: str


class PaymentPolicyOut(BaseModel):
    """Payment terms and the collections policy."""

    terms_days: int
    methods: list[str]
    instructions: str
    collections_policy: str
    reminder_after_days: int
    suspend_after_days_overdue: int


class PartnerOut(PartnerSummaryOut):
    timezone: str
    support: SupportOut
    payments: PaymentPolicyOut
    entitlements: list[EntitlementOut]
    active_programs: list[SupportProgram]
    staff: list[PartnerUserOut]

    @classmethod
    def from_partner(cls, partner: Partner, *, today: date) -> PartnerOut:
        """The full profile of `partner`, with the programs active `today`."""
        summary = PartnerSummaryOut.model_validate(partner)
        return cls(
            **summary.model_dump(),
            timezone=partner.timezone,
            support=SupportOut(
                offer=partner.support_offer,
                hours=partner.support_hours,
                contact_method=partner.support_contact_method,
                email=partner.support_email,
                phone=partner.support_phone,
                pricing=partner.support_pricing,
            ),
            payments=PaymentPolicyOut(
                terms_days=partner.payment_terms_days,
                methods=list(partner.payment_methods),
                instructions=partner.payment_instructions,
                collections_policy=partner.collections_policy,
                reminder_after_days=partner.reminder_after_days,
                suspend_after_days_overdue=partner.suspend_after_days_overdue,
            ),
            entitlements=[
                EntitlementOut.model_validate(e) for e in partner.entitlements
            ],
            active_programs=partner.active_programs(today),
            staff=[PartnerUserOut.model_validate(u) for u in partner.users],
        )


# --------------------------------------------------------------------------- customers


class CustomerOut(_FromRows):
    id: int
    partner_id: int
    name: str
    domain: str
    tenant_id: str
    billing_email: str
    country: str
    currency: str


class SubscriptionOut(_FromRows):
    id: str
    order_id: str
    product_name: str
    sku: str
    product_kind: ProductKind
    commerce: Commerce
    seats: int
    unit_price: MoneyStr
    currency: str
    term: str
    billing_frequency: BillingFrequency
    status: SubscriptionStatus
    order_date: date
    renewal_date: Optional[date]
    term_end_date: Optional[date]
    auto_renew: bool
    suspended_on: Optional[date]
    suspension_reason: Optional[str]


class CustomerDetailOut(CustomerOut):
    subscriptions: list[SubscriptionOut]


# --------------------------------------------------------------------------- invoices


class InvoiceLineOut(_FromRows):
    id: int
    subscription_id: Optional[str]
    order_id: Optional[str]
    product_name: str
    sku: str
    charge_type: ChargeType
    description: str
    quantity: int
    unit_price: MoneyStr
    subtotal: MoneyStr
    tax: MoneyStr
    total: MoneyStr
    charge_start: date
    charge_end: date


class PaymentOut(_FromRows):
    amount: MoneyStr
    currency: str
    received_on: date
    method: str
    reference: str


class InvoiceOut(BaseModel):
    """An invoice or credit note, with its payment status on the day asked."""

    number: str
    series: str
    document_type: DocumentType
    customer_id: int
    amends_of: Optional[str]  # the number of the invoice a credit note amends
    invoice_date: date
    billing_period_start: date
    billing_period_end: date
    available_on: date
    due_date: date
    currency: str
    subtotal: MoneyStr
    tax_total: MoneyStr
    total: MoneyStr
    paid_amount: MoneyStr
    balance: MoneyStr
    payment_status: str
    days_overdue: int

    @classmethod
    def from_invoice(cls, invoice: Invoice, *, today: date) -> InvoiceOut:
        """The invoice's header, with its payment status on `today`."""
        return cls(
            number=invoice.number,
            series=invoice.series,
            document_type=invoice.document_type,
            customer_id=invoice.customer_id,
            amends_of=invoice.amends_of.number if invoice.amends_of else None,
            invoice_date=invoice.invoice_date,
            billing_period_start=invoice.billing_period_start,
            billing_period_end=invoice.billing_period_end,
            available_on=invoice.available_on,
            due_date=invoice.due_date,
            currency=invoice.currency,
            subtotal=invoice.subtotal,
            tax_total=invoice.tax_total,
            total=invoice.total,
            paid_amount=invoice.paid_amount,
            balance=invoice.balance,
            payment_status=invoice.payment_status(today),
            days_overdue=invoice.days_overdue(today),
        )


class InvoiceDetailOut(InvoiceOut):
    lines: list[InvoiceLineOut]
    payments: list[PaymentOut]

    @classmethod
    def from_invoice(cls, invoice: Invoice, *, today: date) -> InvoiceDetailOut:
        """The invoice with its lines and payments."""
        header = InvoiceOut.from_invoice(invoice, today=today)
        return cls(
            **header.model_dump(),
            lines=[InvoiceLineOut.model_validate(line) for line in invoice.lines],
            payments=[PaymentOut.model_validate(p) for p in invoice.payments],
        )
