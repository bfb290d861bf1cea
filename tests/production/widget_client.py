"""A chat widget in Python: the socket.io protocol of bot/channels/socketio.py, as
api/widget/static/widget.js speaks it (websocket transport, the signed chat token in
the connect `auth`, `?conversation=<routing key>` on the handshake for the sticky
proxy, `session_request` -> `session_confirm`, `user_uttered` -> `bot_uttered`... ->
`bot_done`). Used by the production test and the load benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import socketio


class ChatError(RuntimeError):
    """The widget could not connect, or a reply did not come in time."""


@dataclass
class Reply:
    """The bot's answer to one message: its texts and how long it took."""

    texts: list[str]
    seconds: float
    complete: bool  # `bot_done` arrived


@dataclass
class WidgetChat:
    """One customer's widget: connect, then `say` and await the whole reply."""

    url: str  # the public Rasa address (nginx in the production profile)
    token: str
    route: str = field(default_factory=lambda: secrets.token_hex(16))
    session_id: Optional[str] = None
    stray: int = 0  # bot messages that arrived while no message was pending
    _sio: Optional[socketio.AsyncClient] = None
    _pending: Optional[list[str]] = None
    _done: Optional[asyncio.Event] = None
    _confirmed: Optional[asyncio.Future[str]] = None

    async def connect(self, timeout: float = 30.0) -> str:
        sio = socketio.AsyncClient(reconnection=False)
        self._sio = sio
        loop = asyncio.get_running_loop()
        self._confirmed = loop.create_future()

        @sio.on("session_confirm")
        async def _confirm(session_id: Any) -> None:
            if self._confirmed is not None and not self._confirmed.done():
                self._confirmed.set_result(str(session_id))

        @sio.on("bot_uttered")
        async def _uttered(message: Any) -> None:
            text = message.get("text", "") if isinstance(message, dict) else ""
            if self._pending is None:
                self.stray += 1
            else:
                self._pending.append(str(text or ""))

        @sio.on("bot_done")
        async def _done(_: Any = None) -> None:
            if self._done is not None:
                self._done.set()

        try:
            await sio.connect(
                f"{self.url}?conversation={self.route}",
                transports=["websocket"],
                socketio_path="/socket.io",
                auth={"token": self.token},
                wait_timeout=timeout,
            )
            await sio.emit("session_request", {"session_id": self.session_id})
            self.session_id = await asyncio.wait_for(self._confirmed, timeout)
        except (socketio.exceptions.ConnectionError, asyncio.TimeoutError) as exc:
            await self.close()
            raise ChatError(f"could not connect to {self.url}: {exc!r}") from exc
        return self.session_id

    async def say(self, text: str, timeout: float = 30.0) -> Reply:
        """Send a message; wait for `bot_done` (the whole reply) or `timeout`."""
        if self._sio is None:
            raise ChatError("not connected")
        self._pending = []
        self._done = asyncio.Event()
        started = time.perf_counter()
        await self._sio.emit("user_uttered", {"message": text})
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
            complete = True
        except asyncio.TimeoutError:
            complete = False
        texts, self._pending = self._pending, None
        return Reply(
            texts=texts, seconds=time.perf_counter() - started, complete=complete
        )

    async def close(self) -> None:
        if self._sio is not None:
            # Closing after a failure: nothing to add to it.
            with contextlib.suppress(Exception):
                await self._sio.disconnect()
            self._sio = None
