"""Payments and collections: what is due, what is overdue, and what happens next.

The partner's own collections policy is data in its profile (`reminder_after_days`,
`suspend_after_days_overdue`, `collections_policy`); what a suspension means and when
Microsoft suspends a partner's own account is data in `api/domain/policies/collections.yml`.
Everything here is computed from rows passed in: no queries, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from api.domain.models import (
    Commerce,
    DocumentType,
    Invoice,
    Partner,
    Subscription,
    SubscriptionStatus,
)
from api.domain.policies import load_policy_file

ZERO = Decimal("0.00")
INVOICE_NUMBER_IN_TEXT = re.compile(r"\b[DG]\d{9}\b")


class SuspendedSubscriptionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # New commerce: users lose access, admins keep the data, and it is still
    # billed; it can be reactivated before its term ends (the texts say so).
    new_commerce_still_billed: bool
    # Legacy: the data is deleted unless it is reactivated within this many days.
    legacy_data_deleted_after_days: int = Field(ge=1, le=365)


class CollectionsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    microsoft_partner_suspension_days_overdue: int = Field(ge=1, le=365)
    suspended_subscription: SuspendedSubscriptionPolicy


@lru_cache
def collections_policy() -> CollectionsPolicy:
    """The validated table (loaded once per process)."""
    return CollectionsPolicy.model_validate(load_policy_file("collections.yml"))


Stage = Literal["paid", "not_due", "overdue", "reminded", "suspension_due"]


@dataclass(frozen=True)
class CollectionsTimeline:
    """Where an unpaid invoice stands in the partner's collections policy."""

    invoice_number: str
    due_date: date
    balance: Decimal
    currency: str
    days_overdue: int
    reminder_on: date  # the partner's reminder
    suspend_on: date  # when access would be (or was) suspended
    stage: Stage
    today: date

    @property
    def days_until_suspension(self) -> int:
        """Days from `today` to the suspension date (0 or less: it has passed)."""
        return (self.suspend_on - self.today).days


def collections_timeline(
    invoice: Invoice, partner: Partner, *, today: date
) -> CollectionsTimeline:
    """The reminder and suspension dates of `invoice` under `partner`'s policy."""
    reminder_on = invoice.due_date + timedelta(days=partner.reminder_after_days)
    suspend_on = invoice.due_date + timedelta(days=partner.suspend_after_days_overdue)
    days_overdue = invoice.days_overdue(today)
    stage: Stage
    if invoice.balance <= 0 or invoice.document_type is DocumentType.CREDIT_NOTE:
        stage = "paid"
    elif days_overdue == 0:
        stage = "not_due"
    elif today >= suspend_on:
        stage = "suspension_due"
    elif today >= reminder_on:
        stage = "reminded"
    else:
        stage = "overdue"
    return CollectionsTimeline(
        invoice_number=invoice.number,
        due_date=invoice.due_date,
        balance=invoice.balance,
        currency=invoice.currency,
        days_overdue=days_overdue,
        reminder_on=reminder_on,
        suspend_on=suspend_on,
        stage=stage,
        today=today,
    )


@dataclass(frozen=True)
class AccountStatus:
    """A customer's open invoices on `today`."""

    today: date
    currency: str
    unpaid: list[Invoice] = field(default_factory=list)  # oldest due first

    @property
    def overdue(self) -> list[Invoice]:
        return [i for i in self.unpaid if i.payment_status(self.today) == "overdue"]

    @property
    def not_yet_due(self) -> list[Invoice]:
        return [i for i in self.unpaid if i.payment_status(self.today) != "overdue"]

    @property
    def outstanding(self) -> Decimal:
        return sum((invoice.balance for invoice in self.unpaid), ZERO)

    @property
    def overdue_amount(self) -> Decimal:
        return sum((invoice.balance for invoice in self.overdue), ZERO)

    @property
    def oldest_overdue(self) -> Optional[Invoice]:
        overdue = self.overdue
        return overdue[0] if overdue else None

    @property
    def next_due(self) -> Optional[Invoice]:
        upcoming = self.not_yet_due
        return upcoming[0] if upcoming else None


def account_status(
    unpaid: Sequence[Invoice], *, today: date, currency: str
) -> AccountStatus:
    """The open invoices (balance above zero), oldest due date first."""
    open_invoices = sorted(
        (
            i
            for i in unpaid
            if i.document_type is DocumentType.INVOICE and i.balance > 0
        ),
        key=lambda i: (i.due_date, i.number),
    )
    return AccountStatus(today=today, currency=currency, unpaid=open_invoices)


@dataclass(frozen=True)
class SuspensionReport:
    """Why a customer's subscriptions are suspended and how to get them back."""

    suspended: list[Subscription]
    cause: Optional[Invoice]  # the overdue invoice named as the reason, if found
    overdue: list[Invoice]
    overdue_amount: Decimal
    currency: str
    still_billed: bool  # any suspended new-commerce subscription keeps being billed
    reactivate_before: Optional[date]  # the earliest term end among them


def suspension_report(
    subscriptions: Sequence[Subscription],
    status: AccountStatus,
) -> SuspensionReport:
    """The suspended subscriptions, the overdue invoice that caused it, and what is
    still billed. `status` is the customer's open invoices."""
    suspended = [s for s in subscriptions if s.status is SubscriptionStatus.SUSPENDED]
    by_number = {invoice.number: invoice for invoice in status.unpaid}
    cause: Optional[Invoice] = None
    for subscription in suspended:
        for number in INVOICE_NUMBER_IN_TEXT.findall(
            subscription.suspension_reason or ""
        ):
            # Only an invoice of this customer's own open invoices counts.
            cause = cause or by_number.get(number)
    if cause is None and suspended:
        cause = status.oldest_overdue
    term_ends = [s.term_end_date for s in suspended if s.term_end_date]
    policy = collections_policy().suspended_subscription
    return SuspensionReport(
        suspended=suspended,
        cause=cause,
        overdue=status.overdue,
        overdue_amount=status.overdue_amount,
        currency=status.currency,
        still_billed=policy.new_commerce_still_billed
        and any(s.commerce is Commerce.NEW for s in suspended),
        reactivate_before=min(term_ends) if term_ends else None,
    )


def microsoft_suspension_days() -> int:
    """Days overdue after which Microsoft suspends a partner's own CSP account."""
    return collections_policy().microsoft_partner_suspension_days_overdue
