"""Support info: the partner's support offer, hours, contact method and pricing,
from its profile (docs/domain.md: what a partner should tell its customers).

A question about one part ("phone number?", "are you open on weekends?", "how much
is technical support?": the `aspect` entity) gets that part, not the whole profile.
"""

from __future__ import annotations

import re

from actions.base import BillingAction, Context, Reply, possessive
from actions.tracker import entity_values
from api.domain.models import Partner

# Which aspects this topic answers, in the order it answers them.
ASPECTS = ("phone", "email", "contact", "hours", "weekend", "holiday", "price")
WEEKEND_WORDS = re.compile(r"saturday|sunday|weekend|7 days|seven days|24/7|24x7", re.I)


def open_on_weekends(partner: Partner) -> bool:
    """Whether the partner's hours include weekend days (its hours text names them
    or says the desk is always open)."""
    return WEEKEND_WORDS.search(partner.support_hours) is not None


def support_values(partner: Partner, context: Context) -> dict[str, str]:
    return {
        "partner_name": partner.name,
        "partner_possessive": possessive(partner.name, context.lang),
        "support_offer": partner.support_offer,
        "support_hours": partner.support_hours,
        "support_contact_method": partner.support_contact_method,
        "support_email": partner.support_email,
        "support_phone": partner.support_phone or "",
        "support_pricing": partner.support_pricing,
    }


def aspect_replies(partner: Partner, context: Context, asked: list[str]) -> Reply:
    """One answer per part of the support profile asked about."""
    values = support_values(partner, context)
    reply = Reply()
    for aspect in asked:
        if aspect == "phone" and not partner.support_phone:
            reply.say("utter_support_no_phone", **values)
        elif aspect == "weekend":
            if open_on_weekends(partner):
                reply.say("utter_support_weekend_open", **values)
            else:
                reply.say("utter_support_weekend_closed", **values).because(
                    context.t("why.weekend", **values)
                )
        else:
            reply.say(f"utter_support_{aspect}", **values)
    return reply


class ActionSupportInfo(BillingAction):
    """The support a customer's partner (or a staff member's own partner) offers:
    the part asked about, or all of it."""

    capability = "view_support_info"
    general_response = "utter_support_info_general"
    needs_customer = False

    def name(self) -> str:
        return "action_support_info"

    def answer(self, context: Context) -> Reply:
        partner = context.chatter.partner
        asked = [a for a in ASPECTS if a in entity_values(context.tracker, "aspect")]
        if asked:
            return aspect_replies(partner, context, asked)
        values = support_values(partner, context)
        phone = (
            context.t("support.phone_suffix", phone=partner.support_phone)
            if partner.support_phone
            else ""
        )
        return Reply().say(
            "utter_support_info_staff" if context.is_staff else "utter_support_info",
            **{**values, "support_phone": phone},
        )
