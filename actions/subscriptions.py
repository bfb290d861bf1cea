"""Subscriptions: what a customer has, with seats, status, renewal and whether it can
still be cancelled for a refund today (the new-commerce windows)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from actions.common import BillingAction, Context, Reply
from actions.formatting import bullet_list, format_date, plural
from api.domain.models import Customer, ProductKind, Subscription, SubscriptionStatus
from api.domain.services.billing import seat_additions, subscriptions_of
from api.domain.services.refunds import Eligibility, cancellation_eligibility

OPEN_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)


def eligibilities(
    session: Session, customer: Customer, today: date
) -> list[tuple[Subscription, Eligibility]]:
    """Every subscription that is active or suspended, with its eligibility today."""
    return [
        (
            subscription,
            cancellation_eligibility(
                subscription,
                today=today,
                seat_additions=seat_additions(session, subscription_id=subscription.id),
            ),
        )
        for subscription in subscriptions_of(session, customer_id=customer.id)
        if subscription.status in OPEN_STATUSES
    ]


def eligibility_sentence(subscription: Subscription, eligibility: Eligibility) -> str:
    """ "Microsoft 365 Copilot (5 seats): you are on day 4 of 7 since purchase ..."."""
    name = (
        subscription.product_name
        if subscription.product_kind is ProductKind.AZURE_PLAN
        else f"{subscription.product_name} ({plural(subscription.seats, 'seat')})"
    )
    window = eligibility.window_days
    refund = {"prorated": "a prorated", "full": "a full"}.get(eligibility.refund, "no")
    if eligibility.eligible and not eligibility.seat_windows:
        since = (
            "renewal"
            if eligibility.window_start == subscription.renewal_date
            else "purchase"
        )
        return (
            f"{name}: you are on day {eligibility.day_of_window} of {window} since "
            f"{since} on {format_date(eligibility.window_start)}, so you can still "
            f"cancel up to {plural(eligibility.cancellable_seats, 'seat')} for "
            f"{refund} refund, until {format_date(eligibility.window_end)}."
        )
    if eligibility.eligible:
        added = ", ".join(
            f"{plural(seats, 'seat')} added on {format_date(day)}"
            for day, seats in eligibility.seat_windows
        )
        return (
            f"{name}: its {window}-day window ended on "
            f"{format_date(eligibility.window_end)}, but {added} are still inside "
            f"their own {window}-day window: you can cancel "
            f"{plural(eligibility.cancellable_seats, 'seat')} for {refund} refund."
        )
    if window == 0:
        return f"{name}: no cancellation refund. {eligibility.reason}"
    if eligibility.day_of_window < 1:
        return f"{name}: the order date is in the future."
    renews = (
        f" It renews on {format_date(subscription.term_end_date)}; you can turn off "
        "auto-renewal before then."
        if subscription.term_end_date and subscription.auto_renew
        else ""
    )
    return (
        f"{name}: the {window}-day window ended on "
        f"{format_date(eligibility.window_end)} (today is day "
        f"{eligibility.day_of_window}), so it can't be cancelled for a refund now."
        f"{renews}"
    )


def subscription_line(subscription: Subscription) -> str:
    status = subscription.status.value
    if (
        subscription.status is SubscriptionStatus.SUSPENDED
        and subscription.suspended_on
    ):
        status = f"suspended since {format_date(subscription.suspended_on)}"
    seats = (
        "pay as you go"
        if subscription.product_kind is ProductKind.AZURE_PLAN
        else plural(subscription.seats, "seat")
    )
    parts = [
        f"{subscription.product_name}: {seats}",
        status,
        f"{subscription.billing_frequency.value.replace('_', '-')} billing",
    ]
    if subscription.term_end_date and subscription.status in OPEN_STATUSES:
        renew = "renews" if subscription.auto_renew else "ends"
        parts.append(f"{renew} {format_date(subscription.term_end_date)}")
    return ", ".join(parts)


class ActionSubscriptions(BillingAction):
    """List the account's subscriptions and what can still be cancelled."""

    capability = "view_subscriptions"
    general_response = "utter_subscriptions_general"

    def name(self) -> str:
        return "action_subscriptions"

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        subscriptions = subscriptions_of(context.session, customer_id=customer.id)
        if not subscriptions:
            return Reply().say("utter_no_subscriptions", account=context.account)
        reply = Reply().say(
            "utter_subscriptions",
            account=context.account,
            subscriptions=bullet_list([subscription_line(s) for s in subscriptions]),
        )
        open_windows = [
            eligibility_sentence(sub, eligibility)
            for sub, eligibility in eligibilities(
                context.session, customer, context.today
            )
            if eligibility.eligible
        ]
        if open_windows:
            reply.say(
                "utter_subscriptions_in_window", windows=bullet_list(open_windows)
            )
        return reply
