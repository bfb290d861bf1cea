"""The production profile for real: two Rasa replicas behind nginx (sticky per
conversation), PostgreSQL tracker store and database, Redis lock store, RabbitMQ
event broker feeding the transcript consumer, all started by `csp-desk run`
as `make run-prod` does, on scratch databases, keys and queues of this test.

A customer talks to the bot through nginx over socket.io (as the widget does); the
replies must be right, every event must be in the PostgreSQL tracker store, the
conversation must have stayed on one replica, and the broker's copy must have
reached the review tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from api.dashboard.models import Conversation, TranscriptEvent
from api.dashboard.reconcile import reconcile
from api.domain.models import Customer
from common.identity import mint_customer_token
from tests.e2e.stack import MODEL, Stack, stop_stack
from tests.faults.services import rabbitmq_stopped
from tests.production.services import (
    PG_ADMIN_DSN,
    ScratchServices,
    start_production_stack,
)
from tests.production.widget_client import WidgetChat

pytestmark = pytest.mark.skipif(
    not MODEL.exists(), reason="no trained model; run `make train`"
)

CONTOSO = "contoso.com"


def services_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="module")
def services() -> Iterator[ScratchServices]:
    if not services_available():
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_DSN}")
    scratch = ScratchServices()
    scratch.create()
    try:
        yield scratch
    finally:
        scratch.drop()


@pytest.fixture(scope="module")
def stack(
    services: ScratchServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_production_stack(
        tmp_path_factory.mktemp("production"), services, replicas=2, action_workers=2
    )
    try:
        yield running
    finally:
        stop_stack(running)


def contoso_token(stack: Stack) -> str:
    engine = create_engine(stack.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            customer = session.scalars(
                select(Customer).where(Customer.domain == CONTOSO)
            ).one()
            tenant_id = customer.tenant_id
    finally:
        engine.dispose()
    return mint_customer_token(
        stack.env["CHAT_TOKEN_SECRET"], tenant_id=tenant_id, user_id="admin@contoso.com"
    )


async def converse(stack: Stack, token: str) -> tuple[str, list[str], int]:
    chat = WidgetChat(stack.rasa_url, token)
    await chat.connect()
    try:
        replies = []
        for text in (
            "hello",
            "show me my latest invoice",
            "do I have any overdue invoices",
            "how can I pay my invoice?",
        ):
            reply = await chat.say(text, timeout=60)
            assert reply.complete and reply.texts, f"no reply to {text!r}"
            replies.append("\n".join(reply.texts))
        assert chat.session_id is not None
        return chat.session_id, replies, chat.stray
    finally:
        await chat.close()


def tracker_rows(stack: Stack, sender_id: str) -> list[tuple[str, str | None]]:
    dsn = stack.env["RASA_TRACKER_URL"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as pg:
        return [
            (row[0], row[1])
            for row in pg.execute(
                "SELECT type_name, intent_name FROM events WHERE sender_id = %s "
                "ORDER BY id",
                (sender_id,),
            )
        ]


def replicas_used(stack: Stack, route: str) -> set[str]:
    log = Path(stack.env["RUN_DIR"]) / "nginx" / "access.log"
    return {
        match.group(1)
        for line in log.read_text().splitlines()
        if f"route={route} " in line
        for match in [re.search(r"upstream=(\S+)", line)]
        if match and match.group(1) != "-"
    }


def test_a_conversation_through_nginx_lands_in_postgres(stack: Stack) -> None:
    token = contoso_token(stack)

    async def run() -> tuple[str, list[str], int]:
        session_id, replies, stray = await converse(stack, token)
        return session_id, replies, stray

    session_id, replies, stray = asyncio.run(run())
    _hello, invoice, overdue, pay = replies
    assert re.search(r"\b[DG]\d{9}\b", invoice), invoice
    assert "Due date:" in invoice, invoice
    assert "no open invoices" in overdue or "overdue by" in overdue, overdue
    assert "accepts" in pay, pay
    assert stray == 0

    # Every turn is in Rasa's PostgreSQL tracker store, in order.
    rows = tracker_rows(stack, session_id)
    intents = [intent for kind, intent in rows if kind == "user"]
    assert len(intents) == 4, rows
    assert sum(1 for kind, _ in rows if kind == "bot") >= 4, rows


def test_a_conversation_stays_on_one_replica(stack: Stack) -> None:
    token = contoso_token(stack)
    chats = [WidgetChat(stack.rasa_url, token) for _ in range(6)]

    async def run() -> None:
        for chat in chats:
            await chat.connect()
            for text in ("hello", "what are your support hours?"):
                reply = await chat.say(text, timeout=60)
                assert reply.complete and reply.texts
            await chat.close()
            # A reconnect with the same routing key resumes on the same replica.
            await chat.connect()
            reply = await chat.say("show me my latest invoice", timeout=60)
            assert reply.complete and reply.texts
            await chat.close()

    asyncio.run(run())
    used = {chat.route: replicas_used(stack, chat.route) for chat in chats}
    assert all(len(addresses) == 1 for addresses in used.values()), used

    # Both replicas take conversations. Six keys can all hash to one replica (about
    # 3 % of runs), so the spread is checked over 30 more routing keys that only
    # connect: the chance that all 30 land on one of two replicas is ~2e-9.
    extra = [WidgetChat(stack.rasa_url, token) for _ in range(30)]

    async def connect_only() -> None:
        for chat in extra:
            await chat.connect()
            await chat.close()

    asyncio.run(connect_only())
    spread = set().union(*(replicas_used(stack, chat.route) for chat in extra))
    assert len(spread) == 2, spread


def test_the_event_broker_feeds_the_review_tables(stack: Stack) -> None:
    token = contoso_token(stack)

    async def run() -> str:
        session_id, _, _ = await converse(stack, token)
        return session_id

    session_id = asyncio.run(run())
    engine = create_engine(stack.env["DATABASE_URL"])
    try:
        deadline = time.monotonic() + 30
        while True:
            with Session(engine) as session:
                events = session.scalars(
                    select(TranscriptEvent.type_name).where(
                        TranscriptEvent.sender_id == session_id
                    )
                ).all()
                conversation = session.scalars(
                    select(Conversation).where(Conversation.sender_id == session_id)
                ).first()
                if (
                    conversation is not None
                    and conversation.user_turns == 4
                    and conversation.requester_kind == "customer"
                ):
                    break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not ingested: {len(events)} events, {conversation!r}\n"
                    f"{stack.log_tail()}"
                )
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert events.count("user") == 4
    assert conversation.channel == "socketio"
    # The same events as Rasa stored in its tracker store.
    assert events.count("user") == sum(
        1 for kind, _ in tracker_rows(stack, session_id) if kind == "user"
    )
    # The consumer is background work, below the replies in CPU priority.
    consumers = [
        process
        for process in psutil.Process(stack.process.pid).children(recursive=True)
        if "transcripts" in process.cmdline() and "consume" in process.cmdline()
    ]
    assert consumers and all(process.nice() == 10 for process in consumers)


def test_transcripts_survive_a_rabbitmq_outage(stack: Stack) -> None:
    """RabbitMQ stopped mid-conversation: the bot keeps answering, and once the broker
    is back every event Rasa stored reaches the transcript tables (Rasa keeps what it
    could not publish and sends it after reconnecting)."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("no rabbitmqctl on this machine")
    token = contoso_token(stack)

    async def run() -> str:
        chat = WidgetChat(stack.rasa_url, token)
        await chat.connect()
        try:
            for outage in (False, True, False):
                with rabbitmq_stopped() if outage else contextlib.nullcontext():
                    for text in ("show me my latest invoice", "what are your hours?"):
                        reply = await chat.say(text, timeout=60)
                        assert reply.complete and reply.texts, f"no reply to {text!r}"
            assert chat.session_id is not None
            return chat.session_id
        finally:
            await chat.close()

    session_id = asyncio.run(run())
    stored = [kind for kind, _ in tracker_rows(stack, session_id)]
    assert stored.count("user") == 6
    engine = create_engine(stack.env["DATABASE_URL"])
    try:
        deadline = time.monotonic() + 60
        while True:
            with Session(engine) as session:
                transcribed = session.scalars(
                    select(TranscriptEvent.type_name)
                    .where(TranscriptEvent.sender_id == session_id)
                    .order_by(TranscriptEvent.id)
                ).all()
            if len(transcribed) >= len(stored) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert sorted(transcribed) == sorted(stored), stack.log_tail()


def test_events_a_replica_never_published_are_restored_from_the_tracker_store(
    stack: Stack,
) -> None:
    """The consumer's reconciliation (api/dashboard/reconcile.py) against what real
    Rasa replicas stored and published: it rebuilds the broker's exact bytes, so the
    events that did arrive are recognised and only the lost ones come back."""
    token = contoso_token(stack)
    session_id, _, _ = asyncio.run(converse(stack, token))
    stored = len(tracker_rows(stack, session_id))
    engine = create_engine(stack.env["DATABASE_URL"])
    tracker = create_engine(stack.env["RASA_TRACKER_URL"])
    mine = TranscriptEvent.sender_id == session_id
    try:
        deadline = time.monotonic() + 30
        while True:
            with Session(engine) as session:
                digests = set(
                    session.scalars(select(TranscriptEvent.digest).where(mine))
                )
            if len(digests) == stored:
                break
            assert time.monotonic() < deadline, (len(digests), stored)
            time.sleep(0.5)
        # As if the replica had died holding the conversation's last four events.
        with Session(engine) as session:
            lost = session.scalars(
                select(TranscriptEvent.id)
                .where(mine)
                .order_by(TranscriptEvent.id.desc())
            ).all()[:4]
            session.execute(delete(TranscriptEvent).where(TranscriptEvent.id.in_(lost)))
            session.commit()
        with Session(engine) as session:
            report = reconcile(
                session,
                tracker,
                now=time.time(),
                grace_seconds=0,
                state_name=f"test-{session_id}",
            )
            session.commit()
            after = set(session.scalars(select(TranscriptEvent.digest).where(mine)))
    finally:
        engine.dispose()
        tracker.dispose()
    assert report.restored >= 4, report  # others' events may be in flight too
    assert after == digests  # the same bytes as Rasa published, nothing doubled
