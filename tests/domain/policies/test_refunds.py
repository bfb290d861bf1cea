"""New-commerce cancellation windows, checked against the policy's own words."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from api.domain.models import (
    BillingFrequency,
    Commerce,
    ProductKind,
    Subscription,
    SubscriptionStatus,
)
from api.domain.services.refunds import cancellation_eligibility

TODAY = date(2026, 11, 24)


def subscription(
    kind: ProductKind,
    *,
    ordered_days_ago: int,
    seats: int = 10,
    renewed_days_ago: int | None = None,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
) -> Subscription:
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
        order_date=TODAY - timedelta(days=ordered_days_ago),
        renewal_date=(
            TODAY - timedelta(days=renewed_days_ago)
            if renewed_days_ago is not None
            else None
        ),
    )


# kind, days since purchase (0 = today, day 1), eligible, refund
@pytest.mark.parametrize(
    ("kind", "days_ago", "eligible", "refund"),
    [
        (ProductKind.LICENSE, 0, True, "prorated"),  # day 1 of 7
        (ProductKind.LICENSE, 6, True, "prorated"),  # day 7 of 7
        (ProductKind.LICENSE, 7, False, "none"),  # day 8: too late
        (ProductKind.SOFTWARE_SUBSCRIPTION, 4, True, "prorated"),
        (ProductKind.PERPETUAL_SOFTWARE, 29, True, "full"),  # day 30 of 30
        (ProductKind.PERPETUAL_SOFTWARE, 30, False, "none"),  # day 31
        (ProductKind.SAAS, 2, True, "prorated"),  # within 72 hours
        (ProductKind.SAAS, 3, False, "none"),  # past 72 hours
        (ProductKind.AZURE_PLAN, 0, False, "none"),  # usage: nothing to refund
    ],
)
def test_windows(kind: ProductKind, days_ago: int, eligible: bool, refund: str) -> None:
    result = cancellation_eligibility(
        subscription(kind, ordered_days_ago=days_ago), today=TODAY
    )
    assert (result.eligible, result.refund) == (eligible, refund)


def test_day_five_of_seven_can_cancel_all_seats() -> None:
    result = cancellation_eligibility(
        subscription(ProductKind.LICENSE, ordered_days_ago=4, seats=10), today=TODAY
    )
    assert result.eligible and result.day_of_window == 5
    assert result.cancellable_seats == 10
    assert result.days_left == 3
    assert "day 5 of 7" in result.reason


def test_a_renewal_opens_a_new_window() -> None:
    result = cancellation_eligibility(
        subscription(ProductKind.LICENSE, ordered_days_ago=400, renewed_days_ago=2),
        today=TODAY,
    )
    assert result.eligible and result.day_of_window == 3
    assert "renewal" in result.reason


def test_seats_added_recently_keep_their_own_window() -> None:
    result = cancellation_eligibility(
        subscription(ProductKind.LICENSE, ordered_days_ago=60, seats=25),
        today=TODAY,
        seat_additions=[
            (TODAY - timedelta(days=3), 5),
            (TODAY - timedelta(days=20), 10),
        ],
    )
    assert result.eligible
    assert result.cancellable_seats == 5  # only the seats added 3 days ago
    assert result.refund == "prorated"


def test_cancelled_subscription_is_not_eligible() -> None:
    result = cancellation_eligibility(
        subscription(
            ProductKind.LICENSE, ordered_days_ago=1, status=SubscriptionStatus.CANCELLED
        ),
        today=TODAY,
    )
    assert not result.eligible and "already cancelled" in result.reason


def test_future_order_date_is_refused_clearly() -> None:
    result = cancellation_eligibility(
        subscription(ProductKind.LICENSE, ordered_days_ago=-3), today=TODAY
    )
    assert not result.eligible and "future" in result.reason
