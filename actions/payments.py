"""Payments: status and due dates, how to pay, failed payments, and what happens
when an invoice stays unpaid (the partner's collections policy and the date access
would be suspended).

How to pay and the collections policy come from the partner's profile; dates come
from `api.domain.services.payments`. Partner staff also hear that Microsoft suspends a
partner's own CSP account when the partner's invoice is over 60 days overdue
(`api/domain/policies/collections.yml`); customers do not, since it is not about them.
"""

from __future__ import annotations

from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.common import BillingAction, Context, Reply
from actions.formatting import (
    bullet_list,
    format_date,
    format_money,
    invoice_status,
    join_words,
    plural,
)
from actions.invoices import CURRENT_INVOICE_SLOT, checked_invoice_number
from api.domain.models import Customer, DocumentType, Invoice, Partner
from api.domain.services.billing import invoice_by_number, unpaid_invoices
from api.domain.services.payments import (
    AccountStatus,
    account_status,
    collections_timeline,
    microsoft_suspension_days,
)


def status_of(context: Context, customer: Customer) -> AccountStatus:
    return account_status(
        unpaid_invoices(context.session, customer_id=customer.id),
        today=context.today,
        currency=customer.currency,
    )


def timeline_reply(invoice: Invoice, partner: Partner, context: Context) -> Reply:
    """The reminder and suspension dates of an overdue invoice, and the policy."""
    timeline = collections_timeline(invoice, partner, today=context.today)
    reply = Reply()
    if timeline.stage == "suspension_due":
        reply.say(
            "utter_collections_suspension_reached",
            invoice_number=invoice.number,
            days_overdue=plural(timeline.days_overdue, "day"),
            suspend_after=plural(partner.suspend_after_days_overdue, "day"),
            suspend_on=format_date(timeline.suspend_on),
        )
    else:
        reply.say(
            "utter_collections_timeline",
            invoice_number=invoice.number,
            days_overdue=plural(timeline.days_overdue, "day"),
            reminder_on=format_date(timeline.reminder_on),
            suspend_on=format_date(timeline.suspend_on),
            days_left=plural(max(timeline.days_until_suspension, 0), "day"),
        )
    reply.say("utter_collections_policy", collections_policy=partner.collections_policy)
    if context.is_staff:
        reply.say(
            "utter_partner_suspension_note", days=str(microsoft_suspension_days())
        )
    return reply


def payment_lines(invoice: Invoice) -> str:
    payments = sorted(invoice.payments, key=lambda p: p.received_on)
    return join_words(
        [
            f"{format_money(p.amount, p.currency)} on {format_date(p.received_on)} "
            f"({p.method})"
            for p in payments
        ]
    )


def invoice_payment_reply(invoice: Invoice, context: Context) -> Reply:
    """Where one invoice stands: paid (when, how), unpaid, overdue (what next)."""
    partner = invoice.customer.partner
    reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)])
    status = invoice.payment_status(context.today)
    values = {
        "invoice_number": invoice.number,
        "account": context.account,
        "total": format_money(invoice.total, invoice.currency),
        "due_date": format_date(invoice.due_date),
        "payment_status": invoice_status(invoice, context.today),
    }
    if invoice.document_type is DocumentType.CREDIT_NOTE:
        return reply.say("utter_payment_credit_note", **values)
    if status == "paid":
        return reply.say(
            "utter_payment_invoice_paid", payments=payment_lines(invoice), **values
        )
    reply.say("utter_payment_invoice_open", **values)
    if invoice.paid_amount > 0:
        reply.say("utter_payment_received_so_far", payments=payment_lines(invoice))
    if status == "overdue":
        reply.extend(timeline_reply(invoice, partner, context))
    return reply


def open_invoice_line(invoice: Invoice, context: Context) -> str:
    """`G000024178 (August 2026): 407.48 USD to pay, due 1 October 2026, overdue by
    45 days`."""
    status = invoice.payment_status(context.today)
    if status == "overdue":
        state = f"overdue by {plural(invoice.days_overdue(context.today), 'day')}"
    elif status == "partially_paid":
        state = (
            f"partly paid ({format_money(invoice.paid_amount, invoice.currency)} "
            "received)"
        )
    else:
        days = (invoice.due_date - context.today).days
        state = "due today" if days == 0 else f"due in {plural(days, 'day')}"
    return (
        f"{invoice.number} ({invoice.billing_period_start:%B %Y}): "
        f"{format_money(invoice.balance, invoice.currency)} to pay by "
        f"{format_date(invoice.due_date)}, {state}"
    )


def account_reply(context: Context, customer: Customer) -> Reply:
    """The account's open invoices: overdue first, then what is due next."""
    status = status_of(context, customer)
    reply = Reply()
    terms = plural(customer.partner.payment_terms_days, "day")
    if not status.unpaid:
        return reply.say("utter_payment_all_paid", account=context.account, terms=terms)
    lines = [open_invoice_line(invoice, context) for invoice in status.unpaid]
    reply.say(
        "utter_payment_account_status",
        account=context.account,
        outstanding=format_money(status.outstanding, status.currency),
        invoices=bullet_list(lines),
        terms=terms,
    )
    oldest = status.oldest_overdue
    if oldest is not None:
        reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, oldest.number))
        reply.extend(timeline_reply(oldest, customer.partner, context))
    return reply


def how_to_pay_values(partner: Partner) -> dict[str, str]:
    return {
        "partner_name": partner.name,
        "payment_methods": join_words(list(partner.payment_methods), "or"),
        "payment_instructions": partner.payment_instructions,
    }


class ActionPaymentStatus(BillingAction):
    """Is it paid? When is it due? What is overdue, and what happens next?"""

    capability = "view_payments"
    general_response = "utter_payments_general"

    def name(self) -> str:
        return "action_payment_status"

    def before_lookup(self, tracker: Tracker) -> Optional[Reply]:
        _, hint = checked_invoice_number(tracker)
        return hint

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        number, _ = checked_invoice_number(context.tracker)
        if number is not None:
            invoice = invoice_by_number(
                context.session, customer_id=customer.id, number=number
            )
            if invoice is None:
                return Reply().say(
                    "utter_invoice_not_found",
                    invoice_number=number,
                    account=context.account,
                )
            return invoice_payment_reply(invoice, context)
        return account_reply(context, customer)


class ActionPaymentMethods(BillingAction):
    """How to pay the partner, from its profile; and what is due next."""

    capability = "view_payments"
    general_response = "utter_payment_methods_general"

    def name(self) -> str:
        return "action_payment_methods"

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        partner = customer.partner
        reply = Reply().say("utter_payment_methods", **how_to_pay_values(partner))
        status = status_of(context, customer)
        first = status.oldest_overdue or status.next_due
        if first is not None:
            reply.say(
                "utter_payment_next_due",
                account=context.account,
                invoice_number=first.number,
                balance=format_money(first.balance, first.currency),
                due_date=format_date(first.due_date),
                payment_status=invoice_status(first, context.today),
            )
        return reply


class ActionPaymentFailed(BillingAction):
    """A payment did not go through: what is still due, how to pay, and what
    happens if it stays unpaid."""

    capability = "view_payments"
    general_response = "utter_payment_failed_general"

    def name(self) -> str:
        return "action_payment_failed"

    def answer(self, context: Context) -> Reply:
        customer = context.customer
        assert customer is not None
        partner = customer.partner
        status = status_of(context, customer)
        reply = Reply().say("utter_payment_failed_sorry")
        first = status.oldest_overdue or status.next_due
        if first is None:
            reply.say("utter_payment_failed_nothing_due", account=context.account)
            return reply.say("utter_payment_methods", **how_to_pay_values(partner))
        reply.say(
            "utter_payment_next_due",
            account=context.account,
            invoice_number=first.number,
            balance=format_money(first.balance, first.currency),
            due_date=format_date(first.due_date),
            payment_status=invoice_status(first, context.today),
        )
        reply.say("utter_payment_methods", **how_to_pay_values(partner))
        timeline = collections_timeline(first, partner, today=context.today)
        if timeline.stage in ("overdue", "reminded", "suspension_due"):
            reply.extend(timeline_reply(first, partner, context))
        else:
            reply.say(
                "utter_payment_failed_if_unpaid",
                due_date=format_date(first.due_date),
                reminder_on=format_date(timeline.reminder_on),
                suspend_on=format_date(timeline.suspend_on),
            )
        reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, first.number))
        return reply
