"""The correction loop: append-only corrections, topics that follow, NLU export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.dashboard.auth import create_lead
from api.dashboard.corrections import (
    CorrectionError,
    annotate,
    current_corrections_all,
    export_nlu_yaml,
    parse_annotated,
    record_correction,
)
from api.dashboard.ingest import ingest
from api.dashboard.models import (
    Conversation,
    ConversationTurn,
    Correction,
    DashboardUser,
    Triage,
    TurnKind,
)
from api.dashboard.transcripts import SQLTrackerSource
from api.domain.db import get_sessionmaker
from tests.dashboard.conftest import Tracker
from tests.dashboard.helpers import Conversation as Script

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def session(seeded_db: object, tracker: Tracker) -> Iterator[Session]:
    script = Script(start=T0)
    script.exchange("hi", "greet")
    script.exchange("my teams calls keep dropping", "ask_invoice", 0.44)
    script.exchange("can you resend invoice G000024135 to me", "nlu_fallback", 0.3)
    tracker.add("c1", script.events)
    with get_sessionmaker()() as db:
        ingest(db, SQLTrackerSource.from_settings())
        create_lead(db, "a@lead.example", "a-password-1234")
        create_lead(db, "b@lead.example", "b-password-1234")
        db.commit()
        yield db


def user_turns(session: Session) -> list[ConversationTurn]:
    return list(
        session.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.kind == TurnKind.USER)
            .order_by(ConversationTurn.event_id)
        )
    )


def lead(session: Session, email: str) -> DashboardUser:
    return session.scalars(
        select(DashboardUser).where(DashboardUser.email == email)
    ).one()


def test_annotation_round_trip() -> None:
    text, entities = parse_annotated(
        "send [G000024135](invoice_number) to [Contoso](customer)"
    )
    assert text == "send G000024135 to Contoso"
    assert [(e.start, e.end, e.entity, e.value) for e in entities] == [
        (5, 15, "invoice_number", "G000024135"),
        (19, 26, "customer", "Contoso"),
    ]
    assert annotate(text, [e.as_dict() for e in entities]) == (
        "send [G000024135](invoice_number) to [Contoso](customer)"
    )
    assert parse_annotated("no marks [here] (x)") == ("no marks [here] (x)", [])


def test_corrections_supersede_and_topics_follow(session: Session) -> None:
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.triage is Triage.COMMERCIAL  # "ask_invoice" as predicted
    teams, resend = user_turns(session)[1:]
    first = record_correction(
        session,
        conversation=conversation,
        event_id=teams.event_id,
        intent="report_technical_issue",
        annotated_text="",
        author=lead(session, "a@lead.example"),
    )
    session.commit()
    assert {t.topic for t in conversation.topics} >= {"technical_issue"}
    assert "invoice_lookup" not in {t.topic for t in conversation.topics}

    second = record_correction(
        session,
        conversation=conversation,
        event_id=resend.event_id,
        intent="ask_invoice",
        annotated_text="can you resend invoice [G000024135](invoice_number) to me",
        author=lead(session, "b@lead.example"),
    )
    session.commit()
    assert conversation.triage is Triage.MIXED  # technical and commercial now
    assert conversation.low_confidence_turns == 2  # what happened stays

    again = record_correction(
        session,
        conversation=conversation,
        event_id=teams.event_id,
        intent="out_of_scope",
        annotated_text="my teams calls keep dropping",
        author=lead(session, "b@lead.example"),
    )
    session.commit()
    assert again.supersedes_id == first.id
    rows = session.scalars(select(Correction).order_by(Correction.id)).all()
    assert [(r.intent, r.author_email) for r in rows] == [
        ("report_technical_issue", "a@lead.example"),  # kept for the audit
        ("ask_invoice", "b@lead.example"),
        ("out_of_scope", "b@lead.example"),
    ]
    current = current_corrections_all(session)
    assert [c.id for c in current] == [second.id, again.id]
    assert second.predicted_intent == "nlu_fallback"

    exported = export_nlu_yaml(
        current, generated=datetime(2026, 2, 2, tzinfo=timezone.utc)
    )
    assert exported.splitlines()[3:] == [
        'version: "3.1"',
        "nlu:",
        "- intent: ask_invoice",
        "  examples: |",
        "    - can you resend invoice [G000024135](invoice_number) to me",
        "- intent: out_of_scope",
        "  examples: |",
        "    - my teams calls keep dropping",
    ]
    parsed = yaml.safe_load(exported)
    assert parsed["version"] == "3.1" and len(parsed["nlu"]) == 2


def test_refused_corrections(session: Session) -> None:
    conversation = session.scalars(select(Conversation)).one()
    teams = user_turns(session)[1]
    author = lead(session, "a@lead.example")
    bot_turn = session.scalars(
        select(ConversationTurn).where(ConversationTurn.kind == TurnKind.BOT)
    ).first()
    assert bot_turn is not None
    for event_id, intent, text, message in (
        (teams.event_id, "nlu_fallback", "", "unknown intent"),
        (teams.event_id, "made_up", "", "unknown intent"),
        (teams.event_id, "ask_invoice", "my teams calls keep DROPPING", "unchanged"),
        (
            teams.event_id,
            "ask_invoice",
            "my [teams](colour) calls keep dropping",
            "unknown entity",
        ),
        (bot_turn.event_id, "ask_invoice", "", "only a user message"),
    ):
        with pytest.raises(CorrectionError, match=message):
            record_correction(
                session,
                conversation=conversation,
                event_id=event_id,
                intent=intent,
                annotated_text=text,
                author=author,
            )


def test_empty_export_is_valid_yaml() -> None:
    text = export_nlu_yaml([], generated=datetime(2026, 2, 2, tzinfo=timezone.utc))
    assert yaml.safe_load(text) == {"version": "3.1", "nlu": []}
