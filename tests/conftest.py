"""Shared fixtures: a temporary, migrated SQLite database, optionally with the demo.

    def test_something(db_session): ...          # empty, migrated database
    def test_other(seeded_session, seeded_db):   # the demo at DEMO_ANCHOR
    def test_on_pg(postgres_url): ...            # an empty PostgreSQL database

Each test gets its own database file: `DATABASE_URL` points at it, and the cached
settings, engine and session factory are reset before and after, so `get_settings()`,
`session_scope()` and the API all use it. The migrations run once per test session
(real Alembic upgrade to head) and the demo is seeded once; each test starts from a
copy of those files.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary, seed_demo
from api.domain.db import get_engine, get_sessionmaker, make_engine
from api.domain.migrate import upgrade
from api.settings import get_settings

DEMO_ANCHOR = date(2026, 11, 15)  # "today" for every test that uses the demo
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def reset_caches() -> None:
    """Forget the cached settings, engine and session factory (disposing the engine)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()
    get_settings.cache_clear()


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def copy_database(source: Path, target: Path) -> Path:
    """Copy a SQLite database file (with its WAL files, if any)."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head with Alembic, once per test session."""
    path = tmp_path_factory.mktemp("templates") / "migrated.db"
    upgrade(sqlite_url(path))
    return path


@pytest.fixture(scope="session")
def seeded_template(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> tuple[Path, DemoSummary]:
    """A migrated SQLite file with the demo seeded at DEMO_ANCHOR, once per session."""
    path = copy_database(
        migrated_template, tmp_path_factory.mktemp("templates") / "seeded.db"
    )
    engine = make_engine(sqlite_url(path))
    try:
        with Session(engine) as session:
            summary = seed_demo(session, anchor=DEMO_ANCHOR)
            session.commit()
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return path, summary


@contextmanager
def _use_database(
    monkeypatch: pytest.MonkeyPatch, template: Path, target: Path
) -> Iterator[str]:
    url = sqlite_url(copy_database(template, target))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("APP_MODE", "local")
    reset_caches()
    try:
        yield url
    finally:
        reset_caches()


@pytest.fixture
def database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, migrated_template: Path
) -> Iterator[str]:
    """A fresh migrated (empty) database for this test; `DATABASE_URL` names it."""
    with _use_database(monkeypatch, migrated_template, tmp_path / "app.db") as url:
        yield url


@pytest.fixture
def db_session(database_url: str) -> Iterator[Session]:
    """A session on the empty migrated database (from the one session factory)."""
    with get_sessionmaker()() as session:
        yield session


@pytest.fixture
def seeded_db(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    seeded_template: tuple[Path, DemoSummary],
) -> Iterator[DemoSummary]:
    """A fresh database with the demo at DEMO_ANCHOR; yields the DemoSummary."""
    template, summary = seeded_template
    with _use_database(monkeypatch, template, tmp_path / "app.db"):
        yield summary


@pytest.fixture
def seeded_session(seeded_db: DemoSummary) -> Iterator[Session]:
    """A session on a fresh database with the demo seeded at DEMO_ANCHOR."""
    with get_sessionmaker()() as session:
        yield session


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database, or skip when no server answers."""
    admin = create_engine(
        PG_ADMIN_URL,
        isolation_level="AUTOCOMMIT",
        poolclass=pool.NullPool,
        connect_args={"connect_timeout": 3},
    )
    name = f"test_scratch_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server at {PG_ADMIN_URL}: {exc.orig}")
    try:
        yield (
            make_url(PG_ADMIN_URL)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
