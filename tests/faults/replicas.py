"""Rasa replicas of the production profile for fault tests: several `rasa run`
processes sharing a PostgreSQL tracker store and a Redis lock store, calling the
action server of a running stack (tests/e2e/stack.py).

The endpoints mirror deploy/production/endpoints.yml (SQL tracker store on
PostgreSQL, Redis lock store), with a scratch database, a Redis key prefix of
their own, no event broker, and the stack's action server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import httpx
import yaml

from tests.e2e.stack import MODEL, ROOT, Stack, free_port
from tests.faults.services import PG_HOST, PG_PORT, PG_USER, REDIS_HOST, REDIS_PORT

RASA = str(ROOT / ".venv-rasa" / "bin" / "rasa")
READY_TIMEOUT = 180.0
REDIS_LOCK_DB = 7
TRACKER_STORE = "bot.stores.ResilientSQLTrackerStore"
LOCK_STORE = "bot.stores.ResilientRedisLockStore"
# A killed replica's conversation lock expires after this (Rasa's default: 60 s).
LOCK_LIFETIME_SECONDS = 8


@dataclass
class Replica:
    name: str
    url: str
    token: str
    log: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def say(
        self, sender: str, text: str, metadata: Optional[dict] = None
    ) -> list[dict]:
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        reply = httpx.post(f"{self.url}/webhooks/rest/webhook", json=body, timeout=60)
        reply.raise_for_status()
        return list(reply.json())

    def tracker(self, sender: str) -> dict[str, Any]:
        reply = httpx.get(
            f"{self.url}/conversations/{sender}/tracker",
            params={"token": self.token, "include_events": "ALL"},
            timeout=30,
        )
        reply.raise_for_status()
        return dict(reply.json())

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """kill -9, as a crashed container or an OOM kill."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def production_endpoints(
    workdir: Path,
    stack: Stack,
    database: str,
    key_prefix: str,
    action_url: Optional[str] = None,
) -> Path:
    """An endpoints file like the production profile's, for a scratch database.
    `action_url`: where to call the action server (default: the stack's)."""
    endpoints = {
        "action_endpoint": {
            "url": f"{action_url or stack.action_url}/webhook",
            "token": stack.env["ACTION_SERVER_TOKEN"],
        },
        "tracker_store": {
            "type": TRACKER_STORE,
            "dialect": "postgresql",
            "url": PG_HOST,
            "port": PG_PORT,
            "db": database,
            "username": PG_USER,
        },
        "lock_store": {
            "type": LOCK_STORE,
            "url": REDIS_HOST,
            "port": REDIS_PORT,
            "db": REDIS_LOCK_DB,
            "key_prefix": key_prefix,
        },
    }
    path = workdir / "endpoints.yml"
    path.write_text(yaml.safe_dump(endpoints))
    return path


def rest_credentials(workdir: Path) -> Path:
    """The REST channel (to drive the conversation) and the action server guard,
    as configured in credentials.yml."""
    shipped = yaml.safe_load((ROOT / "credentials.yml").read_text()) or {}
    guard = "bot.action_guard.ActionServerGuard"
    credentials: dict[str, Any] = {"rest": None}
    if guard in shipped:
        credentials[guard] = shipped[guard]
    path = workdir / "credentials.yml"
    path.write_text(yaml.safe_dump(credentials))
    return path


def start_replicas(
    workdir: Path, stack: Stack, endpoints: Path, count: int = 2
) -> list[Replica]:
    """Start `count` Rasa processes at once; return them when all are ready."""
    credentials = rest_credentials(workdir)
    token = stack.env["RASA_AUTH_TOKEN"]
    replicas = []
    for index in range(count):
        name = f"rasa-{chr(ord('a') + index)}"
        port = free_port()
        log = workdir / f"{name}.log"
        process = subprocess.Popen(
            [
                RASA,
                "run",
                "--enable-api",
                f"--auth-token={token}",
                "--interface",
                "127.0.0.1",
                "--port",
                str(port),
                "--model",
                str(MODEL),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(credentials),
            ],
            cwd=ROOT,
            env={
                **stack.env,
                "PYTHONUNBUFFERED": "1",
                "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME_SECONDS),
            },
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        replicas.append(Replica(name, f"http://127.0.0.1:{port}", token, log, process))
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(replicas)
    try:
        while pending and time.monotonic() < deadline:
            for replica in list(pending):
                if not replica.alive():
                    raise RuntimeError(
                        f"{replica.name} exited early:\n{replica.log_tail()}"
                    )
                try:
                    status = httpx.get(
                        f"{replica.url}/status", params={"token": token}, timeout=5
                    )
                    if status.status_code == 200:
                        pending.remove(replica)
                except httpx.HTTPError:
                    pass
            time.sleep(1.0)
        if pending:
            raise RuntimeError(
                f"{pending[0].name} not ready in {READY_TIMEOUT:.0f}s:\n"
                f"{pending[0].log_tail()}"
            )
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    return replicas
