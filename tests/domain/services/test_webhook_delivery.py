"""The delivery worker against a real consumer (tests/domain/services/
webhook_consumer.py), on SQLite and on the local PostgreSQL (a throw-away
database; skipped when no server answers).

What it must show: the consumer verifies every signature and processes every
event exactly once across a worker killed in the middle of a delivery and
started again; a consumer that answers 500 first gets the event on a retry; on
PostgreSQL, two workers never send the same delivery twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.domain.db import get_sessionmaker
from api.domain.migrate import upgrade
from api.domain.models import (
    DeliveryStatus,
    TicketCategory,
    WebhookDelivery,
    WebhookEvent,
    utcnow,
)
from api.domain.services.tickets import NewTicket, create_ticket
from api.domain.services.webhook_delivery import (
    DeliveryConfig,
    deliver_due,
    retry_after_seconds,
    retry_delay,
    run_worker,
)
from api.domain.services.webhooks import replay_delivery
from tests.conftest import reset_caches
from tests.domain.services.webhook_consumer import (
    SECRET,
    SECRET_ENV,
    Consumer,
    endpoint,
    make_partner,
    running,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[3]
FAST = DeliveryConfig(
    timeout=2.0, retry_base=0.2, retry_max=1.0, max_age=60.0, poll=0.05
)


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty migrated database, SQLite or PostgreSQL; DATABASE_URL names it."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.delenv("WEBHOOK_DEFAULT_URL", raising=False)
    if request.param == "sqlite":
        yield request.getfixturevalue("database_url")
        return
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("APP_MODE", "local")
    reset_caches()
    try:
        yield url
    finally:
        reset_caches()  # closes the pool before the database is dropped


def file_tickets(session: Session, partner_id: int, count: int) -> list[str]:
    """`count` tickets (each makes one ticket.created event); their event ids."""
    for number in range(count):
        create_ticket(
            session,
            new=NewTicket(
                partner_id=partner_id,
                requester="service",
                category=TicketCategory.COMMERCIAL,
                topic="billing",
                summary=f"Ticket number {number}",
                description="Filed by the webhook delivery test.",
                idempotency_key=f"delivery-test-{number}",
            ),
        )
    session.commit()
    return list(session.scalars(select(WebhookEvent.message_id)))


def deliveries(session: Session) -> list[WebhookDelivery]:
    session.expire_all()
    return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def statuses(session: Session) -> dict[DeliveryStatus, int]:
    session.expire_all()
    rows = session.execute(
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    ).all()
    return {status: count for status, count in rows}


def worker_process(url: str, *, timeout: float = 1) -> subprocess.Popen[bytes]:
    """`csp-desk webhooks deliver` of this checkout, as `make run` starts it."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "APP_MODE": "local",
        SECRET_ENV: SECRET,
        "WEBHOOK_TIMEOUT_SECONDS": str(timeout),  # the lease is 2 * timeout + 1 s
        "WEBHOOK_POLL_SECONDS": "0.1",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api", "webhooks", "deliver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def rounds_until(
    session: Session, condition: object, *, config: DeliveryConfig = FAST
) -> None:
    """Run delivery rounds in this process until `condition()` holds (10 s)."""
    factory = get_sessionmaker()
    with httpx.Client(timeout=config.timeout) as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            deliver_due(factory, client, config)
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.05)
    raise AssertionError("the deliveries did not get there in 10 s")


# --------------------------------------------------------------------------- must show


def test_every_event_is_processed_once_across_a_killed_worker(
    outbox_url: str,
) -> None:
    consumer = Consumer(hold_after=8)  # the 8th request is in flight at the kill
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "crashco", endpoints=[endpoint(consumer.url)])
        sent = file_tickets(session, partner.id, 25)
        assert len(sent) == 25

        # Long enough a timeout that the held request is still in flight at the
        # kill; its lease (9 s) then runs out and the second worker sends it.
        first = worker_process(outbox_url, timeout=4)
        try:
            assert wait_for(consumer.holding.is_set, timeout=60), (
                first.stderr.read() if first.poll() is not None and first.stderr else ""
            )
            first.send_signal(signal.SIGKILL)  # no chance to record anything
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        consumer.release.set()
        left = statuses(session)
        assert left.get(DeliveryStatus.PENDING, 0) > 0  # it died mid-way

        second = worker_process(outbox_url)
        try:
            assert wait_for(
                lambda: statuses(session) == {DeliveryStatus.DELIVERED: 25},
                timeout=60,
            ), statuses(session)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0  # a clean stop on SIGTERM

        assert consumer.bad_signatures == 0
        # Every event processed, each exactly once ...
        assert set(consumer.processed) == set(sent)
        assert all(count == 1 for count in consumer.processed.values())
        # ... although the one in flight at the kill arrived twice (at least once).
        received = consumer.ids_received()
        assert len(received) > len(sent)
        held = received[7]
        assert received.count(held) == 2
        rows = {r.event.message_id: r for r in deliveries(session)}
        assert rows[held].attempts == 2
        assert all(r.last_status_code == 200 for r in rows.values())


def test_a_consumer_answering_500_then_200_gets_the_event_on_a_retry(
    outbox_url: str,
) -> None:
    consumer = Consumer(script=[500])
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "flaky", endpoints=[endpoint(consumer.url)])
        [message_id] = file_tickets(session, partner.id, 1)

        factory = get_sessionmaker()
        with httpx.Client(timeout=FAST.timeout) as client:
            assert deliver_due(factory, client, FAST) == 1
        [row] = deliveries(session)
        assert row.status is DeliveryStatus.PENDING
        assert row.last_status_code == 500
        assert row.last_error == "HTTP 500 Internal Server Error"
        assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()

        rounds_until(
            session,
            lambda: deliveries(session)[0].status is DeliveryStatus.DELIVERED,
        )
        [row] = deliveries(session)
        assert row.attempts == 2
        assert row.last_status_code == 200 and row.last_error is None
        assert consumer.ids_received() == [message_id, message_id]
        assert consumer.processed == {message_id: 1}
        first, second = consumer.requests
        # The retry waited at least half the base wait (the jitter's least).
        assert second.at - first.at >= FAST.retry_base * 0.5
        assert first.body == second.body  # the same bytes, signed afresh


def test_two_workers_on_postgresql_never_send_one_delivery_twice(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    reset_caches()
    consumer = Consumer(delay=0.01)
    try:
        with running(consumer), get_sessionmaker()() as session:
            partner = make_partner(session, "busy", endpoints=[endpoint(consumer.url)])
            sent = file_tickets(session, partner.id, 60)
            stop = threading.Event()
            counts: list[int] = []
            workers = [
                threading.Thread(
                    target=lambda: counts.append(
                        run_worker(get_sessionmaker(), FAST, stop=stop)
                    )
                )
                for _ in range(2)
            ]
            for worker in workers:
                worker.start()
            try:
                assert wait_for(
                    lambda: statuses(session) == {DeliveryStatus.DELIVERED: 60},
                    timeout=60,
                )
            finally:
                stop.set()
                for worker in workers:
                    worker.join(30)
            received = consumer.ids_received()
            assert sorted(received) == sorted(sent)  # each exactly once
            assert sum(counts) == 60  # 60 attempts in all, shared by the two
            assert all(row.attempts == 1 for row in deliveries(session))
    finally:
        reset_caches()


# --------------------------------------------------------------------------- failures


def test_retry_after_is_honoured(outbox_url: str) -> None:
    consumer = Consumer(script=[503], extra_headers={"Retry-After": "30"})
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "busyco", endpoints=[endpoint(consumer.url)])
        file_tickets(session, partner.id, 1)
        with httpx.Client() as client:
            before = utcnow()
            deliver_due(get_sessionmaker(), client, FAST)
        [row] = deliveries(session)
        assert row.last_status_code == 503
        # retry_max is 1 s, but the endpoint asked for 30 s: capped at retry_max.
        assert row.next_attempt_at is not None
        wait = (row.next_attempt_at - before).total_seconds()
        assert 0.99 <= wait <= 2


def test_gone_fails_at_once_and_a_replay_delivers_it(outbox_url: str) -> None:
    consumer = Consumer(script=[410])
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "goneco", endpoints=[endpoint(consumer.url)])
        [message_id] = file_tickets(session, partner.id, 1)
        with httpx.Client() as client:
            deliver_due(get_sessionmaker(), client, FAST)
        [row] = deliveries(session)
        assert row.status is DeliveryStatus.FAILED
        assert row.next_attempt_at is None
        assert row.last_status_code == 410

        replay_delivery(session, row.id)
        session.commit()
        rounds_until(
            session,
            lambda: deliveries(session)[0].status is DeliveryStatus.DELIVERED,
        )
        [row] = deliveries(session)
        assert row.replays == 1 and row.attempts == 1
        assert consumer.processed == {message_id: 1}


def test_a_delivery_failing_past_its_maximum_age_is_failed(outbox_url: str) -> None:
    consumer = Consumer(script=[500] * 100)
    short = DeliveryConfig(
        timeout=2.0, retry_base=0.1, retry_max=0.2, max_age=0.6, poll=0.05
    )
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "downco", endpoints=[endpoint(consumer.url)])
        file_tickets(session, partner.id, 1)
        rounds_until(
            session,
            lambda: deliveries(session)[0].status is DeliveryStatus.FAILED,
            config=short,
        )
        [row] = deliveries(session)
        assert row.attempts >= 2
        assert row.last_error == "HTTP 500 Internal Server Error"
        assert (row.last_attempt_at - row.queued_at) <= timedelta(seconds=0.6)
        assert consumer.processed == {}


def test_without_its_secret_nothing_is_sent(
    outbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = Consumer()
    monkeypatch.delenv(SECRET_ENV)
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "nokey", endpoints=[endpoint(consumer.url)])
        file_tickets(session, partner.id, 1)
        with httpx.Client() as client:
            deliver_due(get_sessionmaker(), client, FAST)
        [row] = deliveries(session)
        assert row.status is DeliveryStatus.PENDING
        assert row.last_error == f"the environment variable {SECRET_ENV} is not set"
        assert consumer.requests == []

        monkeypatch.setenv(SECRET_ENV, "whsec_short")
        row.next_attempt_at = utcnow()
        session.commit()
        with httpx.Client() as client:
            deliver_due(get_sessionmaker(), client, FAST)
        [row] = deliveries(session)
        assert row.last_error == (
            f"{SECRET_ENV}: the signing secret is not whsec_ and base64"
        )  # and not the value itself
        assert consumer.requests == []


def test_a_redirect_is_a_failure_not_followed(outbox_url: str) -> None:
    consumer = Consumer(script=[308], extra_headers={"Location": "http://127.0.0.1:9/"})
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "moved", endpoints=[endpoint(consumer.url)])
        file_tickets(session, partner.id, 1)
        with httpx.Client(follow_redirects=False) as client:
            deliver_due(get_sessionmaker(), client, FAST)
        [row] = deliveries(session)
        assert row.last_status_code == 308
        assert "redirects are not followed" in (row.last_error or "")
        assert len(consumer.requests) == 1


# --------------------------------------------------------------------------- timing


def test_the_wait_doubles_with_jitter_up_to_the_cap() -> None:
    config = DeliveryConfig(
        timeout=15, retry_base=5, retry_max=3600, max_age=86400, poll=1
    )
    assert retry_delay(1, config, jitter=lambda: 1.0) == 5
    assert retry_delay(1, config, jitter=lambda: 0.0) == 2.5
    assert retry_delay(4, config, jitter=lambda: 1.0) == 40
    assert retry_delay(30, config, jitter=lambda: 1.0) == 3600
    assert retry_delay(30, config, jitter=lambda: 0.0) == 1800
    assert retry_delay(10_000, config, jitter=lambda: 0.5) == 2700  # no overflow
    waits = {retry_delay(3, config) for _ in range(50)}
    assert len(waits) > 1 and all(10 <= w <= 20 for w in waits)


def test_retry_after_reads_seconds_and_dates() -> None:
    now = utcnow().replace(microsecond=0)
    assert retry_after_seconds("120", now=now) == 120
    later = now + timedelta(seconds=90)
    http_date = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(http_date, now=now) == 90
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None


def test_production_sends_to_https_endpoints_only(outbox_url: str) -> None:
    consumer = Consumer()
    strict = DeliveryConfig(
        timeout=2.0,
        retry_base=0.2,
        retry_max=1.0,
        max_age=60.0,
        poll=0.05,
        https_only=True,
    )
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "plain", endpoints=[endpoint(consumer.url)])
        file_tickets(session, partner.id, 1)
        with httpx.Client() as client:
            deliver_due(get_sessionmaker(), client, strict)
        [row] = deliveries(session)
        assert row.status is DeliveryStatus.PENDING
        assert row.last_error == "production mode sends to https:// endpoints only"
        assert consumer.requests == []
