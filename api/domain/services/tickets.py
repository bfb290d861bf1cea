"""Tickets: idempotent creation, human-friendly ids, routing, SLA and lifecycle.

A ticket always starts at the partner's own desk; `route` records where it goes if
the partner escalates it (`api/domain/services/routing.py`). Creation is idempotent on
`idempotency_key`: a retried message or a channel redelivery returns the ticket that
already exists instead of filing a second one.

The escalation conversation's own rules (which severity to propose for an impact and
an urgency, which product kind a product belongs to) are data too:
`api/domain/policies/escalation.yml`, loaded by `escalation_policy()`.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.domain.models import (
    Customer,
    Partner,
    PartnerUser,
    ProductKind,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
    utcnow,
)
from api.domain.policies import load_policy_file
from api.domain.services.permissions import permission_table
from api.domain.services.routing import PARTNER_DESK, route, sla_due
from api.domain.services.webhooks import (
    Actor,
    Change,
    Escalation,
    EscalationVia,
    emit_ticket_changed,
    emit_ticket_created,
    route_name,
)

PUBLIC_ID_PREFIX = "CSP-"

# Allowed status changes. "escalated" means escalated to Microsoft, with a case number.
S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset(
        {S.TRIAGED, S.ESCALATED, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED}
    ),
    S.TRIAGED: frozenset({S.ESCALATED, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.ESCALATED: frozenset({S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.WAITING_ON_CUSTOMER: frozenset({S.TRIAGED, S.ESCALATED, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.CLOSED, S.TRIAGED}),  # reopen goes back to triage
    S.CLOSED: frozenset(),
}


class TicketError(ValueError):
    """A ticket change that the lifecycle or the data does not allow."""


class AssigneeError(TicketError):
    """An assignee the ticket cannot have (another partner's, inactive, a role
    that does not work on tickets)."""


@dataclass(frozen=True)
class NewTicket:
    """What the escalation conversation (or the API) collected."""

    partner_id: int
    requester: str
    category: TicketCategory
    topic: str
    summary: str
    description: str
    idempotency_key: str
    customer_id: Optional[int] = None
    conversation_id: Optional[str] = None
    product: Optional[str] = None
    product_kind: Optional[ProductKind] = None
    severity: Severity = Severity.C
    customer_24x7: bool = False
    identifiers: Optional[dict[str, Any]] = None
    transcript_excerpt: Optional[list[dict[str, str]]] = None
    steps_tried: Optional[list[str]] = None


def public_id_for(ticket_id: int) -> str:
    return f"{PUBLIC_ID_PREFIX}{ticket_id:06d}"


def create_ticket(
    session: Session, *, new: NewTicket, today: Optional[date] = None
) -> tuple[Ticket, bool]:
    """File a ticket; return (ticket, created). Idempotent on `new.idempotency_key`."""
    existing = ticket_by_idempotency_key(session, key=new.idempotency_key)
    if existing is not None:
        return existing, False
    if new.severity is Severity.A and not new.customer_24x7:
        raise TicketError("severity A needs the customer's commitment to work 24x7")
    partner = session.get(Partner, new.partner_id)
    if partner is None:
        raise TicketError(f"unknown partner {new.partner_id}")
    if new.customer_id is not None:
        customer = session.get(Customer, new.customer_id)
        if customer is None or customer.partner_id != partner.id:
            raise TicketError("the customer does not belong to this partner")
    opened = utcnow()
    decision = route(
        new.category,
        product_kind=new.product_kind,
        programs=set(partner.active_programs(today or opened.date())),
    )
    packet = {
        "partner": {"id": partner.id, "name": partner.name, "mpn_id": partner.mpn_id},
        "tenant_id": _tenant_of(session, new.customer_id),
        "category": new.category.value,
        "topic": new.topic,
        "product": new.product,
        "product_kind": new.product_kind.value if new.product_kind else None,
        "severity": new.severity.value,
        "customer_24x7_commitment": new.customer_24x7,
        "identifiers": new.identifiers or {},
        "transcript_excerpt": new.transcript_excerpt or [],
        "steps_tried": new.steps_tried or [],
        "routing": {
            "first_stop": PARTNER_DESK,
            "escalate_to": decision.escalate_to,
            "escalate_to_name": decision.escalate_to_name,
            "explanation": decision.explanation,
        },
    }
    ticket = Ticket(
        # A unique placeholder until the id is known; it must fit public_id's
        # VARCHAR(20), which PostgreSQL enforces (SQLite does not).
        public_id=f"pending-{uuid.uuid4().hex[:12]}",
        idempotency_key=new.idempotency_key,
        partner_id=partner.id,
        customer_id=new.customer_id,
        requester=new.requester,
        conversation_id=new.conversation_id,
        category=new.category,
        topic=new.topic,
        product=new.product,
        severity=new.severity,
        status=TicketStatus.NEW,
        route=decision.route,
        summary=new.summary[:300],
        description=new.description,
        packet=packet,
        sla_due_at=sla_due(
            PARTNER_DESK,
            new.severity,
            opened_at=opened,
            timezone=partner.timezone,
            schedule=partner.support_schedule,
        ),
        created_at=opened,
        updated_at=opened,
    )
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
            ticket.public_id = public_id_for(ticket.id)
            # The helpdesk's event in the same savepoint as the ticket: both are
            # kept or neither. (On SQLite a savepoint opened before any write is
            # the whole transaction, committed when it is released: the event
            # must be inside it, not after it.)
            emit_ticket_created(session, ticket)
            session.flush()
    except IntegrityError:
        # Another delivery of the same message won the race: return its ticket.
        again = ticket_by_idempotency_key(session, key=new.idempotency_key)
        if again is None:
            raise
        return again, False
    return ticket, True


def _tenant_of(session: Session, customer_id: Optional[int]) -> Optional[str]:
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    return customer.tenant_id if customer else None


def ticket_by_idempotency_key(session: Session, *, key: str) -> Optional[Ticket]:
    return session.scalars(select(Ticket).where(Ticket.idempotency_key == key)).first()


def ticket_by_public_id(session: Session, *, public_id: str) -> Optional[Ticket]:
    return session.scalars(
        select(Ticket).where(Ticket.public_id == public_id.strip().upper())
    ).first()


def tickets_of_requester(
    session: Session, *, requester: str, limit: int = 10
) -> list[Ticket]:
    """A chatter's own tickets, newest first."""
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.requester == requester)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def change_status(
    ticket: Ticket,
    status: TicketStatus,
    *,
    microsoft_case_number: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Ticket:
    """Move a ticket along its lifecycle, refusing changes it does not allow.

    This only changes the row: a change that is kept goes through `update_ticket`
    (or `escalate_ticket`), which also tells the partner's helpdesk.
    """
    if status == ticket.status:
        return ticket
    if status not in TRANSITIONS[ticket.status]:
        raise TicketError(
            f"a {ticket.status.value} ticket cannot become {status.value}"
        )
    if status is TicketStatus.ESCALATED:
        case = (microsoft_case_number or ticket.microsoft_case_number or "").strip()
        if not case:
            raise TicketError("escalating to Microsoft needs the Microsoft case number")
        ticket.microsoft_case_number = case
        if ticket.route == PARTNER_DESK:
            raise TicketError(
                "this partner has no Microsoft route for this issue; it stays with "
                "the partner's desk"
            )
    ticket.status = status
    ticket.updated_at = now or utcnow()
    return ticket


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class TicketFilters:
    """What `list_tickets` narrows by; None means "any"."""

    status: Optional[TicketStatus] = None
    partner_id: Optional[int] = None
    customer_id: Optional[int] = None
    category: Optional[TicketCategory] = None
    severity: Optional[Severity] = None
    assigned_to_id: Optional[int] = None


def list_tickets(
    session: Session, *, filters: TicketFilters, limit: int = 50, offset: int = 0
) -> list[Ticket]:
    """Tickets matching `filters`, newest first."""
    query = select(Ticket)
    if filters.status is not None:
        query = query.where(Ticket.status == filters.status)
    if filters.partner_id is not None:
        query = query.where(Ticket.partner_id == filters.partner_id)
    if filters.customer_id is not None:
        query = query.where(Ticket.customer_id == filters.customer_id)
    if filters.category is not None:
        query = query.where(Ticket.category == filters.category)
    if filters.severity is not None:
        query = query.where(Ticket.severity == filters.severity)
    if filters.assigned_to_id is not None:
        query = query.where(Ticket.assigned_to_id == filters.assigned_to_id)
    query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


# Partner users who may work on tickets (be assigned one): the roles that may see them.
WORK_TICKETS_CAPABILITY = "view_tickets"


def assign_ticket(
    ticket: Ticket, assignee: Optional[PartnerUser], *, now: Optional[datetime] = None
) -> Ticket:
    """Assign `ticket` to a partner user of the same partner (None: unassign).

    This only changes the row; `update_ticket` also tells the partner's helpdesk.

    Raises:
        AssigneeError: the user belongs to another partner, has left (inactive),
            or has a role that may not work on tickets (permissions.yml).
    """
    if assignee is not None:
        if assignee.partner_id != ticket.partner_id:
            raise AssigneeError("the assignee works for another partner")
        if not assignee.active:
            raise AssigneeError("the assignee is no longer active")
        if not permission_table().can(assignee.role.value, WORK_TICKETS_CAPABILITY):
            raise AssigneeError(
                f"a {permission_table().label(assignee.role.value)} may not work "
                "on tickets"
            )
    if ticket.assigned_to_id != (assignee.id if assignee else None):
        ticket.assigned_to_id = assignee.id if assignee else None
        ticket.updated_at = now or utcnow()
    return ticket


# --------------------------------------------------------------------------- changes


class Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED  # "leave the assignee as it is"


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    return {
        "status": ticket.status.value,
        "assigned_to_id": ticket.assigned_to_id,
        "microsoft_case_number": ticket.microsoft_case_number,
    }


def update_ticket(
    session: Session,
    ticket: Ticket,
    *,
    changed_by: Actor,
    status: Optional[TicketStatus] = None,
    microsoft_case_number: Optional[str] = None,
    assignee: Union[PartnerUser, Unchanged, None] = UNCHANGED,
    via: EscalationVia = EscalationVia.RECORDED,
    escalation_details: Optional[dict[str, Any]] = None,
    now: Optional[datetime] = None,
) -> dict[str, Change]:
    """Change a ticket's status, Microsoft case number and/or assignee, and tell
    the partner's helpdesk in the same transaction (the caller commits).

    One change, one event: `ticket.escalated` when it escalated the ticket to
    Microsoft, else `ticket.updated`, listing every field that changed. Nothing is
    sent when nothing changed (a helpdesk repeating our own update back to us).

    Returns:
        The fields that changed, `{field: Change(before, after)}`.

    Raises:
        AssigneeError: the assignee is refused (checked before anything changes).
        TicketError: the lifecycle or the routing refuses it; the caller rolls
            back what was changed before.
    """
    moment = now or utcnow()
    before = _snapshot(ticket)
    if not isinstance(assignee, Unchanged):
        assign_ticket(ticket, assignee, now=moment)
    if status is not None:
        change_status(
            ticket, status, microsoft_case_number=microsoft_case_number, now=moment
        )
    case = (microsoft_case_number or "").strip()
    if case and case != ticket.microsoft_case_number:
        ticket.microsoft_case_number = case
        ticket.updated_at = moment
    after = _snapshot(ticket)
    changes = {
        ("assignee" if key == "assigned_to_id" else key): Change(
            before=before[key], after=after[key]
        )
        for key in before
        if before[key] != after[key]
    }
    if not changes:
        return changes
    escalated = (
        before["status"] != TicketStatus.ESCALATED.value
        and ticket.status is TicketStatus.ESCALATED
    )
    escalation = (
        Escalation(
            to=ticket.route,
            to_name=route_name(ticket.route),
            case_number=ticket.microsoft_case_number or "",
            via=via,
            details=escalation_details or {},
        )
        if escalated
        else None
    )
    emit_ticket_changed(session, ticket, changes, changed_by, escalation=escalation)
    return changes


def escalate_ticket(
    session: Session,
    ticket: Ticket,
    *,
    case_number: str,
    changed_by: Actor,
    via: EscalationVia = EscalationVia.RECORDED,
    details: Optional[dict[str, Any]] = None,
    now: Optional[datetime] = None,
) -> dict[str, Change]:
    """Record that `ticket` went to Microsoft under `case_number`, and send
    `ticket.escalated` (the caller commits).

    The one place an escalation is written, whoever filed it: the partner (the
    case number recorded through the API), or a client that files the request
    itself, naming how in `via` and adding its own facts in `details`.

    Raises:
        TicketError: no case number, a closed ticket, or no Microsoft route.
    """
    return update_ticket(
        session,
        ticket,
        changed_by=changed_by,
        status=TicketStatus.ESCALATED,
        microsoft_case_number=case_number,
        via=via,
        escalation_details=details,
        now=now,
    )


# --------------------------------------------------------------------------- escalation

Impact = Literal["critical", "moderate", "minimal"]
Urgency = Literal["now", "today", "later"]
IMPACTS: tuple[Impact, ...] = ("critical", "moderate", "minimal")
URGENCIES: tuple[Urgency, ...] = ("now", "today", "later")


class ProductFamily(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProductKind
    products: tuple[str, ...] = Field(min_length=1)


class EscalationPolicy(BaseModel):
    """`api/domain/policies/escalation.yml`: severity proposal and product families."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: dict[Impact, dict[Urgency, Severity]]
    without_24x7: Severity
    dispute_severity: Severity = Severity.C
    product_families: dict[str, ProductFamily]
    transcript_turns: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> EscalationPolicy:
        for impact in IMPACTS:
            got = set(self.severity.get(impact, {}))
            if got != set(URGENCIES):
                raise ValueError(
                    f"severity for {impact} impact must cover {list(URGENCIES)}"
                )
        if self.without_24x7 is Severity.A:
            raise ValueError("without the 24x7 commitment, severity cannot stay A")
        seen: dict[str, str] = {}
        for family, spec in self.product_families.items():
            for product in spec.products:
                key = product.casefold()
                if key in seen:
                    raise ValueError(
                        f"product {product!r} is in both {seen[key]} and {family}"
                    )
                seen[key] = family
        return self

    def proposed_severity(
        self, impact: Impact, urgency: Urgency, *, committed_24x7: Optional[bool]
    ) -> Severity:
        """The severity to propose; A only with the customer's 24x7 commitment."""
        severity = self.severity[impact][urgency]
        if severity is Severity.A and not committed_24x7:
            return self.without_24x7
        return severity

    def needs_24x7_answer(self, impact: Impact, urgency: Urgency) -> bool:
        """Whether this impact and urgency would make Sev A, so ask about 24x7."""
        return self.severity[impact][urgency] is Severity.A

    def product_family(self, product: str) -> Optional[tuple[str, ProductFamily]]:
        """The family of a product named in chat: an exact name, else the longest
        listed name that occurs in it as whole words ("Outlook desktop app")."""
        text = " ".join(product.casefold().split())
        if not text:
            return None
        best: Optional[tuple[int, str, ProductFamily]] = None
        for family, spec in self.product_families.items():
            for name in spec.products:
                key = name.casefold()
                if key == text:
                    return family, spec
                if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text) and (
                    best is None or len(key) > best[0]
                ):
                    best = (len(key), family, spec)
        return (best[1], best[2]) if best else None


@lru_cache
def escalation_policy() -> EscalationPolicy:
    """The validated escalation policy (loaded once per process)."""
    return EscalationPolicy.model_validate(load_policy_file("escalation.yml"))


def product_kind_for(
    session: Session, *, product: Optional[str], customer_id: Optional[int]
) -> Optional[ProductKind]:
    """The product kind of a product named in chat, for routing.

    The escalation policy's product families first; then the customer's own
    subscriptions (a product name that contains what was typed, or the reverse);
    None when unknown (routing treats that as cloud).
    """
    if not product or not product.strip():
        return None
    found = escalation_policy().product_family(product)
    if found is not None:
        return found[1].kind
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    typed = product.casefold().strip()
    for subscription in customer.subscriptions:
        name = subscription.product_name.casefold()
        if typed in name or name in typed:
            return subscription.product_kind
    return None
