"""The production profile on scratch resources of the real services, for the
production test (tests/production/) and the load benchmark (scripts/bench_load.py).

`ScratchServices` creates two PostgreSQL databases (ours and Rasa's tracker store),
picks a Redis database number and key prefix, and RabbitMQ exchange and queue names
of its own; `drop()` removes all of it. `start_production_stack` starts the product
the way `make run-prod` does (`csp-desk run` with APP_MODE=production), on
free ports, with nginx in front of `replicas` Rasa replicas.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pika
import psycopg
import redis
from psycopg import sql

from tests.e2e.stack import (
    CSP_DESK,
    MODEL,
    ROOT,
    Stack,
    free_port,
    wait_for_stack,
)

PG_ADMIN_DSN = os.environ.get(
    "TEST_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_URL_BASE = os.environ.get(
    "TEST_POSTGRES_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
REDIS_BASE = os.environ.get("TEST_REDIS_URL_BASE", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "13"))
RABBITMQ_URL = os.environ.get(
    "TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
)


@dataclass
class ScratchServices:
    """Scratch databases, keys and queues on the local PostgreSQL, Redis, RabbitMQ."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def app_db(self) -> str:
        return f"csp_prod_{self.tag}_app"

    @property
    def tracker_db(self) -> str:
        return f"csp_prod_{self.tag}_tracker"

    @property
    def database_url(self) -> str:
        return f"{PG_URL_BASE}/{self.app_db}"

    @property
    def tracker_url(self) -> str:
        return f"{PG_URL_BASE}/{self.tracker_db}"

    @property
    def redis_url(self) -> str:
        return f"{REDIS_BASE}/{REDIS_DB}"

    @property
    def redis_key_prefix(self) -> str:
        return f"csptest{self.tag}"

    @property
    def exchange(self) -> str:
        return f"csp_test_{self.tag}"

    @property
    def queue(self) -> str:
        return f"csp_test_{self.tag}_events"

    def create(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as pg:
            for name in (self.app_db, self.tracker_db):
                pg.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop(self, patience: float = 60.0) -> None:
        """Remove everything `create` and the stack made. Other people's tests
        restart these shared services now and then (tests/faults/), so each step is
        retried for up to `patience` seconds, and every step is tried."""
        failures = [
            error
            for step in (self._drop_databases, self._drop_keys, self._drop_queue)
            if (error := _retry(step, patience)) is not None
        ]
        if failures:
            raise RuntimeError(
                f"scratch services of {self.tag} left behind: {failures}"
            )

    def _drop_databases(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as pg:
            for name in (self.app_db, self.tracker_db):
                pg.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)
                    )
                )

    def _drop_keys(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.redis_key_prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def _drop_queue(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        try:
            channel = connection.channel()
            channel.queue_delete(self.queue)
            channel.exchange_delete(self.exchange)
        finally:
            connection.close()

    def started_at(self) -> dict[str, str]:
        """When PostgreSQL and Redis last started ("" when unreachable): a change
        during a measurement means someone restarted a shared service."""
        starts = {"postgresql": "", "redis": ""}
        try:
            with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as pg:
                row = pg.execute("SELECT pg_postmaster_start_time()").fetchone()
                starts["postgresql"] = str(row[0]) if row else ""
        except psycopg.Error:
            pass
        client = redis.Redis.from_url(self.redis_url, socket_timeout=3)
        try:
            info = client.info("server")
            starts["redis"] = str(int(time.time()) - int(info["uptime_in_seconds"]))
        except redis.RedisError:
            pass
        finally:
            client.close()
        return starts

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "RASA_TRACKER_URL": self.tracker_url,
            "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": self.redis_key_prefix,
            "RABBITMQ_URL": RABBITMQ_URL,
            "RABBITMQ_EXCHANGE": self.exchange,
            "RABBITMQ_QUEUE": self.queue,
        }


def _retry(step: Callable[[], None], patience: float) -> Exception | None:
    """Run `step` until it succeeds or `patience` seconds pass; the last error."""
    deadline = time.monotonic() + patience
    while True:
        try:
            step()
            return None
        except Exception as exc:  # a service restarting: try again
            if time.monotonic() > deadline:
                return exc
            time.sleep(2.0)


def production_env(
    workdir: Path, services: ScratchServices, *, replicas: int, action_workers: int
) -> dict[str, str]:
    """The environment of a production-profile stack on free ports."""
    ports = [free_port() for _ in range(replicas)]
    api_port = free_port()
    return {
        **os.environ,
        **services.env(),
        "APP_MODE": "production",
        "RASA_MODEL": str(MODEL),
        "RASA_REPLICAS": str(replicas),
        "RASA_REPLICA_PORTS": ",".join(str(p) for p in ports),
        "ACTION_WORKERS": str(action_workers),
        "RUN_DIR": str(workdir / "run"),
        "RASA_TRACKER_DB": str(workdir / "unused-tracker.db"),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{free_port()}",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(api_port),
        # Production refuses a chat any site may open: the partner's site, and the
        # API's own pages (where the demo widget is served from).
        "WIDGET_ALLOWED_ORIGINS": (
            f"https://www.partner.example,http://127.0.0.1:{api_port}"
        ),
        # The chat limit counts per signed-in customer, and these tests are all
        # Contoso: out of their way (the limit has its own tests).
        "CHAT_RATE_LIMIT_MESSAGES": "1000",
        "CHAT_RATE_LIMIT_BURST": "1000",
        # A leading "-" must reach `rasa run` as the value (see tests/e2e/stack.py).
        "RASA_AUTH_TOKEN": "-" + secrets.token_urlsafe(32),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        "API_SERVICE_TOKEN": secrets.token_urlsafe(32),
        "CHAT_TOKEN_SECRET": secrets.token_urlsafe(32),
        "LINK_SIGNING_SECRET": secrets.token_urlsafe(32),
        "DASHBOARD_INGEST_ON_REQUEST": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONPATH": str(ROOT),  # this checkout's code, also for csp-desk
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def start_production_stack(
    workdir: Path,
    services: ScratchServices,
    *,
    replicas: int = 2,
    action_workers: int = 2,
    timeout: float = 300.0,
) -> Stack:
    """Migrate and seed the scratch database, then `csp-desk run` in the
    production profile; wait until every replica and nginx answer."""
    if not MODEL.exists():
        raise RuntimeError(f"no trained model at {MODEL}; run `make train` first")
    env = production_env(
        workdir, services, replicas=replicas, action_workers=action_workers
    )
    # The demo data is a test fixture here: seeding refuses production mode.
    subprocess.run(
        [CSP_DESK, "init-db"],
        cwd=ROOT,
        env={**env, "APP_MODE": "local"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stack = Stack(workdir=workdir, env=env)
    log = stack.log.open("wb")
    stack.process = subprocess.Popen(  # honcho, like `make run-prod`
        [CSP_DESK, "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return wait_for_stack(stack, timeout)
