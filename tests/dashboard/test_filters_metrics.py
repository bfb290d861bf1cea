"""Many conversations written into a Rasa tracker store, ingested, then every filter
and metric checked against counts this test computes on its own from what it wrote.

The expected values here never call the dashboard's code: topics and triage come
from reading common/taxonomy.yml, and the outcome rule is restated from
docs/dashboard.md.
"""

from __future__ import annotations

import random
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.dashboard import queries
from api.dashboard.auth import create_lead
from api.dashboard.deps import default_transcript_source
from api.dashboard.ingest import ingest
from api.dashboard.models import Conversation, Outcome, Triage
from api.dashboard.transcripts import SQLTrackerSource
from api.domain.db import get_engine, get_sessionmaker
from api.domain.models import Customer, Partner, TicketCategory
from api.domain.services.tickets import NewTicket, create_ticket
from api.settings import get_settings
from common.identity import mint_customer_token
from tests.conftest import copy_database, reset_caches, sqlite_url
from tests.dashboard.conftest import LEAD, Tracker, dashboard_app, sign_in
from tests.dashboard.helpers import Conversation as Script

TAXONOMY = yaml.safe_load(
    (Path(__file__).parents[2] / "common" / "taxonomy.yml").read_text()
)
TOPIC = TAXONOMY["intents"]
TRIAGE = {name: spec["triage"] for name, spec in TAXONOMY["topics"].items()}
THRESHOLD = 0.5
COUNT = 240
FIRST_DAY = date(2026, 3, 2)  # a Monday
CHANNELS = ["socketio", "rest", "slack"]
INTENTS = [
    "greet", "thank", "goodbye", "ask_invoice", "explain_charges", "ask_payment_status",
    "request_refund", "cancel_subscription", "access_suspended", "ask_support_info",
    "report_technical_issue", "ask_ticket_status", "request_human", "out_of_scope",
]  # fmt: skip


@dataclass
class Planned:
    """One conversation as this test wrote it, and what it expects of it."""

    sender: str
    start: datetime
    channel: str
    customer: Optional[Customer]
    turns: list[tuple[str, float]]  # (intent, confidence)
    handoff: bool
    ticket: bool
    says_teams: bool
    topics: set[str] = field(default_factory=set)

    @property
    def seen_channel(self) -> str:
        """The channel is read from user messages; none means "unknown"."""
        return self.channel if self.turns else "unknown"

    @property
    def low_turns(self) -> int:
        return sum(1 for i, c in self.turns if i == "nlu_fallback" or c < THRESHOLD)

    @property
    def triage(self) -> str:
        found = {TRIAGE[t] for t in self.topics} - {"none"}
        if found == {"commercial", "technical"}:
            return "mixed"
        return found.pop() if found else "none"

    @property
    def outcome(self) -> str:
        # docs/dashboard.md, in order: handoff, ticket, then the last question.
        if self.handoff:
            return "handed_off"
        if self.ticket:
            return "escalated"
        substantive = [
            (i, c)
            for i, c in self.turns
            if TOPIC[i] != "smalltalk" or i == "nlu_fallback" or c < THRESHOLD
        ]
        if not substantive:
            return "abandoned"
        intent, confidence = substantive[-1]
        if intent == "nlu_fallback" or confidence < THRESHOLD:
            return "abandoned"
        if TOPIC[intent] == "human_agent":
            return "abandoned"
        return "resolved"


def plan(customers: list[Customer]) -> list[Planned]:
    rng = random.Random(20260302)
    planned = []
    for index in range(COUNT):
        turns = []
        for _ in range(rng.randint(0, 4)):
            roll = rng.random()
            if roll < 0.12:
                turns.append(("nlu_fallback", round(rng.uniform(0.1, 0.49), 2)))
            elif roll < 0.25:
                turns.append((rng.choice(INTENTS), round(rng.uniform(0.2, 0.49), 2)))
            else:
                turns.append((rng.choice(INTENTS), round(rng.uniform(0.5, 1.0), 2)))
        start = datetime.combine(
            FIRST_DAY + timedelta(days=rng.randrange(21)),
            datetime.min.time(),
            tzinfo=timezone.utc,
        ) + timedelta(seconds=rng.randrange(86_000))
        item = Planned(
            sender=f"gen-{index:04d}",
            start=start,
            channel=rng.choice(CHANNELS),
            customer=rng.choice(customers) if rng.random() < 0.7 else None,
            turns=turns,
            handoff=rng.random() < 0.12,
            ticket=rng.random() < 0.15,
            says_teams=rng.random() < 0.08,
        )
        item.topics = {TOPIC[i] for i, _ in turns}
        planned.append(item)
    # Two conversations at the very same second: the keyset must still order them.
    planned[1].start = planned[0].start
    return planned


def write(tracker: Tracker, session: Session, planned: list[Planned]) -> None:
    secret = get_settings().chat_token_secret
    partner = session.scalars(select(Partner).order_by(Partner.id)).first()
    assert partner is not None
    for item in planned:
        metadata: dict[str, Any] = {}
        if item.customer is not None:
            metadata["chat_token"] = mint_customer_token(
                secret,
                tenant_id=item.customer.tenant_id,
                user_id="someone",
                now=item.start.timestamp(),
            )
        script = Script(
            start=item.start.timestamp(), channel=item.channel, metadata=metadata
        )
        for number, (intent, confidence) in enumerate(item.turns):
            words = (
                "Microsoft Teams is down"
                if item.says_teams and number == 0
                else "a question"
            )
            script.exchange(f"{words} #{number}", intent, confidence)
        if item.handoff:
            script.action("action_handoff").pause()
            script.bot("Hello, a person here.", agent="Sam")
            script.resume(after=90)
        tracker.add(item.sender, script.events)
        if item.ticket:
            create_ticket(
                session,
                new=NewTicket(
                    partner_id=item.customer.partner_id
                    if item.customer
                    else partner.id,
                    customer_id=item.customer.id if item.customer else None,
                    requester="customer:t:u",
                    category=TicketCategory.COMMERCIAL,
                    topic="refund",
                    summary="s",
                    description="d",
                    idempotency_key=f"{item.sender}:t",
                    conversation_id=item.sender,
                ),
            )
    session.commit()


@pytest.fixture(scope="module")
def world_files(
    tmp_path_factory: pytest.TempPathFactory,
    seeded_template: tuple[Path, object],
) -> tuple[Path, Path, list[Planned]]:
    """The demo database and a tracker store with COUNT conversations, ingested
    once for the whole module; each test works on copies."""
    folder = tmp_path_factory.mktemp("world")
    database = copy_database(seeded_template[0], folder / "app.db")
    tracker = Tracker(folder / "tracker.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", sqlite_url(database))
        patch.setenv("APP_MODE", "local")
        patch.setenv("RASA_TRACKER_DB", str(tracker.path))
        reset_caches()
        try:
            with get_sessionmaker()() as session:
                customers = list(
                    session.scalars(select(Customer).order_by(Customer.id))
                )
                planned = plan(customers)
                write(tracker, session, planned)
                report = ingest(
                    session, SQLTrackerSource.from_settings(), batch_size=700
                )
                session.commit()
                assert len(report.conversations) == COUNT
            with get_engine().connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            reset_caches()
    return database, tracker.path, planned


@pytest.fixture
def world(
    world_files: tuple[Path, Path, list[Planned]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Session, list[Planned]]]:
    database, tracker_path, planned = world_files
    monkeypatch.setenv(
        "DATABASE_URL", sqlite_url(copy_database(database, tmp_path / "app.db"))
    )
    monkeypatch.setenv("APP_MODE", "local")
    target = tmp_path / "tracker.db"
    shutil.copyfile(tracker_path, target)
    monkeypatch.setenv("RASA_TRACKER_DB", str(target))
    reset_caches()
    default_transcript_source.cache_clear()
    with get_sessionmaker()() as session:
        yield session, planned
    reset_caches()
    default_transcript_source.cache_clear()


def all_pages(
    session: Session, filters: queries.ConversationFilters, size: int = 17
) -> list[Conversation]:
    """Every page, following the keyset cursors."""
    seen: list[Conversation] = []
    cursor = None
    while True:
        page = queries.list_conversations(session, filters, after=cursor, limit=size)
        assert len(page.items) <= size
        seen.extend(page.items)
        if page.older is None:
            return seen
        cursor = page.older


def expect(planned: list[Planned], **want: Any) -> set[str]:
    found = set()
    for item in planned:
        if "channel" in want and item.seen_channel != want["channel"]:
            continue
        if "outcome" in want and item.outcome != want["outcome"]:
            continue
        if "triage" in want and item.triage != want["triage"]:
            continue
        if "topic" in want and want["topic"] not in item.topics:
            continue
        if "low" in want and (item.low_turns > 0) != want["low"]:
            continue
        if "customer" in want and (
            item.customer is None or item.customer.id != want["customer"]
        ):
            continue
        if "partner" in want and (
            item.customer is None or item.customer.partner_id != want["partner"]
        ):
            continue
        if "since" in want and item.start.date() < want["since"]:
            continue
        if "until" in want and item.start.date() > want["until"]:
            continue
        if "teams" in want and not (item.says_teams and item.turns):
            continue
        found.add(item.sender)
    return found


def test_every_filter_matches_an_independent_count(
    world: tuple[Session, list[Planned]],
) -> None:
    session, planned = world
    some = next(p for p in planned if p.customer is not None)
    assert some.customer is not None
    cases: list[tuple[queries.ConversationFilters, dict[str, Any]]] = [
        (queries.ConversationFilters(), {}),
        (queries.ConversationFilters(channel="slack"), {"channel": "slack"}),
        (queries.ConversationFilters(outcome=Outcome.ESCALATED), {"outcome": "escalated"}),
        (queries.ConversationFilters(outcome=Outcome.ABANDONED), {"outcome": "abandoned"}),
        (queries.ConversationFilters(outcome=Outcome.RESOLVED), {"outcome": "resolved"}),
        (queries.ConversationFilters(outcome=Outcome.HANDED_OFF), {"outcome": "handed_off"}),
        (queries.ConversationFilters(triage=Triage.TECHNICAL), {"triage": "technical"}),
        (queries.ConversationFilters(triage=Triage.MIXED), {"triage": "mixed"}),
        (queries.ConversationFilters(topic="refund"), {"topic": "refund"}),
        (queries.ConversationFilters(low_confidence=True), {"low": True}),
        (queries.ConversationFilters(low_confidence=False), {"low": False}),
        (queries.ConversationFilters(customer_id=some.customer.id), {"customer": some.customer.id}),
        (
            queries.ConversationFilters(partner_id=some.customer.partner_id),
            {"partner": some.customer.partner_id},
        ),
        (
            queries.ConversationFilters(date_from=date(2026, 3, 9), date_to=date(2026, 3, 15)),
            {"since": date(2026, 3, 9), "until": date(2026, 3, 15)},
        ),
        (queries.ConversationFilters(text="TEAMS is"), {"teams": True}),
        (
            queries.ConversationFilters(
                channel="socketio", low_confidence=True, topic="invoice_lookup",
                date_from=date(2026, 3, 5),
            ),
            {"channel": "socketio", "low": True, "topic": "invoice_lookup",
             "since": date(2026, 3, 5)},
        ),
    ]  # fmt: skip
    for filters, want in cases:
        expected = expect(planned, **want)
        got = all_pages(session, filters)
        senders = [c.sender_id for c in got]
        assert len(senders) == len(set(senders)), f"duplicates for {filters}"
        assert set(senders) == expected, f"{filters}: {len(senders)} vs {len(expected)}"
        assert queries.count_conversations(session, filters) == len(expected)
        keys = [(c.started_at, c.id) for c in got]
        assert keys == sorted(keys, reverse=True)
    # The filters are not all trivially empty or full.
    assert 0 < len(expect(planned, outcome="escalated")) < COUNT
    assert 0 < len(expect(planned, teams=True)) < 40


def test_paging_back_returns_the_same_pages(
    world: tuple[Session, list[Planned]],
) -> None:
    session, _ = world
    filters = queries.ConversationFilters()
    pages = []
    cursor = None
    while True:
        page = queries.list_conversations(session, filters, after=cursor, limit=25)
        pages.append([c.id for c in page.items])
        if page.older is None:
            break
        cursor = page.older
    # Walk back from the last page with the "newer" cursors.
    last = queries.list_conversations(
        session,
        filters,
        after=queries.Cursor.of(session.get(Conversation, pages[-2][-1])),
        limit=25,
    )
    assert [c.id for c in last.items] == pages[-1]
    back = last.newer
    for expected in reversed(pages[:-1]):
        assert back is not None
        page = queries.list_conversations(session, filters, before=back, limit=25)
        assert [c.id for c in page.items] == expected
        back = page.newer
    assert back is None


def test_metrics_match_an_independent_count(
    world: tuple[Session, list[Planned]],
) -> None:
    session, planned = world
    filters = queries.ConversationFilters(
        date_from=FIRST_DAY, date_to=FIRST_DAY + timedelta(days=20)
    )
    metrics = queries.compute_metrics(session, filters, granularity="day")
    outcomes = Counter(p.outcome for p in planned)
    total = metrics.total
    assert total.conversations == COUNT
    assert (total.resolved, total.escalated, total.handed_off, total.abandoned) == (
        outcomes["resolved"], outcomes["escalated"], outcomes["handed_off"], outcomes["abandoned"])  # fmt: skip
    assert total.containment_rate == round(outcomes["resolved"] / COUNT, 4)
    assert total.escalation_rate == round(outcomes["escalated"] / COUNT, 4)
    assert total.handoff_rate == round(outcomes["handed_off"] / COUNT, 4)
    user_turns = sum(len(p.turns) for p in planned)
    low_turns = sum(p.low_turns for p in planned)
    assert (total.predicted_turns, total.low_confidence_turns) == (
        user_turns,
        low_turns,
    )
    assert total.fallback_rate == round(low_turns / user_turns, 4)
    assert total.with_low_confidence == sum(1 for p in planned if p.low_turns)
    split = Counter(p.triage for p in planned)
    assert (total.commercial, total.technical, total.mixed, total.no_triage) == (
        split["commercial"], split["technical"], split["mixed"], split["none"])  # fmt: skip

    per_day = Counter(p.start.date() for p in planned)
    assert len(metrics.series) == 21
    assert {b.period: b.conversations for b in metrics.series} == {
        FIRST_DAY + timedelta(days=d): per_day.get(FIRST_DAY + timedelta(days=d), 0)
        for d in range(21)
    }
    escalated_per_day = Counter(
        p.start.date() for p in planned if p.outcome == "escalated"
    )
    assert {b.period: b.escalated for b in metrics.series if b.escalated} == dict(
        escalated_per_day
    )

    weekly = queries.compute_metrics(session, filters, granularity="week")
    assert [b.period for b in weekly.series] == [
        FIRST_DAY + timedelta(weeks=w) for w in range(3)
    ]
    per_week = Counter(
        FIRST_DAY + timedelta(weeks=(p.start.date() - FIRST_DAY).days // 7)
        for p in planned
    )
    assert {b.period: b.conversations for b in weekly.series} == dict(per_week)

    topics = Counter(t for p in planned for t in p.topics if t != "smalltalk")
    expected_top = sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert metrics.top_topics == expected_top

    slack = queries.compute_metrics(
        session,
        queries.ConversationFilters(
            date_from=FIRST_DAY, date_to=FIRST_DAY + timedelta(days=20), channel="slack"
        ),
    )
    assert slack.total.conversations == sum(
        1 for p in planned if p.seen_channel == "slack"
    )

    csv_lines = queries.metrics_csv(metrics).strip().splitlines()
    assert csv_lines[-1].split(",")[:6] == [
        "total", str(COUNT), str(outcomes["resolved"]), str(outcomes["escalated"]),
        str(outcomes["handed_off"]), str(outcomes["abandoned"])]  # fmt: skip


def test_the_pages_show_the_same_numbers(world: tuple[Session, list[Planned]]) -> None:
    session, planned = world
    create_lead(session, *LEAD)
    session.commit()
    client = TestClient(dashboard_app(), follow_redirects=False)
    sign_in(client, *LEAD)
    url: Optional[str] = "/dashboard/conversations?outcome=escalated&channel=rest"
    rows = 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        rows += len(re.findall(r'<tr data-conversation="', page.text))
        older = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        url = (
            "/dashboard/conversations" + older.group(1).replace("&amp;", "&")
            if older
            else None
        )
    assert rows == len(expect(planned, outcome="escalated", channel="rest")) > 0

    metrics = client.get(
        f"/dashboard/metrics?date_from={FIRST_DAY}&date_to={FIRST_DAY + timedelta(days=20)}"
    )
    assert f'<span class="n" id="m-conversations">{COUNT}</span>' in metrics.text
    resolved = sum(1 for p in planned if p.outcome == "resolved")
    assert f"{resolved / COUNT * 100:.1f}%" in metrics.text
