"""Cancellation and refund eligibility under the new-commerce windows.

The windows are data (`api/domain/policies/commerce.yml`), in hours: 7 days is 168
hours from the moment of purchase or renewal, SaaS 72 hours. Eligibility is computed
from the subscription's purchase or last renewal time (`ordered_at`, `renewed_at`;
without one, the start of that day in the partner's time zone), and, for seat
reductions, from the days seats were added, since each added seat has its own window
(an added seat's time is taken as that of the subscription's purchase on its day).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.domain.models import ProductKind, Subscription, SubscriptionStatus
from api.domain.policies import load_policy_file


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: int = Field(ge=0, le=365 * 24)
    refund: Literal["prorated", "full", "none"]
    seat_reduction: bool
    source: str

    @property
    def days(self) -> int:
        """The window in whole days, as the policy states it (72 h: 3 days)."""
        return self.hours // 24


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
    """What a customer may still cancel at `now`, and why."""

    subscription_id: str
    product_name: str
    eligible: bool
    refund: str  # prorated | full | none
    window_days: int
    day_of_window: int  # 1 = the day of purchase or renewal
    window_start: date  # the day of purchase or renewal, in the partner's zone
    window_end: date  # the day the window ends, in the partner's zone
    window_start_at: datetime  # the moment of purchase or renewal
    window_end_at: datetime  # the moment the window closes
    renewal: bool  # the window runs from a renewal, not a purchase
    cancellable_seats: int
    reason: str
    seat_windows: list[tuple[date, int]] = field(default_factory=list)

    @property
    def days_left(self) -> int:
        return max(0, self.window_days - self.day_of_window + 1) if self.eligible else 0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _moment(day: date, at: Optional[datetime], zone: ZoneInfo) -> datetime:
    """`at` if it falls on `day` in `zone`, else the start of `day` there."""
    if at is not None and at.astimezone(zone).date() == day:
        return at
    return datetime.combine(day, time.min, tzinfo=zone)


def cancellation_eligibility(
    subscription: Subscription,
    *,
    now: datetime,
    tz_name: str = "UTC",
    seat_additions: list[tuple[date, int]] | None = None,
) -> Eligibility:
    """Whether `subscription` can be cancelled (or seats removed) for a refund at
    `now`. `seat_additions` are (day added, seats) of seats added after the order
    or renewal; each has its own window."""
    window = commerce_policy().windows[subscription.product_kind]
    zone = _zone(tz_name)
    today = now.astimezone(zone).date()
    renewal = bool(
        subscription.renewal_date
        and subscription.renewal_date >= subscription.order_date
    )
    start_day = subscription.renewal_date if renewal else subscription.order_date
    assert start_day is not None
    start_at = _moment(
        start_day, subscription.renewed_at if renewal else subscription.ordered_at, zone
    )
    end_at = start_at + timedelta(hours=window.hours)
    day = (today - start_day).days + 1

    def result(
        eligible: bool,
        seats: int,
        reason: str,
        open_seats: list[tuple[date, int]] | None = None,
        closes: Optional[datetime] = None,
    ) -> Eligibility:
        closing = closes or end_at
        return Eligibility(
            subscription_id=subscription.id,
            product_name=subscription.product_name,
            eligible=eligible,
            refund=window.refund if eligible else "none",
            window_days=window.days,
            day_of_window=day,
            window_start=start_day,
            window_end=closing.astimezone(zone).date(),
            window_start_at=start_at,
            window_end_at=closing,
            renewal=renewal,
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
    if now < start_at:
        return result(False, 0, "the order date is in the future")
    if window.hours == 0:
        return result(False, 0, window.source)
    if now < end_at:
        return result(
            True,
            subscription.seats,
            f"the {window.hours}-hour window since "
            f"{'renewal' if renewal else 'purchase'} on {start_at.isoformat()} "
            f"closes at {end_at.isoformat()}",
        )
    # Outside the subscription's own window: seats added recently keep theirs.
    open_seats: list[tuple[date, int]] = []
    closes: Optional[datetime] = None
    for added, seats in seat_additions or []:
        if not window.seat_reduction:
            continue
        added_at = datetime.combine(
            added, start_at.astimezone(zone).timetz().replace(tzinfo=None), tzinfo=zone
        )
        if added_at <= now < added_at + timedelta(hours=window.hours):
            open_seats.append((added, seats))
            closing = added_at + timedelta(hours=window.hours)
            closes = closing if closes is None else min(closes, closing)
    if open_seats:
        seats = sum(s for _, s in open_seats)
        first = min(a for a, _ in open_seats)
        return result(
            True,
            seats,
            f"the window of the subscription closed at {end_at.isoformat()}, but "
            f"{seats} seat(s) added since {first.isoformat()} are still inside "
            "their own window",
            open_seats,
            closes,
        )
    return result(
        False,
        0,
        f"the {window.hours}-hour window closed at {end_at.isoformat()}",
    )
