"""The broker's copy of the conversations checked against Rasa's tracker store.

In the production profile the review tables are fed by the event broker: a Rasa
replica publishes each event after storing it. A replica that dies while it holds
events it has stored but not yet published (RabbitMQ was down, or it was killed
between its commit and its publish) takes them with it: they are in the tracker
store, never in ``transcript_events``.

The transcript consumer therefore reads the tracker store behind itself
(``reconcile``, every ``TRANSCRIPT_RECONCILE_SECONDS``): each stored event older than
``GRACE_SECONDS`` (by then its replica has published it, or never will) is turned back
into the exact bytes Rasa publishes for it (``broker_body``), and the ones whose
SHA-256 is not in ``transcript_events`` are appended there, for the ingester to pick
up. Events that did arrive are recognised by that digest, so nothing is doubled; a
restored event comes after the ones that arrived in its stead, as a late delivery
would.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.dashboard.models import IngestState, TranscriptEvent
from api.dashboard.transcripts import EVENTS, store_events

logger = logging.getLogger(__name__)

STATE_NAME = "tracker-store-reconcile"  # its position in dashboard_ingest_state
GRACE_SECONDS = 120.0
BATCH = 500
# A run stops after this long (a large backlog is read over several runs, between
# the broker's batches); `ReconcileReport.caught_up` says whether it got to the end.
SECONDS_PER_RUN = 5.0


def broker_body(sender_id: str, data: Optional[str]) -> Optional[bytes]:
    """The message Rasa's event broker publishes for a stored event: the event's
    JSON (the tracker store's ``data`` column) after a ``sender_id`` key, dumped with
    ``json.dumps`` and UTF-8 encoded (rasa/core/tracker_store.py
    ``_stream_new_events``, rasa/core/brokers/pika.py ``_message``)."""
    if not data:
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    return json.dumps({"sender_id": sender_id, **event}).encode("utf-8")


@dataclass
class ReconcileReport:
    read: int = 0  # tracker-store events compared
    restored: int = 0  # appended to transcript_events
    position: int = 0  # the last tracker-store id compared
    caught_up: bool = True  # False: stopped by the time limit, more to read


def reconcile(
    session: Session,
    tracker: Engine,
    *,
    now: float,
    grace_seconds: float = GRACE_SECONDS,
    state_name: str = STATE_NAME,
    seconds: Optional[float] = None,
) -> ReconcileReport:
    """Append to ``transcript_events`` the stored events older than ``now -
    grace_seconds`` that never arrived through the broker, reading for at most
    ``seconds`` (default ``SECONDS_PER_RUN``) after the first batch; the caller
    commits."""
    state = session.get(IngestState, state_name)
    if state is None:
        state = IngestState(source=state_name, last_event_id=0)
        session.add(state)
        session.flush()
    report = ReconcileReport(position=int(state.last_event_id))
    settled_before = now - grace_seconds
    deadline = time.monotonic() + (SECONDS_PER_RUN if seconds is None else seconds)
    while True:
        with tracker.connect() as connection:
            rows = connection.execute(
                select(
                    EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.timestamp, EVENTS.c.data
                )
                .where(EVENTS.c.id > report.position)
                .order_by(EVENTS.c.id)
                .limit(BATCH)
            ).all()
        settled = []
        for row in rows:
            if (row.timestamp or 0.0) > settled_before:
                break  # its replica may still be publishing it
            settled.append(row)
        if not settled:
            break
        bodies = {}
        for row in settled:
            body = broker_body(row.sender_id, row.data)
            if body is not None:
                bodies[hashlib.sha256(body).hexdigest()] = body
        # One query for the batch rather than an insert per event that the
        # digest's uniqueness would mostly refuse.
        arrived = set(
            session.scalars(
                select(TranscriptEvent.digest).where(
                    TranscriptEvent.digest.in_(list(bodies))
                )
            )
        )
        missing = [body for digest, body in bodies.items() if digest not in arrived]
        if missing:
            report.restored += store_events(session, missing)
        report.read += len(settled)
        report.position = int(settled[-1].id)
        if len(settled) < len(rows) or len(rows) < BATCH:
            break
        if time.monotonic() > deadline:
            report.caught_up = False
            break
    state.last_event_id = report.position
    session.flush()
    if report.restored:
        logger.warning(
            "restored %s events from the tracker store that never came through "
            "the event broker",
            report.restored,
        )
    return report
