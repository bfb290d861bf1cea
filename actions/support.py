"""Support info: the partner's support offer, hours, contact method and pricing,
from its profile (DOMAIN.md: what a partner should tell its customers)."""

from __future__ import annotations

from actions.common import BillingAction, Context, Reply


class ActionSupportInfo(BillingAction):
    """The support a customer's partner (or a staff member's own partner) offers."""

    capability = "view_support_info"
    general_response = "utter_support_info_general"
    needs_customer = False

    def name(self) -> str:
        return "action_support_info"

    def answer(self, context: Context) -> Reply:
        partner = context.chatter.partner
        phone = f", phone {partner.support_phone}" if partner.support_phone else ""
        return Reply().say(
            "utter_support_info_staff" if context.is_staff else "utter_support_info",
            partner_name=partner.name,
            support_offer=partner.support_offer,
            support_hours=partner.support_hours,
            support_contact_method=partner.support_contact_method,
            support_email=partner.support_email,
            support_phone=phone,
            support_pricing=partner.support_pricing,
        )
