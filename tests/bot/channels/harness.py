"""In-process servers for channel tests: the channel's Sanic blueprint on a free
port, and small aiohttp fakes of the platforms' APIs. No pytest-asyncio in Rasa's
environment, so tests drive a coroutine with `asyncio.run`."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

Handler = Callable[[UserMessage], Awaitable[Any]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def channel_server(
    channel: InputChannel, handler: Handler, agent: Any = None
) -> AsyncIterator[str]:
    """Serve `channel` under /webhooks/<name>/ as Rasa does; yield the base URL.
    `agent`: what Rasa keeps in `app.ctx.agent` (a fake with a `tracker_store`)."""
    Sanic.test_mode = True  # lets Sanic 21.12 start several apps in one process
    app = Sanic(f"channel_test_{uuid.uuid4().hex[:10]}")
    if agent is not None:
        app.ctx.agent = agent
    app.blueprint(channel.blueprint(handler), url_prefix=f"/webhooks/{channel.name()}")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def aiohttp_server(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app on a free port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
