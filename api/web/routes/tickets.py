"""`/api/v1/tickets`: create, list, read, update and assign support tickets.

Every call needs the service token. A service acting for a member of a partner's
staff names them with `on_behalf_of=<partner user id>`; the call is then also held
to that person's rights: they must be active, their role must have the capability
in `api/domain/policies/permissions.yml` (`open_tickets` to create, update and assign,
`view_tickets` to read), and they see only their own partner's tickets (another
partner's ticket answers 404, as if it did not exist). A header such as
`X-Partner-User` alone is never trusted: only a holder of the service token can act
for anyone.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Optional, Union

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.domain.models import (
    MAX_DB_ID,
    Customer,
    Partner,
    PartnerUser,
    ProductKind,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from api.domain.services.permissions import permission_table
from api.domain.services.routing import PARTNER_DESK, routing_policy
from api.domain.services.tickets import (
    UNCHANGED,
    AssigneeError,
    NewTicket,
    TicketError,
    TicketFilters,
    Unchanged,
    create_ticket,
    list_tickets,
    ticket_by_idempotency_key,
    ticket_by_public_id,
)
from api.domain.services.tickets import update_ticket as apply_update
from api.domain.services.webhooks import actor_for
from api.partner_center import service_requests
from api.settings import get_settings
from api.web.deps import SessionDep, TodayDep
from api.web.errors import error_responses, unprocessable
from api.web.schemas import OneLine, Text

OPEN_TICKETS = "open_tickets"
ESCALATE_TO_MICROSOFT = "escalate_to_microsoft"
VIEW_TICKETS = "view_tickets"
API_KEY_PREFIX = "api:"  # keeps API idempotency keys apart from the chat's
TICKET_ID_PATTERN = r"^[Cc][Ss][Pp]-?\d{1,8}$"
NO_TICKET = "No ticket has that id (or it is another partner's)."
ASSIGN_REFUSED = (
    "The body is not valid, or the assignee is unknown, of another partner, or may "
    "not work on tickets."
)
SUMMARY_MIN = 5  # "q", "help", "?" say nothing a desk can act on
DESCRIPTION_MIN = 10

ON_BEHALF_OF_DESCRIPTION = (
    "Id of the partner user (staff member) the calling service acts for. The user "
    "must be active and hold a role with the needed capability in "
    "api/domain/policies/permissions.yml; only their own partner's tickets are visible."
)
OnBehalfOf = Annotated[
    Optional[int], Query(ge=1, le=MAX_DB_ID, description=ON_BEHALF_OF_DESCRIPTION)
]

router = APIRouter(prefix="/tickets", tags=["tickets"])


# --------------------------------------------------------------------------- schemas


class TicketIn(BaseModel):
    """A ticket filed through the API (the chat files its own, actions/tickets.py)."""

    model_config = ConfigDict(extra="forbid")

    partner_id: int = Field(ge=1, le=MAX_DB_ID)
    customer_id: Optional[int] = Field(default=None, ge=1, le=MAX_DB_ID)
    category: TicketCategory
    topic: OneLine = Field(default="", max_length=40)
    summary: OneLine = Field(
        min_length=SUMMARY_MIN,
        max_length=300,
        description=f"The ticket's title: one line, {SUMMARY_MIN} to 300 characters "
        "once trimmed, no control characters.",
    )
    description: Text = Field(
        min_length=DESCRIPTION_MIN,
        max_length=10_000,
        description=f"What happened: {DESCRIPTION_MIN} to 10 000 characters once "
        "trimmed; newline and tab are the only control characters allowed.",
    )
    product: Optional[OneLine] = Field(default=None, max_length=200)
    product_kind: Optional[ProductKind] = None
    severity: Severity = Severity.C
    customer_24x7: bool = Field(
        default=False,
        description="The customer commits to work 24x7 (required for severity A).",
    )
    identifiers: dict[
        Annotated[OneLine, Field(min_length=1, max_length=60)],
        list[Annotated[OneLine, Field(min_length=1, max_length=200)]],
    ] = Field(default_factory=dict)
    steps_tried: list[Annotated[Text, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list
    )
    requester: Optional[OneLine] = Field(
        default=None,
        max_length=200,
        description="Who asked; set to `partner_user:<id>` with on_behalf_of.",
    )
    conversation_id: Optional[OneLine] = Field(default=None, max_length=200)


class TicketOut(BaseModel):
    id: str = Field(description="The human-friendly id, e.g. CSP-000042")
    partner_id: int
    customer_id: Optional[int]
    requester: str
    conversation_id: Optional[str]
    category: TicketCategory
    topic: str
    product: Optional[str]
    severity: Severity
    status: TicketStatus
    route: str = Field(description="Where it goes after the partner's desk")
    route_name: str
    microsoft_case_number: Optional[str]
    summary: str
    assigned_to_id: Optional[int]
    sla_due_at: Optional[datetime] = Field(
        description="When the partner desk's first response is due (UTC)"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, ticket: Ticket) -> dict[str, Any]:
        policy = routing_policy()
        route_name = (
            policy.partner_desk.get("name", PARTNER_DESK)
            if ticket.route == PARTNER_DESK
            else policy.targets[ticket.route].name
            if ticket.route in policy.targets
            else ticket.route
        )
        return {
            "id": ticket.public_id,
            "partner_id": ticket.partner_id,
            "customer_id": ticket.customer_id,
            "requester": ticket.requester,
            "conversation_id": ticket.conversation_id,
            "category": ticket.category,
            "topic": ticket.topic,
            "product": ticket.product,
            "severity": ticket.severity,
            "status": ticket.status,
            "route": ticket.route,
            "route_name": route_name,
            "microsoft_case_number": ticket.microsoft_case_number,
            "summary": ticket.summary,
            "assigned_to_id": ticket.assigned_to_id,
            "sla_due_at": ticket.sla_due_at,
            "created_at": ticket.created_at,
            "updated_at": ticket.updated_at,
        }

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketOut:
        return cls(**cls.fields_of(ticket))


class TicketDetailOut(TicketOut):
    description: str
    packet: dict[str, Any] = Field(
        description="The escalation packet: tenant, partner, product, severity, "
        "24x7 commitment, identifiers, transcript excerpt, steps tried, routing"
    )

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketDetailOut:
        return cls(
            **cls.fields_of(ticket),
            description=ticket.description,
            packet=dict(ticket.packet or {}),
        )


SOURCE_DESCRIPTION = (
    "The system making the change, e.g. `connectwise`; the webhook this change "
    "causes names it in `changed_by.source`, so that system can skip its own "
    "changes."
)
Source = Annotated[
    Optional[OneLine],
    Field(
        default=None,
        min_length=1,
        max_length=60,
        description=SOURCE_DESCRIPTION,
    ),
]


class TicketUpdateIn(BaseModel):
    """Fields to change; leave out what stays. `assigned_to_id: null` unassigns.

    A helpdesk that knows its agents by e-mail sends `assigned_to_email` instead
    of `assigned_to_id`. A change that changes nothing is accepted and sends no
    webhook.
    """

    model_config = ConfigDict(extra="forbid")

    status: Optional[TicketStatus] = None
    microsoft_case_number: Optional[OneLine] = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="Microsoft's case number; required to set status `escalated`.",
    )
    assigned_to_id: Optional[int] = Field(default=None, ge=1, le=MAX_DB_ID)
    assigned_to_email: Optional[OneLine] = Field(
        default=None,
        min_length=3,
        max_length=200,
        description="The assignee by work e-mail (a partner user of the ticket's "
        "partner); not with assigned_to_id.",
    )
    source: Source = None

    @model_validator(mode="after")
    def _one_assignee(self) -> TicketUpdateIn:
        if self.assigned_to_email is not None and (
            "assigned_to_id" in self.model_fields_set
        ):
            raise ValueError("send assigned_to_id or assigned_to_email, not both")
        return self


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner_user_id: Optional[int] = Field(
        ge=1,
        le=MAX_DB_ID,
        description="A partner user of the ticket's partner; null unassigns.",
    )
    source: Source = None


# --------------------------------------------------------------------------- checks


def acting_user(
    session: Session, user_id: Optional[int], capability: str
) -> Optional[PartnerUser]:
    """The partner user a call acts for (None: the service itself), or 403."""
    if user_id is None:
        return None
    user = session.get(PartnerUser, user_id)
    if user is None or not user.active:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"No active partner user with id {user_id}.",
        )
    table = permission_table()
    if not table.can(user.role.value, capability):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"A {table.label(user.role.value)} may not "
            f"{table.capabilities[capability]}.",
        )
    return user


def _not_found(ticket_id: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_404_NOT_FOUND, detail=f"No ticket {ticket_id}."
    )


def _ticket_or_404(
    session: Session, ticket_id: str, user: Optional[PartnerUser]
) -> Ticket:
    digits = re.sub(r"\D", "", ticket_id)
    ticket = ticket_by_public_id(session, public_id=f"CSP-{int(digits):06d}")
    if ticket is None or (user is not None and ticket.partner_id != user.partner_id):
        raise _not_found(ticket_id)
    return ticket


TicketId = Annotated[
    str,
    Path(pattern=TICKET_ID_PATTERN, description="The ticket id, e.g. CSP-000042"),
]


# --------------------------------------------------------------------------- routes


@router.post(
    "",
    response_model=TicketDetailOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": TicketDetailOut,
            "description": "This Idempotency-Key already filed a ticket: it.",
        },
        **error_responses(
            described={
                403: "The partner user may not open tickets, or not for this partner.",
                404: "No partner or customer has that id.",
                409: "The Idempotency-Key was used for another partner's ticket.",
                422: "The body is not valid, or the routing rules refuse the ticket "
                "(e.g. severity A without the customer's 24x7 commitment).",
            }
        ),
    },
)
def open_ticket(
    body: TicketIn,
    session: SessionDep,
    response: Response,
    today: TodayDep,
    on_behalf_of: OnBehalfOf = None,
    idempotency_key: Annotated[
        Optional[str],
        Header(
            alias="Idempotency-Key",
            max_length=100,
            description="Send the same key again (a retry) to get the same ticket "
            "instead of a second one.",
        ),
    ] = None,
) -> TicketDetailOut:
    """File a ticket, routed and with its first-response due time (201). A retry
    with the same `Idempotency-Key` returns the ticket already filed (200)."""
    user = acting_user(session, on_behalf_of, OPEN_TICKETS)
    if user is not None and body.partner_id != user.partner_id:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="A partner user may open tickets for their own partner only.",
        )
    if session.get(Partner, body.partner_id) is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No partner with id {body.partner_id}.",
        )
    if body.customer_id is not None and session.get(Customer, body.customer_id) is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No customer with id {body.customer_id}.",
        )
    key = API_KEY_PREFIX + (idempotency_key or str(uuid.uuid4()))
    existing = ticket_by_idempotency_key(session, key=key)
    if existing is not None and existing.partner_id != body.partner_id:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail="This Idempotency-Key was already used for another ticket.",
        )
    requester = (
        f"partner_user:{user.id}" if user is not None else body.requester or "service"
    )
    try:
        ticket, created = create_ticket(
            session,
            new=NewTicket(
                partner_id=body.partner_id,
                customer_id=body.customer_id,
                requester=requester,
                conversation_id=body.conversation_id,
                category=body.category,
                topic=body.topic or body.category.value,
                summary=body.summary,
                description=body.description,
                idempotency_key=key,
                product=body.product,
                product_kind=body.product_kind,
                severity=body.severity,
                customer_24x7=body.customer_24x7,
                identifiers={k: list(v) for k, v in body.identifiers.items()},
                steps_tried=list(body.steps_tried),
            ),
            today=today,
        )
    except TicketError as exc:
        session.rollback()
        raise unprocessable("body", str(exc)) from exc
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return TicketDetailOut.from_ticket(ticket)


@router.get(
    "",
    response_model=list[TicketOut],
    responses=error_responses(
        422,
        described={403: "The partner user may not see tickets, or not this partner's."},
    ),
)
def find_tickets(
    session: SessionDep,
    on_behalf_of: OnBehalfOf = None,
    status_: Annotated[Optional[TicketStatus], Query(alias="status")] = None,
    partner_id: Annotated[Optional[int], Query(ge=1, le=MAX_DB_ID)] = None,
    customer_id: Annotated[Optional[int], Query(ge=1, le=MAX_DB_ID)] = None,
    category: Optional[TicketCategory] = None,
    severity: Optional[Severity] = None,
    assigned_to_id: Annotated[Optional[int], Query(ge=1, le=MAX_DB_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
) -> list[TicketOut]:
    """Tickets, newest first, filtered; a partner user sees their partner's only."""
    user = acting_user(session, on_behalf_of, VIEW_TICKETS)
    if user is not None:
        if partner_id is not None and partner_id != user.partner_id:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail="A partner user may see their own partner's tickets only.",
            )
        partner_id = user.partner_id
    tickets = list_tickets(
        session,
        filters=TicketFilters(
            status=status_,
            partner_id=partner_id,
            customer_id=customer_id,
            category=category,
            severity=severity,
            assigned_to_id=assigned_to_id,
        ),
        limit=limit,
        offset=offset,
    )
    return [TicketOut.from_ticket(ticket) for ticket in tickets]


@router.get(
    "/{ticket_id}",
    response_model=TicketDetailOut,
    responses=error_responses(403, 422, described={404: NO_TICKET}),
)
def get_ticket(
    ticket_id: TicketId, session: SessionDep, on_behalf_of: OnBehalfOf = None
) -> TicketDetailOut:
    """One ticket, with its description and escalation packet."""
    user = acting_user(session, on_behalf_of, VIEW_TICKETS)
    return TicketDetailOut.from_ticket(_ticket_or_404(session, ticket_id, user))


def _assignee(
    session: Session, user_id: Optional[int], *, where: str
) -> Optional[PartnerUser]:
    if user_id is None:
        return None
    assignee = session.get(PartnerUser, user_id)
    if assignee is None:
        raise unprocessable(where, f"No partner user with id {user_id}.")
    return assignee


def _assignee_by_email(session: Session, ticket: Ticket, email: str) -> PartnerUser:
    """The ticket's partner's staff member with this e-mail (any case)."""
    assignee = session.scalars(
        select(PartnerUser).where(
            func.lower(PartnerUser.email) == email.strip().lower(),
            PartnerUser.partner_id == ticket.partner_id,
        )
    ).first()
    if assignee is None:
        # The same answer whether the address belongs to another partner or to
        # nobody: a partner learns nothing of another's staff.
        raise unprocessable(
            "body.assigned_to_email",
            f"No member of this ticket's partner has the e-mail {email.strip()}.",
        )
    return assignee


@router.patch(
    "/{ticket_id}",
    response_model=TicketDetailOut,
    responses=error_responses(
        403,
        described={
            404: NO_TICKET,
            409: "The lifecycle does not allow that status.",
            422: ASSIGN_REFUSED,
        },
    ),
)
def update_ticket(
    ticket_id: TicketId,
    body: TicketUpdateIn,
    session: SessionDep,
    on_behalf_of: OnBehalfOf = None,
) -> TicketDetailOut:
    """Change the status (`escalated` needs Microsoft's case number), the
    Microsoft case number and/or the assignee (a partner user of the ticket's own
    partner, by id or e-mail). The change sends one webhook to the partner's
    helpdesk (`ticket.escalated` or `ticket.updated`); no change, no webhook."""
    user = acting_user(session, on_behalf_of, OPEN_TICKETS)
    ticket = _ticket_or_404(session, ticket_id, user)
    assignee: Union[PartnerUser, Unchanged, None] = UNCHANGED
    where = "body.assigned_to_id"
    if body.assigned_to_email is not None:
        where = "body.assigned_to_email"
        assignee = _assignee_by_email(session, ticket, body.assigned_to_email)
    elif "assigned_to_id" in body.model_fields_set:
        assignee = _assignee(session, body.assigned_to_id, where=where)
    try:
        apply_update(
            session,
            ticket,
            changed_by=actor_for(user, source=body.source),
            status=body.status,
            microsoft_case_number=body.microsoft_case_number,
            assignee=assignee,
        )
    except AssigneeError as exc:
        session.rollback()
        raise unprocessable(where, str(exc)) from exc
    except TicketError as exc:
        session.rollback()
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail=str(exc)
        ) from exc
    session.commit()
    return TicketDetailOut.from_ticket(ticket)


@router.post(
    "/{ticket_id}/assign",
    response_model=TicketDetailOut,
    responses=error_responses(403, described={404: NO_TICKET, 422: ASSIGN_REFUSED}),
)
def assign(
    ticket_id: TicketId,
    body: AssignIn,
    session: SessionDep,
    on_behalf_of: OnBehalfOf = None,
) -> TicketDetailOut:
    """Assign the ticket to a partner user of its own partner (null unassigns);
    the partner's helpdesk gets `ticket.updated`."""
    user = acting_user(session, on_behalf_of, OPEN_TICKETS)
    ticket = _ticket_or_404(session, ticket_id, user)
    where = "body.partner_user_id"
    assignee = _assignee(session, body.partner_user_id, where=where)
    try:
        apply_update(
            session,
            ticket,
            changed_by=actor_for(user, source=body.source),
            assignee=assignee,
        )
    except TicketError as exc:
        session.rollback()
        raise unprocessable(where, str(exc)) from exc
    session.commit()
    return TicketDetailOut.from_ticket(ticket)


# --------------------------------------------------------------------------- Microsoft


class MicrosoftEscalationIn(BaseModel):
    """`{}` files with the support topic chosen from the ticket."""

    model_config = ConfigDict(extra="forbid")

    support_topic_id: Optional[OneLine] = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="A Partner Center support topic id, instead of the one chosen "
        "from the ticket's category and product.",
    )


class MicrosoftPacketOut(BaseModel):
    ticket_id: str
    target: str
    target_name: str
    services_hub: bool = Field(
        description="True: Premier or Advanced Support for Partners; file the "
        "packet in Services Hub and record the case number with PATCH."
    )
    title: str
    description: str
    severity: str = Field(description="critical, moderate or minimal (A, B, C)")
    support_topic_id: Optional[str]
    support_topic_name: Optional[str]


class MicrosoftEscalationOut(BaseModel):
    packet: MicrosoftPacketOut
    service_request_id: Optional[str] = Field(
        description="The Partner Center service request; null for Services Hub"
    )
    service_request_status: Optional[str]
    filed_now: bool = Field(
        description="False when the ticket's request had already been filed"
    )
    next_step: str
    ticket: TicketDetailOut


@router.post(
    "/{ticket_id}/microsoft",
    response_model=MicrosoftEscalationOut,
    responses=error_responses(
        403,
        422,
        described={
            404: NO_TICKET,
            409: "The ticket cannot go to Microsoft from here (its route or status).",
            502: "Partner Center failed or refused; nothing is recorded and the "
            "ticket can be escalated again.",
        },
    ),
)
def escalate_to_microsoft(
    ticket_id: TicketId,
    body: MicrosoftEscalationIn,
    session: SessionDep,
    on_behalf_of: OnBehalfOf = None,
) -> MicrosoftEscalationOut:
    """Escalate the ticket to Microsoft. Commercial tickets and *Partner cloud
    support* ones are filed as a Partner Center service request (once: asking
    again answers the same request); Premier and Advanced Support for Partners
    answer the packet to file in Services Hub, whose case number comes back
    through `PATCH /api/v1/tickets/{ticket_id}`."""
    user = acting_user(session, on_behalf_of, ESCALATE_TO_MICROSOFT)
    ticket = _ticket_or_404(session, ticket_id, user)
    try:
        done = service_requests.escalate(
            session,
            ticket,
            get_settings(),
            changed_by=actor_for(user),
            topic_id=body.support_topic_id,
        )
    except service_requests.FilingFailed as exc:
        session.rollback()
        raise HTTPException(
            status_code=status.HTTP_502_BAD_GATEWAY, detail=str(exc)
        ) from exc
    except service_requests.ServiceRequestError as exc:
        session.rollback()
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail=str(exc)
        ) from exc
    session.commit()
    outcome = done.outcome
    if outcome is None:
        next_step = (
            f"File this packet in Services Hub ({done.packet.target_name}), then "
            f"send the case number with PATCH /api/v1/tickets/{ticket.public_id}."
        )
    else:
        next_step = f"Microsoft service request {outcome.service_request_id} " + (
            "filed." if outcome.filed_now else "was already filed."
        )
    return MicrosoftEscalationOut(
        packet=MicrosoftPacketOut(**done.packet.as_dict()),
        service_request_id=outcome.service_request_id if outcome else None,
        service_request_status=outcome.status if outcome else None,
        filed_now=bool(outcome and outcome.filed_now),
        next_step=next_step,
        ticket=TicketDetailOut.from_ticket(ticket),
    )
