"""The outbox: which changes write which events, in the same transaction, to which
endpoints, with payloads that match the published schema."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.dashboard.privacy import delete_conversation
from api.domain.db import make_engine
from api.domain.migrate import upgrade
from api.domain.models import (
    Customer,
    DeliveryStatus,
    Partner,
    PartnerUser,
    Ticket,
    TicketCategory,
    TicketStatus,
    WebhookDelivery,
    WebhookEvent,
    utcnow,
)
from api.domain.services import webhooks
from api.domain.services.tickets import (
    AssigneeError,
    NewTicket,
    TicketError,
    create_ticket,
    escalate_ticket,
    update_ticket,
)
from api.domain.services.webhooks import (
    HandoffStart,
    ReplayError,
    actor_for,
    emit_handoff_ended,
    emit_handoff_started,
    payload_json_schema,
    prune,
    replay_delivery,
)
from api.settings import get_settings
from tests.domain.services.webhook_consumer import endpoint, make_partner

SCHEMA_FILE = (
    Path(__file__).resolve().parents[3] / "docs" / ("helpdesk-webhooks.schema.json")
)
HOOK = "https://helpdesk.example/hooks"


def events(session: Session) -> list[WebhookEvent]:
    return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def bodies(session: Session) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in events(session)]


def new_ticket(partner: Partner, key: str = "k1", **extra: Any) -> NewTicket:
    fields: dict[str, Any] = {
        "partner_id": partner.id,
        "requester": "service",
        "category": TicketCategory.COMMERCIAL,
        "topic": "billing",
        "summary": "The invoice is wrong",
        "description": "We were charged for 12 seats, we have 10.",
        "idempotency_key": key,
        **extra,
    }
    return NewTicket(**fields)


def northwind(session: Session, **endpoint_fields: Any) -> Partner:
    partner = session.scalars(select(Partner).where(Partner.slug == "northwind")).one()
    partner.webhook_endpoints = [endpoint(HOOK, **endpoint_fields)]
    session.flush()
    return partner


# --------------------------------------------------------------------------- outbox


def test_a_ticket_whose_event_fails_is_not_filed(
    seeded_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = northwind(seeded_session)
    seeded_session.commit()

    def broken(_payload: object) -> str:
        raise RuntimeError("the outbox is broken")

    monkeypatch.setattr(webhooks, "payload_body", broken)
    with pytest.raises(RuntimeError):
        create_ticket(seeded_session, new=new_ticket(partner, "no-event"))
    seeded_session.rollback()
    key = select(Ticket).where(Ticket.idempotency_key == "no-event")
    assert seeded_session.scalar(key) is None
    assert events(seeded_session) == []


def test_a_rolled_back_change_leaves_no_event_on_postgresql(
    request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            partner = make_partner(session, "pgco", endpoints=[endpoint(HOOK)])
            session.commit()
            create_ticket(session, new=new_ticket(partner, "rolled-back"))
            assert len(events(session)) == 1
            session.rollback()
            assert events(session) == []
            assert session.scalar(select(func.count()).select_from(Ticket)) == 0
            ticket, _ = create_ticket(session, new=new_ticket(partner, "kept"))
            session.commit()
            assert [e.subject for e in events(session)] == [ticket.public_id]
    finally:
        engine.dispose()


def test_a_filed_ticket_has_one_event_to_each_endpoint(
    seeded_session: Session,
) -> None:
    partner = northwind(seeded_session)
    ticket, created = create_ticket(seeded_session, new=new_ticket(partner, "kept"))
    seeded_session.commit()
    [event] = events(seeded_session)
    assert created and event.type == "ticket.created"
    assert event.subject == ticket.public_id
    assert event.message_id.startswith("msg_") and "." not in event.message_id
    assert json.loads(event.body)["data"]["ticket"]["id"] == ticket.public_id
    [delivery] = event.deliveries
    assert delivery.url == HOOK and delivery.status is DeliveryStatus.PENDING
    assert delivery.secret_env == "TEST_HELPDESK_WEBHOOK_SECRET"

    again, created = create_ticket(seeded_session, new=new_ticket(partner, "kept"))
    assert not created and again.id == ticket.id
    assert len(events(seeded_session)) == 1  # a retried filing, no second event


def test_no_endpoint_no_event(seeded_session: Session) -> None:
    partner = seeded_session.scalars(
        select(Partner).where(Partner.slug == "northwind")
    ).one()
    assert partner.webhook_endpoints == []
    create_ticket(seeded_session, new=new_ticket(partner))
    assert events(seeded_session) == []


def test_events_go_to_the_partners_own_endpoints_and_the_default_only(
    seeded_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_DEFAULT_URL", "https://operator.example/all")
    monkeypatch.setenv("WEBHOOK_DEFAULT_SECRET", "whsec_" + "A" * 32)
    get_settings.cache_clear()
    north = northwind(seeded_session)
    fabrikam = seeded_session.scalars(
        select(Partner).where(Partner.slug == "fabrikam")
    ).one()
    fabrikam.webhook_endpoints = [
        endpoint("https://fabrikam.example/hooks", name="zendesk")
    ]
    create_ticket(seeded_session, new=new_ticket(north, "n1"))
    create_ticket(seeded_session, new=new_ticket(fabrikam, "f1"))
    sent = {
        (event.partner_id, delivery.endpoint, delivery.url)
        for event in events(seeded_session)
        for delivery in event.deliveries
    }
    assert sent == {
        (north.id, "helpdesk", HOOK),
        (north.id, "default", "https://operator.example/all"),
        (fabrikam.id, "zendesk", "https://fabrikam.example/hooks"),
        (fabrikam.id, "default", "https://operator.example/all"),
    }
    default = next(
        d
        for e in events(seeded_session)
        for d in e.deliveries
        if d.endpoint == "default"
    )
    assert default.secret_env == "WEBHOOK_DEFAULT_SECRET"  # a name, not the secret


def test_an_endpoint_gets_only_the_events_it_chose(seeded_session: Session) -> None:
    partner = northwind(seeded_session, events=["ticket.escalated"])
    ticket, _ = create_ticket(seeded_session, new=new_ticket(partner))
    update_ticket(
        seeded_session,
        ticket,
        changed_by=actor_for(None),
        status=TicketStatus.TRIAGED,
    )
    assert events(seeded_session) == []


# --------------------------------------------------------------------------- tickets


def test_one_change_one_event_listing_every_field(seeded_session: Session) -> None:
    partner = northwind(seeded_session)
    diego = seeded_session.scalars(
        select(PartnerUser).where(
            PartnerUser.email == "diego.siciliani@northwindtraders.com"
        )
    ).one()
    ticket, _ = create_ticket(seeded_session, new=new_ticket(partner))
    changes = update_ticket(
        seeded_session,
        ticket,
        changed_by=actor_for(diego, source="connectwise"),
        status=TicketStatus.TRIAGED,
        assignee=diego,
    )
    assert set(changes) == {"status", "assignee"}
    created, updated = bodies(seeded_session)
    assert created["type"] == "ticket.created"
    assert updated["type"] == "ticket.updated"
    assert updated["version"] == 1
    assert updated["data"]["changes"] == {
        "status": {"from": "new", "to": "triaged"},
        "assignee": {"from": None, "to": diego.id},
    }
    assert updated["data"]["changed_by"] == {
        "kind": "partner_user",
        "partner_user": {"id": diego.id, "name": diego.name, "email": diego.email},
        "source": "connectwise",
    }
    view = updated["data"]["ticket"]
    assert view["status"] == "triaged"
    assert view["assignee"]["email"] == diego.email
    assert view["partner"]["slug"] == "northwind"
    assert view["url"].endswith(f"/api/v1/tickets/{ticket.public_id}")

    # The same values again (a helpdesk echoing our own change): no event.
    assert (
        update_ticket(
            seeded_session,
            ticket,
            changed_by=actor_for(None),
            status=TicketStatus.TRIAGED,
            assignee=diego,
        )
        == {}
    )
    assert len(events(seeded_session)) == 2


def test_escalating_sends_ticket_escalated_with_the_case_number(
    seeded_session: Session,
) -> None:
    partner = northwind(seeded_session)  # holds Partner cloud support
    ticket, _ = create_ticket(seeded_session, new=new_ticket(partner))
    assert ticket.route != "partner_desk"
    escalate_ticket(
        seeded_session,
        ticket,
        case_number=" 2612040010001 ",
        changed_by=actor_for(None, source="services-hub-desk"),
    )
    escalated = bodies(seeded_session)[-1]
    assert escalated["type"] == "ticket.escalated"
    assert escalated["data"]["escalation"] == {
        "to": ticket.route,
        "to_name": escalated["data"]["ticket"]["route_name"],
        "case_number": "2612040010001",
        "via": "recorded",
        "details": {},
    }
    assert escalated["data"]["changes"]["status"] == {
        "from": "new",
        "to": "escalated",
    }
    # A new case number later is an update, not a second escalation.
    update_ticket(
        seeded_session,
        ticket,
        changed_by=actor_for(None),
        microsoft_case_number="2612040010002",
    )
    later = bodies(seeded_session)[-1]
    assert later["type"] == "ticket.updated"
    assert later["data"]["changes"] == {
        "microsoft_case_number": {"from": "2612040010001", "to": "2612040010002"}
    }


def test_a_refused_change_writes_no_event(seeded_session: Session) -> None:
    partner = northwind(seeded_session)
    ticket, _ = create_ticket(seeded_session, new=new_ticket(partner))
    seeded_session.commit()
    with pytest.raises(TicketError, match="case number"):
        update_ticket(
            seeded_session,
            ticket,
            changed_by=actor_for(None),
            status=TicketStatus.ESCALATED,
        )
    adele = seeded_session.scalars(
        select(PartnerUser).where(PartnerUser.email == "adele.vance@fabrikam.com")
    ).one()
    with pytest.raises(AssigneeError, match="another partner"):
        update_ticket(
            seeded_session, ticket, changed_by=actor_for(None), assignee=adele
        )
    seeded_session.rollback()
    assert [e.type for e in events(seeded_session)] == ["ticket.created"]


# --------------------------------------------------------------------------- hand-offs


def handoff_start(session: Session, partner: Partner, key: str | None) -> HandoffStart:
    customer = session.scalars(
        select(Customer).where(Customer.domain == "contoso.com")
    ).one()
    return HandoffStart(
        conversation_id="conv-77",
        channel="socketio",
        partner=partner,
        customer=customer,
        requester="Megan at Contoso",
        reason="The user asked to talk to a person.",
        last_message="my card [card number] was charged twice",
        dashboard_url="http://desk/dashboard/conversations",
        reply_url="http://desk/api/v1/handoff/conv-77/messages",
        message_key=key,
    )


def test_a_handoff_started_once_per_message_and_ended(seeded_session: Session) -> None:
    partner = northwind(seeded_session)
    start = handoff_start(seeded_session, partner, "m-1")
    assert emit_handoff_started(seeded_session, start) is not None
    assert emit_handoff_started(seeded_session, start) is None  # a retried action
    assert (
        emit_handoff_started(
            seeded_session, handoff_start(seeded_session, partner, "m-2")
        )
        is not None
    )  # asked again later: a new hand-off
    emit_handoff_ended(
        seeded_session,
        conversation_id="conv-77",
        partner=partner,
        ended_by=actor_for(None),
    )
    seeded_session.commit()
    started, _again, ended = bodies(seeded_session)
    assert started["type"] == "handoff.started"
    assert started["data"]["customer"]["tenant_id"]
    assert started["data"]["links"]["reply"].endswith("/messages")
    assert ended["type"] == "handoff.ended"
    assert ended["data"] == {
        "conversation_id": "conv-77",
        "partner": {"id": partner.id, "slug": "northwind", "name": partner.name},
        "outcome": "handed_back",
        "ended_by": {"kind": "service", "partner_user": None, "source": None},
    }


# --------------------------------------------------------------------------- schema


def test_the_published_schema_is_the_generated_one() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == payload_json_schema(), (
        "regenerate it: csp-desk webhooks schema -o docs/helpdesk-webhooks.schema.json"
    )


def test_every_payload_matches_the_published_schema(seeded_session: Session) -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))
    partner = northwind(seeded_session)
    diego = seeded_session.scalars(
        select(PartnerUser).where(
            PartnerUser.email == "diego.siciliani@northwindtraders.com"
        )
    ).one()
    ticket, _ = create_ticket(seeded_session, new=new_ticket(partner))
    update_ticket(seeded_session, ticket, changed_by=actor_for(diego), assignee=diego)
    escalate_ticket(
        seeded_session, ticket, case_number="123", changed_by=actor_for(None)
    )
    emit_handoff_started(seeded_session, handoff_start(seeded_session, partner, "m"))
    emit_handoff_ended(
        seeded_session, conversation_id="c", partner=partner, ended_by=actor_for(None)
    )
    payloads = bodies(seeded_session)
    assert [p["type"] for p in payloads] == [
        "ticket.created",
        "ticket.updated",
        "ticket.escalated",
        "handoff.started",
        "handoff.ended",
    ]
    for payload in payloads:
        errors = [e.message for e in validator.iter_errors(payload)]
        assert errors == [], (payload["type"], errors)
        assert payload["timestamp"].endswith("Z")
    wrong = {**payloads[0], "type": "ticket.deleted"}
    assert not validator.is_valid(wrong)


# --------------------------------------------------------------------------- the log


def test_replay_queues_a_finished_delivery_again(seeded_session: Session) -> None:
    partner = northwind(seeded_session)
    create_ticket(seeded_session, new=new_ticket(partner))
    seeded_session.commit()
    [delivery] = seeded_session.scalars(select(WebhookDelivery)).all()
    with pytest.raises(ReplayError, match="still pending"):
        replay_delivery(seeded_session, delivery.id)
    with pytest.raises(ReplayError, match="no webhook delivery"):
        replay_delivery(seeded_session, 99_999)
    delivery.status = DeliveryStatus.FAILED
    delivery.attempts = 7
    delivery.next_attempt_at = None
    delivery.queued_at = utcnow() - timedelta(days=5)
    replayed = replay_delivery(seeded_session, delivery.id)
    assert replayed.status is DeliveryStatus.PENDING
    assert replayed.attempts == 0 and replayed.replays == 1
    assert replayed.next_attempt_at is not None
    assert utcnow() - replayed.queued_at < timedelta(seconds=5)  # a new age


def test_prune_keeps_what_is_pending_or_recent(seeded_session: Session) -> None:
    partner = northwind(seeded_session)
    for key in ("old-done", "old-pending", "new-done"):
        create_ticket(seeded_session, new=new_ticket(partner, key))
    old_done, old_pending, new_done = events(seeded_session)
    for event in (old_done, old_pending):
        event.occurred_at = utcnow() - timedelta(days=40)
    for event in (old_done, new_done):
        event.deliveries[0].status = DeliveryStatus.DELIVERED
    seeded_session.flush()
    assert prune(seeded_session, older_than=timedelta(days=30)) == 1
    assert [e.id for e in events(seeded_session)] == [old_pending.id, new_done.id]


def test_a_privacy_deletion_removes_the_conversations_events(
    seeded_session: Session,
) -> None:
    class NoTracker:
        def delete_conversation(self, sender_id: str) -> int:
            return 0

    partner = northwind(seeded_session)
    create_ticket(
        seeded_session,
        new=new_ticket(partner, "chat-1", conversation_id="conv-private"),
    )
    create_ticket(seeded_session, new=new_ticket(partner, "other"))
    emit_handoff_started(
        seeded_session, handoff_start(seeded_session, partner, "m")
    )  # conv-77
    seeded_session.commit()
    report = delete_conversation(
        seeded_session,
        NoTracker(),  # type: ignore[arg-type]
        sender_id="conv-private",
        deleted_by="dpo@example.com",
    )
    seeded_session.commit()
    assert report.webhook_events_deleted == 1
    left = events(seeded_session)
    assert [e.conversation_id for e in left] == [None, "conv-77"]
    assert seeded_session.scalar(
        select(func.count()).select_from(WebhookDelivery)
    ) == len(left)
