"""Escalating a ticket to Microsoft as a Partner Center service request, against
the fake: the severity and support topic filed, a lost answer that files once,
a refusal that leaves the ticket escalatable, the status read back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.db import session_scope
from api.domain.models import (
    Partner,
    Severity,
    Ticket,
    TicketCategory,
    TicketStatus,
    utcnow,
)
from api.domain.services.tickets import NewTicket, create_ticket
from api.domain.services.webhooks import actor_for
from api.partner_center import service_requests as sr
from api.settings import Settings, get_settings
from tests.partner_center.fake import FakePartnerCenter


@pytest.fixture(autouse=True)
def _fresh_topics() -> Iterator[None]:
    sr.forget_support_topics()
    yield
    sr.forget_support_topics()


def new_ticket(
    session: Session,
    slug: str,
    *,
    category: TicketCategory = TicketCategory.COMMERCIAL,
    topic: str = "billing_dispute",
    product: str = "Microsoft 365 E3",
    severity: Severity = Severity.B,
    key: str = "t1",
) -> Ticket:
    partner = session.scalars(select(Partner).where(Partner.slug == slug)).one()
    ticket, _ = create_ticket(
        session,
        new=NewTicket(
            partner_id=partner.id,
            requester="customer:adatum:ann",
            category=category,
            topic=topic,
            summary="Charged twice for Microsoft 365 E3 in November",
            description="The November invoice bills 25 seats twice.",
            idempotency_key=key,
            product=product,
            severity=severity,
            customer_24x7=severity is Severity.A,
        ),
    )
    session.commit()
    return ticket


def escalate(session: Session, ticket: Ticket, settings: Settings) -> sr.Outcome:
    partner = session.get(Partner, ticket.partner_id)
    assert partner is not None
    with sr.client_for(session, partner, settings) as client:
        packet = sr.packet_for(ticket, client, settings)
        return sr.file_request(
            session, ticket, packet, client, settings, changed_by=actor_for(None)
        )


def posts(fake: FakePartnerCenter) -> list[dict[str, Any]]:
    return [r for r in fake.state.requests if r.get("method") == "POST"]


def test_a_commercial_ticket_is_filed_with_its_severity_and_topic(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug, severity=Severity.B)
        assert ticket.route == "microsoft_commercial"
        outcome = escalate(session, ticket, settings)
        assert outcome.filed_now
        sent = posts(fake)
        assert [r["path"] for r in sent] == ["/v1/servicerequests/en-US"]
        body = sent[0]["body"]
        assert body["Severity"] == "moderate"
        assert body["SupportTopicId"] == "32444672"  # Billing and invoices
        assert body["Title"].endswith(f"[{ticket.public_id}]")
        assert "25 seats twice" in body["Description"]
        assert fake.state.service_requests[0]["Id"] == outcome.service_request_id
        assert ticket.microsoft_service_request_id == outcome.service_request_id
        assert ticket.microsoft_service_request_status == "open"
        assert ticket.microsoft_service_request_filing_at is None
        assert ticket.status is TicketStatus.ESCALATED
        assert ticket.microsoft_case_number == outcome.service_request_id


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(Severity.A, "critical"), (Severity.C, "minimal")],
)
def test_partner_cloud_support_files_the_product_topic_and_severity(
    fake: FakePartnerCenter, partner_slug: str, severity: Severity, expected: str
) -> None:
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(
            session,
            partner_slug,
            category=TicketCategory.TECHNICAL,
            topic="service_outage",
            product="Azure plan",
            severity=severity,
        )
        ticket.route = "partner_cloud_support"
        session.commit()
        escalate(session, ticket, settings)
        body = posts(fake)[0]["body"]
        assert body["Severity"] == expected
        assert body["SupportTopicId"] == "32444675"  # Azure


def test_support_topics_are_read_once_while_cached(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    settings = get_settings()
    with session_scope() as session:
        first = new_ticket(session, partner_slug, key="a")
        second = new_ticket(session, partner_slug, key="b")
        escalate(session, first, settings)
        escalate(session, second, settings)
    reads = fake.api_requests("/v1/servicerequests/supporttopics")
    assert len(reads) == 1
    assert len(fake.state.service_requests) == 2


def test_a_lost_answer_files_once_and_is_found(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    """Partner Center files the request but answers 500: the POST is not
    repeated, the request is found by the ticket's id and recorded."""
    fake.state.file_then_fail = 1
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug)
        outcome = escalate(session, ticket, settings)
        again = escalate(session, ticket, settings)
        assert len(posts(fake)) == 1
        assert len(fake.state.service_requests) == 1
        assert outcome.service_request_id == fake.state.service_requests[0]["Id"]
        assert again.service_request_id == outcome.service_request_id
        assert not again.filed_now
        assert ticket.status is TicketStatus.ESCALATED


def test_a_retry_after_an_unknown_outcome_looks_before_filing(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    """The POST filed but the answer and the look-up both failed: the next try
    finds the request instead of filing a second one."""
    fake.state.file_then_fail = 1
    fake.state.always_fail["/v1/servicerequests"] = 503
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug)
        with pytest.raises(sr.ServiceRequestError, match="looks for this request"):
            escalate(session, ticket, settings)
        assert ticket.microsoft_service_request_id is None
        assert ticket.status is TicketStatus.NEW
        del fake.state.always_fail["/v1/servicerequests"]
        outcome = escalate(session, ticket, settings)
        assert len(posts(fake)) == 1
        assert len(fake.state.service_requests) == 1
        assert outcome.service_request_id == fake.state.service_requests[0]["Id"]


def test_a_refusal_says_why_and_leaves_the_ticket_escalatable(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    fake.state.scripted["/v1/servicerequests/en-US"] = [(400, None)]
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug)
        with pytest.raises(sr.ServiceRequestError) as failed:
            escalate(session, ticket, settings)
        text = str(failed.value)
        assert ticket.public_id in text and "HTTP 400" in text
        assert "MS-RequestId" in text and "can be escalated again" in text
        assert ticket.microsoft_service_request_filing_at is None
        assert ticket.status is TicketStatus.NEW
        outcome = escalate(session, ticket, settings)
        assert outcome.filed_now
        assert len(fake.state.service_requests) == 1


def test_services_hub_gets_the_packet_and_nothing_is_filed(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug, category=TicketCategory.TECHNICAL)
        ticket.route = "premier_support_for_partners"
        session.commit()
        partner = session.get(Partner, ticket.partner_id)
        assert partner is not None
        with sr.client_for(session, partner, settings) as client:
            packet = sr.packet_for(ticket, client, settings)
            assert packet.services_hub and packet.topic_id is None
            assert packet.severity == "moderate"
            with pytest.raises(sr.ServiceRequestError, match="Services Hub"):
                sr.file_request(
                    session,
                    ticket,
                    packet,
                    client,
                    settings,
                    changed_by=actor_for(None),
                )
    assert posts(fake) == []


def test_the_partner_desk_route_is_refused(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug, category=TicketCategory.TECHNICAL)
        assert ticket.route == "partner_desk"
        with pytest.raises(sr.ServiceRequestError, match="cannot be escalated"):
            sr.packet_for(ticket, None, get_settings())


def test_the_status_is_refreshed_and_the_last_known_kept_on_failure(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug)
        outcome = escalate(session, ticket, settings)
        fake.state.service_requests[0]["Status"] = "attention_needed"
        assert sr.refresh_status(session, ticket, settings) == "attention_needed"
        assert ticket.microsoft_service_request_status == "attention_needed"
        path = f"/v1/servicerequests/{outcome.service_request_id}"
        fake.state.always_fail[path] = 503
        fake.state.service_requests[0]["Status"] = "closed"
        before = len(fake.api_requests(path))
        assert sr.refresh_status(session, ticket, settings) == "attention_needed"
        assert len(fake.api_requests(path)) == before + 1  # no retries


def test_a_request_being_filed_is_not_filed_again_meanwhile(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    """Another attempt is in flight (marked a moment ago): this one files
    nothing and says to try again; once the mark is stale, it looks first."""
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug)
        ticket.microsoft_service_request_filing_at = utcnow()
        session.commit()
        with pytest.raises(sr.ServiceRequestError, match="being filed"):
            escalate(session, ticket, settings)
        assert posts(fake) == []
        ticket.microsoft_service_request_filing_at = utcnow() - timedelta(hours=1)
        session.commit()
        escalate(session, ticket, settings)
        assert len(posts(fake)) == 1
        assert fake.api_requests("/v1/servicerequests")[1]["path"] == (
            "/v1/servicerequests"
        )  # looked for it before filing


def test_a_status_read_a_moment_ago_is_not_read_again(
    fake: FakePartnerCenter, partner_slug: str
) -> None:
    settings = get_settings()
    with session_scope() as session:
        ticket = new_ticket(session, partner_slug)
        outcome = escalate(session, ticket, settings)
        fake.state.service_requests[0]["Status"] = "closed"
        path = f"/v1/servicerequests/{outcome.service_request_id}"
        assert sr.refresh_status(session, ticket, settings, max_age_seconds=60) == (
            "open"
        )
        assert fake.api_requests(path) == []
        assert sr.refresh_status(session, ticket, settings) == "closed"
