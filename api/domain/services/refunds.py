"""Cancellation and refund eligibility under the new-commerce windows.

The windows are data (`api/domain/policies/commerce.yml`). Eligibility is computed from the
subscription's order or last renewal date, and, for seat reductions, from the dates
seats were added, since each added seat has its own window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.domain.models import ProductKind, Subscription, SubscriptionStatus
from api.domain.policies import load_policy_file


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(ge=0, le=365)
    refund: Literal["prorated", "full", "none"]
    seat_reduction: bool
    source: str


class CommercePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: dict[ProductKind, Window]

    @model_validator(mode="after")
    def _every_kind(self) -> CommercePolicy:
        missing = set(ProductKind) - set(self.windows)
        if missing:
            raise ValueError(f"no window for {sorted(k.value for k in missing)}")
        return self


@lru_cache
def commerce_policy() -> CommercePolicy:
    return CommercePolicy.model_validate(load_policy_file("commerce.yml"))


@dataclass(frozen=True)
class Eligibility:
    """What a customer may still cancel on `today`, and why."""

    subscription_id: str
    product_name: str
    eligible: bool
    refund: str  # prorated | full | none
    window_days: int
    day_of_window: int  # 1 = the day of purchase or renewal
    window_start: date
    window_end: date  # last day inside the window
    cancellable_seats: int
    reason: str
    seat_windows: list[tuple[date, int]] = field(default_factory=list)

    @property
    def days_left(self) -> int:
        return max(0, self.window_days - self.day_of_window + 1) if self.eligible else 0


def cancellation_eligibility(
    subscription: Subscription,
    *,
    today: date,
    seat_additions: list[tuple[date, int]] | None = None,
) -> Eligibility:
    """Whether `subscription` can be cancelled (or seats removed) for a refund.

    `seat_additions` are (date added, seats) of seats added after the order or
    renewal; each has its own window.
    """
    window = commerce_policy().windows[subscription.product_kind]
    start = max(d for d in (subscription.order_date, subscription.renewal_date) if d)
    day = (today - start).days + 1
    end = start + timedelta(days=max(window.days - 1, 0))

    def result(
        eligible: bool,
        seats: int,
        reason: str,
        open_seats: list[tuple[date, int]] | None = None,
    ) -> Eligibility:
        return Eligibility(
            subscription_id=subscription.id,
            product_name=subscription.product_name,
            eligible=eligible,
            refund=window.refund if eligible else "none",
            window_days=window.days,
            day_of_window=day,
            window_start=start,
            window_end=end,
            cancellable_seats=seats,
            reason=reason,
            seat_windows=open_seats or [],
        )

    if subscription.status in (
        SubscriptionStatus.CANCELLED,
        SubscriptionStatus.EXPIRED,
    ):
        return result(
            False, 0, f"the subscription is already {subscription.status.value}"
        )
    if day < 1:
        return result(False, 0, "the order date is in the future")
    if window.days == 0:
        return result(False, 0, window.source)
    if day <= window.days:
        return result(
            True,
            subscription.seats,
            f"you are on day {day} of {window.days} since "
            f"{'renewal' if start == subscription.renewal_date else 'purchase'} "
            f"on {start.isoformat()}",
        )
    # Outside the subscription's own window: seats added recently keep theirs.
    open_seats = [
        (added, seats)
        for added, seats in (seat_additions or [])
        if window.seat_reduction and 1 <= (today - added).days + 1 <= window.days
    ]
    if open_seats:
        seats = sum(s for _, s in open_seats)
        first = min(a for a, _ in open_seats)
        return result(
            True,
            seats,
            f"the {window.days}-day window of the subscription ended on "
            f"{end.isoformat()}, but {seats} seat(s) added since {first.isoformat()} "
            "are still inside their own window",
            open_seats,
        )
    return result(
        False,
        0,
        f"the {window.days}-day window ended on {end.isoformat()} "
        f"(today is day {day}); the subscription can be set not to renew instead",
    )
