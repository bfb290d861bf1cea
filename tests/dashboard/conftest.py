"""Fixtures of the dashboard tests: a tracker store in Rasa's schema, users, a client.

The database fixtures (`database_url`, `seeded_db`, ...) come from tests/conftest.py;
here the tracker store is a temporary SQLite file created with the exact DDL Rasa
3.6's SQLTrackerStore emits, and events are written into it with plain SQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from api.dashboard.auth import create_lead
from api.dashboard.deps import default_transcript_source
from api.dashboard.routes import router
from api.domain.db import get_sessionmaker
from api.settings import get_settings
from api.web.app import create_app

# What Rasa 3.6.21's SQLTrackerStore creates (read from a store it made).
RASA_EVENTS_DDL = (
    "CREATE TABLE events (id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, "
    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
    "action_name VARCHAR(255), data TEXT, PRIMARY KEY (id))",
    "CREATE INDEX ix_events_sender_id ON events (sender_id)",
)
FIXTURES = Path(__file__).parent / "fixtures"

LEAD = ("lead@test.example", "lead-password-123")
ADMIN = ("admin@test.example", "admin-password-123")


class Tracker:
    """A tracker-store SQLite file that tests write Rasa events into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as db:
            for statement in RASA_EVENTS_DDL:
                db.execute(statement)

    def add(self, sender_id: str, events: list[Mapping[str, Any]]) -> None:
        """Append events as SQLTrackerStore.save does."""
        with sqlite3.connect(self.path) as db:
            db.executemany(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                "action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        sender_id,
                        e["event"],
                        e.get("timestamp"),
                        ((e.get("parse_data") or {}).get("intent") or {}).get("name"),
                        e.get("name"),
                        json.dumps(e),
                    )
                    for e in events
                ],
            )

    def add_rows(self, rows: list[list[Any]]) -> None:
        """Insert raw rows (id, sender_id, type_name, timestamp, intent, action, data)."""
        with sqlite3.connect(self.path) as db:
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def count(self, sender_id: str | None = None) -> int:
        with sqlite3.connect(self.path) as db:
            if sender_id is None:
                return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
            return int(
                db.execute(
                    "SELECT count(*) FROM events WHERE sender_id = ?", (sender_id,)
                ).fetchone()[0]
            )


@pytest.fixture
def tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracker]:
    """An empty tracker store; RASA_TRACKER_DB names it."""
    store = Tracker(tmp_path / "tracker.db")
    monkeypatch.setenv("RASA_TRACKER_DB", str(store.path))
    monkeypatch.delenv("RASA_TRACKER_URL", raising=False)
    get_settings.cache_clear()
    default_transcript_source.cache_clear()
    yield store
    default_transcript_source.cache_clear()


@pytest.fixture
def users(seeded_db: object) -> dict[str, tuple[str, str]]:
    """A lead and an admin on the seeded demo database."""
    with get_sessionmaker()() as session:
        create_lead(session, LEAD[0], LEAD[1], "lead")
        create_lead(session, ADMIN[0], ADMIN[1], "admin")
        session.commit()
    return {"lead": LEAD, "admin": ADMIN}


def dashboard_app() -> FastAPI:
    """The product's API with the dashboard router (added here until create_app
    includes it)."""
    app = create_app()
    if not any(
        getattr(route, "path", "").startswith("/dashboard") for route in app.routes
    ):
        app.include_router(router)
    return app


@pytest.fixture
def app(seeded_db: object, tracker: Tracker, users: dict[str, Any]) -> FastAPI:
    return dashboard_app()


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, email: str, password: str) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = client.get("/dashboard/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    reply = client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
    )
    assert reply.status_code == 303, reply.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/dashboard/corrections")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


@pytest.fixture
def lead_client(app: FastAPI) -> Iterator[tuple[TestClient, str]]:
    """A client signed in as a lead, and its CSRF token."""
    with TestClient(app, follow_redirects=False) as client:
        yield client, sign_in(client, *LEAD)


@pytest.fixture
def admin_client(app: FastAPI) -> Iterator[tuple[TestClient, str]]:
    """A client signed in as an admin, and its CSRF token."""
    with TestClient(app, follow_redirects=False) as client:
        yield client, sign_in(client, *ADMIN)
