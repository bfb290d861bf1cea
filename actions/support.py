"""Support info: the partner's support offer, hours, contact method and pricing,
from its profile (docs/domain.md: what a partner should tell its customers).

A question about one part ("phone number?", "are you open on weekends?", "how much
is technical support?": the `aspect` entity) gets that part, not the whole profile.
"""

from __future__ import annotations

import re

from actions.base import BillingAction, Context, Reply, possessive
from actions.tracker import entity_values, latest_text
from api.domain.models import Partner, Severity
from api.domain.services.routing import PARTNER_DESK, first_response

# Which aspects this topic answers, in the order it answers them. An urgent problem
# outside hours ("emergency") is answered instead of the plain hours.
ASPECTS = (
    "emergency",
    "severity",
    "phone",
    "email",
    "contact",
    "hours",
    "weekend",
    "holiday",
    "price",
)
WEEKEND_WORDS = re.compile(r"saturday|sunday|weekend|7 days|seven days|24/7|24x7", re.I)
# The desk takes critical problems at any hour: its hours say so.
AROUND_THE_CLOCK = re.compile(r"24\s*[x/]\s*7|around the clock|day and night", re.I)
# "severity B", "sev a", "a severity C issue": the levels asked about.
SEVERITY_NAMED = re.compile(r"\b(?:severity|sev|priority)\s*([abc])\b", re.I)


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


def around_the_clock(partner: Partner) -> bool:
    """Whether the desk takes critical (Severity A) problems at any hour."""
    return AROUND_THE_CLOCK.search(partner.support_hours) is not None


def severity_reply(partner: Partner, context: Context) -> Reply:
    """What the severities mean and how fast the desk answers each: the levels
    named in the message, else all three."""
    values = support_values(partner, context)
    named = {m.upper() for m in SEVERITY_NAMED.findall(latest_text(context.tracker))}
    reply = Reply()
    for severity in Severity:
        if named and severity.value not in named:
            continue
        key = f"utter_support_severity_{severity.value.lower()}"
        if severity is Severity.A:
            key += "_24x7" if around_the_clock(partner) else "_hours"
        reply.say(
            key,
            target=first_response(PARTNER_DESK, severity, context.lang),
            **values,
        )
    return reply


def emergency_reply(partner: Partner, context: Context) -> Reply:
    """An urgent problem outside the desk's hours: who to call, or that nobody
    answers before the desk opens and how to leave word."""
    values = support_values(partner, context)
    if around_the_clock(partner) and partner.support_phone:
        return Reply().say("utter_support_emergency_24x7", **values)
    phone = (
        context.t("support.or_call", phone=partner.support_phone)
        if partner.support_phone
        else ""
    )
    return Reply().say("utter_support_emergency_closed", **{**values, "or_call": phone})


def aspect_replies(partner: Partner, context: Context, asked: list[str]) -> Reply:
    """One answer per part of the support profile asked about."""
    values = support_values(partner, context)
    reply = Reply()
    if "emergency" in asked:
        # "urgent problems at night?": the way to reach someone says it all
        asked = [a for a in asked if a not in ("hours", "contact", "phone", "weekend")]
    for aspect in asked:
        if aspect == "emergency":
            reply.extend(emergency_reply(partner, context))
        elif aspect == "severity":
            reply.extend(severity_reply(partner, context))
        elif aspect == "phone" and not partner.support_phone:
            reply.say("utter_support_no_phone", **values)
        elif aspect == "weekend":
            if open_on_weekends(partner):
                reply.say(
                    "utter_support_weekend_open",
                    **{
                        **values,
                        "support_phone": context.t(
                            "support.phone_suffix", phone=partner.support_phone
                        )
                        if partner.support_phone
                        else "",
                    },
                )
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
