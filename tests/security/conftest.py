"""Fixtures of the security tests: the whole API on the seeded demo database, with
a service token, a dashboard lead and admin, a tracker store, and Rasa faked.

The database fixtures (`seeded_db`, ...) come from tests/conftest.py; users and the
tracker store as in tests/dashboard/.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from api.dashboard.auth import create_lead
from api.dashboard.deps import default_transcript_source
from api.domain.db import get_sessionmaker
from api.domain.services.handoff import RasaConversations
from api.domain.services.nlu import NluClassifier
from api.settings import get_settings
from api.web.app import create_app
from api.web.deps import get_today
from api.web.routes.handoff import get_rasa
from api.web.routes.nlu import get_classifier
from tests.conftest import DEMO_ANCHOR
from tests.dashboard.conftest import Tracker, sign_in

SERVICE_TOKEN = "security-test-service-token-0123456789"
LEAD = ("lead@security.example", "lead-password-123")
ADMIN = ("admin@security.example", "admin-password-123")


def _rasa_is_down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Rasa is not running in these tests", request=request)


@pytest.fixture
def app(
    seeded_db: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FastAPI]:
    """The product's API (create_app) on a fresh seeded database; Rasa unreachable
    through a mock transport, so nothing leaves the process."""
    tracker = Tracker(tmp_path / "tracker.db")
    monkeypatch.setenv("RASA_TRACKER_DB", str(tracker.path))
    monkeypatch.delenv("RASA_TRACKER_URL", raising=False)
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    monkeypatch.setenv("API_SERVICE_TOKEN", SERVICE_TOKEN)
    # Out of the way of the other checks; test_rate_limits.py sets its own.
    monkeypatch.setenv("PUBLIC_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setenv("PUBLIC_RATE_LIMIT_BURST", "100000")
    get_settings.cache_clear()
    default_transcript_source.cache_clear()
    with get_sessionmaker()() as session:
        create_lead(session, LEAD[0], LEAD[1], "lead")
        create_lead(session, ADMIN[0], ADMIN[1], "admin")
        session.commit()
    application = create_app()
    transport = httpx.MockTransport(_rasa_is_down)

    def classifier() -> Iterator[NluClassifier]:
        with NluClassifier("http://rasa.invalid", "token", transport=transport) as made:
            yield made

    application.dependency_overrides[get_today] = lambda: DEMO_ANCHOR
    application.dependency_overrides[get_rasa] = lambda: RasaConversations(
        "http://rasa.invalid", "token", transport=transport
    )
    application.dependency_overrides[get_classifier] = classifier
    yield application
    default_transcript_source.cache_clear()


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """No credentials; redirects are not followed (a redirect is an answer)."""
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def signed_in(app: FastAPI, who: tuple[str, str]) -> tuple[TestClient, str]:
    """A client with a dashboard session, and the session's CSRF token."""
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    return client, sign_in(client, *who)


def json_error(response: Any) -> dict[str, Any]:
    """The product's error body, checked: JSON with a code and a readable detail."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.text[:300],
    )
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    assert body.get("detail"), body
    return body
