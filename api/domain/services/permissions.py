"""The permission table: which chatter role may see or do what.

The table is data (`api/domain/policies/permissions.yml`); this module loads it once,
validates it, and answers `can(role, capability)` and `roles_that_can(capability)`.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, model_validator

from api.domain.models import PartnerRole
from api.domain.policies import load_policy_file

CUSTOMER_ROLE = "customer"


class RolePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    can: frozenset[str]


class PermissionTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    capabilities: dict[str, str]
    roles: dict[str, RolePolicy]

    @model_validator(mode="after")
    def _consistent(self) -> PermissionTable:
        expected = {CUSTOMER_ROLE} | {role.value for role in PartnerRole}
        if set(self.roles) != expected:
            missing = sorted(expected - set(self.roles))
            extra = sorted(set(self.roles) - expected)
            raise ValueError(
                f"roles must be exactly {sorted(expected)}: "
                f"missing {missing}, unknown {extra}"
            )
        for name, role in self.roles.items():
            unknown = role.can - set(self.capabilities)
            if unknown:
                raise ValueError(
                    f"role {name} names unknown capabilities {sorted(unknown)}"
                )
        return self

    def can(self, role: str, capability: str) -> bool:
        """Whether `role` may use `capability` (unknown capability: an error)."""
        if capability not in self.capabilities:
            raise KeyError(f"unknown capability {capability!r}")
        policy = self.roles.get(role)
        return policy is not None and capability in policy.can

    def roles_that_can(self, capability: str, *, staff_only: bool = True) -> list[str]:
        """Labels of the roles that may use `capability`, for "ask your ..." answers."""
        return [
            policy.label
            for name, policy in self.roles.items()
            if capability in policy.can and not (staff_only and name == CUSTOMER_ROLE)
        ]

    def label(self, role: str) -> str:
        return self.roles[role].label


@lru_cache
def permission_table() -> PermissionTable:
    """The validated table (loaded once per process)."""
    return PermissionTable.model_validate(load_policy_file("permissions.yml"))
