"""Fixtures for the HTTP API: test clients on the seeded demo database."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette now prefers the `httpx2` package; our pinned environment has httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from api.demo.seed import DemoSummary
from api.settings import get_settings
from api.web.app import create_app
from api.web.deps import get_today
from tests.conftest import DEMO_ANCHOR

SERVICE_TOKEN = "test-service-token-4f9c2a7e1b"


@pytest.fixture
def app(seeded_db: DemoSummary, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The API on the seeded database, with today = DEMO_ANCHOR and a known token."""
    monkeypatch.setenv("API_SERVICE_TOKEN", SERVICE_TOKEN)
    get_settings.cache_clear()
    application = create_app()
    application.dependency_overrides[get_today] = lambda: DEMO_ANCHOR
    return application


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends no credentials."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends the service token."""
    with TestClient(
        app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as authorised:
        yield authorised
