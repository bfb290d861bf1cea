"""A fault-injecting HTTP proxy in front of the action server, for fault tests.

Rasa calls the action server through this proxy (its `action_endpoint` names the
proxy). The test switches the proxy between:

- `up()`: pass every call through;
- `down()`: stop listening, so Rasa's connections are refused, as when the action
  server process is gone;
- `slow(seconds, action=...)`: pass the call through at once (the action runs and
  commits), but hold the answer back for `seconds`, as when the server or the network
  is slow. With `action`, only calls of that action are slowed.

Every call that reached the action server is recorded (`calls`: action names).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class FaultProxy:
    """Forwards `http://127.0.0.1:<port>/...` to `upstream`, with faults on demand."""

    upstream: str
    port: int
    delay: float = 0.0
    slow_action: Optional[str] = None
    calls: list[str] = field(default_factory=list)
    _server: Optional[ThreadingHTTPServer] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ switches

    def up(self) -> None:
        """Listen (again) and pass calls through without delay."""
        self.delay, self.slow_action = 0.0, None
        with self._lock:
            if self._server is None:
                self._server = _serve(self, self.port)

    def down(self) -> None:
        """Stop listening: new connections are refused."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def slow(self, seconds: float, action: Optional[str] = None) -> None:
        """Hold back the answers (of `action`'s calls only, if given)."""
        self.up()
        self.delay, self.slow_action = seconds, action

    def close(self) -> None:
        self.down()


def _serve(proxy: FaultProxy, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            action = _action_name(raw)
            if action:
                proxy.calls.append(action)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
            }
            headers.pop("Host", None)
            try:
                answer = httpx.request(
                    self.command,
                    f"{proxy.upstream}{self.path}",
                    content=raw,
                    headers=headers,
                    timeout=120,
                )
                status, body = answer.status_code, answer.content
                kind = answer.headers.get("content-type", "application/json")
            except httpx.HTTPError:
                status, body, kind = (
                    502,
                    b'{"error": "bad gateway"}',
                    "application/json",
                )
            if proxy.delay and (proxy.slow_action in (None, action)):
                time.sleep(proxy.delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the caller gave up (timed out) meanwhile
            self.close_connection = True

        do_GET = _forward
        do_POST = _forward

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _action_name(raw: bytes) -> Optional[str]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return None
    name = body.get("next_action") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def start_proxy(upstream: str, port: int) -> FaultProxy:
    proxy = FaultProxy(upstream=upstream, port=port)
    proxy.up()
    return proxy
