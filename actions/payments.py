"""Payments: status and due dates, how to pay, failed payments, and what happens
when an invoice stays unpaid (the partner's collections policy and the date access
would be suspended).

"How to pay" questions about one part (a currency, a card, a transfer, a direct
debit: the `aspect` entity) are answered on their own, with a clear yes or no from
the partner's profile, before the list of methods.

How to pay and the collections policy come from the partner's profile; dates come
from `api.domain.services.payments`. Partner staff also hear that Microsoft suspends a
partner's own CSP account when the partner's invoice is over 60 days overdue
(`api/domain/policies/collections.yml`); customers do not, since it is not about them.
"""

from __future__ import annotations

import re
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.base import CURRENT_INVOICE_SLOT, BillingAction, Context, Reply
from actions.invoices import (
    NEWEST,
    REFERS_BACK,
    checked_invoice_number,
    choose_invoice,
    invoice_status,
)
from actions.tracker import entity_values, latest_text
from api.domain.models import Customer, DocumentType, Invoice, Partner
from api.domain.services.billing import invoice_by_number, unpaid_invoices
from api.domain.services.payments import (
    AccountStatus,
    account_status,
    collections_timeline,
    microsoft_suspension_days,
)
from common.formatting import bullet_list

# A currency named in a question, by what people write.
CURRENCY_WORDS = {
    "USD": r"usd|us ?dollars?|dollars?|\$",
    "EUR": r"eur|euros?|€",
    "GBP": r"gbp|pounds?( sterling)?|sterling|£",
    "JPY": r"jpy|yen|円|¥",
    "CAD": r"cad|canadian dollars?",
    "AUD": r"aud|australian dollars?",
    "CHF": r"chf|swiss francs?",
}
# Which payment methods of a partner's profile an aspect asks about.
METHOD_WORDS = {
    "card": r"card|visa|mastercard|amex",
    "bank_transfer": r"transfer|wire|bank",
    "direct_debit": r"direct debit|debit|ach|sepa|automatic",
}


def currency_named(text: str) -> Optional[str]:
    lowered = text.lower()
    for code, words in CURRENCY_WORDS.items():
        if re.search(rf"(?<![a-z])(?:{words})(?![a-z])", lowered):
            return code
    return None


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
            days_overdue=context.plural(timeline.days_overdue, "day"),
            suspend_after=context.plural(partner.suspend_after_days_overdue, "day"),
            suspend_on=context.date(timeline.suspend_on),
        )
    else:
        reply.say(
            "utter_collections_timeline",
            invoice_number=invoice.number,
            days_overdue=context.plural(timeline.days_overdue, "day"),
            reminder_on=context.date(timeline.reminder_on),
            suspend_on=context.date(timeline.suspend_on),
            days_left=context.plural(max(timeline.days_until_suspension, 0), "day"),
        )
    reply.say("utter_collections_policy", collections_policy=partner.collections_policy)
    if context.is_staff:
        reply.say(
            "utter_partner_suspension_note", days=str(microsoft_suspension_days())
        )
    return reply


def payment_lines(invoice: Invoice, context: Context) -> str:
    payments = sorted(invoice.payments, key=lambda p: p.received_on)
    return context.join(
        [
            context.t(
                "payment.received",
                amount=context.money(p.amount, p.currency),
                day=context.date(p.received_on),
                method=p.method,
            )
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
        "total": context.money(invoice.total, invoice.currency),
        "due_date": context.date(invoice.due_date),
        "payment_status": invoice_status(invoice, context.today, context.lang),
    }
    if invoice.document_type is DocumentType.CREDIT_NOTE:
        return reply.say("utter_payment_credit_note", **values)
    if status == "paid":
        return reply.say(
            "utter_payment_invoice_paid",
            payments=payment_lines(invoice, context),
            **values,
        )
    reply.say("utter_payment_invoice_open", **values)
    if invoice.paid_amount > 0:
        reply.say(
            "utter_payment_received_so_far", payments=payment_lines(invoice, context)
        )
    if status == "overdue":
        reply.extend(timeline_reply(invoice, partner, context))
    return reply


def open_invoice_line(invoice: Invoice, context: Context) -> str:
    """`G000024178 (August 2026): 407.48 USD to pay by 1 October 2026, overdue by
    45 days`."""
    status = invoice.payment_status(context.today)
    if status == "overdue":
        state = context.t(
            "payment.state.overdue",
            days=context.plural(invoice.days_overdue(context.today), "day"),
        )
    elif status == "partially_paid":
        state = context.t(
            "payment.state.partly_paid",
            paid=context.money(invoice.paid_amount, invoice.currency),
        )
    else:
        days = (invoice.due_date - context.today).days
        state = (
            context.t("payment.state.due_today")
            if days == 0
            else context.t("payment.state.due_in", days=context.plural(days, "day"))
        )
    return context.t(
        "payment.open_line",
        invoice_number=invoice.number,
        month=context.t("month", month=invoice.billing_period_start),
        balance=context.money(invoice.balance, invoice.currency),
        due_date=context.date(invoice.due_date),
        state=state,
    )


def account_reply(context: Context, customer: Customer) -> Reply:
    """The account's open invoices: overdue first, then what is due next."""
    status = status_of(context, customer)
    reply = Reply()
    terms = context.plural(customer.partner.payment_terms_days, "day")
    if not status.unpaid:
        return reply.say("utter_payment_all_paid", account=context.account, terms=terms)
    lines = [open_invoice_line(invoice, context) for invoice in status.unpaid]
    reply.say(
        "utter_payment_account_status",
        account=context.account,
        outstanding=context.money(status.outstanding, status.currency),
        invoices=bullet_list(lines),
        terms=terms,
    )
    oldest = status.oldest_overdue
    if oldest is not None:
        reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, oldest.number))
        reply.extend(timeline_reply(oldest, customer.partner, context))
    return reply


def how_to_pay_values(partner: Partner, context: Context) -> dict[str, str]:
    return {
        "partner_name": partner.name,
        "payment_methods": context.join(list(partner.payment_methods), "or"),
        "payment_instructions": partner.payment_instructions,
    }


def method_answers(context: Context, customer: Customer) -> Reply:
    """Yes or no to the one thing a "how to pay" question asks about: a currency,
    a card, a transfer, a direct debit."""
    partner = customer.partner
    reply = Reply()
    text = latest_text(context.tracker)
    aspects = entity_values(context.tracker, "aspect")
    asked_currency = currency_named(text)
    if "currency" in aspects or asked_currency:
        billed = customer.currency.upper()
        if asked_currency is None or asked_currency == billed:
            reply.say(
                "utter_payment_currency", currency=billed, partner_name=partner.name
            )
        else:
            reply.say(
                "utter_payment_currency_not_accepted",
                asked=asked_currency,
                currency=billed,
                partner_name=partner.name,
            ).because(
                context.t("why.currency", currency=billed, partner_name=partner.name)
            )
    for aspect, words in METHOD_WORDS.items():
        if aspect not in aspects:
            continue
        accepted = [
            m for m in partner.payment_methods if re.search(words, m, re.IGNORECASE)
        ]
        if accepted:
            reply.say(
                "utter_payment_method_accepted",
                method=context.join(accepted, "or"),
                partner_name=partner.name,
            )
        else:
            reply.say(
                "utter_payment_method_not_accepted",
                method=context.t(f"payment.method.{aspect}"),
                partner_name=partner.name,
            ).because(context.t("why.method", partner_name=partner.name))
    return reply


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
        tracker = context.tracker
        text = latest_text(tracker)
        refs = entity_values(tracker, "invoice_ref")
        if refs and refs[0] == "first":
            # "the oldest one": of the open invoices, when there are any
            oldest = status_of(context, customer).unpaid
            if oldest:
                return invoice_payment_reply(oldest[0], context)
        if (
            refs
            or entity_values(tracker, "billing_period")
            or REFERS_BACK.search(text)
            or NEWEST.search(text)
        ):
            chosen = choose_invoice(context, customer, prefer_current=True)
            if chosen.reply is not None:
                return chosen.reply
            if chosen.invoice is not None:
                return invoice_payment_reply(chosen.invoice, context)
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
        reply = method_answers(context, customer)
        reply.say("utter_payment_methods", **how_to_pay_values(partner, context))
        status = status_of(context, customer)
        first = status.oldest_overdue or status.next_due
        if first is not None:
            reply.say(
                "utter_payment_next_due",
                account=context.account,
                invoice_number=first.number,
                balance=context.money(first.balance, first.currency),
                due_date=context.date(first.due_date),
                payment_status=invoice_status(first, context.today, context.lang),
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
            return reply.say(
                "utter_payment_methods", **how_to_pay_values(partner, context)
            )
        reply.say(
            "utter_payment_next_due",
            account=context.account,
            invoice_number=first.number,
            balance=context.money(first.balance, first.currency),
            due_date=context.date(first.due_date),
            payment_status=invoice_status(first, context.today, context.lang),
        )
        reply.say("utter_payment_methods", **how_to_pay_values(partner, context))
        timeline = collections_timeline(first, partner, today=context.today)
        if timeline.stage in ("overdue", "reminded", "suspension_due"):
            reply.extend(timeline_reply(first, partner, context))
        else:
            reply.say(
                "utter_payment_failed_if_unpaid",
                due_date=context.date(first.due_date),
                reminder_on=context.date(timeline.reminder_on),
                suspend_on=context.date(timeline.suspend_on),
            )
        reply.events.append(SlotSet(CURRENT_INVOICE_SLOT, first.number))
        return reply
