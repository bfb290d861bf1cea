"""Charge explanations: what changed since the previous invoice, line by line.

The comparison itself is computed by `api.domain.services.charges.compare_invoices` (pure,
tested to add up on every consecutive pair of the demo); this module picks the
invoice (a number, a period, the one the conversation is about, or the latest) and
writes each change item as a sentence.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.common import BillingAction, Context, Reply
from actions.formatting import (
    bullet_list,
    format_change,
    format_date,
    format_money,
    format_period,
    format_price,
    join_words,
    plural,
)
from actions.invoices import (
    CURRENT_INVOICE_SLOT,
    MAX_ECHOED_CHARS,
    checked_invoice_number,
    requested_periods,
)
from api.domain.models import (
    BillingFrequency,
    DocumentType,
    Invoice,
    Subscription,
    SubscriptionStatus,
)
from api.domain.services.billing import (
    credit_notes_amending,
    invoice_by_number,
    invoices_in_period,
    latest_invoice,
    previous_invoice,
)
from api.domain.services.charges import (
    ChangeItem,
    ChargeComparison,
    compare_invoices,
    explain_credit_note,
)
from api.domain.services.periods import PeriodError, parse_billing_periods

MAX_METERS = 3
ZERO = Decimal("0.00")


def _d(day: Optional[date]) -> str:
    return format_date(day) if day is not None else "?"


def _span(item: ChangeItem) -> str:
    if item.start is None or item.end is None:
        return ""
    if item.start == item.end:
        return format_date(item.start)
    return format_period(item.start, item.end)


def _days(item: ChangeItem) -> str:
    if item.days is None:
        return ""
    if item.cycle_days:
        return f", {item.days} of {item.cycle_days} days of the billing cycle"
    return f", {plural(item.days, 'day')}"


def describe_change(
    item: ChangeItem,
    currency: str,
    subscriptions: dict[str, Subscription],
) -> str:
    """One change item as a sentence ending with its signed amount."""
    amount = format_change(item.amount, currency)
    product = item.product
    seats_after = item.seats_after or 0
    if item.kind in ("seats_added", "seats_removed"):
        before, after = item.seats_before or 0, seats_after
        delta = after - before
        return (
            f"{product}: {after} seats instead of {before} "
            f"({delta:+d} x {format_price(item.price_before or ZERO)}): {amount}"
        )
    if item.kind == "price_change":
        old, new = item.price_before or Decimal(0), item.price_after or Decimal(0)
        percent = f" ({(new - old) / old * 100:+.1f}%)" if old else ""
        when = (
            f" at renewal on {_d(item.start)}"
            if item.charge_type == "renew"
            else f" from {_d(item.start)}"
        )
        return (
            f"{product}: price per seat {format_price(old)} -> {format_price(new)}"
            f"{percent}{when}, for {seats_after} seats: {amount}"
        )
    if item.kind == "new_product":
        what = "new subscription" if item.charge_type == "new" else "billed this time"
        return (
            f"{product}: {what}, {seats_after} x {format_price(item.price_after or ZERO)} "
            f"for {_span(item)}: {amount}"
        )
    if item.kind == "product_not_billed":
        why = ""
        sub = subscriptions.get(item.subscription_id or "")
        if sub is not None and sub.status is SubscriptionStatus.CANCELLED:
            why = " (the subscription was cancelled)"
        elif sub is not None and sub.billing_frequency is BillingFrequency.ANNUAL:
            why = " (it is billed once a year)"
        elif sub is not None and sub.status is SubscriptionStatus.EXPIRED:
            why = " (the subscription expired)"
        return (
            f"{product}: on the previous invoice "
            f"({item.seats_before} x {format_price(item.price_before or ZERO)}) "
            f"but not on this one{why}: {amount}"
        )
    if item.kind == "duplicate_charge":
        return (
            f"{product}: charged a second time for {_span(item)} "
            f"({seats_after} x {format_price(item.price_after or ZERO)}), "
            f"a duplicate: {amount}"
        )
    if item.kind == "duplicate_not_repeated":
        return (
            f"{product}: charged twice on the previous invoice, once on this one: "
            f"{amount}"
        )
    if item.kind == "prorated_seats_added":
        return (
            f"{product}: {seats_after} seats added on {_d(item.start)}, charged "
            f"pro rata for {_span(item)}{_days(item)}: {amount}"
        )
    if item.kind == "prorated_seats_removed":
        return (
            f"{product}: {abs(seats_after)} seats removed on {_d(item.start)}, "
            f"credited pro rata for {_span(item)}{_days(item)}: {amount}"
        )
    if item.kind == "prorated_cancellation":
        return (
            f"{product}: cancelled on {_d(item.start)}, the rest of the cycle "
            f"credited pro rata ({_span(item)}{_days(item)}): {amount}"
        )
    if item.kind == "prorated_not_repeated":
        what = "charge" if item.amount < 0 else "credit"
        return (
            f"{product}: the previous invoice had a one-off prorated {what} from "
            f"{_d(item.start)}, which doesn't recur: {amount}"
        )
    if item.kind == "one_time":
        return f"{product}: one-time charge on {_d(item.start)}: {amount}"
    if item.kind == "one_time_not_repeated":
        return (
            f"{product}: one-time charge on the previous invoice "
            f"({_d(item.start)}), not repeated: {amount}"
        )
    if item.kind == "usage":
        moved = [
            f"{meter.meter} {format_change(meter.amount, currency)}"
            for meter in item.meters[:MAX_METERS]
        ]
        detail = f"; biggest changes: {join_words(moved)}" if moved else ""
        return (
            f"{product} usage: {format_money(item.after or ZERO, currency)} instead of "
            f"{format_money(item.before or ZERO, currency)}{detail}: {amount}"
        )
    if item.kind == "credit":
        text = f" ({item.description})" if item.description else ""
        return f"{product}: credit{text}: {amount}"
    if item.kind == "credit_not_repeated":
        return f"{product}: a credit on the previous invoice, not repeated: {amount}"
    if item.kind == "tax" and item.before is None:
        return f"Tax: {amount}"
    if item.kind == "tax":
        return (
            f"Tax: {format_money(item.after or ZERO, currency)} instead of "
            f"{format_money(item.before or ZERO, currency)}: {amount}"
        )
    return f"{product}: {amount}"


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
        [describe_change(item, currency, subscriptions) for item in comparison.items]
    )
    reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)])
    period = format_period(invoice.billing_period_start, invoice.billing_period_end)
    if previous is None:
        reply.say(
            "utter_charges_first_invoice",
            account=context.account,
            invoice_number=invoice.number,
            billing_period=period,
            total=format_money(invoice.total, currency),
            changes=changes,
        )
    elif not comparison.items:
        reply.say(
            "utter_charges_unchanged",
            invoice_number=invoice.number,
            billing_period=period,
            total=format_money(invoice.total, currency),
            previous_number=previous.number,
        )
    else:
        difference = comparison.difference
        reply.say(
            "utter_charges_explained",
            invoice_number=invoice.number,
            billing_period=period,
            total=format_money(invoice.total, currency),
            previous_number=previous.number,
            previous_period=format_period(
                previous.billing_period_start, previous.billing_period_end
            ),
            previous_total=format_money(previous.total, currency),
            difference=format_money(abs(difference), currency),
            direction="more" if difference > 0 else "less",
            changes=changes,
            items_total=format_change(comparison.items_total, currency),
        )
    for note in comparison.credit_notes:
        reply.say(
            "utter_charges_credit_note",
            credit_note_number=note.number,
            credit_note_total=format_money(note.total, currency),
            credit_note_date=format_date(note.invoice_date),
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

    def pick_invoice(self, context: Context) -> tuple[Optional[Invoice], Reply]:
        """The invoice to explain, or a reply saying why there is none."""
        customer = context.customer
        assert customer is not None
        session = context.session
        number, _ = checked_invoice_number(context.tracker)
        if number is not None:
            found = invoice_by_number(session, customer_id=customer.id, number=number)
            if found is None:
                return None, Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, None)]).say(
                    "utter_invoice_not_found",
                    invoice_number=number,
                    account=context.account,
                )
            return found, Reply()
        periods = requested_periods(context.tracker)
        if periods:
            try:
                period = parse_billing_periods(periods, today=context.today)
            except PeriodError:
                return None, Reply().say(
                    "utter_period_not_understood",
                    billing_period=periods[0][:MAX_ECHOED_CHARS],
                )
            if period.is_future(context.today):
                return None, Reply().say(
                    "utter_period_future",
                    billing_period=period.label,
                    today=format_date(context.today),
                )
            in_period = invoices_in_period(
                session, customer_id=customer.id, start=period.start, end=period.end
            )
            if not in_period:
                return None, Reply().say(
                    "utter_no_invoice_in_period",
                    account=context.account,
                    billing_period=period.label,
                )
            return in_period[-1], Reply()
        remembered = context.tracker.get_slot(CURRENT_INVOICE_SLOT)
        if isinstance(remembered, str) and remembered:
            # Only if it is on the account this answer is about.
            found = invoice_by_number(
                session, customer_id=customer.id, number=remembered
            )
            if found is not None:
                return found, Reply()
        latest = latest_invoice(session, customer_id=customer.id)
        if latest is None:
            return None, Reply().say("utter_no_invoices", account=context.account)
        return latest, Reply()

    def answer(self, context: Context) -> Reply:
        invoice, problem = self.pick_invoice(context)
        if invoice is None:
            return problem
        if invoice.document_type is DocumentType.CREDIT_NOTE:
            comparison = explain_credit_note(invoice)
            reply = Reply(events=[SlotSet(CURRENT_INVOICE_SLOT, invoice.number)])
            amended = invoice.amends_of
            return reply.say(
                "utter_charges_credit_note_explained",
                invoice_number=invoice.number,
                total=format_money(invoice.total, invoice.currency),
                amended_invoice_number=amended.number
                if amended is not None and amended.customer_id == invoice.customer_id
                else "an earlier invoice",
                changes=bullet_list(
                    [
                        describe_change(item, invoice.currency, {})
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
        return explanation_reply(invoice, previous, comparison, context)
