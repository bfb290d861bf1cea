"""The shared PostgreSQL and Redis of this machine, for fault tests: a scratch
database, and restarts that always bring the service back.

CI and other engineers use the same services, so every restart waits until the
service answers again, and the tests call them in `try/finally`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_SERVER_ARGS = [
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    str(REDIS_PORT),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]
UP_TIMEOUT = 60.0


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    )


def postgres_is_up() -> bool:
    try:
        with _pg_admin() as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def redis_is_up() -> bool:
    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT).ping())
    except redis.RedisError:
        return False


def services_available() -> bool:
    return (
        postgres_is_up()
        and redis_is_up()
        and shutil.which("pg_ctlcluster") is not None
        and shutil.which("redis-server") is not None
    )


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} is not back after {UP_TIMEOUT:.0f}s")


def restart_postgres() -> None:
    """Restart the PostgreSQL cluster (every connection is dropped)."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    try:
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                version,
                "main",
                "restart",
            ],
            check=True,
            capture_output=True,
            timeout=UP_TIMEOUT,
        )
    finally:
        if not postgres_is_up():
            subprocess.run(
                [
                    "pg_ctlcluster",
                    "--skip-systemctl-redirect",
                    version,
                    "main",
                    "start",
                ],
                check=False,
                capture_output=True,
                timeout=UP_TIMEOUT,
            )
        _wait(postgres_is_up, "PostgreSQL")


def restart_redis() -> None:
    """Shut Redis down (no save: everything in it is gone) and start it again."""
    try:
        subprocess.run(
            [
                "redis-cli",
                "-h",
                REDIS_HOST,
                "-p",
                str(REDIS_PORT),
                "shutdown",
                "nosave",
            ],
            check=False,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while redis_is_up() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if not redis_is_up():
            Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["redis-server", *REDIS_SERVER_ARGS],
                check=True,
                capture_output=True,
                timeout=30,
            )
        _wait(redis_is_up, "Redis")


def rabbitmq_is_up() -> bool:
    result = subprocess.run(
        ["rabbitmqctl", "await_startup", "--timeout", "1"],
        check=False,
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


@contextmanager
def rabbitmq_stopped() -> Iterator[None]:
    """RabbitMQ's application stopped (every connection dropped; durable queues and
    their messages stay), then started again whatever happens in the block."""
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(
            ["rabbitmqctl", "start_app"], check=False, capture_output=True, timeout=60
        )
        _wait(rabbitmq_is_up, "RabbitMQ")


@contextmanager
def scratch_database(prefix: str = "faults") -> Iterator[str]:
    """A new, empty PostgreSQL database; its name. Dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _wait(postgres_is_up, "PostgreSQL")
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
