"""Every billing action the domain declares is served by the action server, and
every response those actions send exists in the domain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import ActionExecutor

from actions.refunds import FORM_SLOTS
from tests.actions.helpers import domain_responses

ROOT = Path(__file__).resolve().parents[2]
BILLING_DOMAIN = [
    "accounts.yml",
    "invoices.yml",
    "charges.yml",
    "payments.yml",
    "access.yml",
    "support.yml",
    "subscriptions.yml",
    "refunds.yml",
    "disputes.yml",
    "tickets.yml",
    "conversation.yml",
]
BILLING_MODULES = [
    "access",
    "base",
    "charges",
    "conversation",
    "disputes",
    "invoices",
    "payments",
    "refunds",
    "subscriptions",
    "support",
    "tickets",
]


def declared_actions() -> list[str]:
    names: list[str] = []
    for name in BILLING_DOMAIN:
        content = yaml.safe_load((ROOT / "domain" / name).read_text()) or {}
        names += content.get("actions") or []
    return names


def test_every_declared_action_is_registered() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    missing = [name for name in declared_actions() if name not in executor.actions]
    assert declared_actions() and missing == []


@pytest.mark.parametrize("module", BILLING_MODULES)
def test_every_response_an_action_names_exists(module: str) -> None:
    source = (ROOT / "actions" / f"{module}.py").read_text()
    named = set(re.findall(r"\"(utter_[a-z0-9_]+)\"", source))
    if module == "refunds":  # sent as f"utter_explain_{slot}"
        named |= {f"utter_explain_{slot}" for slot in FORM_SLOTS}
        named |= {f"utter_why_{slot}" for slot in FORM_SLOTS}
    missing = sorted(name for name in named if name not in domain_responses())
    assert named and missing == []
