"""The app served for a real browser: uvicorn on a free port in a thread, and
Debian's headless Chromium for Playwright (tests/channels/browser.py; it never
downloads a browser)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from api.frontend import BUILD_COMMAND, FRONTEND_BUILD
from api.settings import ROOT
from tests.channels.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.e2e.stack import free_port

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "ensure_frontend_built",
    "live_server",
    "needs_chromium",
]


def ensure_frontend_built(*assets: Path) -> None:
    """Build the browser libraries (scripts/build_frontend.sh) if any is missing."""
    if all(asset.is_file() for asset in assets):
        return
    build = subprocess.run(
        ["bash", str(ROOT / BUILD_COMMAND)], capture_output=True, text=True
    )
    missing = [str(a.relative_to(FRONTEND_BUILD)) for a in assets if not a.is_file()]
    if build.returncode != 0 or missing:
        pytest.fail(f"cannot build {missing}: {build.stderr or build.stdout}")


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 until the block ends; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
