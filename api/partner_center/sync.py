"""The Partner Center sync: one partner's customers, their subscriptions and orders,
and Microsoft's invoices to the partner with their line items, into our database.

    report = sync_partner("northwind")            # csp-desk partner-center sync
    print(report.summary())

What it writes, and how:

- **Customers** (GET /v1/customers): name, domain and tenant id from the company
  profile, so that a synced customer signs in to the chat like any other (a chat
  token minted for its tenant id or domain). Billing e-mail and country come from
  the billing profile when Partner Center includes it; the currency from the
  customer's orders; otherwise the partner's.
- **Subscriptions** (GET /v1/customers/{id}/subscriptions): product, seats, status
  (suspended too, with Partner Center's reasons), term, billing cycle, commitment
  end, auto-renew and order id.
- **Orders** (GET /v1/customers/{id}/orders): the creation time of a subscription's
  order becomes `ordered_at`, from which the cancellation windows run; the latest
  `renew` order line becomes `renewed_at`.
- **Microsoft's invoices** (GET /v1/invoices, /v1/invoices/{id}, their billing line
  items) into `partner_center_invoices` and `_lines`, each line linked to our
  customer by its tenant id. Invoices older than PARTNER_CENTER_INVOICE_MONTHS are
  left alone.

Each customer, and each invoice, is written in its own transaction: a failure rolls
back only that one, is listed in the report, and the rest goes on. Writing is an
upsert that assigns only values that differ, so a second run over the same data
changes nothing. A customer or subscription that Partner Center no longer lists is
marked (`partner_center_removed_at`), never deleted; a removed subscription is no
longer offered in chat. Every run is recorded in `partner_center_sync_runs` with its
counts and failures, which the dashboard shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Optional
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.domain.db import session_scope
from api.domain.models import (
    BillingFrequency,
    Customer,
    Partner,
    PartnerCenterInvoice,
    PartnerCenterInvoiceLine,
    PartnerCenterSyncRun,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from api.partner_center import resources as R
from api.partner_center.auth import registration_for
from api.partner_center.client import PartnerCenterClient
from api.partner_center.credentials import load_refresh_token, store_refresh_token
from api.partner_center.errors import PartnerCenterAuthError, PartnerCenterError
from api.settings import Settings, get_settings

logger = logging.getLogger(__name__)

KINDS = ("customers", "subscriptions", "orders", "invoices", "invoice_lines")
# progress(stage, done, total): stage is "customers" or "invoices".
Progress = Callable[[str, int, int], None]
ClientFactory = Callable[..., PartnerCenterClient]


class SyncConflict(ValueError):
    """Partner Center names something that belongs to another partner."""


@dataclass
class Counts:
    """What a run did to one kind of row."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0  # marked as no longer in Partner Center

    def add(self, other: Counts) -> None:
        for name in ("read", "created", "updated", "unchanged", "removed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
        }


@dataclass
class Failure:
    """Something the run could not write, and why (one line)."""

    kind: str  # customer | invoice | customers | invoices | run
    key: str  # the customer's or invoice's id, or "" for a whole step
    name: str
    error: str

    def describe(self) -> str:
        label = f"{self.kind} {self.name or self.key}".strip()
        if self.key and self.name and self.name != self.key:
            label += f" ({self.key})"
        return f"{label}: {self.error}"


@dataclass
class SyncReport:
    """The outcome of one run for one partner."""

    partner: str
    trigger: str = "command"
    counts: dict[str, Counts] = field(
        default_factory=lambda: {k: Counts() for k in KINDS}
    )
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: Optional[int] = None
    correlation_id: Optional[str] = None
    finished: bool = False

    @property
    def status(self) -> str:
        """`ok`, `partial` (something failed, the rest was written) or `failed`
        (nothing could be read)."""
        if any(f.kind == "run" for f in self.failures):
            return "failed"
        return "partial" if self.failures else "ok"

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated or c.removed for c in self.counts.values())

    def summary(self) -> str:
        """Counts and failures, for the terminal."""
        lines = [f"partner-center sync {self.partner}: {self.status}"]
        for kind in KINDS:
            c = self.counts[kind]
            if kind == "orders":
                lines.append(f"  orders          {c.read} read")
                continue
            lines.append(
                f"  {kind:<15} {c.read} read, {c.created} new, {c.updated} updated, "
                f"{c.unchanged} unchanged"
                + (
                    f", {c.removed} marked removed"
                    if kind in ("customers", "subscriptions")
                    else ""
                )
            )
        lines += [f"  note: {note}" for note in self.notes]
        if self.failures:
            lines.append(f"  {len(self.failures)} failed:")
            lines += [f"    {failure.describe()}" for failure in self.failures]
        if self.correlation_id:
            lines.append(f"  MS-CorrelationId of this run: {self.correlation_id}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the run


def sync_partner(
    slug: str,
    *,
    trigger: str = "command",
    settings: Optional[Settings] = None,
    client_factory: Optional[ClientFactory] = None,
    progress: Optional[Progress] = None,
    now: Optional[datetime] = None,
) -> SyncReport:
    """Sync one partner from Partner Center; the report says what was written and
    what failed. Never raises for Partner Center's or one row's failures: they are
    in the report (and the run's row). Raises `PartnerCenterError` only when the
    partner does not exist or has no app registration."""
    settings = settings or get_settings()
    factory = client_factory or PartnerCenterClient
    moment = now or utcnow()
    report = SyncReport(partner=slug, trigger=trigger)

    with session_scope() as session:
        partner = session.scalar(select(Partner).where(Partner.slug == slug))
        if partner is None:
            known = ", ".join(
                session.scalars(select(Partner.slug).order_by(Partner.slug))
            )
            raise PartnerCenterError(
                f"no partner with slug {slug!r} (partners: {known or 'none'})"
            )
        registration = registration_for(partner, settings)
        refresh_token = (
            load_refresh_token(session, partner, settings)
            if settings.partner_center_token_key
            else None
        )
        partner_id = partner.id
        run = PartnerCenterSyncRun(
            partner_id=partner_id, trigger=trigger, status="running", started_at=moment
        )
        session.add(run)
        session.flush()
        report.run_id = run.id

    def keep_rotated(token: str) -> None:
        with session_scope() as inner:
            owner = inner.get(Partner, partner_id)
            if owner is not None:
                store_refresh_token(inner, owner, token, settings)

    try:
        with factory(
            registration,
            settings,
            refresh_token=refresh_token,
            on_refresh_token=keep_rotated if refresh_token else None,
        ) as client:
            report.correlation_id = client.correlation_id
            _run(client, partner_id, report, settings, progress, moment)
    except PartnerCenterError as exc:  # the token, or the client itself
        report.failures.append(Failure("run", "", "", str(exc)))
    finally:
        _finish(report, moment)
    return report


def _run(
    client: PartnerCenterClient,
    partner_id: int,
    report: SyncReport,
    settings: Settings,
    progress: Optional[Progress],
    moment: datetime,
) -> None:
    try:
        customers = list(client.customers())
    except PartnerCenterError as exc:
        report.failures.append(Failure("run", "", "", f"cannot list customers: {exc}"))
        return
    report.counts["customers"].read = len(customers)
    listed: set[str] = set()
    for index, item in enumerate(customers):
        fields = R.customer_fields(item)
        if not fields["id"]:
            report.failures.append(
                Failure("customer", "", "", "a customer without an id")
            )
            continue
        listed.add(fields["id"])
        if progress:
            progress("customers", index, len(customers))
        _sync_customer(client, partner_id, item, fields, report, moment)
    if progress:
        progress("customers", len(customers), len(customers))
    _mark_removed_customers(partner_id, listed, report, moment)
    _sync_invoices(client, partner_id, report, settings, progress, moment)


def _finish(report: SyncReport, moment: datetime) -> None:
    report.finished = True
    try:
        with session_scope() as session:
            run = (
                session.get(PartnerCenterSyncRun, report.run_id)
                if report.run_id
                else None
            )
            if run is None:
                return
            run.status = report.status
            run.finished_at = max(utcnow(), moment)
            run.counts = {
                kind: counts.as_dict() for kind, counts in report.counts.items()
            }
            run.failures = [
                {"kind": f.kind, "key": f.key, "name": f.name, "error": f.error}
                for f in report.failures
            ]
            run.correlation_id = report.correlation_id
    except SQLAlchemyError:
        logger.exception(
            "cannot record the Partner Center sync run of %s", report.partner
        )


# --------------------------------------------------------------------------- customers


def _sync_customer(
    client: PartnerCenterClient,
    partner_id: int,
    item: dict[str, Any],
    fields: dict[str, Any],
    report: SyncReport,
    moment: datetime,
) -> None:
    """One customer with its subscriptions and orders, in one transaction."""
    try:
        subscriptions = client.subscriptions(fields["id"])
        orders = _orders(client, fields["id"])
    except PartnerCenterError as exc:
        if _ends_the_run(exc):
            raise
        report.failures.append(
            Failure("customer", fields["id"], fields["name"], str(exc))
        )
        return
    local = {kind: Counts() for kind in ("customers", "subscriptions", "orders")}
    try:
        with session_scope() as session:
            partner = session.get(Partner, partner_id)
            assert partner is not None
            customer = _upsert_customer(
                session, partner, fields, orders, local["customers"]
            )
            _upsert_subscriptions(
                session,
                partner,
                customer,
                subscriptions,
                orders,
                local["subscriptions"],
                moment,
            )
            local["orders"].read = len(orders)
    except (SyncConflict, SQLAlchemyError, ValueError, TypeError, KeyError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if isinstance(exc, SQLAlchemyError):
            message = (
                f"database: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}"
            )
        report.failures.append(
            Failure("customer", fields["id"], fields["name"], message)
        )
        return
    for kind, counts in local.items():
        report.counts[kind].add(counts)


def _ends_the_run(exc: PartnerCenterError) -> bool:
    """A token that cannot be had or is refused (401) fails every call after it:
    the run stops there rather than list each customer with the same error."""
    return isinstance(exc, PartnerCenterAuthError) and exc.status != 403


def _orders(client: PartnerCenterClient, customer_id: str) -> list[dict[str, Any]]:
    """The customer's orders; none when Partner Center has no order list for it
    (404): the subscriptions' own creation dates stand in."""
    try:
        return client.orders(customer_id)
    except PartnerCenterError as exc:
        if exc.status == 404:
            return []
        raise


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; whether any did."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _upsert_customer(
    session: Session,
    partner: Partner,
    fields: dict[str, Any],
    orders: list[dict[str, Any]],
    counts: Counts,
) -> Customer:
    customer = session.scalars(
        select(Customer).where(
            or_(
                Customer.partner_center_id == fields["id"],
                Customer.tenant_id == fields["tenant_id"],
            )
        )
    ).first()
    if customer is not None and customer.partner_id != partner.id:
        raise SyncConflict(
            f"tenant {fields['tenant_id']} is already a customer of partner "
            f"{customer.partner.slug!r}"
        )
    same_domain = session.scalars(
        select(Customer).where(Customer.domain == fields["domain"])
    ).first()
    if same_domain is not None and same_domain is not customer:
        raise SyncConflict(
            f"domain {fields['domain']} belongs to another customer ({same_domain.tenant_id})"
        )
    currencies = [
        (
            R.parse_datetime(order.get("creationDate")),
            str(order.get("currencyCode") or "").upper(),
        )
        for order in orders
        if order.get("currencyCode")
    ]
    currencies.sort(
        key=lambda pair: pair[0] or datetime.min.replace(tzinfo=utcnow().tzinfo)
    )
    values: dict[str, Any] = {
        "name": fields["name"][:200],
        "domain": fields["domain"][:253],
        "tenant_id": fields["tenant_id"][:36],
        "partner_center_id": fields["id"][:36],
        "partner_center_removed_at": None,
    }
    if fields["billing_email"]:
        values["billing_email"] = fields["billing_email"][:200]
    if fields["country"]:
        values["country"] = fields["country"]
    if currencies and len(currencies[-1][1]) == 3:
        values["currency"] = currencies[-1][1]
    if customer is None:
        customer = Customer(
            partner=partner,
            billing_email=values.pop("billing_email", ""),
            country=values.pop("country", partner.country),
            currency=values.pop("currency", partner.currency),
            **values,
        )
        session.add(customer)
        session.flush()
        counts.created += 1
        return customer
    if _assign(customer, values):
        counts.updated += 1
    else:
        counts.unchanged += 1
    return customer


def _mark_removed_customers(
    partner_id: int, listed: set[str], report: SyncReport, moment: datetime
) -> None:
    """Mark the partner's synced customers that Partner Center no longer lists."""
    try:
        with session_scope() as session:
            gone = session.scalars(
                select(Customer).where(
                    Customer.partner_id == partner_id,
                    Customer.partner_center_id.is_not(None),
                    Customer.partner_center_removed_at.is_(None),
                )
            ).all()
            for customer in gone:
                if customer.partner_center_id not in listed:
                    customer.partner_center_removed_at = moment
                    report.counts["customers"].removed += 1
    except SQLAlchemyError as exc:
        report.failures.append(
            Failure("customers", "", "", f"cannot mark removed customers: {exc}")
        )


# --------------------------------------------------------------------------- subscriptions


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _order_times(
    orders: list[dict[str, Any]],
) -> tuple[dict[str, datetime], dict[str, list[tuple[str, datetime]]]]:
    """Order creation times by order id, and (transaction type, time) of every
    order line by subscription id."""
    by_order: dict[str, datetime] = {}
    by_subscription: dict[str, list[tuple[str, datetime]]] = {}
    for order in orders:
        created = R.parse_datetime(order.get("creationDate"))
        if created is None:
            continue
        if order.get("id"):
            by_order[str(order["id"]).lower()] = created
        for line in order.get("lineItems") or []:
            subscription = str(line.get("subscriptionId") or "").lower()
            if subscription:
                kind = str(
                    line.get("transactionType") or order.get("transactionType") or ""
                ).lower()
                by_subscription.setdefault(subscription, []).append((kind, created))
    return by_order, by_subscription


def _upsert_subscriptions(
    session: Session,
    partner: Partner,
    customer: Customer,
    items: Iterable[dict[str, Any]],
    orders: list[dict[str, Any]],
    counts: Counts,
    moment: datetime,
) -> None:
    zone = _zone(partner.timezone)
    by_order, by_subscription = _order_times(orders)
    seen: set[str] = set()
    for item in items:
        subscription_id = str(item.get("id") or "").strip().lower()
        if not subscription_id:
            continue
        counts.read += 1
        seen.add(subscription_id)
        row = session.get(Subscription, subscription_id)
        values = _subscription_values(
            item, customer, row, by_order, by_subscription, zone, moment
        )
        if row is None:
            session.add(
                Subscription(
                    id=subscription_id,
                    customer=customer,
                    unit_price=Decimal("0"),
                    **values,
                )
            )
            counts.created += 1
        elif _assign(row, {"customer_id": customer.id, **values}):
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    for row in session.scalars(
        select(Subscription).where(
            Subscription.customer_id == customer.id,
            Subscription.from_partner_center.is_(True),
            Subscription.partner_center_removed_at.is_(None),
        )
    ):
        if row.id not in seen:
            row.partner_center_removed_at = moment
            counts.removed += 1


def _subscription_values(
    item: dict[str, Any],
    customer: Customer,
    row: Optional[Subscription],
    by_order: dict[str, datetime],
    by_subscription: dict[str, list[tuple[str, datetime]]],
    zone: ZoneInfo,
    moment: datetime,
) -> dict[str, Any]:
    subscription_id = str(item["id"]).lower()
    order_id = str(item.get("orderId") or "").strip().lower()
    lines = sorted(by_subscription.get(subscription_id, []), key=lambda pair: pair[1])
    ordered_at = by_order.get(order_id) if order_id else None
    if ordered_at is None:
        purchases = [
            when for kind, when in lines if kind in ("", "new", "userpurchase")
        ]
        ordered_at = purchases[0] if purchases else None
    if ordered_at is None:
        ordered_at = (
            R.parse_datetime(item.get("creationDate"))
            or R.parse_datetime(item.get("effectiveStartDate"))
            or (row.ordered_at if row is not None else None)
            or moment
        )
    renewals = [when for kind, when in lines if kind == "renew" and when > ordered_at]
    renewed_at = renewals[-1] if renewals else None
    status = R.subscription_status(item)
    reasons = [str(r) for r in item.get("suspensionReasons") or [] if r]
    suspended_on: Optional[date] = None
    if status is SubscriptionStatus.SUSPENDED:
        suspended_on = (
            row.suspended_on
            if row is not None
            and row.status is SubscriptionStatus.SUSPENDED
            and row.suspended_on
            else moment.astimezone(zone).date()
        )
    quantity = item.get("quantity")
    offer = str(item.get("offerId") or "").strip()
    return {
        "order_id": (
            order_id or (row.order_id if row is not None else subscription_id)
        )[:36],
        "product_name": str(
            item.get("offerName") or item.get("friendlyName") or offer or "Subscription"
        )[:200],
        "sku": (offer or "unknown")[:60],
        "product_kind": R.product_kind(item),
        "commerce": R.commerce(item),
        "seats": int(quantity) if isinstance(quantity, (int, float)) else 1,
        "currency": customer.currency,
        "term": str(item.get("termDuration") or "none")[:10],
        "billing_frequency": R.billing_frequency(
            item.get("billingCycle"), BillingFrequency.MONTHLY
        ),
        "status": status,
        "order_date": ordered_at.astimezone(zone).date(),
        "ordered_at": ordered_at,
        "renewal_date": renewed_at.astimezone(zone).date() if renewed_at else None,
        "renewed_at": renewed_at,
        "term_end_date": R.term_end(item),
        "auto_renew": bool(item.get("autoRenewEnabled", False)),
        "suspended_on": suspended_on,
        "suspension_reason": ", ".join(reasons)[:200]
        if status is SubscriptionStatus.SUSPENDED and reasons
        else None,
        "from_partner_center": True,
        "partner_center_removed_at": None,
    }


# --------------------------------------------------------------------------- invoices


def _sync_invoices(
    client: PartnerCenterClient,
    partner_id: int,
    report: SyncReport,
    settings: Settings,
    progress: Optional[Progress],
    moment: datetime,
) -> None:
    try:
        invoices = list(client.invoices())
    except PartnerCenterError as exc:
        if exc.status in (403, 404):
            # Not offered to this app (a role it lacks, or a cloud without
            # invoices): the customers are what the desk cannot do without.
            report.notes.append(f"Microsoft invoices not read: {exc}")
        else:
            report.failures.append(
                Failure("invoices", "", "", f"cannot list invoices: {exc}")
            )
        return
    oldest = (
        moment - timedelta(days=31 * settings.partner_center_invoice_months)
    ).date()
    wanted = [
        item
        for item in invoices
        if item.get("id")
        and (R.parse_date(item.get("invoiceDate")) or moment.date()) >= oldest
    ]
    report.counts["invoices"].read = len(wanted)
    detail_refused = False
    for index, item in enumerate(wanted):
        if progress:
            progress("invoices", index, len(wanted))
        number = str(item["id"]).strip()
        try:
            with session_scope() as session:
                existing = session.scalar(
                    select(PartnerCenterInvoice).where(
                        PartnerCenterInvoice.partner_id == partner_id,
                        PartnerCenterInvoice.number == number,
                    )
                )
                current = (
                    existing is not None
                    and existing.lines_digest is not None
                    and existing.total_charges
                    == R.money(item.get("totalCharges")).quantize(Decimal("0.01"))
                )
            if not current and not detail_refused:
                try:
                    item = {**item, **client.invoice(number)}
                except PartnerCenterAuthError as exc:
                    detail_refused = True
                    report.notes.append(
                        "invoice details (GET /v1/invoices/{id}, app+user only) were "
                        f"refused, the invoice list was used instead: {exc}"
                    )
            lines = None if current else _invoice_lines(client, number, item, report)
            with session_scope() as session:
                _upsert_invoice(session, partner_id, number, item, lines, report)
        except (PartnerCenterError, SQLAlchemyError, ValueError) as exc:
            if isinstance(exc, PartnerCenterError) and _ends_the_run(exc):
                raise
            report.failures.append(
                Failure("invoice", number, number, str(exc).splitlines()[0])
            )
    if progress:
        progress("invoices", len(wanted), len(wanted))


# Answers meaning "not here in this form" when looking for line items.
NOT_THERE = (400, 404, 405)
PROVIDER_IN_PATH = {"onetime": "OneTime", "office": "Office", "azure": "Azure"}


def _invoice_lines(
    client: PartnerCenterClient, number: str, item: dict[str, Any], report: SyncReport
) -> Optional[list[tuple[str, dict[str, Any]]]]:
    """(provider, line item) of every billing line item of the invoice, or None
    when Partner Center has them in none of the documented forms (the query
    form, the path form, the detail's own link)."""
    lines: list[tuple[str, dict[str, Any]]] = []
    for detail in item.get("invoiceDetails") or []:
        query = R.line_item_query(detail)
        if query is None:
            continue
        provider, kind = query
        forms: list[Callable[[], Iterable[dict[str, Any]]]] = [
            partial(client.invoice_line_items, number, provider, kind),
            partial(
                client.collection,
                f"/v1/invoices/{quote(number, safe='')}/lineitems/"
                f"{PROVIDER_IN_PATH.get(provider, provider)}/BillingLineItems",
            ),
        ]
        link = ((detail.get("links") or {}).get("self") or {}).get("uri")
        if link:
            forms.append(partial(client.collection, str(link)))
        found: Optional[list[dict[str, Any]]] = None
        last: Optional[PartnerCenterError] = None
        for form in forms:
            try:
                found = list(form())
                break
            except PartnerCenterError as exc:
                if exc.status not in NOT_THERE:
                    raise
                last = exc
        if found is None:
            report.notes.append(
                f"invoice {number}: its {provider} billing line items were not found "
                f"({last}); the invoice is kept without them"
            )
            return None
        lines += [(provider, line) for line in found]
    return lines


def _digest(lines: list[tuple[str, dict[str, Any]]]) -> str:
    text = json.dumps(lines, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _upsert_invoice(
    session: Session,
    partner_id: int,
    number: str,
    item: dict[str, Any],
    lines: Optional[list[tuple[str, dict[str, Any]]]],
    report: SyncReport,
) -> None:
    partner = session.get(Partner, partner_id)
    assert partner is not None
    invoice_date = R.parse_date(item.get("invoiceDate"))
    if invoice_date is None:
        raise ValueError("the invoice has no invoiceDate")
    values: dict[str, Any] = {
        "document_type": R.document_type(item),
        "amends_of": (str(item["amendsOf"])[:40] if item.get("amendsOf") else None),
        "invoice_type": (
            str(item["invoiceType"])[:40] if item.get("invoiceType") else None
        ),
        "invoice_date": invoice_date,
        "billing_period_start": R.parse_date(item.get("billingPeriodStartDate")),
        "billing_period_end": R.parse_date(item.get("billingPeriodEndDate")),
        "currency": (str(item.get("currencyCode") or partner.currency).upper()[:3]),
        "total_charges": R.money(item.get("totalCharges")).quantize(Decimal("0.01")),
        "paid_amount": R.money(item.get("paidAmount")).quantize(Decimal("0.01")),
    }
    invoice = session.scalar(
        select(PartnerCenterInvoice).where(
            PartnerCenterInvoice.partner_id == partner_id,
            PartnerCenterInvoice.number == number,
        )
    )
    created = invoice is None
    if invoice is None:
        invoice = PartnerCenterInvoice(partner_id=partner_id, number=number, **values)
        session.add(invoice)
        changed = True
    else:
        changed = _assign(invoice, values)
    line_counts = report.counts["invoice_lines"]
    if lines is not None:
        line_counts.read += len(lines)
        digest = _digest(lines)
        if invoice.lines_digest != digest:
            invoice.lines = [
                PartnerCenterInvoiceLine(
                    position=position, raw=raw, **R.line_fields(raw, provider)
                )
                for position, (provider, raw) in enumerate(lines)
            ]
            invoice.lines_digest = digest
            line_counts.created += len(lines)
            changed = True
        else:
            line_counts.unchanged += len(lines)
    # A line's customer may have been synced after the invoice: link it now.
    customers = _customer_ids(session, partner_id)
    for line in invoice.lines:
        link = customers.get(line.customer_tenant_id or "")
        if line.customer_id != link:
            if line.id is not None:
                line_counts.updated += 1
                changed = True
            line.customer_id = link
    counts = report.counts["invoices"]
    if created:
        counts.created += 1
    elif changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def _customer_ids(session: Session, partner_id: int) -> dict[str, int]:
    """Our customer id by tenant id and by Partner Center customer id."""
    found: dict[str, int] = {}
    for customer_id, tenant, pc_id in session.execute(
        select(Customer.id, Customer.tenant_id, Customer.partner_center_id).where(
            Customer.partner_id == partner_id
        )
    ):
        found[tenant.lower()] = customer_id
        if pc_id:
            found[pc_id.lower()] = customer_id
    return found


def sync_partners_with_registration(
    *, trigger: str = "schedule", settings: Optional[Settings] = None
) -> list[SyncReport]:
    """Sync every partner whose profile has a Partner Center app registration (the
    scheduled run); a partner that cannot be synced is reported, not raised."""
    settings = settings or get_settings()
    with session_scope() as session:
        slugs = list(
            session.scalars(
                select(Partner.slug)
                .where(Partner.partner_center_tenant_id.is_not(None))
                .order_by(Partner.slug)
            )
        )
    reports = []
    for slug in slugs:
        try:
            reports.append(sync_partner(slug, trigger=trigger, settings=settings))
        except PartnerCenterError as exc:
            report = SyncReport(partner=slug, trigger=trigger)
            report.failures.append(Failure("run", "", "", str(exc)))
            reports.append(report)
    return reports
