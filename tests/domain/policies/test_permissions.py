"""The permission table, as a table: each row is a role, each column a capability."""

from __future__ import annotations

import pytest

from api.domain.models import PartnerRole
from api.domain.services.permissions import PermissionTable, permission_table

Y, N = True, False
COLUMNS = (
    "view_invoices",
    "explain_charges",
    "view_payments",
    "request_refund",
    "change_subscription",
    "view_subscriptions",
    "view_support_info",
    "open_tickets",
    "view_tickets",
    "act_for_customers",
    "view_partner_invoices",
    "escalate_to_microsoft",
)
# fmt: off
TABLE = {
    #                        inv ch  pay ref chg sub sup tkt vtk for ms  esc
    "customer":              (Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y,  N,  N,  N),
    "global_admin":          (Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y,  Y),
    "billing_admin":         (Y,  Y,  Y,  Y,  N,  Y,  Y,  Y,  Y,  Y,  Y,  N),
    "admin_agent":           (N,  N,  N,  N,  Y,  Y,  Y,  Y,  Y,  Y,  N,  Y),
    "helpdesk_agent":        (N,  N,  N,  N,  N,  Y,  Y,  Y,  Y,  Y,  N,  Y),
    "sales_agent":           (N,  N,  N,  N,  N,  Y,  Y,  N,  N,  Y,  N,  N),
    "user_management_admin": (N,  N,  N,  N,  N,  N,  Y,  N,  N,  Y,  N,  N),
}
# fmt: on


@pytest.mark.parametrize("role", sorted(TABLE))
def test_role_row(role: str) -> None:
    table = permission_table()
    got = tuple(table.can(role, capability) for capability in COLUMNS)
    assert got == TABLE[role]


def test_every_partner_center_role_has_a_row() -> None:
    assert {r.value for r in PartnerRole} | {"customer"} == set(TABLE)
    assert set(COLUMNS) == set(permission_table().capabilities)


def test_a_sales_agent_is_told_who_can_see_invoices() -> None:
    assert permission_table().roles_that_can("view_invoices") == [
        "Global admin",
        "Billing admin",
    ]


def test_unknown_role_can_do_nothing_and_unknown_capability_is_an_error() -> None:
    table = permission_table()
    assert not table.can("intern", "view_invoices")
    with pytest.raises(KeyError):
        table.can("global_admin", "delete_everything")


def test_a_table_naming_an_unknown_capability_is_refused() -> None:
    data = permission_table().model_dump()
    data["roles"]["sales_agent"]["can"] = {"view_invoices", "fly"}
    with pytest.raises(ValueError, match="unknown capabilities"):
        PermissionTable.model_validate(data)


def test_a_table_missing_a_role_is_refused() -> None:
    data = permission_table().model_dump()
    del data["roles"]["helpdesk_agent"]
    with pytest.raises(ValueError, match="missing"):
        PermissionTable.model_validate(data)
