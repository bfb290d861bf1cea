"""What the dashboard learns from a conversation: what the user saw and clicked
(the button's title, never its payload), form answers and button clicks are not
intent predictions, a conversation left in the middle of a form is abandoned,
weekly metrics by default, topics by their names, and a preview in the list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.dashboard import queries
from api.dashboard.corrections import CorrectionError, record_correction
from api.dashboard.ingest import ingest
from api.dashboard.models import (
    Conversation,
    ConversationTurn,
    DashboardUser,
    InputKind,
    Outcome,
    Triage,
    TurnKind,
)
from api.dashboard.transcripts import SQLTrackerSource
from api.domain.db import get_sessionmaker
from tests.dashboard.conftest import LEAD, Tracker
from tests.dashboard.helpers import Conversation as Script

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc).timestamp()  # a Wednesday
SUBSCRIPTION_ID = "3f1c9a52-8d7e-4b1a-9c55-0d2e6f7a8b90"
FORM = "cancellation_form"


@pytest.fixture
def session(seeded_db: object, tracker: Tracker) -> Iterator[Session]:
    with get_sessionmaker()() as db:
        yield db


def run_ingest(session: Session) -> None:
    ingest(session, SQLTrackerSource.from_settings())
    session.commit()


def conversation(session: Session, sender: str) -> Conversation:
    session.expire_all()
    return session.scalars(
        select(Conversation).where(Conversation.sender_id == sender)
    ).one()


def user_turns(session: Session, conv: Conversation) -> list[ConversationTurn]:
    return list(
        session.scalars(
            select(ConversationTurn)
            .where(
                ConversationTurn.conversation_id == conv.id,
                ConversationTurn.kind == TurnKind.USER,
            )
            .order_by(ConversationTurn.event_id)
        )
    )


def cancellation_chooser(start: float) -> Script:
    """The bot offers the subscriptions that can be cancelled, as buttons whose
    payload is the subscription id."""
    script = Script(start=start)
    script.user("I want to cancel a subscription", "cancel_subscription", 0.97)
    script.action("action_choose_cancellation")
    script.bot(
        "Which subscription?",
        buttons=[
            ("Microsoft 365 E3 (5 seats)", SUBSCRIPTION_ID),
            ("Teams Essentials (whole)", "a0b1c2d3-0000-4000-8000-000000000001"),
        ],
    )
    script.action("action_listen")
    return script


# --------------------------------------------------------------------------- buttons


def test_a_click_is_stored_as_the_title_shown_never_the_payload(
    session: Session, tracker: Tracker
) -> None:
    script = cancellation_chooser(T0)
    # NLU classified the raw subscription id, badly; the click must not count.
    script.user(SUBSCRIPTION_ID, "report_technical_issue", 0.41)
    script.action("action_cancellation_summary").bot("Done.").action("action_listen")
    tracker.add("clicks", script.events)
    run_ingest(session)

    conv = conversation(session, "clicks")
    typed, click = user_turns(session, conv)
    assert click.text == "Microsoft 365 E3 (5 seats)"
    assert click.input_kind is InputKind.BUTTON
    assert (click.intent, click.confidence, click.entities) == (None, None, [])
    assert not click.is_low_confidence and not click.is_fallback
    assert typed.input_kind is InputKind.TYPED
    # The payload is nowhere in the review tables.
    for table in ("conversations", "conversation_turns", "conversation_topics"):
        dump = " ".join(str(r) for r in session.execute(text(f"SELECT * FROM {table}")))
        assert SUBSCRIPTION_ID not in dump
    # Not a technical issue, not a low-confidence prediction.
    assert [t.topic for t in conv.topics] == ["subscription_change"]
    assert conv.triage is Triage.COMMERCIAL
    assert (conv.user_turns, conv.predicted_turns) == (2, 1)
    assert conv.low_confidence_turns == 0 and not conv.has_low_confidence
    assert conv.outcome is Outcome.RESOLVED
    bot = session.scalars(
        select(ConversationTurn).where(
            ConversationTurn.conversation_id == conv.id,
            ConversationTurn.kind == TurnKind.BOT,
            ConversationTurn.text == "Which subscription?",
        )
    ).one()
    assert [b["title"] for b in bot.buttons] == [
        "Microsoft 365 E3 (5 seats)",
        "Teams Essentials (whole)",
    ]


def test_a_click_ingested_after_its_buttons_still_shows_the_title(
    session: Session, tracker: Tracker
) -> None:
    tracker.add("later", cancellation_chooser(T0).events)
    run_ingest(session)
    more = Script(start=T0 + 60)
    more.events.clear()
    more.user(SUBSCRIPTION_ID, "report_technical_issue", 0.41)
    tracker.add("later", more.events)
    run_ingest(session)
    click = user_turns(session, conversation(session, "later"))[-1]
    assert (click.text, click.input_kind) == (
        "Microsoft 365 E3 (5 seats)",
        InputKind.BUTTON,
    )


def test_a_button_that_names_an_intent_keeps_its_topic_but_is_no_prediction(
    session: Session, tracker: Tracker
) -> None:
    script = Script(start=T0)
    script.user("asdf qwer", "nlu_fallback", 0.2)
    script.action("action_fallback")
    script.bot("Did you mean:", buttons=[("See an invoice", "/ask_invoice")])
    script.action("action_listen")
    script.user("/ask_invoice", "ask_invoice", 1.0)
    script.action("action_invoice").bot("Invoice G000000001.").action("action_listen")
    tracker.add("suggested", script.events)
    run_ingest(session)

    conv = conversation(session, "suggested")
    _, click = user_turns(session, conv)
    assert (click.text, click.intent) == ("See an invoice", "ask_invoice")
    assert click.input_kind is InputKind.BUTTON
    assert "invoice_lookup" in [t.topic for t in conv.topics]
    # One prediction (the gibberish), which fell back: 1 of 1, not 1 of 2.
    assert (conv.predicted_turns, conv.low_confidence_turns) == (1, 1)
    assert conv.outcome is Outcome.RESOLVED  # the click was answered


def test_typing_a_text_that_is_no_button_payload_stays_typed(
    session: Session, tracker: Tracker
) -> None:
    script = cancellation_chooser(T0)
    script.user("the E3 one", "cancel_subscription", 0.8)
    tracker.add("typed", script.events)
    run_ingest(session)
    last = user_turns(session, conversation(session, "typed"))[-1]
    assert (last.text, last.input_kind) == ("the E3 one", InputKind.TYPED)


# --------------------------------------------------------------------------- forms


def seats_form(start: float, *, answer_intent: str = "thank") -> Script:
    """A form asks how many seats; the user answers "3" (NLU: small talk)."""
    script = Script(start=start)
    script.user("reduce my seats please", "change_seats", 0.93)
    script.action(FORM).form(FORM).slot("requested_slot", "seats")
    script.bot("How many seats should it be?").action("action_listen")
    script.user("3", answer_intent, 0.31)
    script.action(FORM).slot("seats", 3)
    return script


def test_a_form_answer_is_not_an_intent_prediction(
    session: Session, tracker: Tracker
) -> None:
    script = seats_form(T0)
    script.form(None).slot("requested_slot", None)
    script.action("action_submit_seats").bot("Done: 3 seats.").action("action_listen")
    tracker.add("form", script.events)
    run_ingest(session)

    conv = conversation(session, "form")
    question, answer = user_turns(session, conv)
    assert answer.input_kind is InputKind.FORM
    assert not answer.is_low_confidence  # 0.31, but the form read it
    assert question.input_kind is InputKind.TYPED
    assert [t.topic for t in conv.topics] == ["subscription_change"]  # no small talk
    assert (conv.user_turns, conv.predicted_turns, conv.low_confidence_turns) == (
        2,
        1,
        0,
    )
    assert conv.outcome is Outcome.RESOLVED


def test_a_question_asked_inside_a_form_is_a_prediction(
    session: Session, tracker: Tracker
) -> None:
    script = Script(start=T0)
    script.user("reduce my seats please", "change_seats", 0.93)
    script.action(FORM).form(FORM).slot("requested_slot", "seats")
    script.bot("How many seats should it be?").action("action_listen")
    script.user("wait, what's my latest invoice?", "ask_invoice", 0.88)
    script.action(FORM).rejected(FORM)
    script.action("action_invoice").bot("Invoice G000000002.")
    script.action(FORM).bot("How many seats should it be?").action("action_listen")
    script.user("never mind, stop", "deny", 0.9)
    script.action("action_deactivate_loop").form(None).bot("Stopped.")
    tracker.add("interrupted", script.events)
    run_ingest(session)

    conv = conversation(session, "interrupted")
    kinds = [t.input_kind for t in user_turns(session, conv)]
    assert kinds == [InputKind.TYPED, InputKind.TYPED, InputKind.TYPED]
    assert {t.topic for t in conv.topics} == {
        "subscription_change",
        "invoice_lookup",
        "smalltalk",
    }


def test_a_chat_left_in_the_middle_of_a_form_is_abandoned_not_resolved(
    session: Session, tracker: Tracker
) -> None:
    left = seats_form(T0)
    left.bot("And the reason?").action("action_listen")  # the form asks on
    tracker.add("left", left.events)
    done = seats_form(T0 + 10)
    done.form(None).action("action_submit_seats").bot("Done.").action("action_listen")
    tracker.add("done", done.events)
    run_ingest(session)

    assert conversation(session, "left").outcome is Outcome.ABANDONED
    assert conversation(session, "done").outcome is Outcome.RESOLVED
    metrics = queries.compute_metrics(
        session,
        queries.ConversationFilters(),
        granularity="day",
        today=date(2026, 3, 4),
    )
    assert (metrics.total.resolved, metrics.total.abandoned) == (1, 1)
    assert metrics.total.containment_rate == 0.5


def test_an_answer_whose_form_action_comes_in_a_later_batch_becomes_a_form_answer(
    session: Session, tracker: Tracker
) -> None:
    script = seats_form(T0)
    answer_action = script.events[-2:]  # the form's action and its slot
    del script.events[-2:]
    tracker.add("split", script.events)
    run_ingest(session)
    answer = user_turns(session, conversation(session, "split"))[-1]
    assert answer.input_kind is InputKind.TYPED and answer.is_low_confidence

    tracker.add("split", answer_action)
    run_ingest(session)
    conv = conversation(session, "split")
    answer = user_turns(session, conv)[-1]
    assert answer.input_kind is InputKind.FORM and not answer.is_low_confidence
    assert conv.low_confidence_turns == 0


def test_a_click_or_a_form_answer_cannot_be_corrected(
    session: Session, tracker: Tracker, users: object
) -> None:
    script = seats_form(T0)
    tracker.add("no-correction", script.events)
    run_ingest(session)
    conv = conversation(session, "no-correction")
    answer = user_turns(session, conv)[-1]
    lead = session.scalars(
        select(DashboardUser).where(DashboardUser.email == LEAD[0])
    ).one()
    with pytest.raises(CorrectionError, match="not an intent prediction"):
        record_correction(
            session,
            conversation=conv,
            event_id=answer.event_id,
            intent="change_seats",
            annotated_text="3",
            author=lead,
        )


# --------------------------------------------------------------------------- pages


def test_weekly_metrics_by_default(session: Session, tracker: Tracker) -> None:
    tracker.add("w", Script(start=T0).exchange("my invoice", "ask_invoice").events)
    run_ingest(session)
    today = date(2026, 3, 6)  # a Friday
    metrics = queries.compute_metrics(
        session, queries.ConversationFilters(), today=today
    )
    assert metrics.granularity == "week"
    assert len(metrics.series) == 12
    assert all(b.period is not None and b.period.weekday() == 0 for b in metrics.series)
    assert metrics.series[-1].period == date(2026, 3, 2)
    assert metrics.date_from == date(2026, 3, 2) - timedelta(weeks=11)
    assert metrics.series[-1].conversations == 1


def test_pages_show_topic_names_and_a_message_preview(
    session: Session, tracker: Tracker, lead_client: tuple[TestClient, str]
) -> None:
    client, _csrf = lead_client
    script = Script(start=datetime.now(timezone.utc).timestamp() - 60)
    script.exchange("hi", "greet")
    script.exchange("can I get my money back for the double charge?", "request_refund")
    tracker.add("pages", script.events)

    listing = client.get("/dashboard/conversations")
    assert listing.status_code == 200
    assert "can I get my money back for the double charge?" in listing.text
    assert "Refunds and credits" in listing.text
    conv = conversation(session, "pages")
    assert conv.preview == "can I get my money back for the double charge?"

    metrics = client.get("/dashboard/metrics")
    assert metrics.status_code == 200
    assert '<option value="week" selected>' in metrics.text
    assert "Refunds and credits" in metrics.text
    assert "of typed messages fell back" in metrics.text

    transcript = client.get(f"/dashboard/conversations/{conv.id}")
    assert "Refunds and credits" in transcript.text


def test_the_transcript_shows_the_buttons_shown_and_the_click(
    session: Session, tracker: Tracker, lead_client: tuple[TestClient, str]
) -> None:
    client, _csrf = lead_client
    script = cancellation_chooser(datetime.now(timezone.utc).timestamp() - 60)
    script.user(SUBSCRIPTION_ID, "report_technical_issue", 0.41)
    tracker.add("shown", script.events)
    client.get("/dashboard/conversations")  # ingests
    conv = conversation(session, "shown")
    page = client.get(f"/dashboard/conversations/{conv.id}").text
    assert 'class="shown-button">Teams Essentials (whole)</span>' in page
    assert "clicked a button" in page
    assert SUBSCRIPTION_ID not in page
    # No correction form for the click: two user turns, one form.
    assert page.count('name="annotated_text"') == 1
