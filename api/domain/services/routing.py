"""Escalation routing and response targets, from `api/domain/policies/routing.yml`.

`route()` answers: given a commercial or technical issue about a product kind, and the
support programs a partner holds, where does the ticket go after the partner's own
desk? `sla_due()` computes when the first response is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, Optional
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.domain.models import ProductKind, Severity, SupportProgram, TicketCategory
from api.domain.policies import load_policy_file
from common import formatting

PARTNER_DESK = "partner_desk"
ProductClass = Literal["cloud", "on_premises"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    program: Optional[SupportProgram] = None
    covers: tuple[ProductClass, ...] = ()
    open_to_all_partners: bool = False


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: float = Field(gt=0, le=24 * 30)
    business: bool = False


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[str, ...]
    start: time
    end: time

    @model_validator(mode="after")
    def _sane(self) -> BusinessHours:
        if not self.days or any(d not in WEEKDAYS for d in self.days):
            raise ValueError(f"business days must be among {WEEKDAYS}")
        if self.start >= self.end:
            raise ValueError("business hours must start before they end")
        return self


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partner_desk: dict[str, str]
    targets: dict[str, Target]
    routes: dict[TicketCategory, tuple[str, ...]]
    product_kinds: dict[ProductKind, ProductClass]
    response_targets: dict[str, dict[Severity, Response]]
    business_hours: BusinessHours

    @model_validator(mode="after")
    def _consistent(self) -> RoutingPolicy:
        for category in TicketCategory:
            if category not in self.routes:
                raise ValueError(f"no route for {category.value} issues")
        for names in self.routes.values():
            for name in names:
                if name not in self.targets:
                    raise ValueError(f"route names unknown target {name!r}")
        missing_kinds = set(ProductKind) - set(self.product_kinds)
        if missing_kinds:
            raise ValueError(f"product kinds without a class: {sorted(missing_kinds)}")
        for name in [PARTNER_DESK, *self.targets]:
            got = set(self.response_targets.get(name, {}))
            if got != set(Severity):
                raise ValueError(f"response targets for {name} must cover A, B and C")
        return self


@lru_cache
def routing_policy() -> RoutingPolicy:
    """The validated routing table (loaded once per process)."""
    return RoutingPolicy.model_validate(load_policy_file("routing.yml"))


@dataclass(frozen=True)
class RouteDecision:
    """Where a ticket goes after the partner's desk, and why."""

    category: TicketCategory
    product_class: ProductClass
    escalate_to: Optional[str]  # a target key, or None: it stays with the partner
    escalate_to_name: Optional[str]
    explanation: str

    @property
    def first_stop(self) -> str:
        return PARTNER_DESK

    @property
    def route(self) -> str:
        """The value stored on the ticket: the escalation target or the desk."""
        return self.escalate_to or PARTNER_DESK


def route(
    category: TicketCategory,
    *,
    product_kind: Optional[ProductKind],
    programs: set[SupportProgram] | frozenset[SupportProgram],
) -> RouteDecision:
    """Route an issue; `programs` are the partner's active support programs."""
    policy = routing_policy()
    product_class: ProductClass = (
        policy.product_kinds[product_kind] if product_kind else "cloud"
    )
    for name in policy.routes[category]:
        target = policy.targets[name]
        if target.open_to_all_partners:
            return RouteDecision(
                category,
                product_class,
                name,
                target.name,
                f"Commercial issues the partner cannot resolve go to {target.name}, "
                "which is open to every CSP partner.",
            )
        if target.program in programs and product_class in target.covers:
            return RouteDecision(
                category,
                product_class,
                name,
                target.name,
                f"The partner holds {target.name}, which covers "
                f"{product_class.replace('_', '-')} products.",
            )
    held = sorted(p.value for p in programs)
    why = (
        f"none of the partner's programs ({', '.join(held)}) covers "
        f"{product_class.replace('_', '-')} products"
        if held
        else "the partner holds no Microsoft technical support program"
    )
    return RouteDecision(
        category,
        product_class,
        None,
        None,
        f"There is no Microsoft technical route: {why}. The ticket stays with the "
        "partner's own desk, which resolves it in-house or buys support.",
    )


@dataclass(frozen=True)
class Opening:
    """Business hours as spans per weekday, in a zone, with closed days."""

    timezone: str
    spans: dict[str, tuple[tuple[time, time], ...]]  # weekday -> (opens, closes)
    closed: frozenset[str] = frozenset()  # ISO dates

    @classmethod
    def from_policy(cls, hours: BusinessHours, timezone: str) -> Opening:
        return cls(timezone, {day: ((hours.start, hours.end),) for day in hours.days})

    @classmethod
    def from_schedule(cls, schedule: dict[str, Any], timezone: str) -> Opening:
        """A partner's `support_schedule` (api/domain/profiles.py, SupportHours),
        whose times are in the partner's zone."""
        spans: dict[str, list[tuple[time, time]]] = {}
        for block in schedule.get("weekly") or []:
            opens = time.fromisoformat(block["opens"])
            closes = (
                time.max
                if block["closes"] == "24:00"
                else time.fromisoformat(block["closes"])
            )
            for day in block["days"]:
                spans.setdefault(day, []).append((opens, closes))
        return cls(
            schedule.get("timezone") or timezone,
            {day: tuple(sorted(found)) for day, found in spans.items()},
            frozenset(str(h["date"]) for h in schedule.get("holidays") or []),
        )


def sla_due(
    target: str,
    severity: Severity,
    *,
    opened_at: datetime,
    timezone: str = "UTC",
    schedule: Optional[dict[str, Any]] = None,
) -> datetime:
    """When the first response is due, in UTC, for a ticket opened at `opened_at`.

    Business-hour targets count the hours the responder is open: the partner's own
    opening hours (`schedule`, its profile's) for its desk, the policy's business
    hours in the partner's zone otherwise."""
    policy = routing_policy()
    response = policy.response_targets[target][severity]
    if not response.business:
        return opened_at + timedelta(hours=response.hours)
    if target == PARTNER_DESK and schedule:
        opening = Opening.from_schedule(schedule, timezone)
    else:
        opening = Opening.from_policy(policy.business_hours, timezone)
    return business_time_after(opening, opened_at, timedelta(hours=response.hours))


def business_time_after(
    opening: Opening, start: datetime, duration: timedelta
) -> datetime:
    """The moment `duration` of open time has passed after `start`."""
    zone = ZoneInfo(opening.timezone)
    cursor = start.astimezone(zone)
    remaining = duration
    for _ in range(366 * 4):  # a year of days at most: a schedule that never opens
        day = WEEKDAYS[cursor.weekday()]
        midnight = cursor.replace(hour=0, minute=0, second=0, microsecond=0)
        if cursor.date().isoformat() not in opening.closed:
            for opens, closes in opening.spans.get(day, ()):
                span_open = midnight.replace(hour=opens.hour, minute=opens.minute)
                span_close = (
                    midnight + timedelta(days=1)
                    if closes == time.max
                    else midnight.replace(hour=closes.hour, minute=closes.minute)
                )
                if cursor >= span_close:
                    continue
                cursor = max(cursor, span_open)
                step = min(remaining, span_close - cursor)
                cursor += step
                remaining -= step
                if remaining <= timedelta(0):
                    return cursor.astimezone(start.tzinfo)
        cursor = (midnight + timedelta(days=1)).replace(tzinfo=zone)
    raise ValueError("the business hours never open")


def first_response(target: str, severity: Severity, lang: str) -> str:
    """How fast `target` aims to answer at `severity`, in words: `1 hour`,
    `4 business hours` (routing.yml)."""
    response = routing_policy().response_targets[target][severity]
    hours = response.hours
    count = int(hours) if float(hours).is_integer() else hours
    unit = "business_hour" if response.business else "hour"
    return formatting.plural(count, unit, lang)  # type: ignore[arg-type]
