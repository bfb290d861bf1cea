"""Suspended access: why (non-payment: the overdue invoice), what is still billed,
and how to get access back (pay the overdue balance; the partner reactivates the
subscription before its term ends)."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.common import BillingAction, Context, Reply
from actions.formatting import format_date, format_money, join_words, plural
from actions.invoices import CURRENT_INVOICE_SLOT
from actions.payments import how_to_pay_values, status_of
from api.domain.services.billing import subscriptions_of
from api.domain.services.payments import microsoft_suspension_days, suspension_report
from api.domain.services.permissions import permission_table

VIEW_PAYMENTS = "view_payments"


class ActionAccessSuspended(BillingAction):
    """Why subscriptions are suspended and how to restore them."""

    capability = "view_subscriptions"
    general_response = "utter_suspended_general"

    def name(self) -> str:
        return "action_access_suspended"

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
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
                    days_overdue=plural(oldest.days_overdue(context.today), "day"),
                    suspend_after=plural(partner.suspend_after_days_overdue, "day"),
                )
            return reply
        names = join_words(
            [
                f"{s.product_name} (since {format_date(s.suspended_on)})"
                if s.suspended_on
                else s.product_name
                for s in report.suspended
            ]
        )
        reply.say("utter_suspended_which", account=context.account, subscriptions=names)
        may_see_payments = context.chatter.can(VIEW_PAYMENTS)
        if report.cause is not None and may_see_payments:
            cause = report.cause
            reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, cause.number))
            reply.say(
                "utter_suspended_cause",
                invoice_number=cause.number,
                balance=format_money(cause.balance, cause.currency),
                due_date=format_date(cause.due_date),
                days_overdue=plural(cause.days_overdue(context.today), "day"),
                suspend_after=plural(partner.suspend_after_days_overdue, "day"),
                overdue_total=format_money(report.overdue_amount, report.currency),
                overdue_count=plural(len(report.overdue), "overdue invoice"),
            )
        elif report.cause is not None:
            reply.say(
                "utter_suspended_cause_hidden",
                role=context.chatter.role_label,
                roles=" or ".join(permission_table().roles_that_can(VIEW_PAYMENTS)),
            )
        else:
            reply.say(
                "utter_suspended_other_reason",
                reason=report.suspended[0].suspension_reason or "no reason recorded",
            )
        reply.say(
            "utter_suspended_still_billed"
            if report.still_billed
            else "utter_suspended_legacy",
            note=report.new_commerce_note
            if report.still_billed
            else report.legacy_note,
        )
        restore = {
            **how_to_pay_values(partner),
            "reactivate_before": format_date(report.reactivate_before)
            if report.reactivate_before
            else "the end of its term",
        }
        reply.say("utter_suspended_restore", **restore)
        if context.is_staff:
            reply.say(
                "utter_partner_suspension_note", days=str(microsoft_suspension_days())
            )
        return reply
