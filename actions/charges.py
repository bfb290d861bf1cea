"""Charge explanations: what changed since the previous invoice, line by line.

The comparison itself is computed by `api.domain.services.charges.compare_invoices` (pure,
tested to add up on every consecutive pair of the demo); this module picks the
invoice (a number, a period, the one the conversation is about, or the latest) and
writes each change item as a sentence.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.base import CURRENT_INVOICE_SLOT, BillingAction, Context, Reply
from actions.invoices import (
    Chosen,
    checked_invoice_number,
    choose_invoice,
    current_invoice,
)
from actions.tracker import entity_values, latest_text
from api.domain.models import (
    BillingFrequency,
    DocumentType,
    Invoice,
    Subscription,
    SubscriptionStatus,
)
from api.domain.services.billing import (
    credit_notes_amending,
    latest_invoice,
    previous_invoice,
)
from api.domain.services.charges import (
    ChangeItem,
    ChargeComparison,
    compare_invoices,
    explain_credit_note,
)
from common.formatting import bullet_list, format_change, format_price

MAX_METERS = 3
ZERO = Decimal("0.00")
# "why is it higher than last month?": last month is what this invoice is compared
# with, not the invoice to explain.
# "compare it with the previous one" too: the invoice discussed is explained.
COMPARISON = re.compile(
    r"\b(?:than|compar\w*(?:\s+(?:it|this|that)(?:\s+one)?)?\s+(?:to|with|against)"
    r"|vs\.?|versus|since|from)\s+(?:the\s+)?"
    r"(?:last|previous|prior|one before|month before)\b",
    re.IGNORECASE,
)


def _span(item: ChangeItem, context: Context) -> str:
    if item.start is None or item.end is None:
        return ""
    if item.start == item.end:
        return context.date(item.start)
    return context.period(item.start, item.end)


def _days(item: ChangeItem, context: Context) -> str:
    if item.days is None:
        return ""
    if item.cycle_days:
        return context.t("charge.days_of_cycle", days=item.days, cycle=item.cycle_days)
    return context.t("charge.days", days=context.plural(item.days, "day"))


def describe_change(
    item: ChangeItem,
    currency: str,
    subscriptions: dict[str, Subscription],
    context: Context,
) -> str:
    """One change item as a sentence ending with its signed amount."""
    lang = context.lang
    values = {
        "product": item.product,
        "amount": format_change(item.amount, currency, lang),
        "seats_before": item.seats_before or 0,
        "seats_after": item.seats_after or 0,
        "removed": abs(item.seats_after or 0),
        "price_before": format_price(item.price_before or ZERO, lang),
        "price_after": format_price(item.price_after or ZERO, lang),
        "start": context.date(item.start) if item.start else "?",
        "span": _span(item, context),
        "days": _days(item, context),
        "description": item.description or "",
    }
    kind: str = item.kind
    if kind in ("seats_added", "seats_removed"):
        values["delta"] = f"{(item.seats_after or 0) - (item.seats_before or 0):+d}"
        kind = "seats_changed"
    elif kind == "price_change":
        old, new = item.price_before or Decimal(0), item.price_after or Decimal(0)
        values["percent"] = f" ({(new - old) / old * 100:+.1f}%)" if old else ""
        kind = "price_change_renewal" if item.charge_type == "renew" else "price_change"
    elif kind == "new_product":
        kind = "new_subscription" if item.charge_type == "new" else "new_product"
    elif kind == "product_not_billed":
        sub = subscriptions.get(item.subscription_id or "")
        why = ""
        if sub is not None and sub.status is SubscriptionStatus.CANCELLED:
            why = "charge.why.cancelled"
        elif sub is not None and sub.billing_frequency is BillingFrequency.ANNUAL:
            why = "charge.why.annual"
        elif sub is not None and sub.status is SubscriptionStatus.EXPIRED:
            why = "charge.why.expired"
        values["why"] = context.t(why) if why else ""
    elif kind == "prorated_not_repeated":
        values["what"] = context.t(
            "charge.what.charge" if item.amount < 0 else "charge.what.credit"
        )
    elif kind == "usage":
        moved = [
            f"{meter.meter} {format_change(meter.amount, currency, lang)}"
            for meter in item.meters[:MAX_METERS]
        ]
        values["detail"] = (
            context.t("charge.usage_detail", meters=context.join(moved))
            if moved
            else ""
        )
        values["after"] = context.money(item.after or ZERO, currency)
        values["before"] = context.money(item.before or ZERO, currency)
    elif kind == "credit":
        values["detail"] = f" ({item.description})" if item.description else ""
    elif kind == "tax":
        if item.before is None:
            kind = "tax_alone"
        values["after"] = context.money(item.after or ZERO, currency)
        values["before"] = context.money(item.before or ZERO, currency)
    key = f"charge.{kind}"
    if key not in context.texts.texts:
        key = "charge.other"
    return context.t(key, **values)


def explanation_reply(
    invoice: Invoice,
    previous: Optional[Invoice],
    comparison: ChargeComparison,
    context: Context,
) -> Reply:
    """The formatted explanation of a comparison."""
    currency = comparison.currency
    subscriptions = {s.id: s for s in invoice.customer.subscriptions}
    changes = bullet_list(
        [
            describe_change(item, currency, subscriptions, context)
            for item in comparison.items
        ]
    )
    reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)])
    period = context.period(invoice.billing_period_start, invoice.billing_period_end)
    if previous is None:
        reply.say(
            "utter_charges_first_invoice",
            account=context.account,
            invoice_number=invoice.number,
            billing_period=period,
            total=context.money(invoice.total, currency),
            changes=changes,
        )
    elif not comparison.items:
        reply.say(
            "utter_charges_unchanged",
            invoice_number=invoice.number,
            billing_period=period,
            total=context.money(invoice.total, currency),
            previous_number=previous.number,
        )
    else:
        difference = comparison.difference
        reply.say(
            "utter_charges_explained_more"
            if difference > 0
            else "utter_charges_explained_less",
            invoice_number=invoice.number,
            billing_period=period,
            total=context.money(invoice.total, currency),
            previous_number=previous.number,
            previous_period=context.period(
                previous.billing_period_start, previous.billing_period_end
            ),
            previous_total=context.money(previous.total, currency),
            difference=context.money(abs(difference), currency),
            changes=changes,
            items_total=format_change(comparison.items_total, currency, context.lang),
        )
    for note in comparison.credit_notes:
        reply.say(
            "utter_charges_credit_note",
            credit_note_number=note.number,
            credit_note_total=context.money(note.total, currency),
            credit_note_date=context.date(note.invoice_date),
            invoice_number=invoice.number,
        )
    return reply


class ActionExplainCharges(BillingAction):
    """Explain an invoice's charges against the previous invoice of its series."""

    capability = "explain_charges"
    general_response = "utter_charges_general"

    def name(self) -> str:
        return "action_explain_charges"

    def before_lookup(self, tracker: Tracker) -> Optional[Reply]:
        _, hint = checked_invoice_number(tracker)
        return hint

    def pick_invoice(self, context: Context) -> Chosen:
        """The invoice to explain: as `choose_invoice` reads the message, the one
        the conversation is about by default; "than last month" compares, so the
        period it names is not the invoice to explain."""
        customer = context.customer
        assert customer is not None
        if COMPARISON.search(latest_text(context.tracker)) and not entity_values(
            context.tracker, "invoice_number"
        ):
            current = current_invoice(context, customer)
            if current is not None:
                return Chosen(invoice=current)
            newest = latest_invoice(context.session, customer_id=customer.id)
            if newest is not None:
                return Chosen(invoice=newest)
        return choose_invoice(context, customer, prefer_current=True)

    def answer(self, context: Context) -> Reply:
        chosen = self.pick_invoice(context)
        if chosen.reply is not None:
            return chosen.reply
        invoice = chosen.invoice or (chosen.invoices[-1] if chosen.invoices else None)
        if invoice is None:
            return Reply().say("utter_no_invoices", account=context.account)
        reply = Reply()
        if chosen.note is not None:
            reply.extend(chosen.note)
        if invoice.document_type is DocumentType.CREDIT_NOTE:
            comparison = explain_credit_note(invoice)
            amended = invoice.amends_of
            return reply.with_events(SlotSet(CURRENT_INVOICE_SLOT, invoice.number)).say(
                "utter_charges_credit_note_explained",
                invoice_number=invoice.number,
                total=context.money(invoice.total, invoice.currency),
                amended_invoice_number=amended.number
                if amended is not None and amended.customer_id == invoice.customer_id
                else context.t("invoice.an_earlier_one"),
                changes=bullet_list(
                    [
                        describe_change(item, invoice.currency, {}, context)
                        for item in comparison.items
                    ]
                ),
            )
        previous = previous_invoice(context.session, invoice=invoice)
        comparison = compare_invoices(
            invoice,
            previous,
            credit_notes=credit_notes_amending(context.session, invoice=invoice),
        )
        return reply.extend(explanation_reply(invoice, previous, comparison, context))
