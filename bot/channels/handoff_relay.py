"""Staff replies in the thread of a hand-off notice, and a web chat customer's
"Open a ticket instead", passed to the API.

The Slack and Teams channels call `ThreadRelay.relay` for a message in a channel
thread; the API (`POST /api/v1/handoff/threads/{platform}`, with the service token)
knows whether the thread is an open hand-off's and whether the author may answer
it, and delivers the reply to the customer (api/domain/services/handoff_threads.py).
`relay` tells the channel whether the thread was a hand-off's: if not, the message
is the channel's as before.

The web chat channel calls `ThreadRelay.ticket_instead` when the customer of a
chat waiting for a closed desk chooses a ticket in the widget
(`POST /api/v1/handoff/{conversation_id}/ticket`): the API opens it and hands the
chat back, which reaches the widget through Rasa like an agent's message.

The API is at `API_INTERNAL_URL` (default `http://API_HOST:API_PORT`). If it does
not answer, the reply is logged and lost: the staff member sees no answer in the
customer's chat and can write again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Optional
from urllib.parse import quote

import aiohttp

from common import settings as S

logger = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=15)
NOT_A_HANDOFF = 404


class TicketOutcome(enum.Enum):
    OPENED = "opened"  # the customer is told its number, through Rasa
    NOT_WAITING = "not_waiting"  # no chat waits for a person in that conversation
    FAILED = "failed"  # the API did not answer, or could not do it


class ThreadRelay:
    def __init__(self, api_url: str, service_token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.service_token = service_token

    @classmethod
    def from_env(cls) -> ThreadRelay:
        url = S.API_INTERNAL_URL.get() or (
            f"http://{S.API_HOST.get()}:{S.API_PORT.get()}"
        )
        return cls(url, S.API_SERVICE_TOKEN.get())

    async def relay(
        self,
        platform: str,
        *,
        thread: str,
        user_id: str,
        text: str,
        channel: str = "",
    ) -> bool:
        """Pass a thread reply to the API; True when the thread is a hand-off's
        (delivered, or refused for a reason the API logged), False otherwise."""
        url = f"{self.api_url}/api/v1/handoff/threads/{platform}"
        body = {"channel": channel, "thread": thread, "user_id": user_id, "text": text}
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.post(
                    url,
                    json=body,
                    headers={"Authorization": f"Bearer {self.service_token}"},
                ) as reply,
            ):
                status = reply.status
                detail: Optional[str] = None
                if status >= 300 and status != NOT_A_HANDOFF:
                    detail = (await reply.text())[:300]
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning(
                "A %s thread reply could not reach the API: %s", platform, exc
            )
            return False
        if detail is not None:
            logger.info(
                "A %s thread reply was refused (%s): %s", platform, status, detail
            )
        return status != NOT_A_HANDOFF

    async def ticket_instead(self, conversation_id: str) -> TicketOutcome:
        """Ask the API to turn the conversation's waiting hand-off into a ticket."""
        url = f"{self.api_url}/api/v1/handoff/{quote(conversation_id, safe='')}/ticket"
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.post(
                    url, headers={"Authorization": f"Bearer {self.service_token}"}
                ) as reply,
            ):
                status = reply.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning(
                "A ticket for a waiting chat could not reach the API: %s", exc
            )
            return TicketOutcome.FAILED
        if status == NOT_A_HANDOFF:
            return TicketOutcome.NOT_WAITING
        if status >= 300:
            logger.warning("The API refused a ticket for a waiting chat (%s)", status)
            return TicketOutcome.FAILED
        return TicketOutcome.OPENED
