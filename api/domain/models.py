"""The domain model: partners, their staff and customers, subscriptions, invoices,
payments and tickets (SQLAlchemy 2 style).

Money is stored as integer minor units (cents) and read back as `Decimal`, so sums are
exact on SQLite and PostgreSQL alike. Timestamps are stored in UTC.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CENT = Decimal("0.01")


# Ids are 32-bit integers (PostgreSQL `integer`): a bigger number cannot name a
# row, and must be refused before it reaches the database (SQLite and psycopg raise
# on it rather than find nothing).
MAX_DB_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(timezone.utc)


def new_guid() -> str:
    """A new lower-case GUID string, the form Partner Center uses."""
    return str(uuid.uuid4())


class Money(TypeDecorator[Decimal]):
    """A decimal amount with two places, stored as integer cents."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Optional[int]:
        if value is None:
            return None
        return int((Decimal(value).quantize(CENT)) * 100)

    def process_result_value(self, value: Any, dialect: Dialect) -> Optional[Decimal]:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENT)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as naive UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[enum.Enum]) -> Enum:
    """Store an enum by its value, as a portable VARCHAR with a CHECK constraint."""
    return Enum(
        cls,
        name=cls.__name__.lower(),
        native_enum=False,
        values_callable=lambda members: [m.value for m in members],
        length=40,
        create_constraint=True,
        validate_strings=True,
    )


# --------------------------------------------------------------------------- enums


class BillingModel(str, enum.Enum):
    DIRECT = "direct"  # CSP direct-bill (tier 1) partner
    INDIRECT_PROVIDER = "indirect_provider"
    INDIRECT_RESELLER = "indirect_reseller"


class SupportProgram(str, enum.Enum):
    """Technical support entitlements a partner can hold (docs/domain.md)."""

    PREMIER = "premier_support_for_partners"
    ADVANCED = "advanced_support_for_partners"
    PARTNER_CLOUD = "partner_cloud_support"
    SIGNATURE_CLOUD = "signature_cloud_support"  # legacy name (Gold/Silver)
    PRODUCT_SUPPORT_INCIDENTS = "product_support_incidents"


class PartnerRole(str, enum.Enum):
    """Partner Center roles named on the source page, plus Admin agent."""

    GLOBAL_ADMIN = "global_admin"
    USER_MANAGEMENT_ADMIN = "user_management_admin"
    HELPDESK_AGENT = "helpdesk_agent"
    BILLING_ADMIN = "billing_admin"
    SALES_AGENT = "sales_agent"
    ADMIN_AGENT = "admin_agent"


class ProductKind(str, enum.Enum):
    LICENSE = "license"  # per-seat online services (Microsoft 365, Dynamics 365)
    AZURE_PLAN = "azure_plan"  # usage-based cloud
    SOFTWARE_SUBSCRIPTION = "software_subscription"
    PERPETUAL_SOFTWARE = "perpetual_software"
    SAAS = "saas"  # marketplace SaaS
    ON_PREMISES = "on_premises"


class Commerce(str, enum.Enum):
    LEGACY = "legacy"  # D-series invoices
    NEW = "new"  # new commerce, G-series invoices


class SubscriptionStatus(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class BillingFrequency(str, enum.Enum):
    MONTHLY = "monthly"
    ANNUAL = "annual"
    TRIENNIAL = "triennial"
    ONE_TIME = "one_time"


class DocumentType(str, enum.Enum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class ChargeType(str, enum.Enum):
    """Charge types of the reconciliation files (docs/domain.md)."""

    NEW = "new"
    RENEW = "renew"
    CYCLE_CHARGE = "cycle_charge"
    ADD_QUANTITY = "add_quantity"
    REMOVE_QUANTITY = "remove_quantity"
    CANCEL = "cancel"
    ONE_TIME = "one_time"
    USAGE = "usage"
    CREDIT = "credit"


class TicketCategory(str, enum.Enum):
    COMMERCIAL = "commercial"
    TECHNICAL = "technical"


class TicketStatus(str, enum.Enum):
    NEW = "new"
    TRIAGED = "triaged"
    ESCALATED = "escalated"  # escalated to Microsoft, with a case number
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Severity(str, enum.Enum):
    A = "A"
    B = "B"
    C = "C"


class DeliveryStatus(str, enum.Enum):
    """Where a webhook delivery stands (api/domain/services/webhook_delivery.py)."""

    PENDING = "pending"  # waiting for its next attempt (or being attempted)
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # given up (too old, or 410 Gone); can be replayed


# --------------------------------------------------------------------------- partners


class Partner(Base):
    """A CSP partner: who bills its customers and answers their billing questions."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    mpn_id: Mapped[str] = mapped_column(String(20), unique=True)  # Partner ID
    billing_model: Mapped[BillingModel] = mapped_column(_enum(BillingModel))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(60), default="UTC")

    # What the partner tells its customers about support (docs/domain.md, "Who bills whom").
    support_offer: Mapped[str] = mapped_column(Text)
    support_hours: Mapped[str] = mapped_column(String(200))
    support_contact_method: Mapped[str] = mapped_column(String(200))
    support_email: Mapped[str] = mapped_column(String(200))
    support_phone: Mapped[Optional[str]] = mapped_column(String(40))
    support_pricing: Mapped[str] = mapped_column(Text)

    # Payments and collections.
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    payment_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    payment_instructions: Mapped[str] = mapped_column(Text, default="")
    collections_policy: Mapped[str] = mapped_column(Text)
    reminder_after_days: Mapped[int] = mapped_column(Integer, default=7)
    suspend_after_days_overdue: Mapped[int] = mapped_column(Integer, default=30)

    # Where a handoff is announced (optional).
    teams_channel_webhook: Mapped[Optional[str]] = mapped_column(String(500))
    slack_channel_id: Mapped[Optional[str]] = mapped_column(String(40))
    # A Teams channel ("19:...@thread.tacv2") where the Teams bot itself posts the
    # notice, so that replies in its thread reach the customer.
    teams_channel_id: Mapped[Optional[str]] = mapped_column(String(200))

    # The support hours as data (api/domain/profiles.py, `SupportHours`): weekly
    # opening times and holidays in `timezone`; `support_hours` is their wording.
    # None for a partner whose profile gave only the wording.
    support_schedule: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # Currencies the partner takes payment in (ISO 4217); `currency` is among them.
    accepted_currencies: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # The partner's Partner Center app registration. The client secret is never
    # stored: only the name of the environment variable that holds it.
    partner_center_tenant_id: Mapped[Optional[str]] = mapped_column(String(36))
    partner_center_client_id: Mapped[Optional[str]] = mapped_column(String(36))
    partner_center_secret_env: Mapped[Optional[str]] = mapped_column(String(100))
    # How the partner numbers its own invoices to its customers: a prefix, a
    # regular expression every number matches in full, and an example number.
    invoice_number_prefix: Mapped[Optional[str]] = mapped_column(String(20))
    invoice_number_pattern: Mapped[Optional[str]] = mapped_column(String(200))
    invoice_number_example: Mapped[Optional[str]] = mapped_column(String(40))
    # The partner's helpdesk webhook endpoints (api/domain/profiles.py,
    # `WebhookEndpoint`): name, url, secret_env (the NAME of the environment
    # variable holding the signing secret, never the secret) and events.
    webhook_endpoints: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )

    entitlements: Mapped[list[SupportEntitlement]] = relationship(
        back_populates="partner", cascade="all, delete-orphan"
    )
    users: Mapped[list[PartnerUser]] = relationship(
        back_populates="partner", cascade="all, delete-orphan"
    )
    customers: Mapped[list[Customer]] = relationship(
        back_populates="partner", cascade="all, delete-orphan"
    )

    def active_programs(self, on: date) -> list[SupportProgram]:
        """The technical support programs this partner holds on `on`."""
        return [e.program for e in self.entitlements if e.is_active(on)]


class SupportEntitlement(Base):
    """A technical support program held by a partner for a period."""

    __tablename__ = "support_entitlements"
    __table_args__ = (UniqueConstraint("partner_id", "program", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    program: Mapped[SupportProgram] = mapped_column(_enum(SupportProgram))
    contract_id: Mapped[Optional[str]] = mapped_column(String(60))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[Optional[date]] = mapped_column(Date)
    incidents_remaining: Mapped[Optional[int]] = mapped_column(Integer)

    partner: Mapped[Partner] = relationship(back_populates="entitlements")

    def is_active(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


class PartnerUser(Base):
    """A member of a partner's staff, with a Partner Center role."""

    __tablename__ = "partner_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[PartnerRole] = mapped_column(_enum(PartnerRole))
    # Channel identities: Teams (AAD object id) and Slack (user id).
    aad_object_id: Mapped[Optional[str]] = mapped_column(String(36), unique=True)
    slack_user_id: Mapped[Optional[str]] = mapped_column(String(40), unique=True)
    active: Mapped[bool] = mapped_column(default=True)

    partner: Mapped[Partner] = relationship(back_populates="users")


# --------------------------------------------------------------------------- customers


class Customer(Base):
    """A partner's customer: one Microsoft Entra tenant."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(36), unique=True)
    billing_email: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    # Set on customers brought in by the Partner Center sync (api/partner_center/):
    # Partner Center's customer id, and when a sync first found the customer gone
    # from the partner's list (marked, never deleted; None while it is listed).
    partner_center_id: Mapped[Optional[str]] = mapped_column(String(36), index=True)
    partner_center_removed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    partner: Mapped[Partner] = relationship(back_populates="customers")
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    invoices: Mapped[list[Invoice]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        order_by="Invoice.invoice_date",
    )


class Subscription(Base):
    """A customer's subscription to one product SKU."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_guid)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[str] = mapped_column(String(36), default=new_guid, index=True)
    product_name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(60))
    product_kind: Mapped[ProductKind] = mapped_column(_enum(ProductKind))
    commerce: Mapped[Commerce] = mapped_column(_enum(Commerce))
    seats: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money())  # per seat per month
    currency: Mapped[str] = mapped_column(String(3))
    term: Mapped[str] = mapped_column(String(10))  # ISO 8601: P1M, P1Y, P3Y, none
    billing_frequency: Mapped[BillingFrequency] = mapped_column(_enum(BillingFrequency))
    status: Mapped[SubscriptionStatus] = mapped_column(_enum(SubscriptionStatus))
    order_date: Mapped[date] = mapped_column(Date)
    renewal_date: Mapped[Optional[date]] = mapped_column(Date)  # last renewal
    # The moments the cancellation windows run from (Partner Center's order
    # creationDate, the renewal's time). Without them, the start of the day in the
    # partner's time zone.
    ordered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    renewed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    term_end_date: Mapped[Optional[date]] = mapped_column(Date)
    auto_renew: Mapped[bool] = mapped_column(default=True)
    suspended_on: Mapped[Optional[date]] = mapped_column(Date)
    suspension_reason: Mapped[Optional[str]] = mapped_column(String(200))
    # Brought in by the Partner Center sync; when a sync first found it gone from
    # the customer's subscriptions (marked, never deleted; None while it is listed).
    from_partner_center: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )
    partner_center_removed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")


# --------------------------------------------------------------------------- billing


class Invoice(Base):
    """An invoice or credit note a partner issued to a customer.

    The demo numbers them after Partner Center's series: `D...` for legacy
    (license-based, billed from the billing anniversary, available 2 days after it)
    and `G...` for new commerce (calendar month, available by the 8th of the next
    month). A real partner's invoices keep the partner's own numbering
    (`csp-desk import invoices`, api/imports/invoices.py).
    """

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    document_type: Mapped[DocumentType] = mapped_column(_enum(DocumentType))
    amends_of_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL"), index=True
    )
    invoice_date: Mapped[date] = mapped_column(Date, index=True)
    billing_period_start: Mapped[date] = mapped_column(Date)
    billing_period_end: Mapped[date] = mapped_column(Date)
    available_on: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(Money())
    tax_total: Mapped[Decimal] = mapped_column(Money())
    total: Mapped[Decimal] = mapped_column(Money())
    paid_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    # Set on invoices brought in by `csp-desk import invoices`: a fingerprint of the
    # invoice as last imported (its fields, lines and PDF), so that importing the
    # same file again writes nothing. None on invoices made otherwise (the demo).
    import_digest: Mapped[Optional[str]] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship(back_populates="invoices")
    pdf: Mapped[Optional[InvoicePdf]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", uselist=False
    )
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        cascade="all, delete-orphan",
        order_by="InvoiceLine.id",
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan"
    )
    amends_of: Mapped[Optional[Invoice]] = relationship(remote_side=[id])

    @property
    def series(self) -> str:
        """`D` (legacy) or `G` (new commerce), read from the number."""
        return self.number[0]

    @property
    def balance(self) -> Decimal:
        return (self.total - self.paid_amount).quantize(CENT)

    def payment_status(self, today: date) -> str:
        """`paid`, `credit`, `partially_paid`, `overdue` or `unpaid` on `today`."""
        if self.document_type is DocumentType.CREDIT_NOTE:
            return "credit"
        if self.balance <= 0:
            return "paid"
        if today > self.due_date:
            return "overdue"
        if self.paid_amount > 0:
            return "partially_paid"
        return "unpaid"

    def days_overdue(self, today: date) -> int:
        if self.payment_status(today) != "overdue":
            return 0
        return (today - self.due_date).days


class InvoiceLine(Base):
    """One line of an invoice (a reconciliation-file row)."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[Optional[str]] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    order_id: Mapped[Optional[str]] = mapped_column(String(36))
    product_name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(60))
    charge_type: Mapped[ChargeType] = mapped_column(_enum(ChargeType))
    description: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money())
    subtotal: Mapped[Decimal] = mapped_column(Money())
    tax: Mapped[Decimal] = mapped_column(Money())
    total: Mapped[Decimal] = mapped_column(Money())
    charge_start: Mapped[date] = mapped_column(Date)
    charge_end: Mapped[date] = mapped_column(Date)
    # The billing cycle the line belongs to (the reconciliation files' billing
    # frequency); None when unknown.
    billing_cycle: Mapped[Optional[BillingFrequency]] = mapped_column(
        _enum(BillingFrequency)
    )
    # Prorated lines (seats added or removed, cancellations) charge `prorated_days`
    # of the `cycle_days` in their billing cycle; None on lines that are not.
    prorated_days: Mapped[Optional[int]] = mapped_column(Integer)
    cycle_days: Mapped[Optional[int]] = mapped_column(Integer)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoicePdf(Base):
    """The partner's own PDF of an invoice, given with its import; served instead of
    the PDF we render (api/web/routes/documents.py)."""

    __tablename__ = "invoice_pdfs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(255))  # as the partner named it
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)

    invoice: Mapped[Invoice] = relationship(back_populates="pdf")


class Payment(Base):
    """A payment received against an invoice."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(60))

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


# --------------------------------------------------------------------------- tickets


class Ticket(Base):
    """A support ticket, and where it was escalated."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(20), unique=True)  # e.g. CSP-000042
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # Who asked: "customer:<tenant>:<user>" or "partner_user:<id>".
    requester: Mapped[str] = mapped_column(String(200), index=True)
    conversation_id: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    category: Mapped[TicketCategory] = mapped_column(_enum(TicketCategory))
    topic: Mapped[str] = mapped_column(String(40))
    product: Mapped[Optional[str]] = mapped_column(String(200))
    severity: Mapped[Severity] = mapped_column(_enum(Severity), default=Severity.C)
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus), default=TicketStatus.NEW
    )
    route: Mapped[str] = mapped_column(String(60))  # a routing-table target
    microsoft_case_number: Mapped[Optional[str]] = mapped_column(String(40))
    # A Partner Center service request filed for the ticket
    # (api/partner_center/service_requests.py): its id, its last status read
    # (none, open, closed, attention_needed) and when; `..._filing_at` is set
    # while a request is being filed, so that a retry looks for it before filing.
    microsoft_service_request_id: Mapped[Optional[str]] = mapped_column(String(64))
    microsoft_service_request_status: Mapped[Optional[str]] = mapped_column(String(40))
    microsoft_service_request_checked_at: Mapped[Optional[datetime]] = mapped_column(
        UTCDateTime()
    )
    microsoft_service_request_filing_at: Mapped[Optional[datetime]] = mapped_column(
        UTCDateTime()
    )
    summary: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    packet: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    assigned_to_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("partner_users.id", ondelete="SET NULL")
    )
    sla_due_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


# --------------------------------------------------------------------------- webhooks


class WebhookEvent(Base):
    """An event for the partners' helpdesks, written in the same transaction as the
    change it announces (the outbox); `body` is the exact JSON that is signed and
    sent, the same bytes on every attempt."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)  # webhook-id
    type: Mapped[str] = mapped_column(String(60), index=True)  # e.g. ticket.created
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))  # a ticket id, a conversation
    conversation_id: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    # Set when one happening must make one event however often its code runs (a
    # retried hand-off action): a second event with the same key is not written.
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(300), unique=True)
    body: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )


class WebhookDelivery(Base):
    """One event for one endpoint, and how its delivery went (the delivery log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(60))  # its name in the profile
    url: Mapped[str] = mapped_column(String(500))
    # The NAME of the environment variable that holds the signing secret.
    secret_env: Mapped[str] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    # Attempts since it was queued (or last replayed); the retry wait grows with it.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it was queued or last replayed: WEBHOOK_MAX_AGE_SECONDS counts from here.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The next attempt; while an attempt runs, the end of that worker's lease.
    next_attempt_at: Mapped[Optional[datetime]] = mapped_column(
        UTCDateTime(), index=True
    )
    last_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    last_status_code: Mapped[Optional[int]] = mapped_column(Integer)
    last_error: Mapped[Optional[str]] = mapped_column(String(500))
    delivered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    replays: Mapped[int] = mapped_column(Integer, default=0)

    event: Mapped[WebhookEvent] = relationship(back_populates="deliveries")


# --------------------------------------------------------------------------- handoffs


class HandoffStatus(str, enum.Enum):
    WAITING = "waiting"  # the customer waits for a person
    CLAIMED = "claimed"  # an agent has taken it
    RETURNED = "returned"  # handed back to the assistant
    CLOSED = "closed"  # the agent ended it
    TICKETED = "ticketed"  # nobody took it in time: it became a ticket


OPEN_HANDOFF_STATUSES = (HandoffStatus.WAITING, HandoffStatus.CLAIMED)


class Handoff(Base):
    """A conversation handed to a person: the agent seat's queue.

    Created by the bot's handoff action when it pauses the conversation; at most
    one per conversation is open (waiting or claimed). ``agent_key`` names who
    holds it ("dashboard:<user id>", "slack:<user id>", "teams:<object id>"); a
    claim is a conditional UPDATE from ``waiting``, so two agents never both get
    it (api/domain/services/handoff.py).
    """

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_status_requested", "status", "requested_at"),
        Index("ix_handoffs_slack_thread", "slack_channel", "slack_thread_ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    requester: Mapped[str] = mapped_column(String(300))  # who is chatting, in words
    requester_key: Mapped[str] = mapped_column(String(200))  # as tickets name them
    reason: Mapped[str] = mapped_column(String(300), default="")
    topic: Mapped[Optional[str]] = mapped_column(String(40))
    triage: Mapped[Optional[str]] = mapped_column(String(20))
    last_message: Mapped[str] = mapped_column(Text, default="")  # redacted
    channel: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[HandoffStatus] = mapped_column(
        _enum(HandoffStatus), default=HandoffStatus.WAITING
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    agent_key: Mapped[Optional[str]] = mapped_column(String(100))
    agent_name: Mapped[Optional[str]] = mapped_column(String(200))
    # The notice's thread on Slack (channel, message ts) and on Teams (the channel
    # conversation id of the thread, "19:...;messageid=...").
    slack_channel: Mapped[Optional[str]] = mapped_column(String(40))
    slack_thread_ts: Mapped[Optional[str]] = mapped_column(String(40))
    teams_thread_id: Mapped[Optional[str]] = mapped_column(String(300), index=True)
    # The time (Rasa's event timestamp) of the last customer message copied into
    # those threads.
    forwarded_until: Mapped[float] = mapped_column(Float, default=0.0)
    ticket_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )

    partner: Mapped[Partner] = relationship()
    customer: Mapped[Optional[Customer]] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_HANDOFF_STATUSES


# --------------------------------------------------------------------------- Partner Center


class PartnerCenterInvoice(Base):
    """An invoice or credit note Microsoft issued to a partner (the D/G-numbered
    Partner Center invoices), as the Partner Center sync read it.

    Not the partner's invoices to its customers (`Invoice`): a customer never sees
    these. Each line names the customer it is for, which is what a customer's share
    of a Microsoft invoice is made of.
    """

    __tablename__ = "partner_center_invoices"
    __table_args__ = (UniqueConstraint("partner_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(40))  # Partner Center's invoice id
    document_type: Mapped[DocumentType] = mapped_column(_enum(DocumentType))
    amends_of: Mapped[Optional[str]] = mapped_column(String(40))  # a number
    invoice_type: Mapped[Optional[str]] = mapped_column(String(40))  # recurring, ...
    invoice_date: Mapped[date] = mapped_column(Date, index=True)
    billing_period_start: Mapped[Optional[date]] = mapped_column(Date)
    billing_period_end: Mapped[Optional[date]] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total_charges: Mapped[Decimal] = mapped_column(Money())
    # What the partner paid; Partner Center gives it negative when a payment was
    # received, and it is kept as given.
    paid_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    # When the partner must pay it, from the partner's billing agreement with
    # Microsoft: Partner Center's invoice resource has no due date, so the sync
    # leaves it empty; the demo fills it in.
    due_date: Mapped[Optional[date]] = mapped_column(Date)
    # A fingerprint of the line items last written, so that a sync that reads the
    # same lines again writes nothing.
    lines_digest: Mapped[Optional[str]] = mapped_column(String(64))

    partner: Mapped[Partner] = relationship()
    lines: Mapped[list[PartnerCenterInvoiceLine]] = relationship(
        back_populates="invoice",
        cascade="all, delete-orphan",
        order_by="PartnerCenterInvoiceLine.position",
    )


class PartnerCenterInvoiceLine(Base):
    """One billing line item of a Microsoft invoice: a charge for one customer's
    subscription (the reconciliation data)."""

    __tablename__ = "partner_center_invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("partner_center_invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # order as Partner Center gave it
    billing_provider: Mapped[str] = mapped_column(String(40))  # office, one_time, ...
    # The customer: its Entra tenant id as Partner Center names it, and our row
    # when we have the customer (None for one not synced, or since removed).
    customer_tenant_id: Mapped[Optional[str]] = mapped_column(String(36), index=True)
    customer_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    customer_name: Mapped[Optional[str]] = mapped_column(String(200))
    customer_domain: Mapped[Optional[str]] = mapped_column(String(253))
    subscription_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    order_id: Mapped[Optional[str]] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(300), default="")
    sku_name: Mapped[Optional[str]] = mapped_column(String(300))
    charge_type: Mapped[Optional[str]] = mapped_column(String(60))  # as given
    quantity: Mapped[Optional[float]] = mapped_column(Float)
    unit_price: Mapped[Optional[Decimal]] = mapped_column(Money())
    subtotal: Mapped[Decimal] = mapped_column(Money())
    tax: Mapped[Decimal] = mapped_column(Money())
    total: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[Optional[str]] = mapped_column(String(3))
    charge_start: Mapped[Optional[date]] = mapped_column(Date)
    charge_end: Mapped[Optional[date]] = mapped_column(Date)
    billing_frequency: Mapped[Optional[str]] = mapped_column(String(40))
    # The line item exactly as Partner Center sent it, for what the columns omit.
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    invoice: Mapped[PartnerCenterInvoice] = relationship(back_populates="lines")
    customer: Mapped[Optional[Customer]] = relationship()


class PartnerCenterSyncRun(Base):
    """One run of the Partner Center sync for one partner: when, how it ended,
    what it counted and what failed (shown on the dashboard)."""

    __tablename__ = "partner_center_sync_runs"
    __table_args__ = (
        Index("ix_pc_sync_runs_partner_started", "partner_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE")
    )
    trigger: Mapped[str] = mapped_column(String(20))  # command | schedule
    status: Mapped[str] = mapped_column(String(20))  # running | ok | partial | failed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    correlation_id: Mapped[Optional[str]] = mapped_column(String(36))

    partner: Mapped[Partner] = relationship()


class PartnerCenterCredential(Base):
    """A partner's app+user refresh token for the Partner Center calls that need a
    user (`csp-desk partner-center consent`), encrypted with PARTNER_CENTER_TOKEN_KEY;
    the clear token is never stored."""

    __tablename__ = "partner_center_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), unique=True
    )
    encrypted_refresh_token: Mapped[str] = mapped_column(Text)
    account: Mapped[Optional[str]] = mapped_column(String(200))  # who consented
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )
