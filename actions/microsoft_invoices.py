"""Microsoft's invoices to the partner, for partner staff: the latest one (or one by
number or billing period) with its total, due date, whether it is paid and the
biggest customers' shares; or one customer's share of it ("what's Contoso's share
of the Partner Center invoice?"): its lines summed, by product.

These are Microsoft's invoices to the partner (`partner_center_invoices`, from the
Partner Center sync), not the partner's invoices to its customers (actions/invoices.py).
Only staff whose role has `view_partner_invoices` (Global admin, Billing admin) see
them; a customer is told that they go to the partner, never shown one. An indirect
reseller is billed by its indirect provider, not by Microsoft, and is told so.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.base import (
    ACTING_FOR_SLOT,
    BillingAction,
    Context,
    Reply,
    possessive,
    texts_for,
)
from actions.identity import identify, target_customer
from actions.tracker import entity_values
from api.domain.models import (
    BillingModel,
    Customer,
    DocumentType,
    PartnerCenterInvoice,
)
from api.domain.services.microsoft_invoices import (
    Share,
    customer_share,
    latest_microsoft_invoice,
    microsoft_invoice,
    shares_by_customer,
)
from api.domain.services.periods import PeriodError, parse_billing_periods

__all__ = ["ActionMicrosoftInvoice"]

CAPABILITY = "view_partner_invoices"
TOP_SHARES = 3  # customers named with their share of an invoice
TOP_PRODUCTS = 6  # products listed in a customer's share
PROBLEMS_WITH_A_NAME = ("utter_customer_not_found", "utter_customer_ambiguous")


def _percent(part: Decimal, whole: Decimal) -> str:
    if whole == 0:
        return "0"
    return f"{(part * 100 / whole):.0f}"


class ActionMicrosoftInvoice(BillingAction):
    """action_microsoft_invoice: Microsoft's invoice to the partner, or a customer's
    share of it."""

    capability = CAPABILITY
    general_response = "utter_microsoft_invoice_general"
    needs_customer = False

    def name(self) -> str:
        return "action_microsoft_invoice"

    def handle(self, session: Session, tracker: Tracker, now: datetime) -> Reply:
        identification = identify(session, tracker)
        chatter = identification.chatter
        if chatter is not None and not chatter.is_staff:
            # A customer never sees what Microsoft bills its partner.
            reply = Reply().say(
                "utter_microsoft_invoice_not_for_customers",
                partner_name=chatter.partner.name,
            )
            return reply.because(
                texts_for(tracker).text(
                    "why.microsoft_invoice_customer", partner_name=chatter.partner.name
                )
            )
        return super().handle(session, tracker, now)

    def answer(self, context: Context) -> Reply:
        partner = context.chatter.partner
        if partner.billing_model is BillingModel.INDIRECT_RESELLER:
            return Reply().say(
                "utter_microsoft_invoice_reseller", partner_name=partner.name
            )
        reply = Reply()
        customer: Optional[Customer] = None
        target = target_customer(context.session, context.chatter, context.tracker)
        if target.customer is not None and target.named:
            customer = target.customer
            reply.with_events(SlotSet(ACTING_FOR_SLOT, str(customer.id)))
        elif target.problem in PROBLEMS_WITH_A_NAME:
            return reply.say(target.problem or "", **target.values)

        latest = latest_microsoft_invoice(context.session, partner_id=partner.id)
        if latest is None:
            return reply.say("utter_microsoft_invoice_none", partner_name=partner.name)
        invoice, problem = self._choose(context, latest)
        if problem is not None:
            return reply.extend(problem)
        assert invoice is not None
        if customer is not None:
            return reply.extend(self._share(context, invoice, customer))
        return reply.extend(self._invoice(context, invoice, invoice is latest))

    # ------------------------------------------------------------------ which one

    def _choose(
        self, context: Context, latest: PartnerCenterInvoice
    ) -> tuple[Optional[PartnerCenterInvoice], Optional[Reply]]:
        partner = context.chatter.partner
        values = {
            "partner_name": partner.name,
            "latest_number": latest.number,
            "latest_period": self._period(context, latest),
        }
        for number in entity_values(context.tracker, "invoice_number"):
            found = microsoft_invoice(
                context.session, partner_id=partner.id, number=number.replace(" ", "")
            )
            if found is None:
                return None, Reply().say(
                    "utter_microsoft_invoice_not_found",
                    invoice_number=number.upper(),
                    **values,
                )
            return found, None
        periods = entity_values(context.tracker, "billing_period")
        if periods:
            try:
                period = parse_billing_periods(periods, today=context.today)
            except PeriodError:
                return None, Reply().say(
                    "utter_period_not_understood", billing_period=periods[0]
                )
            invoices = context.session.scalars(
                select(PartnerCenterInvoice)
                .where(
                    PartnerCenterInvoice.partner_id == partner.id,
                    PartnerCenterInvoice.document_type == DocumentType.INVOICE,
                )
                .order_by(PartnerCenterInvoice.invoice_date.desc())
            ).all()
            # The invoice for that period's charges; else one dated in it.
            for found in invoices:
                start = found.billing_period_start
                if start is not None and period.start <= start <= period.end:
                    return found, None
            for found in invoices:
                if period.start <= found.invoice_date <= period.end:
                    return found, None
            return None, Reply().say(
                "utter_microsoft_invoice_no_period",
                billing_period=period.label,
                **values,
            )
        return latest, None

    # ------------------------------------------------------------------ answers

    def _period(self, context: Context, invoice: PartnerCenterInvoice) -> str:
        if invoice.billing_period_start and invoice.billing_period_end:
            return context.period(
                invoice.billing_period_start, invoice.billing_period_end
            )
        return context.date(invoice.invoice_date)

    def _status(self, context: Context, invoice: PartnerCenterInvoice) -> str:
        total = invoice.total_charges
        paid = abs(invoice.paid_amount)
        if invoice.document_type is DocumentType.CREDIT_NOTE:
            return context.t("microsoft.status.credit")
        if paid >= total:
            return context.t("microsoft.status.paid")
        if paid > 0:
            return context.t(
                "microsoft.status.part_paid",
                paid=context.money(paid, invoice.currency),
                outstanding=context.money(total - paid, invoice.currency),
            )
        if invoice.due_date is not None and context.today > invoice.due_date:
            days = (context.today - invoice.due_date).days
            return context.t(
                "microsoft.status.overdue", days=context.plural(days, "day")
            )
        return context.t("microsoft.status.unpaid")

    def _invoice(
        self, context: Context, invoice: PartnerCenterInvoice, is_latest: bool
    ) -> Reply:
        shares = shares_by_customer(invoice)
        named = [
            context.t(
                "microsoft.share_item",
                customer_name=name,
                total=context.money(share.total, invoice.currency),
                percent=_percent(share.total, invoice.total_charges),
            )
            for name, share in shares[:TOP_SHARES]
        ]
        if len(shares) > TOP_SHARES:
            named.append(context.plural(len(shares) - TOP_SHARES, "more_customer"))
        due = (
            context.date(invoice.due_date)
            if invoice.due_date is not None
            else context.t("microsoft.due_unknown")
        )
        return Reply().say(
            "utter_microsoft_invoice_latest"
            if is_latest
            else "utter_microsoft_invoice_found",
            partner_name=context.chatter.partner.name,
            invoice_number=invoice.number,
            billing_period=self._period(context, invoice),
            invoice_date=context.date(invoice.invoice_date),
            total=context.money(invoice.total_charges, invoice.currency),
            due_date=due,
            payment_status=self._status(context, invoice),
            shares=context.join(named) if named else context.t("microsoft.no_shares"),
            customer_count=len(shares),
        )

    def _share(
        self, context: Context, invoice: PartnerCenterInvoice, customer: Customer
    ) -> Reply:
        share: Share = customer_share(invoice, customer_id=customer.id)
        values = {
            "customer_name": customer.name,
            "customer_possessive": possessive(customer.name, context.lang),
            "invoice_number": invoice.number,
            "billing_period": self._period(context, invoice),
            "partner_name": context.chatter.partner.name,
        }
        if not share.lines:
            return Reply().say("utter_microsoft_invoice_share_none", **values)
        by_product: dict[str, list[Decimal]] = defaultdict(list)
        for line in share.lines:
            by_product[line.product_name or "?"].append(line.total)
        ranked = sorted(by_product.items(), key=lambda item: (-sum(item[1]), item[0]))
        products = [
            context.t(
                "microsoft.share_product",
                product=product,
                total=context.money(sum(totals, Decimal("0")), invoice.currency),
                lines=context.plural(len(totals), "line"),
            )
            for product, totals in ranked[:TOP_PRODUCTS]
        ]
        if len(ranked) > TOP_PRODUCTS:
            products.append(
                context.t("microsoft.products_more", count=len(ranked) - TOP_PRODUCTS)
            )
        return Reply().say(
            "utter_microsoft_invoice_share",
            share_total=context.money(share.total, invoice.currency),
            invoice_total=context.money(invoice.total_charges, invoice.currency),
            percent=_percent(share.total, invoice.total_charges),
            line_count=context.plural(len(share.lines), "line"),
            products="\n".join(products),
            **values,
        )
