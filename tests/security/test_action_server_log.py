"""The action server logs a bad request in one line, not a traceback.

The finding: `POST /health` (or any request for a wrong method, an unknown path, a
malformed body) made the action server log a full traceback, so anyone who can
reach it could flood its log. Here the real server (`python -m actions.server`) runs
on a free port, gets such requests, and its log must hold one line for each, while
a real failure (a 5xx) still logs its traceback.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import PYTHON, ROOT, free_port

TOKEN = "action-log-test-token-0123456789"


@pytest.fixture(scope="module")
def action_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("action-server") / "server.log"
    port = free_port()
    env = {
        **os.environ,
        "ACTION_SERVER_TOKEN": TOKEN,
        "PYTHONPATH": str(ROOT),  # this checkout's code, not the editable install's
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PYTHON, "-m", "actions.server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the action server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def lines_after(log: Path, mark: int) -> list[str]:
    time.sleep(0.3)  # the server writes its line after answering
    return log.read_text(errors="replace")[mark:].splitlines()


BAD_REQUESTS = [
    ("POST", "/health", None, 405),
    ("DELETE", "/health", None, 405),
    ("GET", f"/no-such-path?token={TOKEN}", None, 404),
    ("POST", f"/webhook?token={TOKEN}", b"{not json", 400),
    ("GET", f"/%0aFAKE%20LOG%20LINE?token={TOKEN}", None, 404),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    BAD_REQUESTS,
    ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in BAD_REQUESTS],
)
def test_a_bad_request_is_one_log_line(
    action_server: tuple[str, Path],
    method: str,
    path: str,
    body: bytes | None,
    status: int,
) -> None:
    url, log = action_server
    mark = len(log.read_text(errors="replace"))
    reply = httpx.request(method, f"{url}{path}", content=body, timeout=10)
    assert reply.status_code == status
    assert "Traceback" not in reply.text
    new = [line for line in lines_after(log, mark) if line.strip()]
    assert len(new) == 1, new
    assert new[0].startswith("WARNING ") and "action server refused" in new[0]
    assert f" {status} " in new[0]
    assert "Traceback" not in "\n".join(new)


def test_a_flood_of_them_stays_small(action_server: tuple[str, Path]) -> None:
    url, log = action_server
    before = log.stat().st_size
    for _ in range(50):
        httpx.post(f"{url}/health", timeout=10)
    grown = lines_after(log, before)
    assert len(grown) == 50 and log.stat().st_size - before < 50 * 200
