"""Partner Center's JSON resources read into our terms: the Customer, Subscription,
Order, Invoice and invoice line item shapes of the REST reference
(partner-center/developer/*-resources), tolerant of what the reference leaves
open (letter case of enum values, missing optional fields, 7-digit fractions of a
second, `org:`-prefixed customer ids in new-commerce line items)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from api.domain.models import (
    BillingFrequency,
    Commerce,
    DocumentType,
    ProductKind,
    SubscriptionStatus,
)

_TIME = re.compile(
    r"^(?P<head>.*?T\d{1,2}:\d{2}(?::\d{2})?)(?P<fraction>\.\d+)?(?P<zone>.*)$"
)
# Commitment end dates "far, far away in the future" mean: no end.
NO_END_YEAR = 9000


def parse_datetime(value: Any) -> Optional[datetime]:
    """A Partner Center date-time as an aware UTC datetime (None if absent or
    unreadable). Dates without a zone are UTC, as the reference states."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace(" ", "")
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    match = _TIME.match(text)
    if match and match.group("fraction"):
        # Python 3.10 reads 3 or 6 digits; Partner Center writes up to 7.
        digits = (match.group("fraction")[1:] + "000000")[:6]
        text = f"{match.group('head')}.{digits}{match.group('zone')}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(
                date.fromisoformat(text[:10]), datetime.min.time()
            )
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_date(value: Any) -> Optional[date]:
    """The UTC date of a Partner Center date-time (None if absent)."""
    moment = parse_datetime(value)
    return moment.date() if moment else None


def money(value: Any) -> Decimal:
    """An amount as a Decimal (0 when absent or unreadable)."""
    if value in (None, ""):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("0")


def optional_money(value: Any) -> Optional[Decimal]:
    return None if value in (None, "") else money(value)


def number(value: Any) -> Optional[float]:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _key(value: Any) -> str:
    """An enum value compared without case, spaces, - and _ ("Credit Note")."""
    return re.sub(r"[\s_-]", "", str(value or "")).lower()


def tenant_of(customer_id: Any) -> Optional[str]:
    """A customer id of a line item as a tenant id (`org:` prefix dropped)."""
    text = str(customer_id or "").strip().lower()
    if text.startswith("org:"):
        text = text[4:]
    return text or None


# --------------------------------------------------------------------------- customers


def customer_fields(item: dict[str, Any]) -> dict[str, Any]:
    """id, tenant_id, domain, name, billing_email, country of a Customer."""
    profile = item.get("companyProfile") or {}
    billing = item.get("billingProfile") or {}
    address = billing.get("defaultAddress") or {}
    customer_id = str(item.get("id") or profile.get("tenantId") or "").strip().lower()
    tenant = str(profile.get("tenantId") or customer_id).strip().lower()
    domain = str(profile.get("domain") or "").strip().lower()
    return {
        "id": customer_id,
        "tenant_id": tenant,
        "domain": domain or tenant,
        "name": str(
            profile.get("companyName") or billing.get("companyName") or domain or tenant
        ).strip(),
        "billing_email": (
            str(billing.get("email")).strip().lower() if billing.get("email") else None
        ),
        "country": (
            str(address.get("country")).strip().upper()[:2]
            if address.get("country")
            else None
        ),
    }


# --------------------------------------------------------------------------- subscriptions

STATUS = {
    "active": SubscriptionStatus.ACTIVE,
    "pending": SubscriptionStatus.ACTIVE,
    "none": SubscriptionStatus.ACTIVE,
    "suspended": SubscriptionStatus.SUSPENDED,
    "disabled": SubscriptionStatus.SUSPENDED,
    "deleted": SubscriptionStatus.CANCELLED,
    "cancelled": SubscriptionStatus.CANCELLED,
    "canceled": SubscriptionStatus.CANCELLED,
    "expired": SubscriptionStatus.EXPIRED,
}
FREQUENCY = {
    "monthly": BillingFrequency.MONTHLY,
    "annual": BillingFrequency.ANNUAL,
    "yearly": BillingFrequency.ANNUAL,
    "triennial": BillingFrequency.TRIENNIAL,
    "onetime": BillingFrequency.ONE_TIME,
}
# productType.id of new-commerce subscriptions, and what kind of product that is.
PRODUCT_TYPES = {
    "onlineservicesnce": ProductKind.LICENSE,
    "onlineservices": ProductKind.LICENSE,
    "azure": ProductKind.AZURE_PLAN,
    "softwaresubscriptions": ProductKind.SOFTWARE_SUBSCRIPTION,
    "software": ProductKind.PERPETUAL_SOFTWARE,
    "saas": ProductKind.SAAS,
    "marketplace": ProductKind.SAAS,
}
AZURE_PLAN_PRODUCT = "DZH318Z0BPS6"  # the Azure plan's product id


def subscription_status(item: dict[str, Any]) -> SubscriptionStatus:
    return STATUS.get(_key(item.get("status")), SubscriptionStatus.ACTIVE)


def billing_frequency(value: Any, default: BillingFrequency) -> BillingFrequency:
    return FREQUENCY.get(_key(value), default)


def product_kind(item: dict[str, Any]) -> ProductKind:
    """What kind of product a subscription is, which decides its cancellation window."""
    product_type = item.get("productType") or {}
    kind = PRODUCT_TYPES.get(
        _key(product_type.get("id") if isinstance(product_type, dict) else product_type)
    )
    if kind is not None:
        return kind
    offer = str(item.get("offerId") or "").upper()
    if offer.startswith(AZURE_PLAN_PRODUCT) or _key(item.get("billingType")) == "usage":
        return ProductKind.AZURE_PLAN
    if _key(item.get("contractType")) in ("productkey", "redemptioncode"):
        return ProductKind.PERPETUAL_SOFTWARE
    return ProductKind.LICENSE


def commerce(item: dict[str, Any]) -> Commerce:
    """New commerce for catalog ids (`PRODUCT:SKU:AVAILABILITY`) and NCE product
    types; legacy for the GUID offer ids of license-based offers."""
    product_type = item.get("productType") or {}
    type_id = _key(
        product_type.get("id") if isinstance(product_type, dict) else product_type
    )
    if type_id.endswith("nce") or ":" in str(item.get("offerId") or ""):
        return Commerce.NEW
    if type_id in ("azure", "softwaresubscriptions", "software", "saas"):
        return Commerce.NEW
    return Commerce.LEGACY


def term_end(item: dict[str, Any]) -> Optional[date]:
    end = parse_date(item.get("commitmentEndDate"))
    return None if end is None or end.year >= NO_END_YEAR else end


# --------------------------------------------------------------------------- invoices


def document_type(item: dict[str, Any]) -> DocumentType:
    return (
        DocumentType.CREDIT_NOTE
        if _key(item.get("documentType")) == "creditnote"
        else DocumentType.INVOICE
    )


def line_item_query(detail: dict[str, Any]) -> Optional[tuple[str, str]]:
    """(provider, invoicelineitemtype) query values of an InvoiceDetail whose
    billing line items the sync reads (None for usage details and `none`)."""
    provider = _key(detail.get("billingProvider"))
    kind = _key(detail.get("invoiceLineItemType"))
    if kind != "billinglineitems" or provider in ("", "none"):
        return None
    return provider, "billinglineitems"


def line_fields(item: dict[str, Any], provider: str) -> dict[str, Any]:
    """The columns of `PartnerCenterInvoiceLine` from an invoice line item
    (license-based `office`, new-commerce `onetime`, or `azure` shapes)."""
    subtotal = optional_money(item.get("subtotal"))
    if subtotal is None:
        subtotal = money(item.get("amount"))
    tax = optional_money(item.get("taxTotal"))
    if tax is None:
        tax = money(item.get("tax"))
    total = optional_money(item.get("totalForCustomer"))
    if total is None:
        total = subtotal + tax
    quantity = number(item.get("quantity"))
    if quantity is None:
        quantity = number(item.get("billableQuantity"))
    subscription = str(item.get("subscriptionId") or "").strip().lower() or None
    return {
        "billing_provider": str(item.get("billingProvider") or provider)[:40],
        "customer_tenant_id": (tenant_of(item.get("customerId")) or "")[:36] or None,
        "customer_name": _short(item.get("customerName"), 200),
        "customer_domain": _short(
            item.get("customerDomainName") or item.get("domainName"), 253
        ),
        "subscription_id": subscription[:64] if subscription else None,
        "order_id": _short(item.get("orderId"), 64),
        "product_name": _short(
            item.get("productName")
            or item.get("offerName")
            or item.get("subscriptionName")
            or item.get("subscriptionDescription"),
            300,
        )
        or "",
        "sku_name": _short(item.get("skuName") or item.get("subscriptionName"), 300),
        "charge_type": _short(item.get("chargeType"), 60),
        "quantity": quantity,
        "unit_price": optional_money(item.get("unitPrice")),
        "subtotal": subtotal,
        "tax": tax,
        "total": total,
        "currency": (str(item.get("currency") or "").upper()[:3] or None),
        "charge_start": parse_date(item.get("chargeStartDate")),
        "charge_end": parse_date(item.get("chargeEndDate")),
        "billing_frequency": _short(
            item.get("billingFrequency") or item.get("billingCycleType"), 40
        ),
    }


def _short(value: Any, length: int) -> Optional[str]:
    if value in (None, ""):
        return None
    return str(value).strip()[:length] or None
