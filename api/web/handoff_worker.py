"""The API's hand-off worker: every `HANDOFF_POLL_SECONDS` it turns chats that
waited longer than `HANDOFF_WAIT_TIMEOUT_SECONDS` into tickets, and copies the
customers' new messages into the Slack and Teams threads of their hand-offs
(api/domain/services/handoff_threads.py).

It runs inside the served API (`api.web.app:app`, started and stopped with it);
several API processes may each run one: every step is a conditional UPDATE, so a
chat is ticketed once and a message posted once. A round that fails is logged and
the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import or_, select

from api.domain.db import get_sessionmaker
from api.domain.models import OPEN_HANDOFF_STATUSES, Handoff
from api.domain.services.handoff import RasaConversations, RasaUnavailable
from api.domain.services.handoff_threads import (
    Threads,
    expire_waiting,
    forward_customer_messages,
)
from api.settings import get_settings

logger = logging.getLogger(__name__)


@dataclass
class RoundReport:
    ticketed: int = 0
    forwarded: int = 0


def one_round(
    *,
    rasa: Optional[RasaConversations] = None,
    threads: Optional[Threads] = None,
) -> RoundReport:
    """One pass over the open hand-offs."""
    settings = get_settings()
    rasa = rasa or RasaConversations.from_settings()
    threads = threads or Threads.from_env()
    report = RoundReport()
    with get_sessionmaker()() as session:
        report.ticketed = len(
            expire_waiting(
                session,
                rasa,
                timeout_seconds=settings.handoff_wait_timeout_seconds,
                threads=threads,
            )
        )
        threaded = list(
            session.scalars(
                select(Handoff).where(
                    Handoff.status.in_(OPEN_HANDOFF_STATUSES),
                    or_(
                        Handoff.slack_thread_ts.is_not(None),
                        Handoff.teams_thread_id.is_not(None),
                    ),
                )
            )
        )
        for handoff in threaded:
            try:
                report.forwarded += forward_customer_messages(
                    session, rasa, handoff, threads
                )
            except RasaUnavailable:
                session.rollback()
                logger.warning("Hand-off %s: Rasa did not answer", handoff.id)
    return report


async def run(stop: asyncio.Event) -> None:
    """Rounds until `stop` is set."""
    interval = get_settings().handoff_poll_seconds
    while not stop.is_set():
        try:
            await asyncio.to_thread(one_round)
        except Exception:
            logger.exception("A hand-off round failed")
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


class Worker:
    """Starts and stops `run` with the app (its lifespan)."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.task: Optional[asyncio.Task[None]] = None

    def start(self) -> None:
        if get_settings().handoff_poll_seconds > 0:
            self.task = asyncio.create_task(run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
