"""Escalating a ticket to Microsoft as a Partner Center service request.

    with client_for(session, partner, settings) as pc:
        packet = packet_for(ticket, pc, settings)      # what would be filed
        outcome = file_request(session, ticket, packet, pc, changed_by=actor)

Where a ticket can go follows its route (api/domain/policies/routing.yml):

* `microsoft_commercial`, `partner_cloud_support` (and its legacy name
  `signature_cloud_support`): filed here, `POST /v1/servicerequests/{agentLocale}`
  with Title, Description, Severity and SupportTopicId.
* `premier_support_for_partners`, `advanced_support_for_partners`: Services Hub has
  no public API; `packet_for` gives the packet to file there by hand, and the case
  number comes back through `PATCH /api/v1/tickets/{id}`.
* anything else (the partner's own desk, product support incidents): refused.

**Severity.** Our A / B / C are Partner Center's `critical` / `moderate` /
`minimal`.

**Support topic.** Chosen from `GET /v1/servicerequests/supporttopics` (kept in
memory for PARTNER_CENTER_SUPPORT_TOPICS_TTL_SECONDS): each topic scores 3 for
every word of the ticket's product in its name, 2 for every word of the ticket's
topic (`subscription_change` -> subscription, change) and 1 for every word of its
category's vocabulary (commercial: billing, invoice, subscription, license...;
technical: technical, service, outage); the highest score wins, ties going to the
topic Partner Center lists first. No topic scoring above zero is an error: staff
name one (`--topic` / `support_topic_id`).

**Filing once.** The title ends with the ticket's id (`[CSP-000012]`), our
idempotency key. `tickets.microsoft_service_request_filing_at` is set (and
committed) before the POST. The POST is retried only on 429; a 5xx or a broken
connection may have filed it, so the partner's service requests
(`GET /v1/servicerequests`) are searched for the ticket's id before anything is
filed again, at once and on the next try. A definite refusal (4xx) clears the mark:
the ticket can be escalated again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.orm import Session

from api.domain.db import session_scope
from api.domain.models import Partner, Severity, Ticket, TicketStatus, utcnow
from api.domain.services.routing import routing_policy
from api.domain.services.tickets import TicketError, escalate_ticket
from api.domain.services.webhooks import Actor, EscalationVia
from api.partner_center.auth import registration_for
from api.partner_center.client import PartnerCenterClient
from api.partner_center.credentials import load_refresh_token, store_refresh_token
from api.partner_center.errors import PartnerCenterError
from api.settings import Settings

logger = logging.getLogger(__name__)

FILED_HERE = frozenset(
    {"microsoft_commercial", "partner_cloud_support", "signature_cloud_support"}
)
SERVICES_HUB = frozenset(
    {"premier_support_for_partners", "advanced_support_for_partners"}
)
SEVERITY = {Severity.A: "critical", Severity.B: "moderate", Severity.C: "minimal"}
TITLE_MAX = 120
DESCRIPTION_MAX = 4000
CATEGORY_WORDS = {
    "commercial": {
        "billing",
        "invoice",
        "invoices",
        "subscription",
        "subscriptions",
        "license",
        "licenses",
        "licensing",
        "account",
        "payment",
        "refund",
    },
    "technical": {"technical", "service", "outage", "support"},
}
STOP_WORDS = {"the", "and", "for", "with", "microsoft", "plan", "other"}


class ServiceRequestError(Exception):
    """Escalating is not possible; the text says why and what to do."""


class FilingFailed(ServiceRequestError):
    """Partner Center failed or refused; the ticket can be escalated again."""


@dataclass(frozen=True)
class Packet:
    """What goes to Microsoft for one ticket."""

    ticket_id: str
    target: str
    target_name: str
    services_hub: bool  # True: filed by hand in Services Hub, not here
    title: str
    description: str
    severity: str  # critical / moderate / minimal
    topic_id: Optional[str]
    topic_name: Optional[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "target": self.target,
            "target_name": self.target_name,
            "services_hub": self.services_hub,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "support_topic_id": self.topic_id,
            "support_topic_name": self.topic_name,
        }


@dataclass(frozen=True)
class Outcome:
    """A service request of the ticket: filed now, or found already filed."""

    service_request_id: str
    status: Optional[str]
    filed_now: bool


# --------------------------------------------------------------------------- topics


@dataclass
class _Cached:
    expires: float
    topics: list[dict[str, Any]]


_topics: dict[str, _Cached] = {}
_topics_lock = threading.Lock()


def support_topics(
    client: PartnerCenterClient,
    settings: Settings,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """The support topics, read once per PARTNER_CENTER_SUPPORT_TOPICS_TTL_SECONDS
    per process (they are the same for every partner of one Partner Center)."""
    key = client.base_url
    with _topics_lock:
        cached = _topics.get(key)
        if cached is not None and cached.expires > clock():
            return cached.topics
    topics = client.support_topics()
    with _topics_lock:
        _topics[key] = _Cached(
            clock() + settings.partner_center_support_topics_ttl_seconds, topics
        )
    return topics


def forget_support_topics() -> None:
    """Empty the cache (tests; a topic list known to have changed)."""
    with _topics_lock:
        _topics.clear()


def field(item: dict[str, Any], name: str) -> Any:
    """A property by its documented name, in either case (`Id` or `id`)."""
    if name in item:
        return item[name]
    lowered = name[:1].lower() + name[1:]
    return item.get(lowered)


def _words(text: Optional[str]) -> set[str]:
    return {
        w
        for w in re.findall(r"[a-z0-9]+", (text or "").lower())
        if len(w) > 2 and w not in STOP_WORDS
    }


def choose_topic(topics: list[dict[str, Any]], ticket: Ticket) -> dict[str, Any]:
    """The support topic for `ticket` (the rule is in the module's docstring)."""
    product = _words(ticket.product)
    subject = _words(ticket.topic.replace("_", " "))
    vocabulary = CATEGORY_WORDS.get(ticket.category.value, set())
    best: Optional[dict[str, Any]] = None
    best_score = 0
    for topic in topics:
        name = _words(str(field(topic, "Name") or ""))
        score = (
            3 * len(product & name) + 2 * len(subject & name) + len(vocabulary & name)
        )
        if score > best_score:
            best, best_score = topic, score
    if best is None:
        raise ServiceRequestError(
            f"No Partner Center support topic fits {ticket.public_id} "
            f"({ticket.category.value}, {ticket.product or 'no product'}); "
            "name one with its id."
        )
    return best


# --------------------------------------------------------------------------- the packet


def reference(ticket: Ticket) -> str:
    """The ticket's id as it appears in the request's title: the idempotency key."""
    return f"[{ticket.public_id}]"


def title_for(ticket: Ticket) -> str:
    tail = f" {reference(ticket)}"
    summary = " ".join(ticket.summary.split())
    if len(summary) + len(tail) > TITLE_MAX:
        summary = summary[: TITLE_MAX - len(tail) - 1].rstrip() + "…"
    return summary + tail


def description_for(ticket: Ticket) -> str:
    """The ticket's description, then the facts of its escalation packet."""
    packet = dict(ticket.packet or {})
    lines = [ticket.description.strip(), ""]
    facts = {
        "Our ticket": ticket.public_id,
        "Product": ticket.product,
        "Customer tenant": packet.get("tenant_id") or packet.get("customer_tenant"),
        "Identifiers": packet.get("identifiers"),
        "Steps tried": packet.get("steps_tried"),
    }
    for label, value in facts.items():
        if not value:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        lines.append(f"{label}: {value}")
    text = "\n".join(lines).strip()
    return text[:DESCRIPTION_MAX]


def target_of(ticket: Ticket) -> tuple[str, str]:
    policy = routing_policy()
    target = policy.targets.get(ticket.route)
    return ticket.route, target.name if target else ticket.route


def check_escalatable(ticket: Ticket) -> None:
    """Raises ServiceRequestError when the ticket cannot go to Microsoft now."""
    route, name = target_of(ticket)
    if route not in FILED_HERE | SERVICES_HUB:
        raise ServiceRequestError(
            f"{ticket.public_id} is routed to {name}, which is not Microsoft "
            "commercial support, Partner cloud support, Premier or Advanced Support "
            "for Partners: it cannot be escalated from here."
        )
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise ServiceRequestError(
            f"{ticket.public_id} is {ticket.status.value}: reopen it first."
        )


def hub_packet(ticket: Ticket) -> Packet:
    """The packet for Services Hub, filed by hand."""
    route, name = target_of(ticket)
    return Packet(
        ticket_id=ticket.public_id,
        target=route,
        target_name=name,
        services_hub=True,
        title=title_for(ticket),
        description=description_for(ticket),
        severity=SEVERITY[ticket.severity],
        topic_id=None,
        topic_name=None,
    )


def packet_for(
    ticket: Ticket,
    client: Optional[PartnerCenterClient],
    settings: Settings,
    *,
    topic_id: Optional[str] = None,
) -> Packet:
    """What would be filed for `ticket` (topics read through `client`, unless the
    ticket goes to Services Hub)."""
    check_escalatable(ticket)
    if ticket.route in SERVICES_HUB or client is None:
        return hub_packet(ticket)
    topics = support_topics(client, settings)
    if topic_id is not None:
        topic = next((t for t in topics if str(field(t, "Id")) == str(topic_id)), None)
        if topic is None:
            raise ServiceRequestError(
                f"Partner Center has no support topic with id {topic_id}."
            )
    else:
        topic = choose_topic(topics, ticket)
    route, name = target_of(ticket)
    return Packet(
        ticket_id=ticket.public_id,
        target=route,
        target_name=name,
        services_hub=False,
        title=title_for(ticket),
        description=description_for(ticket),
        severity=SEVERITY[ticket.severity],
        topic_id=str(field(topic, "Id")),
        topic_name=str(field(topic, "Name") or ""),
    )


# --------------------------------------------------------------------------- the client


ClientFactory = Callable[..., PartnerCenterClient]


@contextmanager
def client_for(
    session: Session,
    partner: Partner,
    settings: Settings,
    factory: Optional[ClientFactory] = None,
) -> Iterator[PartnerCenterClient]:
    """A Partner Center client for `partner`, with its stored user consent (the
    service request calls are documented for app+user credentials)."""
    registration = registration_for(partner, settings)
    refresh_token = (
        load_refresh_token(session, partner, settings)
        if settings.partner_center_token_key
        else None
    )
    partner_id = partner.id

    def keep_rotated(token: str) -> None:
        with session_scope() as inner:
            owner = inner.get(Partner, partner_id)
            if owner is not None:
                store_refresh_token(inner, owner, token, settings)

    with (factory or PartnerCenterClient)(
        registration,
        settings,
        refresh_token=refresh_token,
        on_refresh_token=keep_rotated if refresh_token else None,
    ) as client:
        yield client


# --------------------------------------------------------------------------- filing


def find_filed(client: PartnerCenterClient, ticket: Ticket) -> Optional[dict[str, Any]]:
    """The partner's service request whose title or description carries the
    ticket's id, if any (GET /v1/servicerequests)."""
    mark = reference(ticket)
    for item in client.service_requests():
        text = f"{field(item, 'Title') or ''}\n{field(item, 'Description') or ''}"
        if mark in text and field(item, "Id"):
            return item
    return None


def _lock_seconds(settings: Settings) -> float:
    return max(60.0, 2 * settings.partner_center_timeout_seconds)


def _claim(session: Session, ticket: Ticket, now: datetime, settings: Settings) -> bool:
    """Mark the ticket as being filed, unless another attempt is in flight; True
    when an earlier attempt may have filed a request (look before filing)."""
    earlier = ticket.microsoft_service_request_filing_at
    stale = now - timedelta(seconds=_lock_seconds(settings))
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.microsoft_service_request_id.is_(None),
            or_(
                Ticket.microsoft_service_request_filing_at.is_(None),
                Ticket.microsoft_service_request_filing_at < stale,
            ),
        )
        .values(microsoft_service_request_filing_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = result.rowcount
    session.commit()
    session.refresh(ticket)
    if not claimed:
        if ticket.microsoft_service_request_id:
            return False
        raise ServiceRequestError(
            f"{ticket.public_id} is being filed with Microsoft right now; try again "
            "in a minute."
        )
    return earlier is not None


def _release(
    session: Session, ticket: Ticket, *, uncertain: bool, settings: Settings
) -> None:
    """Leave the ticket escalatable again; when the request may exist, backdate
    the mark so that the next try can start at once and looks first."""
    ticket.microsoft_service_request_filing_at = (
        utcnow() - timedelta(seconds=_lock_seconds(settings) + 1) if uncertain else None
    )
    session.commit()


def _record(
    session: Session,
    ticket: Ticket,
    request: dict[str, Any],
    packet: Optional[Packet],
    changed_by: Actor,
    filed_now: bool,
) -> Outcome:
    request_id = str(field(request, "Id"))
    status = field(request, "Status")
    ticket.microsoft_service_request_id = request_id
    ticket.microsoft_service_request_status = str(status) if status else None
    ticket.microsoft_service_request_checked_at = utcnow()
    ticket.microsoft_service_request_filing_at = None
    details = {"service_request_id": request_id}
    if packet is not None and packet.topic_id:
        details["support_topic_id"] = packet.topic_id
        details["support_topic_name"] = packet.topic_name or ""
    if ticket.status is not TicketStatus.ESCALATED:
        try:
            escalate_ticket(
                session,
                ticket,
                case_number=request_id,
                changed_by=changed_by,
                via=EscalationVia.PARTNER_CENTER,
                details=details,
            )
        except TicketError as exc:  # the request exists: keep it, say why
            logger.warning(
                "%s: service request %s kept, %s", ticket.public_id, request_id, exc
            )
    session.commit()
    return Outcome(request_id, ticket.microsoft_service_request_status, filed_now)


def file_request(
    session: Session,
    ticket: Ticket,
    packet: Packet,
    client: PartnerCenterClient,
    settings: Settings,
    *,
    changed_by: Actor,
    now: Optional[datetime] = None,
) -> Outcome:
    """File `packet` for `ticket` once (see the module's docstring); raises
    ServiceRequestError with a clear text, the ticket left escalatable."""
    if packet.services_hub:
        raise ServiceRequestError(
            f"{ticket.public_id} goes to {packet.target_name} (Services Hub): file "
            "the packet there and record the case number on the ticket."
        )
    check_escalatable(ticket)
    if ticket.microsoft_service_request_id:
        return Outcome(
            ticket.microsoft_service_request_id,
            ticket.microsoft_service_request_status,
            False,
        )
    look_first = _claim(session, ticket, now or utcnow(), settings)
    if ticket.microsoft_service_request_id:
        return Outcome(
            ticket.microsoft_service_request_id,
            ticket.microsoft_service_request_status,
            False,
        )
    try:
        if look_first:
            found = find_filed(client, ticket)
            if found is not None:
                return _record(session, ticket, found, packet, changed_by, False)
        answer = client.file_service_request(
            settings.partner_center_agent_locale,
            {
                "Title": packet.title,
                "Description": packet.description,
                "Severity": packet.severity,
                "SupportTopicId": packet.topic_id,
                "Attributes": {"ObjectType": "ServiceRequest"},
            },
        )
    except PartnerCenterError as exc:
        return _after_failure(
            session, ticket, packet, client, settings, exc, changed_by
        )
    if not field(answer, "Id"):
        _release(session, ticket, uncertain=True, settings=settings)
        raise FilingFailed(
            f"Partner Center answered without a service request id for "
            f"{ticket.public_id}; try again (the request is looked for first)."
        )
    return _record(session, ticket, answer, packet, changed_by, True)


def _after_failure(
    session: Session,
    ticket: Ticket,
    packet: Packet,
    client: PartnerCenterClient,
    settings: Settings,
    exc: PartnerCenterError,
    changed_by: Actor,
) -> Outcome:
    uncertain = exc.status is None or exc.status >= 500
    if uncertain:
        try:
            found = find_filed(client, ticket)
        except PartnerCenterError as again:
            logger.warning(
                "%s: looking for the filed request failed: %s", ticket.public_id, again
            )
        else:
            if found is not None:
                return _record(session, ticket, found, packet, changed_by, True)
            uncertain = False
    _release(session, ticket, uncertain=uncertain, settings=settings)
    raise FilingFailed(
        f"Partner Center did not take the service request for {ticket.public_id}: "
        f"{exc}. The ticket can be escalated again"
        + (" (the next try first looks for this request)." if uncertain else ".")
    ) from exc


@dataclass(frozen=True)
class Escalation:
    """What escalating a ticket did: the packet, and the request when filed."""

    packet: Packet
    outcome: Optional[Outcome]  # None: Services Hub, or not confirmed


def escalate(
    session: Session,
    ticket: Ticket,
    settings: Settings,
    *,
    changed_by: Actor,
    topic_id: Optional[str] = None,
    confirm: Optional[Callable[[Packet], bool]] = None,
    factory: Optional[ClientFactory] = None,
) -> Escalation:
    """Escalate `ticket` to Microsoft: the Services Hub packet, or a service
    request filed once after `confirm(packet)` agrees (the CLI and the API).

    Raises:
        ServiceRequestError: the ticket cannot go to Microsoft from here.
        FilingFailed: Partner Center failed or refused; escalatable again.
    """
    check_escalatable(ticket)
    if ticket.route in SERVICES_HUB:
        return Escalation(hub_packet(ticket), None)
    partner = session.get(Partner, ticket.partner_id)
    if partner is None:  # pragma: no cover - a ticket always has its partner
        raise ServiceRequestError(f"{ticket.public_id} has no partner.")
    try:
        with client_for(session, partner, settings, factory) as client:
            packet = packet_for(ticket, client, settings, topic_id=topic_id)
            if confirm is not None and not confirm(packet):
                return Escalation(packet, None)
            outcome = file_request(
                session, ticket, packet, client, settings, changed_by=changed_by
            )
    except PartnerCenterError as exc:  # the app registration, the token, topics
        raise FilingFailed(
            f"Partner Center could not be asked for {ticket.public_id}: {exc}. "
            "Nothing was filed; the ticket can be escalated again."
        ) from exc
    return Escalation(packet, outcome)


# --------------------------------------------------------------------------- status


def refresh_status(
    session: Session,
    ticket: Ticket,
    settings: Settings,
    *,
    factory: Optional[ClientFactory] = None,
    max_age_seconds: float = 0,
) -> Optional[str]:
    """The service request's status, read from Partner Center with a short
    timeout and no retries (PARTNER_CENTER_STATUS_TIMEOUT_SECONDS) and stored on
    the ticket (the caller commits); on any failure, the last status read. A
    status read less than `max_age_seconds` ago is not read again."""
    if not ticket.microsoft_service_request_id:
        return None
    checked = ticket.microsoft_service_request_checked_at
    if checked is not None and (utcnow() - checked).total_seconds() < max_age_seconds:
        return ticket.microsoft_service_request_status
    quick = settings.model_copy(
        update={
            "partner_center_timeout_seconds": settings.partner_center_status_timeout_seconds,
            "partner_center_max_retries": 0,
        }
    )
    partner = session.get(Partner, ticket.partner_id)
    if partner is None:
        return ticket.microsoft_service_request_status
    try:
        with client_for(session, partner, quick, factory) as client:
            request = client.service_request(ticket.microsoft_service_request_id)
    except PartnerCenterError as exc:
        logger.warning(
            "%s: the status of service request %s could not be read: %s",
            ticket.public_id,
            ticket.microsoft_service_request_id,
            exc,
        )
        return ticket.microsoft_service_request_status
    status = field(request, "Status")
    if status:
        ticket.microsoft_service_request_status = str(status)
    ticket.microsoft_service_request_checked_at = utcnow()
    return ticket.microsoft_service_request_status
