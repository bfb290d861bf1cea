"""Staff replies in the thread of a hand-off notice, passed to the API.

The Slack and Teams channels call `ThreadRelay.relay` for a message in a channel
thread; the API (`POST /api/v1/handoff/threads/{platform}`, with the service token)
knows whether the thread is an open hand-off's and whether the author may answer
it, and delivers the reply to the customer (api/domain/services/handoff_threads.py).
`relay` tells the channel whether the thread was a hand-off's: if not, the message
is the channel's as before.

The API is at `API_INTERNAL_URL` (default `http://API_HOST:API_PORT`). If it does
not answer, the reply is logged and lost: the staff member sees no answer in the
customer's chat and can write again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import aiohttp

from common import settings as S

logger = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=15)
NOT_A_HANDOFF = 404


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
