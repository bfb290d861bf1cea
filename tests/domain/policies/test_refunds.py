"""New-commerce cancellation windows, checked against the policy's own words:

- licence-based and software subscriptions: a prorated refund within 7 days (168
  hours) of the purchase or renewal, each added seat with its own 7 days;
- perpetual software: a full refund within 30 days;
- marketplace SaaS: within 72 hours, the whole subscription (no seat reduction);
- Azure plan: billed for use, nothing to refund.

The windows run from the moment of purchase, not from the day: bought at 14:30 on
1 December (Pacific time), a licence can be cancelled until 14:30 on 8 December.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pytest

from api.domain.models import (
    BillingFrequency,
    Commerce,
    ProductKind,
    Subscription,
    SubscriptionStatus,
)
from api.domain.services.refunds import (
    Eligibility,
    cancellation_eligibility,
    commerce_policy,
)

PACIFIC = ZoneInfo("America/Los_Angeles")
BOUGHT = datetime(2026, 12, 1, 14, 30, tzinfo=PACIFIC)


def subscription(
    kind: ProductKind = ProductKind.LICENSE,
    *,
    ordered_at: Optional[datetime] = BOUGHT,
    ordered_on: Optional[date] = None,
    seats: int = 10,
    renewed_at: Optional[datetime] = None,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
) -> Subscription:
    day = ordered_on or (ordered_at.astimezone(PACIFIC).date() if ordered_at else None)
    return Subscription(
        id="11111111-2222-3333-4444-555555555555",
        customer_id=1,
        order_id="aaaaaaaa-2222-3333-4444-555555555555",
        product_name="Microsoft 365 E3",
        sku="CFQ7TTC0LF8Q",
        product_kind=kind,
        commerce=Commerce.NEW,
        seats=seats,
        unit_price=Decimal("36.00"),
        currency="USD",
        term="P1Y",
        billing_frequency=BillingFrequency.MONTHLY,
        status=status,
        order_date=day,
        ordered_at=ordered_at,
        renewal_date=renewed_at.astimezone(PACIFIC).date() if renewed_at else None,
        renewed_at=renewed_at,
    )


def at(
    moment: datetime, kind: ProductKind = ProductKind.LICENSE, **kwargs: Any
) -> Eligibility:
    return cancellation_eligibility(
        subscription(kind, **kwargs), now=moment, tz_name="America/Los_Angeles"
    )


def test_the_policy_states_the_windows_in_hours() -> None:
    windows = commerce_policy().windows
    assert windows[ProductKind.LICENSE].hours == 7 * 24
    assert windows[ProductKind.SOFTWARE_SUBSCRIPTION].hours == 7 * 24
    assert windows[ProductKind.PERPETUAL_SOFTWARE].hours == 30 * 24
    assert windows[ProductKind.SAAS].hours == 72
    assert windows[ProductKind.AZURE_PLAN].hours == 0
    assert not windows[ProductKind.SAAS].seat_reduction
    assert not windows[ProductKind.PERPETUAL_SOFTWARE].seat_reduction


@pytest.mark.parametrize(
    ("kind", "after", "eligible", "refund"),
    [
        (ProductKind.LICENSE, timedelta(0), True, "prorated"),
        (ProductKind.LICENSE, timedelta(days=7, minutes=-1), True, "prorated"),
        (ProductKind.LICENSE, timedelta(days=7), False, "none"),
        (ProductKind.SOFTWARE_SUBSCRIPTION, timedelta(days=4), True, "prorated"),
        (ProductKind.PERPETUAL_SOFTWARE, timedelta(days=30, minutes=-1), True, "full"),
        (ProductKind.PERPETUAL_SOFTWARE, timedelta(days=30), False, "none"),
        (ProductKind.SAAS, timedelta(hours=71, minutes=59), True, "prorated"),
        (ProductKind.SAAS, timedelta(hours=72), False, "none"),
        (ProductKind.AZURE_PLAN, timedelta(0), False, "none"),
    ],
)
def test_windows_run_from_the_moment_of_purchase(
    kind: ProductKind, after: timedelta, eligible: bool, refund: str
) -> None:
    result = at(BOUGHT + after, kind)
    assert (result.eligible, result.refund) == (eligible, refund)


def test_bought_at_14_30_on_1_december_it_closes_at_14_30_on_8_december() -> None:
    result = at(BOUGHT + timedelta(days=3))
    assert result.window_end_at == datetime(2026, 12, 8, 14, 30, tzinfo=PACIFIC)
    assert result.window_end_at.astimezone(timezone.utc).hour == 22  # 14:30 PST
    assert result.window_end == date(2026, 12, 8)  # not "until 7 December"
    assert result.cancellable_seats == 10


def test_saas_bought_on_the_2nd_closes_72_hours_later() -> None:
    bought = datetime(2026, 12, 2, 9, 15, tzinfo=PACIFIC)
    result = at(bought + timedelta(hours=1), ProductKind.SAAS, ordered_at=bought)
    assert result.window_end_at == datetime(2026, 12, 5, 9, 15, tzinfo=PACIFIC)
    assert result.window_end == date(2026, 12, 5)  # not "until 4 December"


def test_without_a_time_the_window_runs_from_the_start_of_the_day() -> None:
    result = at(
        datetime(2026, 12, 3, 12, tzinfo=PACIFIC),
        ordered_at=None,
        ordered_on=date(2026, 12, 1),
    )
    assert result.window_start_at == datetime(2026, 12, 1, 0, 0, tzinfo=PACIFIC)
    assert result.window_end_at == datetime(2026, 12, 8, 0, 0, tzinfo=PACIFIC)


def test_a_renewal_opens_a_new_window() -> None:
    renewed = datetime(2026, 11, 20, 8, 0, tzinfo=PACIFIC)
    result = at(
        renewed + timedelta(days=2),
        ordered_at=datetime(2025, 11, 20, 8, 0, tzinfo=PACIFIC),
        renewed_at=renewed,
    )
    assert result.eligible and result.renewal
    assert result.window_end_at == renewed + timedelta(days=7)


def test_seats_added_recently_keep_their_own_window() -> None:
    long_ago = datetime(2026, 10, 1, 14, 30, tzinfo=PACIFIC)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=PACIFIC)
    result = cancellation_eligibility(
        subscription(ordered_at=long_ago, seats=25),
        now=now,
        tz_name="America/Los_Angeles",
        seat_additions=[(date(2026, 12, 1), 5), (date(2026, 11, 14), 10)],
    )
    assert result.eligible
    assert result.cancellable_seats == 5  # only the seats added on 1 December
    assert result.refund == "prorated"
    assert result.window_end_at == datetime(2026, 12, 8, 14, 30, tzinfo=PACIFIC)


def test_cancelled_subscription_is_not_eligible() -> None:
    result = at(BOUGHT + timedelta(days=1), status=SubscriptionStatus.CANCELLED)
    assert not result.eligible and "already cancelled" in result.reason


def test_future_order_date_is_refused_clearly() -> None:
    result = at(BOUGHT - timedelta(days=3))
    assert not result.eligible and "future" in result.reason
