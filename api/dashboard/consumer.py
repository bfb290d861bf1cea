"""The transcript consumer: Rasa's event broker (RabbitMQ) in, review tables out.

In the production profile every Rasa replica publishes each event it stores to the
fanout exchange ``RABBITMQ_EXCHANGE`` (deploy/production/endpoints.yml), bound to the
durable queue ``RABBITMQ_QUEUE``. This process (``csp-desk transcripts consume``,
one per queue) reads that queue in batches: it appends the events to
``transcript_events`` (``store_events``; a redelivered message is a no-op), commits,
acknowledges the batch, then runs the ingester over ``BrokerTranscriptSource`` so the
review dashboard is up to date within about a second of a reply.

A message is acknowledged only after its event is committed: if this process dies
in between, RabbitMQ delivers it again and ``digest`` makes that harmless.

Every ``TRANSCRIPT_RECONCILE_SECONDS`` (default 60) it also compares Rasa's tracker
store with what arrived, and restores events a replica stored but never published
(api/dashboard/reconcile.py).

It runs at a lower CPU priority (``TRANSCRIPT_CONSUMER_NICE``, default 10): its
batches come in bursts, and on a host it shares with Rasa they would otherwise
delay replies (measured in docs/production.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Optional

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError
from sqlalchemy.exc import SQLAlchemyError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    wait_fixed,
)

from api.dashboard.ingest import IngestConflict, ingest
from api.dashboard.reconcile import reconcile
from api.dashboard.transcripts import (
    BrokerTranscriptSource,
    SQLTrackerSource,
    store_events,
)
from api.domain.db import session_scope
from api.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500
DEFAULT_WAIT_SECONDS = 0.5
RECONNECT_SECONDS = 2.0


@dataclass
class ConsumerStats:
    messages: int = 0
    events: int = 0
    batches: int = 0


class TranscriptConsumer:
    """Reads the broker queue into ``transcript_events`` and ingests it."""

    def __init__(
        self,
        settings: Optional[Settings] = None,
        *,
        batch: int = DEFAULT_BATCH,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        run_ingest: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.batch = batch
        self.wait_seconds = wait_seconds
        self.run_ingest = run_ingest
        self.stats = ConsumerStats()
        self.stopping = False
        self._source: Optional[BrokerTranscriptSource] = None
        self._reconciled_at = float("-inf")

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def declare(self, channel: BlockingChannel) -> None:
        """The exchange and queue exactly as Rasa's PikaEventBroker declares them
        (a fanout exchange that is not durable, a durable queue), so that either
        side may start first."""
        channel.exchange_declare(
            self.settings.rabbitmq_exchange, exchange_type="fanout", durable=False
        )
        channel.queue_declare(self.settings.rabbitmq_queue, durable=True)
        channel.queue_bind(
            self.settings.rabbitmq_queue, self.settings.rabbitmq_exchange
        )

    def flush(self, channel: BlockingChannel, bodies: list[bytes], tag: int) -> None:
        with session_scope() as session:
            self.stats.events += store_events(session, bodies)
        channel.basic_ack(delivery_tag=tag, multiple=True)
        self.stats.messages += len(bodies)
        self.stats.batches += 1
        self.ingest()

    def source(self) -> BrokerTranscriptSource:
        if self._source is None:
            self._source = BrokerTranscriptSource.from_settings(self.settings)
        return self._source

    def reconcile_if_due(self) -> None:
        """Every ``TRANSCRIPT_RECONCILE_SECONDS``, restore from Rasa's tracker store
        the events that never came through the broker (api/dashboard/reconcile.py)."""
        interval = self.settings.transcript_reconcile_seconds
        if not interval or time.monotonic() - self._reconciled_at < interval:
            return
        self._reconciled_at = time.monotonic()
        tracker = self.source().tracker
        if not isinstance(tracker, SQLTrackerSource):
            return
        try:
            with session_scope() as session:
                report = reconcile(session, tracker.engine, now=time.time())
        except SQLAlchemyError as exc:
            logger.warning("could not compare with the tracker store: %s", exc)
            return
        if not report.caught_up:
            self._reconciled_at = float("-inf")  # more to read: again next time round
        if report.restored:
            self.ingest()

    def ingest(self) -> None:
        if not self.run_ingest:
            return
        source = self.source()
        try:
            with session_scope() as session:
                ingest(session, source, settings=self.settings)
        except IngestConflict:
            logger.info("ingest skipped: the dashboard was ingesting at the same time")

    def consume(self, channel: BlockingChannel) -> None:
        channel.basic_qos(prefetch_count=self.batch)
        bodies: list[bytes] = []
        last_tag = 0
        for method, _properties, body in channel.consume(
            self.settings.rabbitmq_queue, inactivity_timeout=self.wait_seconds
        ):
            if method is not None:
                bodies.append(body)
                last_tag = method.delivery_tag
            if bodies and (method is None or len(bodies) >= self.batch):
                self.flush(channel, bodies, last_tag)
                bodies = []
            if not bodies:
                self.reconcile_if_due()
            if self.stopping and not bodies:
                break
        channel.cancel()

    def connect_and_consume(self, params: pika.URLParameters) -> None:
        """One connection to the broker, consumed until it drops (AMQPError) or
        the consumer is stopped."""
        if self.stopping:
            return
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            self.declare(channel)
            logger.info(
                "consuming %s (exchange %s)",
                self.settings.rabbitmq_queue,
                self.settings.rabbitmq_exchange,
            )
            self.consume(channel)
        finally:
            if connection.is_open:
                connection.close()

    def run(self) -> None:
        """Consume until SIGTERM/SIGINT, reconnecting when the broker goes away
        (or was not there yet) and when it cancels the consumer."""
        params = pika.URLParameters(self.settings.rabbitmq_url)
        params.heartbeat = 30
        reconnecting = Retrying(
            retry=retry_if_exception_type(AMQPError)
            | retry_if_result(lambda _: not self.stopping),
            wait=wait_fixed(RECONNECT_SECONDS),
            stop=lambda _: self.stopping,
            before_sleep=_log_reconnect,
            reraise=False,
        )
        with contextlib.suppress(RetryError):  # stopped while the broker was away
            reconnecting(self.connect_and_consume, params)


def _log_reconnect(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    logger.warning(
        "RabbitMQ %s; reconnecting in %.0f s",
        f"not reachable or connection lost ({failure})" if failure else "cancelled us",
        RECONNECT_SECONDS,
    )


def main(*, batch: int = DEFAULT_BATCH, run_ingest: bool = True) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    settings = get_settings()
    if not settings.rabbitmq_url:
        logger.error("RABBITMQ_URL is not set: there is no event broker to consume")
        return 1
    if settings.transcript_consumer_nice:
        os.nice(settings.transcript_consumer_nice)
    consumer = TranscriptConsumer(settings, batch=batch, run_ingest=run_ingest)

    def _stop(signum: int, _frame: Optional[FrameType]) -> None:
        consumer.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    consumer.run()
    stats = consumer.stats
    logger.info(
        "stopped: %s messages, %s events in %s batches",
        stats.messages,
        stats.events,
        stats.batches,
    )
    return 0
