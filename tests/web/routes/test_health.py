"""GET /health: no auth; 200 when the database answers, 503 when it does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from api.web.deps import get_db
from tests.web.conftest import TestClient


def test_health_ok_without_auth(anonymous: TestClient) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_503_when_the_database_is_down(app: FastAPI, tmp_path: Path) -> None:
    # A SQLite file inside a path that is a regular file cannot be opened.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    broken = create_engine(f"sqlite:///{blocker / 'app.db'}", poolclass=pool.NullPool)

    def broken_session() -> Iterator[Session]:
        with Session(broken) as session:
            yield session

    app.dependency_overrides[get_db] = broken_session
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
