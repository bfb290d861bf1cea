"""The ingester: Rasa's events in, redacted summaries and turns out."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.dashboard.ingest import apply_events, identity_at, ingest
from api.dashboard.models import (
    Conversation,
    ConversationTurn,
    IngestState,
    Outcome,
    Triage,
    TurnKind,
)
from api.dashboard.transcripts import SQLTrackerSource, TrackerEvent
from api.domain.db import get_sessionmaker
from api.domain.models import Customer, Partner, PartnerUser, TicketCategory
from api.domain.services.tickets import NewTicket, create_ticket
from api.settings import get_settings
from common.identity import mint_customer_token, mint_staff_token
from common.redaction import CARD
from tests.dashboard.conftest import FIXTURES, Tracker
from tests.dashboard.helpers import Conversation as Script

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def session(seeded_db: object, tracker: Tracker) -> Session:
    with get_sessionmaker()() as db:
        yield db  # type: ignore[misc]


def run_ingest(session: Session) -> int:
    report = ingest(session, SQLTrackerSource.from_settings())
    session.commit()
    return report.events_read


def conversation(session: Session, sender: str) -> Conversation:
    return session.scalars(
        select(Conversation).where(Conversation.sender_id == sender)
    ).one()


def turns(session: Session, conv: Conversation) -> list[ConversationTurn]:
    return list(
        session.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.conversation_id == conv.id)
            .order_by(ConversationTurn.event_id)
        )
    )


FIXTURE_SECRET = "fixture-chat-token-secret-0123456789abcdef"


def test_rows_written_by_rasa(
    session: Session, tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that Rasa 3.6.21's SQLTrackerStore wrote (fixtures/), end to end."""
    monkeypatch.setenv("CHAT_TOKEN_SECRET", FIXTURE_SECRET)
    get_settings.cache_clear()
    partner = session.scalars(select(Partner)).first()
    assert partner is not None
    customer = Customer(
        partner_id=partner.id,
        name="Tenant Ltd",
        domain="tenant.example",
        tenant_id="TENANT",
        billing_email="b@tenant.example",
        country="US",
        currency="USD",
    )
    session.add(customer)
    session.commit()
    rows = json.loads((FIXTURES / "rasa_tracker_events.json").read_text())["rows"]
    tracker.add_rows(rows)

    assert run_ingest(session) == len(rows)
    conv = conversation(session, "real-rasa-1")
    assert conv.channel == "socketio"
    assert (conv.requester_kind, conv.customer_id, conv.partner_id) == (
        "customer",
        customer.id,
        partner.id,
    )
    assert (conv.user_turns, conv.low_confidence_turns, conv.fallback_turns) == (
        3,
        1,
        1,
    )
    assert (conv.agent_turns, conv.bot_turns) == (1, 2)
    assert conv.handoffs == 1 and conv.handoff_seconds == 348  # 51.5 s to 400 s
    assert [t.topic for t in conv.topics] == [
        "charge_explanation",
        "human_agent",
        "out_of_scope",
    ]
    assert conv.triage is Triage.COMMERCIAL
    assert conv.primary_topic == "charge_explanation"
    assert conv.outcome is Outcome.HANDED_OFF
    assert conv.started_at == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)

    shown = turns(session, conv)
    kinds = [t.kind for t in shown]
    assert (
        TurnKind.PAUSE in kinds
        and TurnKind.RESUME in kinds
        and TurnKind.SESSION in kinds
    )
    assert all(t.action_name != "action_listen" for t in shown)  # noise dropped
    assert (
        len([t for t in shown if t.kind is TurnKind.ACTION]) == 4
    )  # incl. session start
    first = next(t for t in shown if t.kind is TurnKind.USER)
    assert first.text == f"why is invoice G000024135 higher? my card {CARD} was charged"
    by_name = {e["entity"]: e for e in first.entities}
    invoice = by_name["invoice_number"]
    assert first.text[invoice["start"] : invoice["end"]] == "G000024135"
    assert by_name["amount"]["value"] == CARD
    assert first.text[by_name["amount"]["start"] : by_name["amount"]["end"]] == CARD
    agent = next(t for t in shown if t.kind is TurnKind.AGENT)
    assert agent.agent_name == "Dana" and agent.text == "Hi, Dana here from billing."
    assert "4111" not in conv.search_text and "g000024135" in conv.search_text


def test_nothing_secret_is_copied(session: Session, tracker: Tracker) -> None:
    rows = json.loads((FIXTURES / "rasa_tracker_events.json").read_text())["rows"]
    tracker.add_rows(rows)
    run_ingest(session)
    dump = []
    for table in ("conversations", "conversation_turns", "conversation_topics"):
        dump.extend(str(row) for row in session.execute(text(f"SELECT * FROM {table}")))
    everything = "\n".join(dump)
    assert "eyJ" not in everything  # no chat token (JWT)
    assert "4111" not in everything  # no card number


def test_incremental_and_idempotent(session: Session, tracker: Tracker) -> None:
    a = Script(start=T0).exchange("show me my invoice", "ask_invoice")
    tracker.add("a", a.events)
    assert run_ingest(session) == len(a.events)
    assert run_ingest(session) == 0  # nothing new

    more = Script(start=T0 + 100)
    more.events.clear()
    more.exchange("and the one before?", "ask_invoice")
    tracker.add("a", more.events)
    b = Script(start=T0 + 200).exchange("hello", "greet")
    tracker.add("b", b.events)
    assert run_ingest(session) == len(more.events) + len(b.events)
    state = session.scalars(select(IngestState)).one()
    assert state.last_event_id == tracker.count()
    conv = conversation(session, "a")
    assert conv.user_turns == 2
    assert conv.last_activity_at.timestamp() == pytest.approx(
        more.events[-1]["timestamp"]
    )

    # Applying the same events again changes nothing.
    source = SQLTrackerSource.from_settings()
    apply_events(session, source.events_after(0, 1000))
    session.commit()
    assert conversation(session, "a").user_turns == 2
    assert len(turns(session, conv)) == len(turns(session, conversation(session, "a")))


def test_greeting_only_is_abandoned_and_answer_is_resolved(
    session: Session, tracker: Tracker
) -> None:
    tracker.add("hi", Script(start=T0).exchange("hi", "greet").events)
    tracker.add(
        "asked",
        Script(start=T0)
        .exchange("hi", "greet")
        .exchange("what are your support hours", "ask_support_info")
        .exchange("thanks", "thank")
        .events,
    )
    tracker.add(
        "lost",
        Script(start=T0)
        .exchange("where is my invoice", "ask_invoice")
        .exchange("blorp", "nlu_fallback", 0.2)
        .exchange("bye", "goodbye")
        .events,
    )
    run_ingest(session)
    assert conversation(session, "hi").outcome is Outcome.ABANDONED
    assert conversation(session, "asked").outcome is Outcome.RESOLVED
    assert conversation(session, "asked").triage is Triage.NONE
    lost = conversation(session, "lost")
    assert lost.outcome is Outcome.ABANDONED  # the goodbye does not undo the fallback
    assert lost.has_low_confidence


def test_tokens(session: Session, tracker: Tracker) -> None:
    secret = get_settings().chat_token_secret
    customer = session.scalars(select(Customer).order_by(Customer.id)).first()
    staff = session.scalars(
        select(PartnerUser).where(PartnerUser.slack_user_id.is_not(None))
    ).first()
    assert customer is not None and staff is not None and staff.slack_user_id
    # Issued at the time of the conversation and long expired now.
    old = mint_customer_token(secret, tenant_id=customer.tenant_id, user_id="u", now=T0)
    forged = mint_customer_token(
        "another-secret-that-is-long-enough-0123456789",
        tenant_id=customer.tenant_id,
        user_id="u",
        now=T0,
    )
    slack = mint_staff_token(
        secret, platform="slack", platform_user_id=staff.slack_user_id, now=T0
    )
    for sender, token in (("old", old), ("forged", forged), ("slack", slack)):
        script = Script(
            start=T0,
            channel="slack" if sender == "slack" else "socketio",
            metadata={"chat_token": token},
        )
        tracker.add(sender, script.exchange("invoice please", "ask_invoice").events)
    run_ingest(session)
    found = conversation(session, "old")
    assert (found.requester_kind, found.customer_id, found.partner_id) == (
        "customer",
        customer.id,
        customer.partner_id,
    )
    assert conversation(session, "forged").requester_kind == "anonymous"
    assert conversation(session, "forged").customer_id is None
    staffed = conversation(session, "slack")
    assert (staffed.requester_kind, staffed.partner_id, staffed.channel) == (
        "staff",
        staff.partner_id,
        "slack",
    )

    # Expired at the time of the message: refused.
    assert identity_at(secret, old, T0 + 7200) is None
    assert identity_at(secret, old, T0 + 60) is not None
    assert identity_at(secret, "not-a-token", T0) is None


def test_a_ticket_filed_later_makes_it_escalated(
    session: Session, tracker: Tracker
) -> None:
    tracker.add(
        "t", Script(start=T0).exchange("I was charged twice", "request_refund").events
    )
    run_ingest(session)
    assert conversation(session, "t").outcome is Outcome.RESOLVED
    customer = session.scalars(select(Customer).order_by(Customer.id)).first()
    assert customer is not None
    create_ticket(
        session,
        new=NewTicket(
            partner_id=customer.partner_id,
            customer_id=customer.id,
            requester="customer:x:y",
            category=TicketCategory.COMMERCIAL,
            topic="refund",
            summary="double charge",
            description="double charge",
            idempotency_key="t:1",
            conversation_id="t",
        ),
    )
    session.commit()
    assert run_ingest(session) == 0  # no new events, but the ticket is seen
    conv = conversation(session, "t")
    assert conv.outcome is Outcome.ESCALATED
    assert conv.tickets_filed == 1 and conv.ticket_ids[0].startswith("CSP-")


def test_missing_tracker_store_is_empty(tmp_path: Path) -> None:
    from api.dashboard.transcripts import make_tracker_engine

    path = tmp_path / "nothing" / "tracker.db"
    source = SQLTrackerSource(make_tracker_engine(f"sqlite:///{path}"))
    assert source.events_after(0, 10) == []
    assert source.delete_conversation("x") == 0
    assert not path.exists()  # never created behind Rasa's back


def test_unknown_events_are_ignored(session: Session) -> None:
    events = [
        TrackerEvent(
            1, "odd", "user_featurization", T0, {"event": "user_featurization"}
        ),
        TrackerEvent(
            2,
            "odd",
            "slot",
            T0 + 1,
            {"event": "slot", "name": "x", "value": "4111111111111111"},
        ),
        TrackerEvent(
            3,
            "odd",
            "user",
            T0 + 2,
            {"event": "user", "text": None, "parse_data": None},
        ),
    ]
    apply_events(session, events)
    session.commit()
    conv = conversation(session, "odd")
    assert conv.user_turns == 1 and conv.outcome is Outcome.ABANDONED
    assert [t.kind for t in turns(session, conv)] == [TurnKind.USER]
