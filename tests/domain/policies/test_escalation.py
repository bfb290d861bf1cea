"""The escalation policy (api/domain/policies/escalation.yml): which severity the bot
proposes, and which product kind a product named in chat belongs to."""

from __future__ import annotations

from typing import Optional

import pytest
from pydantic import ValidationError

from api.domain.models import ProductKind, Severity
from api.domain.services.tickets import EscalationPolicy, escalation_policy

A, B, C = Severity.A, Severity.B, Severity.C

# impact -> {urgency: (with the 24x7 commitment, without it)}
# fmt: off
TABLE = {
    "critical": {"now": (A, B), "today": (B, B), "later": (B, B)},
    "moderate": {"now": (B, B), "today": (B, B), "later": (C, C)},
    "minimal":  {"now": (C, C), "today": (C, C), "later": (C, C)},
}
# fmt: on


@pytest.mark.parametrize("impact", list(TABLE))
@pytest.mark.parametrize("urgency", ["now", "today", "later"])
def test_proposed_severity(impact: str, urgency: str) -> None:
    with_24x7, without = TABLE[impact][urgency]
    policy = escalation_policy()
    assert policy.proposed_severity(impact, urgency, committed_24x7=True) == with_24x7  # type: ignore[arg-type]
    assert policy.proposed_severity(impact, urgency, committed_24x7=False) == without  # type: ignore[arg-type]
    assert policy.needs_24x7_answer(impact, urgency) is (with_24x7 is A)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("product", "kind"),
    [
        ("Outlook", ProductKind.LICENSE),
        ("outlook desktop app", ProductKind.LICENSE),
        ("Microsoft 365 E3", ProductKind.LICENSE),
        ("Dynamics 365 Sales", ProductKind.LICENSE),
        ("Azure Virtual Machines", ProductKind.AZURE_PLAN),
        ("our Azure subscription", ProductKind.AZURE_PLAN),
        ("Windows Server 2022", ProductKind.ON_PREMISES),
        ("SQL Server", ProductKind.ON_PREMISES),
        ("the coffee machine", None),
        ("", None),
    ],
)
def test_product_kinds(product: str, kind: Optional[ProductKind]) -> None:
    found = escalation_policy().product_family(product)
    assert (found[1].kind if found else None) == kind


def raw_policy() -> dict:
    return {
        "severity": {
            impact: {u: s for u, (s, _) in row.items()} for impact, row in TABLE.items()
        },
        "without_24x7": "B",
        "product_families": {"x": {"kind": "license", "products": ["Outlook"]}},
        "transcript_turns": 12,
    }


def test_a_valid_policy_loads() -> None:
    EscalationPolicy.model_validate(raw_policy())


def test_every_impact_needs_every_urgency() -> None:
    raw = raw_policy()
    del raw["severity"]["moderate"]["later"]
    with pytest.raises(ValidationError, match="moderate"):
        EscalationPolicy.model_validate(raw)


def test_sev_a_cannot_survive_without_24x7() -> None:
    raw = raw_policy()
    raw["without_24x7"] = "A"
    with pytest.raises(ValidationError, match="24x7"):
        EscalationPolicy.model_validate(raw)


def test_a_product_belongs_to_one_family() -> None:
    raw = raw_policy()
    raw["product_families"]["y"] = {"kind": "azure_plan", "products": ["outlook"]}
    with pytest.raises(ValidationError, match="both"):
        EscalationPolicy.model_validate(raw)
