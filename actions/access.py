"""Suspended access: why (non-payment: the overdue invoice), what it means for the
users and their data, what is still billed, and how to get access back (pay the
overdue balance; the partner reactivates the subscription before its term ends).

A question about one part of it ("will we lose our data?", "are we still being
charged?", "how do we get access back?") is answered first and on its own (the
`aspect` entity); the reason follows in a sentence.
"""

from __future__ import annotations

import re

from rasa_sdk.events import SlotSet

from actions.base import (
    CURRENT_INVOICE_SLOT,
    BillingAction,
    Context,
    Reply,
    possessive,
)
from actions.payments import how_to_pay_values, status_of
from actions.tracker import entity_values
from api.domain.models import Commerce, Customer
from api.domain.services.billing import subscriptions_of
from api.domain.services.payments import (
    collections_policy,
    microsoft_suspension_days,
    suspension_report,
)
from api.domain.services.permissions import permission_table

VIEW_PAYMENTS = "view_payments"
ASPECTS = ("data", "billing_continues", "reactivate", "deadline")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# The sentences of a collections policy about getting access back ("Paying the
# overdue balance reactivates them within one business day").
ABOUT_REACTIVATION = re.compile(r"reactivat|restor|re-enabl|access back", re.I)


def policy_on_reactivation(policy: str) -> str:
    """What the partner's own collections policy says about reactivation, or ''."""
    return " ".join(
        sentence
        for sentence in SENTENCE_END.split(" ".join(policy.split()))
        if ABOUT_REACTIVATION.search(sentence)
    )


def suspension_reply(context: Context, customer: Customer) -> Reply:
    """Which subscriptions are suspended, why, and what to do: the whole answer,
    or the part the question asked about first."""
    partner = customer.partner
    status = status_of(context, customer)
    report = suspension_report(
        subscriptions_of(context.session, customer_id=customer.id), status
    )
    reply = Reply()
    if not report.suspended:
        reply.say("utter_suspended_none", account=context.account)
        if report.overdue:
            oldest = report.overdue[0]
            reply.say(
                "utter_suspended_none_but_overdue",
                invoice_number=oldest.number,
                days_overdue=context.plural(oldest.days_overdue(context.today), "day"),
                suspend_after=context.plural(partner.suspend_after_days_overdue, "day"),
            )
        return reply
    asked = [a for a in entity_values(context.tracker, "aspect") if a in ASPECTS]
    names = context.join(
        [
            context.t(
                "suspension.since",
                product=s.product_name,
                since=context.date(s.suspended_on),
            )
            if s.suspended_on
            else s.product_name
            for s in report.suspended
        ]
    )
    legacy = any(s.commerce is Commerce.LEGACY for s in report.suspended)
    policy = collections_policy().suspended_subscription
    reactivate_before = (
        context.date(report.reactivate_before)
        if report.reactivate_before
        else context.t("suspension.term_end")
    )
    for aspect in asked:
        reply.say(
            f"utter_suspended_aspect_{aspect}",
            subscriptions=names,
            days=str(policy.legacy_data_deleted_after_days),
            reactivate_before=reactivate_before,
            partner_name=partner.name,
        )
        said = policy_on_reactivation(partner.collections_policy)
        if aspect == "reactivate" and said:
            reply.say(
                "utter_suspended_partner_policy",
                partner_possessive=possessive(partner.name, context.lang),
                policy=said,
            )
        if aspect == "data" and legacy:
            reply.say(
                "utter_suspended_aspect_data_legacy",
                days=str(policy.legacy_data_deleted_after_days),
            )
    reply.say("utter_suspended_which", account=context.account, subscriptions=names)
    may_see_payments = context.chatter.can(VIEW_PAYMENTS)
    if report.cause is not None and may_see_payments:
        cause = report.cause
        reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, cause.number))
        reply.say(
            "utter_suspended_cause",
            invoice_number=cause.number,
            balance=context.money(cause.balance, cause.currency),
            due_date=context.date(cause.due_date),
            days_overdue=context.plural(cause.days_overdue(context.today), "day"),
            suspend_after=context.plural(partner.suspend_after_days_overdue, "day"),
            overdue_total=context.money(report.overdue_amount, report.currency),
            overdue_count=context.plural(len(report.overdue), "overdue_invoice"),
        )
        reply.because(
            context.t(
                "why.suspended",
                invoice_number=cause.number,
                days_overdue=context.plural(cause.days_overdue(context.today), "day"),
                suspend_after=context.plural(partner.suspend_after_days_overdue, "day"),
            )
        )
    elif report.cause is not None:
        reply.say(
            "utter_suspended_cause_hidden",
            role=context.chatter.role_label,
            roles=context.join(permission_table().roles_that_can(VIEW_PAYMENTS), "or"),
        )
    else:
        reply.say(
            "utter_suspended_other_reason",
            reason=report.suspended[0].suspension_reason
            or context.t("suspension.no_reason"),
        )
    if not asked:
        reply.say(
            "utter_suspended_means_legacy" if legacy else "utter_suspended_means",
            days=str(policy.legacy_data_deleted_after_days),
        )
    if "reactivate" not in asked:
        reply.say(
            "utter_suspended_restore",
            reactivate_before=reactivate_before,
            **how_to_pay_values(partner, context),
        )
    if context.is_staff:
        reply.say(
            "utter_partner_suspension_note", days=str(microsoft_suspension_days())
        )
    return reply


class ActionAccessSuspended(BillingAction):
    """Why subscriptions are suspended and how to restore them."""

    capability = "view_subscriptions"
    general_response = "utter_suspended_general"

    def name(self) -> str:
        return "action_access_suspended"

    def answer(self, context: Context) -> Reply:
        assert context.customer is not None
        return suspension_reply(context, context.customer)
