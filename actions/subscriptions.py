"""Subscriptions: what a customer has, with seats, status, renewal and whether it can
still be cancelled for a refund (the new-commerce windows, to the hour)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from actions.base import BillingAction, Context, Reply
from api.domain.models import Customer, ProductKind, Subscription, SubscriptionStatus
from api.domain.services.billing import seat_additions, subscriptions_of
from api.domain.services.refunds import Eligibility, cancellation_eligibility
from common.formatting import bullet_list

OPEN_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)


def eligibilities(
    session: Session, customer: Customer, now: datetime
) -> list[tuple[Subscription, Eligibility]]:
    """Every subscription that is active or suspended, with its eligibility now."""
    return [
        (
            subscription,
            cancellation_eligibility(
                subscription,
                now=now,
                tz_name=customer.partner.timezone,
                seat_additions=seat_additions(session, subscription_id=subscription.id),
            ),
        )
        for subscription in subscriptions_of(session, customer_id=customer.id)
        if subscription.status in OPEN_STATUSES
    ]


def subscription_name(subscription: Subscription, context: Context) -> str:
    if subscription.product_kind is ProductKind.AZURE_PLAN:
        return subscription.product_name
    return context.t(
        "subscription.name_seats",
        product=subscription.product_name,
        seats=context.plural(subscription.seats, "seat"),
    )


def eligibility_sentence(
    subscription: Subscription, eligibility: Eligibility, context: Context
) -> str:
    """ "Microsoft 365 Copilot (5 seats): bought on ..., you can still cancel it for a
    prorated refund until Monday 7 December 2026 at 14:32 PST."."""
    from actions.refunds import reduces_seats

    name = subscription_name(subscription, context)
    values = {
        "name": name,
        "since": context.t(
            "refund.since.renewal" if eligibility.renewal else "refund.since.purchase",
            day=context.date(eligibility.window_start),
        ),
        "refund": context.t(f"refund.kind.{eligibility.refund}"),
        "until": context.moment(eligibility.window_end_at),
        "seats": context.plural(eligibility.cancellable_seats, "seat"),
        "window": context.t(
            "refund.window", hours=context.plural(eligibility.window_days * 24, "hour")
        )
        if eligibility.window_days < 7
        else context.t(
            "refund.window_days", days=context.plural(eligibility.window_days, "day")
        ),
    }
    if eligibility.eligible and not eligibility.seat_windows:
        key = (
            "refund.sentence.open_seats"
            if reduces_seats(subscription)
            else "refund.sentence.open_whole"
        )
        return context.t(key, **values)
    if eligibility.eligible:
        values["added"] = context.join(
            [
                context.t(
                    "refund.added_on",
                    seats=context.plural(seats, "seat"),
                    day=context.date(day),
                )
                for day, seats in eligibility.seat_windows
            ]
        )
        return context.t("refund.sentence.added_seats_open", **values)
    if eligibility.window_days == 0:
        return (
            context.t(
                f"refund.sentence.none.{subscription.product_kind.value}",
                **values,
            )
            if f"refund.sentence.none.{subscription.product_kind.value}"
            in context.texts.texts
            else context.t("refund.sentence.none", **values)
        )
    if context.now < eligibility.window_start_at:
        return context.t("refund.sentence.future", **values)
    sentence = context.t("refund.sentence.closed", **values)
    if (
        subscription.term_end_date
        and subscription.auto_renew
        and subscription.product_kind is not ProductKind.PERPETUAL_SOFTWARE
    ):
        sentence += " " + context.t(
            "refund.turn_off_auto_renew", day=context.date(subscription.term_end_date)
        )
    return sentence


def subscription_line(subscription: Subscription, context: Context) -> str:
    status = context.t(f"subscription.status.{subscription.status.value}")
    if (
        subscription.status is SubscriptionStatus.SUSPENDED
        and subscription.suspended_on
    ):
        status = context.t(
            "subscription.suspended_since", day=context.date(subscription.suspended_on)
        )
    seats = (
        context.t("subscription.pay_as_you_go")
        if subscription.product_kind is ProductKind.AZURE_PLAN
        else context.plural(subscription.seats, "seat")
    )
    parts = [
        context.t(
            "subscription.product_seats", product=subscription.product_name, seats=seats
        ),
        status,
        context.t(f"subscription.billing.{subscription.billing_frequency.value}"),
    ]
    if (
        subscription.term_end_date
        and subscription.status in OPEN_STATUSES
        and subscription.product_kind is not ProductKind.PERPETUAL_SOFTWARE
    ):
        key = "subscription.renews" if subscription.auto_renew else "subscription.ends"
        parts.append(context.t(key, day=context.date(subscription.term_end_date)))
    return context.t("list.separator").join(parts)


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
            subscriptions=bullet_list(
                [subscription_line(s, context) for s in subscriptions]
            ),
        )
        open_windows = [
            eligibility_sentence(sub, eligibility, context)
            for sub, eligibility in eligibilities(
                context.session, customer, context.now
            )
            if eligibility.eligible
        ]
        if open_windows:
            reply.say(
                "utter_subscriptions_in_window", windows=bullet_list(open_windows)
            )
        return reply
