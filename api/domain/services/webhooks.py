"""Events for the partners' helpdesks, written to the outbox in the caller's
transaction; the delivery worker (webhook_delivery.py) sends them.

    emit_ticket_created(session, ticket)                 # in create_ticket
    emit_ticket_changed(session, ticket, changes, by)    # in update_ticket
    emit_handoff_started(session, started)               # in the hand-off action
    emit_handoff_ended(session, ended)                   # when an agent hands back

Each call adds one `WebhookEvent` and a `WebhookDelivery` for every endpoint that
takes the event: the partner's own (its profile's `webhooks`) and the default one
(`WEBHOOK_DEFAULT_URL`), which receives every partner's events. Nothing is written
when no endpoint takes it. Because the rows go into the same session as the change,
they are committed with it or not at all: no event for a change that was rolled
back, no change without its event.

The payloads follow the Standard Webhooks shape, `{"type", "timestamp", "data"}`,
plus `"version"` (the schema version of `data`, 1). They are defined below as
pydantic models, which are the one definition: docs/helpdesk-webhooks.schema.json
is generated from them (`csp-desk webhooks schema`). Within a version, fields are
only ever added; a consumer ignores what it does not know.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.domain.models import (
    Customer,
    DeliveryStatus,
    Partner,
    PartnerUser,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
    WebhookDelivery,
    WebhookEvent,
    utcnow,
)
from api.domain.services.routing import PARTNER_DESK, routing_policy
from api.domain.services.webhook_signing import new_message_id
from api.settings import get_settings

SCHEMA_VERSION = 1
DEFAULT_ENDPOINT = "default"  # the name of WEBHOOK_DEFAULT_URL's endpoint
DEFAULT_SECRET_ENV = "WEBHOOK_DEFAULT_SECRET"  # noqa: S105 (a variable name)


class EventType(str, enum.Enum):
    """What happened; the `type` of a payload."""

    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    TICKET_ESCALATED = "ticket.escalated"
    HANDOFF_STARTED = "handoff.started"
    HANDOFF_ENDED = "handoff.ended"


ALL_EVENTS: tuple[str, ...] = tuple(event.value for event in EventType)


# --------------------------------------------------------------------------- payloads


# No `extra="forbid"`: the published schema must let later versions add fields.
SCHEMA_CONFIG = ConfigDict(
    frozen=True, json_schema_serialization_defaults_required=True
)


class _Data(BaseModel):
    model_config = SCHEMA_CONFIG


class PartnerRef(_Data):
    """The partner whose desk the event belongs to."""

    id: int
    slug: str
    name: str


class CustomerRef(_Data):
    """The partner's customer (one Microsoft Entra tenant)."""

    id: int
    name: str
    domain: str
    tenant_id: str


class StaffRef(_Data):
    """A member of the partner's staff."""

    id: int
    name: str
    email: str


class Actor(_Data):
    """Who made a change: a partner user (through the API or a desk tool acting
    for them), or a service holding the API token."""

    kind: Literal["partner_user", "service"]
    partner_user: Optional[StaffRef] = None
    source: Optional[str] = Field(
        default=None,
        description="The system that made the change, as it named itself "
        "(`source` of the ticket API); a helpdesk skips the events it caused.",
    )


class TicketView(_Data):
    """A ticket as the helpdesk sees it."""

    id: str = Field(description="The ticket's id, e.g. CSP-000042")
    url: str = Field(description="The ticket in the REST API (service token)")
    partner: PartnerRef
    customer: Optional[CustomerRef]
    requester: str = Field(
        description="Who asked: customer:<tenant>:<user>, partner_user:<id> or "
        "the name a service gave"
    )
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
    description: str
    assignee: Optional[StaffRef]
    sla_due_at: Optional[datetime] = Field(
        description="When the partner desk's first response is due (UTC)"
    )
    created_at: datetime
    updated_at: datetime


class Change(_Data):
    """One field's value before and after a change."""

    model_config = ConfigDict(**SCHEMA_CONFIG, populate_by_name=True)

    before: Any = Field(alias="from")
    after: Any = Field(alias="to")


class EscalationVia(str, enum.Enum):
    """How a ticket reached Microsoft."""

    RECORDED = "recorded"  # filed by the partner; the case number was recorded
    PARTNER_CENTER = "partner_center"  # filed by us as a Partner Center service request


class Escalation(_Data):
    """Where the ticket was escalated, and Microsoft's reference."""

    to: str = Field(description="The routing target, e.g. partner_cloud_support")
    to_name: str
    case_number: str = Field(description="Microsoft's case or service request number")
    via: EscalationVia
    details: dict[str, Any] = Field(
        default_factory=dict, description="What the filing channel adds"
    )


class TicketCreatedData(_Data):
    ticket: TicketView


class TicketUpdatedData(_Data):
    ticket: TicketView
    changes: dict[str, Change] = Field(
        description="The fields that changed: status, assignee, microsoft_case_number"
    )
    changed_by: Actor


class TicketEscalatedData(TicketUpdatedData):
    escalation: Escalation


class HandoffLinks(_Data):
    dashboard: str = Field(description="The partner's conversations in the dashboard")
    reply: str = Field(description="POST here (service token) to answer the customer")


class HandoffStartedData(_Data):
    conversation_id: str
    channel: str = Field(description="The chat channel: socketio, rest, slack, ...")
    partner: PartnerRef
    customer: Optional[CustomerRef]
    requester: str = Field(description="Who is chatting, in words")
    reason: str = Field(description="Why the assistant handed over, in words")
    last_message: str = Field(description="The user's last message, redacted")
    links: HandoffLinks


class HandoffEndedData(_Data):
    conversation_id: str
    partner: PartnerRef
    outcome: Literal["handed_back"] = Field(
        description="handed_back: the assistant answers again"
    )
    ended_by: Actor


class _Envelope(BaseModel):
    model_config = SCHEMA_CONFIG

    type: str  # each event's own literal, first in the JSON
    version: Literal[1] = 1  # SCHEMA_VERSION
    timestamp: datetime = Field(description="When it happened (UTC)")


class TicketCreated(_Envelope):
    """A ticket was filed (by the assistant, a partner user or a service)."""

    type: Literal["ticket.created"] = "ticket.created"
    data: TicketCreatedData


class TicketUpdated(_Envelope):
    """A ticket's status, assignee or Microsoft case number changed."""

    type: Literal["ticket.updated"] = "ticket.updated"
    data: TicketUpdatedData


class TicketEscalated(_Envelope):
    """A ticket was escalated to Microsoft (sent instead of ticket.updated)."""

    type: Literal["ticket.escalated"] = "ticket.escalated"
    data: TicketEscalatedData


class HandoffStarted(_Envelope):
    """The assistant handed a conversation to the partner's desk and paused."""

    type: Literal["handoff.started"] = "handoff.started"
    data: HandoffStartedData


class HandoffEnded(_Envelope):
    """A person handed the conversation back to the assistant."""

    type: Literal["handoff.ended"] = "handoff.ended"
    data: HandoffEndedData


Payload = Annotated[
    Union[TicketCreated, TicketUpdated, TicketEscalated, HandoffStarted, HandoffEnded],
    Field(discriminator="type"),
]
PAYLOAD = TypeAdapter(Payload)


def payload_json_schema() -> dict[str, Any]:
    """The JSON Schema of every payload (docs/helpdesk-webhooks.schema.json)."""
    schema = PAYLOAD.json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CSP billing desk helpdesk webhook payload",
        "description": "The body of every webhook; `type` says which event it is.",
        **schema,
    }


def payload_body(payload: BaseModel) -> str:
    """The JSON text that is signed and sent: compact, UTF-8, `from`/`to` aliases."""
    return payload.model_dump_json(by_alias=True)


# --------------------------------------------------------------------------- views


def partner_ref(partner: Partner) -> PartnerRef:
    return PartnerRef(id=partner.id, slug=partner.slug, name=partner.name)


def customer_ref(customer: Optional[Customer]) -> Optional[CustomerRef]:
    if customer is None:
        return None
    return CustomerRef(
        id=customer.id,
        name=customer.name,
        domain=customer.domain,
        tenant_id=customer.tenant_id,
    )


def staff_ref(user: Optional[PartnerUser]) -> Optional[StaffRef]:
    if user is None:
        return None
    return StaffRef(id=user.id, name=user.name, email=user.email)


def route_name(route: str) -> str:
    policy = routing_policy()
    if route == PARTNER_DESK:
        return str(policy.partner_desk.get("name", PARTNER_DESK))
    target = policy.targets.get(route)
    return target.name if target is not None else route


def ticket_view(session: Session, ticket: Ticket) -> TicketView:
    partner = session.get(Partner, ticket.partner_id)
    if partner is None:  # a foreign key: cannot happen while the row exists
        raise LookupError(f"ticket {ticket.public_id} has no partner")
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    assignee = (
        session.get(PartnerUser, ticket.assigned_to_id)
        if ticket.assigned_to_id
        else None
    )
    return TicketView(
        id=ticket.public_id,
        url=f"{get_settings().base_url}/api/v1/tickets/{ticket.public_id}",
        partner=partner_ref(partner),
        customer=customer_ref(customer),
        requester=ticket.requester,
        conversation_id=ticket.conversation_id,
        category=ticket.category,
        topic=ticket.topic,
        product=ticket.product,
        severity=ticket.severity,
        status=ticket.status,
        route=ticket.route,
        route_name=route_name(ticket.route),
        microsoft_case_number=ticket.microsoft_case_number,
        summary=ticket.summary,
        description=ticket.description,
        assignee=staff_ref(assignee),
        sla_due_at=ticket.sla_due_at,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
    )


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    """Where an event is sent: a name, the URL, and the NAME of the environment
    variable that holds the signing secret."""

    name: str
    url: str
    secret_env: str
    events: tuple[str, ...] = ALL_EVENTS

    def takes(self, event_type: str) -> bool:
        return event_type in self.events


def partner_endpoints(partner: Partner) -> list[Endpoint]:
    """The endpoints of the partner's profile (validated when it was applied)."""
    return [
        Endpoint(
            name=str(item["name"]),
            url=str(item["url"]),
            secret_env=str(item["secret_env"]),
            events=tuple(item.get("events") or ALL_EVENTS),
        )
        for item in partner.webhook_endpoints or []
    ]


def default_endpoint() -> Optional[Endpoint]:
    """WEBHOOK_DEFAULT_URL, for every partner's events (checked by the settings)."""
    url = get_settings().webhook_default_url.strip()
    if not url:
        return None
    return Endpoint(name=DEFAULT_ENDPOINT, url=url, secret_env=DEFAULT_SECRET_ENV)


def endpoints_for(partner: Partner, event_type: str) -> list[Endpoint]:
    """Every endpoint that takes `event_type` for `partner`: only the partner's own
    endpoints and the default one, never another partner's."""
    found = [e for e in partner_endpoints(partner) if e.takes(event_type)]
    default = default_endpoint()
    if default is not None and default.takes(event_type):
        found.append(default)
    return found


# --------------------------------------------------------------------------- emitting


def emit(
    session: Session,
    payload: Union[
        TicketCreated, TicketUpdated, TicketEscalated, HandoffStarted, HandoffEnded
    ],
    *,
    partner: Partner,
    subject: str,
    conversation_id: Optional[str] = None,
    dedupe_key: Optional[str] = None,
) -> Optional[WebhookEvent]:
    """Add the event and its deliveries to `session` (the caller commits).

    Returns None when no endpoint takes the event, or when `dedupe_key` was already
    used (the same happening, emitted again by a retried action).
    """
    endpoints = endpoints_for(partner, payload.type)
    if not endpoints:
        return None
    if dedupe_key is not None and session.scalar(
        select(exists().where(WebhookEvent.dedupe_key == dedupe_key))
    ):
        return None
    now = utcnow()
    event = WebhookEvent(
        message_id=new_message_id(),
        type=payload.type,
        partner_id=partner.id,
        subject=subject[:200],
        conversation_id=conversation_id,
        dedupe_key=dedupe_key,
        body=payload_body(payload),
        occurred_at=payload.timestamp,
        deliveries=[
            WebhookDelivery(
                endpoint=endpoint.name,
                url=endpoint.url,
                secret_env=endpoint.secret_env,
                status=DeliveryStatus.PENDING,
                attempts=0,
                queued_at=now,
                next_attempt_at=now,
                replays=0,
            )
            for endpoint in endpoints
        ],
    )
    if dedupe_key is None:
        session.add(event)
        return event
    try:
        # Two deliveries of the same message may race past the check above: the
        # unique key lets one event through, the savepoint keeps the other's
        # transaction usable.
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return None
    return event


def emit_ticket_created(session: Session, ticket: Ticket) -> Optional[WebhookEvent]:
    """`ticket.created` for a ticket just filed (flushed: it has its public id)."""
    view = ticket_view(session, ticket)
    partner = session.get(Partner, ticket.partner_id)
    assert partner is not None  # ticket_view found it
    return emit(
        session,
        TicketCreated(timestamp=ticket.created_at, data=TicketCreatedData(ticket=view)),
        partner=partner,
        subject=ticket.public_id,
        conversation_id=ticket.conversation_id,
    )


def emit_ticket_changed(
    session: Session,
    ticket: Ticket,
    changes: dict[str, Change],
    changed_by: Actor,
    *,
    escalation: Optional[Escalation] = None,
) -> Optional[WebhookEvent]:
    """`ticket.escalated` when the change escalated it, else `ticket.updated`."""
    view = ticket_view(session, ticket)
    partner = session.get(Partner, ticket.partner_id)
    assert partner is not None
    payload: Union[TicketUpdated, TicketEscalated]
    if escalation is not None:
        payload = TicketEscalated(
            timestamp=ticket.updated_at,
            data=TicketEscalatedData(
                ticket=view,
                changes=changes,
                changed_by=changed_by,
                escalation=escalation,
            ),
        )
    else:
        payload = TicketUpdated(
            timestamp=ticket.updated_at,
            data=TicketUpdatedData(ticket=view, changes=changes, changed_by=changed_by),
        )
    return emit(
        session,
        payload,
        partner=partner,
        subject=ticket.public_id,
        conversation_id=ticket.conversation_id,
    )


@dataclass(frozen=True)
class HandoffStart:
    """What the hand-off action knows when it hands a conversation over."""

    conversation_id: str
    channel: str
    partner: Partner
    customer: Optional[Customer]
    requester: str
    reason: str
    last_message: str
    dashboard_url: str
    reply_url: str
    # The user message that asked for a person: a retried action for the same
    # message makes no second event.
    message_key: Optional[str] = None


def emit_handoff_started(
    session: Session, start: HandoffStart, *, now: Optional[datetime] = None
) -> Optional[WebhookEvent]:
    payload = HandoffStarted(
        timestamp=now or utcnow(),
        data=HandoffStartedData(
            conversation_id=start.conversation_id,
            channel=start.channel or "unknown",
            partner=partner_ref(start.partner),
            customer=customer_ref(start.customer),
            requester=start.requester,
            reason=start.reason,
            last_message=start.last_message,
            links=HandoffLinks(dashboard=start.dashboard_url, reply=start.reply_url),
        ),
    )
    key = (
        f"handoff.started:{start.conversation_id}:{start.message_key}"
        if start.message_key
        else None
    )
    return emit(
        session,
        payload,
        partner=start.partner,
        subject=start.conversation_id,
        conversation_id=start.conversation_id,
        dedupe_key=key[:300] if key else None,
    )


def emit_handoff_ended(
    session: Session,
    *,
    conversation_id: str,
    partner: Partner,
    ended_by: Actor,
    now: Optional[datetime] = None,
) -> Optional[WebhookEvent]:
    payload = HandoffEnded(
        timestamp=now or utcnow(),
        data=HandoffEndedData(
            conversation_id=conversation_id,
            partner=partner_ref(partner),
            outcome="handed_back",
            ended_by=ended_by,
        ),
    )
    return emit(
        session,
        payload,
        partner=partner,
        subject=conversation_id,
        conversation_id=conversation_id,
    )


def actor_for(user: Optional[PartnerUser], *, source: Optional[str] = None) -> Actor:
    """A partner user acting (through a service), or the service itself."""
    if user is not None:
        return Actor(kind="partner_user", partner_user=staff_ref(user), source=source)
    return Actor(kind="service", source=source)


# --------------------------------------------------------------------------- the log


class ReplayError(ValueError):
    """A delivery that cannot be replayed (unknown, or still being delivered)."""


def replay_delivery(
    session: Session, delivery_id: int, *, now: Optional[datetime] = None
) -> WebhookDelivery:
    """Queue a failed (or delivered) delivery again, at once; the caller commits.

    The event keeps its webhook-id, so a consumer that already processed it skips
    it; its wait and its maximum age start over.

    Raises:
        ReplayError: no such delivery, or it is still pending.
    """
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise ReplayError(f"no webhook delivery {delivery_id}")
    if delivery.status is DeliveryStatus.PENDING:
        raise ReplayError(
            f"delivery {delivery_id} is still pending: the worker will try it again"
        )
    moment = now or utcnow()
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.queued_at = moment
    delivery.next_attempt_at = moment
    delivery.replays += 1
    return delivery


@dataclass(frozen=True)
class LogFilters:
    status: Optional[DeliveryStatus] = None
    partner_id: Optional[int] = None
    event_type: Optional[str] = None


def delivery_log(
    session: Session,
    *,
    filters: LogFilters,
    limit: int = 100,
    before_id: Optional[int] = None,
) -> list[WebhookDelivery]:
    """Deliveries, newest first, with their events loaded."""
    query = select(WebhookDelivery).join(WebhookDelivery.event)
    if filters.status is not None:
        query = query.where(WebhookDelivery.status == filters.status)
    if filters.partner_id is not None:
        query = query.where(WebhookEvent.partner_id == filters.partner_id)
    if filters.event_type is not None:
        query = query.where(WebhookEvent.type == filters.event_type)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit)
    return list(session.scalars(query))


def prune(
    session: Session, *, older_than: timedelta, now: Optional[datetime] = None
) -> int:
    """Delete events older than `older_than` none of whose deliveries is pending;
    their deliveries go with them. Returns how many events were deleted."""
    cutoff = (now or utcnow()) - older_than
    pending = exists().where(
        WebhookDelivery.event_id == WebhookEvent.id,
        WebhookDelivery.status == DeliveryStatus.PENDING,
    )
    ids = list(
        session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.occurred_at < cutoff, ~pending)
        )
    )
    if ids:
        session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids))
        )
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
    return len(ids)


def delete_conversation_events(session: Session, conversation_id: str) -> int:
    """Delete a conversation's events and deliveries (a privacy request): their
    bodies hold what was said in it. Returns how many events were deleted."""
    ids = list(
        session.scalars(
            select(WebhookEvent.id).where(
                WebhookEvent.conversation_id == conversation_id
            )
        )
    )
    if ids:
        session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids))
        )
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
    return len(ids)
