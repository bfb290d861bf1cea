"""Where an action's database work runs: one session, in a worker thread.

    reply = await in_session(lambda session: answer(session, tracker), tracker,
                             failed=Reply().say("utter_billing_unavailable"))

The session is opened in a worker thread (the action server's event loop keeps serving
other conversations), committed when the work returns and closed before the reply is
sent; a database failure is logged and becomes `failed`, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TypeVar

from rasa_sdk import Tracker
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.domain.db import session_scope

logger = logging.getLogger(__name__)

T = TypeVar("T")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def _run(work: Callable[[Session], T]) -> T:
    with session_scope() as session:
        return work(session)


async def in_session(work: Callable[[Session], T], tracker: Tracker, failed: T) -> T:
    """`work(session)` in a worker thread; `failed` if the database fails."""
    try:
        return await asyncio.to_thread(_run, work)
    except SQLAlchemyError:
        logger.exception("database work failed in conversation %s", tracker.sender_id)
        return failed
