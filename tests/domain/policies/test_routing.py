"""The escalation routing table, every entitlement x category x product kind."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from api.domain.models import ProductKind, Severity, SupportProgram, TicketCategory
from api.domain.services.routing import route, routing_policy, sla_due

P = SupportProgram
COMMERCIAL, TECHNICAL = TicketCategory.COMMERCIAL, TicketCategory.TECHNICAL
CLOUD_KINDS = [ProductKind.LICENSE, ProductKind.AZURE_PLAN, ProductKind.SAAS]
ONPREM_KINDS = [
    ProductKind.SOFTWARE_SUBSCRIPTION,
    ProductKind.PERPETUAL_SOFTWARE,
    ProductKind.ON_PREMISES,
]

# What the partner holds -> (technical cloud route, technical on-premises route).
# None: no Microsoft technical route; the ticket stays with the partner's desk.
# fmt: off
TABLE = {
    frozenset():                               (None, None),
    frozenset({P.PREMIER}):                    ("premier_support_for_partners", "premier_support_for_partners"),
    frozenset({P.ADVANCED}):                   ("advanced_support_for_partners", None),
    frozenset({P.PARTNER_CLOUD}):              ("partner_cloud_support", None),
    frozenset({P.SIGNATURE_CLOUD}):            ("signature_cloud_support", None),
    frozenset({P.PRODUCT_SUPPORT_INCIDENTS}):  (None, "product_support_incidents"),
    frozenset({P.ADVANCED, P.PARTNER_CLOUD}):  ("advanced_support_for_partners", None),
    frozenset({P.PARTNER_CLOUD, P.PRODUCT_SUPPORT_INCIDENTS}):
                                               ("partner_cloud_support", "product_support_incidents"),
    frozenset({P.PREMIER, P.ADVANCED}):        ("premier_support_for_partners", "premier_support_for_partners"),
}
# fmt: on


@pytest.mark.parametrize(
    "programs",
    list(TABLE),
    ids=lambda p: "+".join(sorted(x.value for x in p)) or "none",
)
@pytest.mark.parametrize("kind", list(ProductKind), ids=lambda k: k.value)
def test_technical_route(
    programs: frozenset[SupportProgram], kind: ProductKind
) -> None:
    cloud, onprem = TABLE[programs]
    expected = cloud if kind in CLOUD_KINDS else onprem
    decision = route(TECHNICAL, product_kind=kind, programs=programs)
    assert decision.escalate_to == expected
    assert decision.first_stop == "partner_desk"
    if expected is None:
        assert decision.route == "partner_desk"
        assert "no Microsoft technical route" in decision.explanation


@pytest.mark.parametrize(
    "programs",
    list(TABLE),
    ids=lambda p: "+".join(sorted(x.value for x in p)) or "none",
)
@pytest.mark.parametrize("kind", list(ProductKind), ids=lambda k: k.value)
def test_commercial_always_goes_to_microsoft_commercial(
    programs: frozenset[SupportProgram], kind: ProductKind
) -> None:
    decision = route(COMMERCIAL, product_kind=kind, programs=programs)
    assert decision.escalate_to == "microsoft_commercial"
    assert "every CSP partner" in decision.explanation


def test_product_kinds_are_split_into_cloud_and_on_premises() -> None:
    classes = routing_policy().product_kinds
    assert {k for k, c in classes.items() if c == "cloud"} == set(CLOUD_KINDS)
    assert {k for k, c in classes.items() if c == "on_premises"} == set(ONPREM_KINDS)


def test_unknown_product_is_treated_as_cloud() -> None:
    decision = route(TECHNICAL, product_kind=None, programs={P.ADVANCED})
    assert decision.escalate_to == "advanced_support_for_partners"


FRIDAY_5PM = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)


def test_sev_a_clock_runs_around_the_clock() -> None:
    due = sla_due("premier_support_for_partners", Severity.A, opened_at=FRIDAY_5PM)
    assert due == datetime(2026, 11, 27, 18, 0, tzinfo=timezone.utc)


def test_business_hours_skip_the_weekend() -> None:
    # 8 business hours from Friday 17:00: one hour on Friday, seven on Monday.
    due = sla_due("partner_desk", Severity.C, opened_at=FRIDAY_5PM)
    assert due == datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc)


def test_business_hours_follow_the_partner_time_zone() -> None:
    # 17:00 UTC is 18:00 in Berlin: the desk is closed, so the clock starts Monday.
    due = sla_due(
        "partner_desk", Severity.B, opened_at=FRIDAY_5PM, timezone="Europe/Berlin"
    )
    assert due == datetime(2026, 11, 30, 11, 0, tzinfo=timezone.utc)  # 12:00 Berlin


def test_every_target_has_every_severity() -> None:
    policy = routing_policy()
    for name in ["partner_desk", *policy.targets]:
        assert set(policy.response_targets[name]) == set(Severity)


def test_only_severity_a_is_worked_around_the_clock() -> None:
    """Severity B and C are worked in business hours, whoever works them."""
    from api.domain.models import Severity
    from api.domain.services.routing import routing_policy

    for target, by_severity in routing_policy().response_targets.items():
        for severity in (Severity.B, Severity.C):
            assert by_severity[severity].business, (target, severity)
