"""Subscriptions: what a customer has, with seats, status, renewal and whether it can
still be cancelled for a refund (the new-commerce windows, to the hour)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Optional, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from sqlalchemy.orm import Session

from actions.base import CURRENT_SUBSCRIPTION_SLOT, BillingAction, Context, Reply
from actions.tracker import entity_values, latest_text
from api.domain.models import Customer, ProductKind, Subscription, SubscriptionStatus
from api.domain.services.billing import seat_additions, subscriptions_of
from api.domain.services.refunds import (
    Eligibility,
    cancellation_eligibility,
    commerce_policy,
)
from common.formatting import bullet_list

OPEN_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)
ENDED_STATUSES = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)

# Words of product names that tell no product apart ("Microsoft 365 ... (monthly
# term)", "... License Pack"): a message naming a product is matched on the others.
GENERIC_WORDS = frozenset(
    {
        "microsoft",
        "office",
        "the",
        "for",
        "and",
        "with",
        "plan",
        "monthly",
        "annual",
        "yearly",
        "term",
        "billing",
        "license",
        "licence",
        "licenses",
        "licences",
        "pack",
        "core",
        "marketplace",
        "saas",
        "subscription",
        "edition",
        "user",
        "users",
        "seat",
        "seats",
    }
)
WORD = re.compile(r"[a-z0-9]+")
# "it", "that one", "them": the subscription just discussed.
REFERS_BACK = re.compile(
    r"\b(it|its|that|this|that one|this one|them|those|these|the subscription)\b",
    re.IGNORECASE,
)
S = TypeVar("S")
ACTIVE_ASKED = re.compile(
    r"\b(?:active|still (?:running|live|have|got)|live|current(?:ly)?|left)\b",
    re.IGNORECASE,
)


def eligibility_of(
    session: Session, customer: Customer, subscription: Subscription, now: datetime
) -> Eligibility:
    return cancellation_eligibility(
        subscription,
        now=now,
        tz_name=customer.partner.timezone,
        seat_additions=seat_additions(session, subscription_id=subscription.id),
    )


def eligibilities(
    session: Session, customer: Customer, now: datetime, *, ended: bool = False
) -> list[tuple[Subscription, Eligibility]]:
    """Every subscription that is active or suspended (and, with `ended`, the
    cancelled and expired ones too), with its eligibility now."""
    return [
        (subscription, eligibility_of(session, customer, subscription, now))
        for subscription in subscriptions_of(session, customer_id=customer.id)
        if subscription.status in OPEN_STATUSES
        or (ended and subscription.status in ENDED_STATUSES)
    ]


def _words(text: str) -> set[str]:
    return {
        w
        for w in WORD.findall(text.lower())
        if not w.isdigit() and (len(w) >= 3 or any(c.isdigit() for c in w))
    }


def product_words(name: str) -> set[str]:
    """The words of a product name that tell it apart from others."""
    return _words(name) - GENERIC_WORDS


def best_named(names: Sequence[tuple[str, S]], text: str) -> list[S]:
    """The items whose name `text` names best (most distinctive words in common);
    several on a tie, none if no distinctive word is named."""
    said = _words(text)
    scored = [(len(product_words(name) & said), item) for name, item in names]
    best = max((score for score, _ in scored), default=0)
    return [item for score, item in scored if score == best] if best else []


def named_subscriptions(
    tracker: Tracker, subscriptions: Sequence[Subscription]
) -> tuple[list[Subscription], Optional[str]]:
    """The subscriptions the latest message names (by id, by the `product` entity or
    by distinctive words of a product name: several on a tie), and else the
    product it named that is not on the account (or None)."""
    ids = {v.lower() for v in entity_values(tracker, "subscription_id")}
    by_id = [s for s in subscriptions if s.id.lower() in ids]
    if by_id:
        return by_id[:1], None
    names = [(s.product_name, s) for s in subscriptions]
    products = entity_values(tracker, "product")
    for product in products:
        found = best_named(names, product)
        if found:
            return found, None
    found = best_named(names, latest_text(tracker))
    if found:
        return found, None
    return [], (products[0] if products else None)


def refers_back(tracker: Tracker) -> Optional[str]:
    """The subscription just discussed, when the message says "it" / "that one"
    and names no product."""
    current = tracker.get_slot(CURRENT_SUBSCRIPTION_SLOT)
    if not isinstance(current, str) or not current:
        return None
    if entity_values(tracker, "product") or entity_values(tracker, "subscription_id"):
        return None
    return current if REFERS_BACK.search(latest_text(tracker)) else None


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
    prorated refund until Monday 7 December 2026 at 14:32 PST (7 days after the
    purchase)."; a cancelled subscription is said to be cancelled, a perpetual
    licence to be a one-time purchase that never renews."""
    from actions.refunds import reduces_seats

    name = subscription_name(subscription, context)
    if subscription.status in ENDED_STATUSES:
        return ended_sentence(subscription, context)
    values = {
        "name": name,
        "since": context.t(
            "refund.since.renewal" if eligibility.renewal else "refund.since.purchase",
            day=context.date(eligibility.window_start),
        ),
        "event": context.t(
            "refund.event.renewal" if eligibility.renewal else "refund.event.purchase"
        ),
        "refund": context.t(f"refund.kind.{eligibility.refund}"),
        "until": context.moment(eligibility.window_end_at),
        "seats": context.plural(eligibility.cancellable_seats, "seat"),
        "window": window_length(subscription, context),
    }
    perpetual = subscription.product_kind is ProductKind.PERPETUAL_SOFTWARE
    if eligibility.eligible and not eligibility.seat_windows:
        key = (
            "refund.sentence.open_seats"
            if reduces_seats(subscription)
            else "refund.sentence.open_whole"
        )
        sentence = context.t(key, **values)
        if perpetual:
            sentence += " " + perpetual_note(context)
        return sentence
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
    if perpetual:
        return sentence + " " + perpetual_note(context)
    if subscription.term_end_date and subscription.auto_renew:
        sentence += " " + context.t(
            "refund.turn_off_auto_renew", day=context.date(subscription.term_end_date)
        )
    return sentence


def window_length(subscription: Subscription, context: Context) -> str:
    """ "7 days", "72 hours": the product's cancellation window, as the policy
    states it."""
    hours = commerce_policy().windows[subscription.product_kind].hours
    if hours % 24 or hours < 7 * 24:
        return context.t("refund.window", hours=context.plural(hours, "hour"))
    return context.t("refund.window_days", days=context.plural(hours // 24, "day"))


def perpetual_note(context: Context) -> str:
    """Why a perpetual licence has no renewal to stop and a longer window."""
    windows = commerce_policy().windows
    return context.t(
        "refund.perpetual",
        days=context.plural(windows[ProductKind.PERPETUAL_SOFTWARE].hours // 24, "day"),
        license_days=context.plural(windows[ProductKind.LICENSE].hours // 24, "day"),
    )


def ended_sentence(subscription: Subscription, context: Context) -> str:
    """ "Exchange Online (Plan 1) was already cancelled on 3 November 2026: ..."."""
    status = subscription.status.value
    if subscription.term_end_date:
        return context.t(
            f"refund.sentence.{status}_on",
            product=subscription.product_name,
            day=context.date(subscription.term_end_date),
        )
    return context.t(f"refund.sentence.{status}", product=subscription.product_name)


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
        named, missing = named_subscriptions(context.tracker, subscriptions)
        if not named and missing is None:
            current = refers_back(context.tracker)  # "does it renew?"
            named = [s for s in subscriptions if s.id == current]
        if named:
            return self.about(named, context)
        reply = Reply()
        if missing:
            reply.say(
                "utter_cancellation_not_on_account",
                product=missing,
                account=context.account,
            )
        if ACTIVE_ASKED.search(latest_text(context.tracker)):
            # "What's still active?": the cancelled and expired ones left out.
            subscriptions = [s for s in subscriptions if s.status in OPEN_STATUSES]
            if not subscriptions:
                return reply.say(
                    "utter_no_active_subscriptions", account=context.account
                )
        reply.say(
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

    @staticmethod
    def about(named: list[Subscription], context: Context) -> Reply:
        """The subscription(s) the question names: their line, and whether they can
        still be cancelled; the one named becomes the one discussed ("can I
        still cancel it?")."""
        customer = context.customer
        assert customer is not None
        lines = [subscription_line(s, context) for s in named]
        reply = Reply().say(
            "utter_subscription_named",
            subscriptions=lines[0] + "." if len(lines) == 1 else bullet_list(lines),
        )
        sentences = [
            eligibility_sentence(
                s, eligibility_of(context.session, customer, s, context.now), context
            )
            for s in named
        ]
        reply.say("utter_subscription_named_window", windows=" ".join(sentences))
        if len(named) == 1:
            reply.events.append(SlotSet(CURRENT_SUBSCRIPTION_SLOT, named[0].id))
        return reply
