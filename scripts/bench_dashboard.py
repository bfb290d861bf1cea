"""Benchmark the review dashboard's conversation list at 100,000 conversations.

    .venv/bin/python scripts/bench_dashboard.py            # writes docs/benchmarks/dashboard.md
    .venv/bin/python scripts/bench_dashboard.py --count 20000 --no-write

Seeds a temporary SQLite database (migrated with Alembic, so with the real indexes)
with COUNT conversations spread over a year, then times, with the dashboard's own
query functions: page 1 and a deep page, unfiltered and with filters (keyset
cursors), the same deep page with OFFSET for comparison, the text search, and the
metrics. Each case runs REPEAT times; the median and the 95th percentile are
reported. It also times the ingester on a tracker store of 1,000 conversations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from api.dashboard import queries  # noqa: E402
from api.dashboard.ingest import ingest  # noqa: E402
from api.dashboard.models import (  # noqa: E402
    Conversation,
    ConversationTopic,
    Outcome,
    Triage,
)
from api.dashboard.transcripts import SQLTrackerSource, make_tracker_engine  # noqa: E402
from api.domain.db import make_engine  # noqa: E402
from api.domain.migrate import upgrade  # noqa: E402
from api.domain.models import Customer, Partner  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "dashboard.md"
END = datetime(2026, 11, 1, tzinfo=timezone.utc)
CHANNELS = [("socketio", 55), ("rest", 10), ("slack", 20), ("msteams", 15)]
OUTCOMES = [
    (Outcome.RESOLVED, 60),
    (Outcome.ESCALATED, 15),
    (Outcome.HANDED_OFF, 8),
    (Outcome.ABANDONED, 17),
]
TOPICS = [
    ("invoice_lookup", "commercial", 30),
    ("charge_explanation", "commercial", 20),
    ("payment", "commercial", 15),
    ("refund", "commercial", 8),
    ("subscription_change", "commercial", 10),
    ("access_suspended", "commercial", 3),
    ("technical_issue", "technical", 10),
    ("support_info", "none", 6),
    ("ticket_status", "none", 4),
    ("human_agent", "none", 5),
    ("smalltalk", "none", 40),
    ("out_of_scope", "none", 5),
]
WORDS = [
    *[
        "invoice",
        "bill",
        "charge",
        "seats",
        "licence",
        "renewal",
        "payment",
        "card",
        "declined",
        "refund",
    ],
    *[
        "credit",
        "note",
        "subscription",
        "cancel",
        "upgrade",
        "azure",
        "usage",
        "teams",
        "exchange",
    ],
    *[
        "outlook",
        "tenant",
        "partner",
        "price",
        "increase",
        "proration",
        "month",
        "annual",
        "why",
    ],
    *[
        "higher",
        "than",
        "last",
        "please",
        "thanks",
        "hello",
        "need",
        "help",
        "with",
        "my",
        "account",
    ],
    *["overdue", "suspended", "access", "support", "hours"],
]
RARE_WORD = "xylophone"  # in 0.1 % of conversations


def pick(rng: random.Random, weighted: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    total = sum(item[-1] for item in weighted)
    roll = rng.uniform(0, total)
    for item in weighted:
        roll -= item[-1]
        if roll <= 0:
            return item
    return weighted[-1]


def seed(url: str, count: int) -> dict[str, Any]:
    """COUNT conversations (and their topics) written with bulk inserts."""
    rng = random.Random(100_000)
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(
            insert(Partner),
            [
                {
                    "slug": f"p{i}",
                    "name": f"Partner {i}",
                    "mpn_id": f"mpn{i}",
                    "billing_model": "direct",
                    "country": "US",
                    "currency": "USD",
                    "timezone": "UTC",
                    "support_offer": "",
                    "support_hours": "",
                    "support_contact_method": "",
                    "support_email": "x@example.com",
                    "support_pricing": "",
                    "payment_terms_days": 30,
                    "payment_methods": [],
                    "payment_instructions": "",
                    "collections_policy": "",
                    "reminder_after_days": 7,
                    "suspend_after_days_overdue": 30,
                }
                for i in range(1, 4)
            ],
        )
        db.execute(
            insert(Customer),
            [
                {
                    "partner_id": 1 + i % 3,
                    "name": f"Customer {i}",
                    "domain": f"c{i}.example",
                    "tenant_id": f"00000000-0000-0000-0000-{i:012d}",
                    "billing_email": "b@example.com",
                    "country": "US",
                    "currency": "USD",
                }
                for i in range(1, 31)
            ],
        )
    conversations: list[dict[str, Any]] = []
    topics: list[dict[str, Any]] = []
    for ident in range(1, count + 1):
        started = END - timedelta(seconds=rng.randrange(365 * 86_400))
        customer = rng.randrange(1, 31) if rng.random() < 0.8 else None
        chosen = {pick(rng, TOPICS) for _ in range(rng.randint(1, 3))}
        triages = {t[1] for t in chosen} - {"none"}
        triage = (
            Triage.MIXED
            if len(triages) == 2
            else Triage(triages.pop())
            if triages
            else Triage.NONE
        )
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
        if rng.random() < 0.001:
            words += f" {RARE_WORD}"
        low = rng.random() < 0.2
        turns = rng.randint(1, 8)
        conversations.append(
            {
                "id": ident,
                "sender_id": f"bench-{ident}",
                "channel": pick(rng, CHANNELS)[0],
                "requester_kind": "customer" if customer else "anonymous",
                "partner_id": 1 + customer % 3 if customer else None,
                "customer_id": customer,
                "started_at": started,
                "started_day": started.date(),
                "last_activity_at": started + timedelta(minutes=rng.randint(1, 30)),
                "user_turns": turns,
                "predicted_turns": turns,
                "bot_turns": turns,
                "agent_turns": 0,
                "low_confidence_turns": rng.randint(1, turns) if low else 0,
                "fallback_turns": 0,
                "has_low_confidence": low,
                "primary_topic": sorted(t[0] for t in chosen)[0],
                "triage": triage,
                "tickets_filed": 0,
                "ticket_ids": [],
                "handoffs": 0,
                "handoff_seconds": 0,
                "outcome": pick(rng, OUTCOMES)[0],
                "search_text": words,
                "last_event_id": ident,
                "updated_at": started,
            }
        )
        topics.extend(
            {
                "conversation_id": ident,
                "topic": t[0],
                "triage": t[1],
                "started_day": started.date(),
            }
            for t in chosen
        )
    with engine.begin() as db:
        for start in range(0, len(conversations), 10_000):
            db.execute(insert(Conversation), conversations[start : start + 10_000])
        for start in range(0, len(topics), 20_000):
            db.execute(insert(ConversationTopic), topics[start : start + 20_000])
        db.execute(text("ANALYZE"))
    engine.dispose()
    return {"conversations": count, "topic_rows": len(topics)}


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(median ms, p95 ms, last result) of `repeat` runs after one warm-up."""
    result = work()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, result


def cursor_at(
    session: Session, filters: queries.ConversationFilters, position: int
) -> queries.Cursor | None:
    row = session.execute(
        select(Conversation.started_at, Conversation.id)
        .where(*filters.conditions())
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())
        .offset(position)
        .limit(1)
    ).first()
    return queries.Cursor(row[0], row[1]) if row else None


def offset_page(
    session: Session, filters: queries.ConversationFilters, position: int
) -> list[Conversation]:
    return list(
        session.scalars(
            select(Conversation)
            .where(*filters.conditions())
            .order_by(Conversation.started_at.desc(), Conversation.id.desc())
            .offset(position)
            .limit(50)
        )
    )


def bench_ingest(folder: Path, url: str, conversations: int) -> dict[str, float]:
    """Time the ingester over a tracker store of `conversations` conversations."""
    path = folder / "tracker.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255) "
        "NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name "
        "VARCHAR(255), action_name VARCHAR(255), data TEXT)"
    )
    rows = []
    t0 = END.timestamp()
    for n in range(conversations):
        t = t0 + n * 60
        events: list[dict[str, Any]] = [
            {"event": "action", "timestamp": t, "name": "action_session_start"},
            {"event": "session_started", "timestamp": t + 0.1},
        ]
        for turn in range(4):
            t += 20
            events += [
                {
                    "event": "user",
                    "timestamp": t,
                    "text": f"why is my invoice higher, question {turn}",
                    "parse_data": {
                        "intent": {"name": "explain_charges", "confidence": 0.9},
                        "entities": [],
                    },
                    "input_channel": "socketio",
                    "metadata": {},
                },
                {"event": "action", "timestamp": t + 1, "name": "action_explain"},
                {"event": "bot", "timestamp": t + 1.1, "text": "Because of seats."},
                {"event": "action", "timestamp": t + 1.2, "name": "action_listen"},
            ]
        rows.extend(
            (f"ingest-{n}", e["event"], e["timestamp"], None, None, json.dumps(e))
            for e in events
        )
    db.executemany(
        "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
        "action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()
    source = SQLTrackerSource(make_tracker_engine(f"sqlite:///{path}"), name="bench")
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        report = ingest(session, source)
        session.commit()
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "events": report.events_read,
        "conversations": len(report.conversations),
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--ingest", type=int, default=1000, help="0 to skip")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        started = time.perf_counter()
        seeded = seed(url, args.count)
        seed_seconds = time.perf_counter() - started
        print(f"seeded {seeded} in {seed_seconds:.1f} s", flush=True)

        engine = make_engine(url)
        rows: list[tuple[str, float, float, int]] = []
        deep = int(args.count * 0.9)
        with Session(engine) as session:
            cases: list[tuple[str, queries.ConversationFilters, float]] = [
                ("no filter", queries.ConversationFilters(), 0.9),
                (
                    "channel=slack, outcome=escalated",
                    queries.ConversationFilters(
                        channel="slack", outcome=Outcome.ESCALATED
                    ),
                    0.9,
                ),
                (
                    "topic=refund",
                    queries.ConversationFilters(topic="refund"),
                    0.9,
                ),
                (
                    "low confidence, last 90 days, customer 7",
                    queries.ConversationFilters(
                        low_confidence=True,
                        customer_id=7,
                        date_from=(END - timedelta(days=90)).date(),
                        date_to=END.date(),
                    ),
                    0.9,
                ),
                (
                    "triage=technical, channel=socketio",
                    queries.ConversationFilters(
                        triage=Triage.TECHNICAL, channel="socketio"
                    ),
                    0.9,
                ),
                (
                    'text "refund credit"',
                    queries.ConversationFilters(text="refund credit"),
                    0.9,
                ),
                (
                    f'text "{RARE_WORD}" (0.1 %)',
                    queries.ConversationFilters(text=RARE_WORD),
                    0.5,
                ),
            ]
            for name, filters, depth in cases:
                total = queries.count_conversations(session, filters)
                median, p95, page = timed(
                    args.repeat,
                    lambda f=filters: queries.list_conversations(session, f, limit=50),
                )
                rows.append((f"{name}: page 1", median, p95, len(page.items)))
                position = max(0, int(total * depth) - 1)
                cursor = cursor_at(session, filters, position)
                if cursor is not None and total > 100:
                    median, p95, page = timed(
                        args.repeat,
                        lambda f=filters, c=cursor: queries.list_conversations(
                            session, f, after=c, limit=50
                        ),
                    )
                    rows.append(
                        (
                            f"{name}: deep page (after row {position + 1:,} of {total:,})",
                            median,
                            p95,
                            len(page.items),
                        )
                    )
                print(f"  {name}: {total} match", flush=True)
            median, p95, page = timed(
                args.repeat,
                lambda: offset_page(session, queries.ConversationFilters(), deep),
            )
            rows.append(
                (f"for comparison, OFFSET {deep:,} (no filter)", median, p95, len(page))
            )
            text_filter = queries.ConversationFilters(text="refund credit")
            text_deep = int(queries.count_conversations(session, text_filter) * 0.9) - 1
            median, p95, page = timed(
                args.repeat, lambda: offset_page(session, text_filter, text_deep)
            )
            rows.append(
                (
                    f'for comparison, OFFSET {text_deep:,} with text "refund credit"',
                    median,
                    p95,
                    len(page),
                )
            )
            for days in (30, 365):
                filters = queries.ConversationFilters(
                    date_from=(END - timedelta(days=days - 1)).date(),
                    date_to=END.date(),
                )
                median, p95, result = timed(
                    max(5, args.repeat // 5),
                    lambda f=filters: queries.compute_metrics(
                        session, f, granularity="day", today=END.date()
                    ),
                )
                rows.append(
                    (
                        f"metrics, {days} days per day ({result.total.conversations:,} "
                        "conversations)",
                        median,
                        p95,
                        len(result.series),
                    )
                )
        engine.dispose()
        ingest_result = bench_ingest(folder, url, args.ingest) if args.ingest else None

    lines = [
        "# Review dashboard: conversation list at scale",
        "",
        f"`scripts/bench_dashboard.py` on {date.today().isoformat()}: "
        f"{args.count:,} conversations ({seeded['topic_rows']:,} topic rows) in a "
        "temporary SQLite database migrated with Alembic (the real indexes), over one "
        f"year. Each case ran {args.repeat} times after a warm-up (metrics: "
        f"{max(5, args.repeat // 5)}); times are wall-clock milliseconds of the "
        "dashboard's own query functions (`api/dashboard/queries.py`), pages of 50.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; load average "
        f"{load_before:.1f} when it started and {os.getloadavg()[0]:.1f} at the end "
        "(other work shared the machine: read the medians, the p95s are noisy).",
        "",
        "| case | median ms | p95 ms | rows |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {n} | {m:.2f} | {p:.2f} | {r} |" for n, m, p, r in rows]
    if ingest_result:
        rate = ingest_result["conversations"] / ingest_result["seconds"]
        lines += [
            "",
            f"Ingester: {ingest_result['events']:,} events of "
            f"{ingest_result['conversations']:,} conversations (4 user turns each) in "
            f"{ingest_result['seconds']:.1f} s, about {rate:,.0f} conversations/s "
            "(a backfill of 100,000 conversations: "
            f"{100_000 / rate / 60:,.0f} min).",
        ]
    lines += [
        "",
        "Reading it: a keyset page costs the same on page 1 and after 90,000 rows,",
        "because each filter has an index that starts with its column and ends with",
        "the keyset `(started_at, id)`, so a page is an index range scan of 51 rows.",
        "OFFSET has to walk every skipped row: SQLite walks an index quickly when no",
        "row has to be read (the unfiltered OFFSET row), but as soon as the filter",
        "needs the row (the text search) OFFSET reads and tests every skipped row,",
        "while the keyset page starts at its cursor. Filters without an index of",
        "their own (topic, text) scan the keyset index and test each row, so their",
        "cost grows with how rare the match is (the rare-word row reads about half",
        "the table to fill a page). On PostgreSQL, a trigram index (`pg_trgm`, GIN",
        "on `search_text`) serves the text search instead. The metrics read one",
        "covering index (`ix_conversations_metrics`, one row per day) and the",
        "topics' `(started_day, topic)` index.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(report)
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
