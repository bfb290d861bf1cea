"""Every dashboard endpoint: sign-in required, CSRF enforced, roles checked."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.dashboard.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from api.dashboard.models import Conversation, DashboardSession
from api.domain.db import get_sessionmaker
from tests.dashboard.conftest import ADMIN, LEAD, Tracker, sign_in
from tests.dashboard.helpers import Conversation as Script

NOW = datetime.now(timezone.utc)
PAGES = [
    "/dashboard/conversations",
    "/dashboard/conversations/1",
    "/dashboard/corrections",
    "/dashboard/corrections/export.yml",
    "/dashboard/metrics",
    "/dashboard/metrics.csv",
]
POSTS = [
    "/dashboard/logout",
    "/dashboard/conversations/1/turns/5/correction",
    "/dashboard/conversations/1/delete",
]


@pytest.fixture
def one_conversation(tracker: Tracker) -> str:
    script = Script(start=(NOW - timedelta(hours=1)).timestamp())
    script.exchange("hi", "greet").exchange(
        "why is invoice G000024135 so high?", "explain_charges", 0.42
    )
    tracker.add("conv-1", script.events)
    return "conv-1"


def conversation_id(client: TestClient, sender: str) -> int:
    client.get("/dashboard/conversations")  # the list ingests new events
    with get_sessionmaker()() as session:
        return session.scalars(
            select(Conversation.id).where(Conversation.sender_id == sender)
        ).one()


def user_event_ids(client: TestClient, conv: int) -> list[int]:
    page = client.get(f"/dashboard/conversations/{conv}")
    return [int(x) for x in re.findall(r'id="turn-(\d+)"', page.text)]


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in(anonymous: TestClient, path: str) -> None:
    reply = anonymous.get(path + "?a=1")
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/dashboard/login?next=")
    assert "%3Fa%3D1" in reply.headers["location"]  # comes back with its query


@pytest.mark.parametrize("path", POSTS)
def test_posts_need_a_session(anonymous: TestClient, path: str) -> None:
    reply = anonymous.post(path, data={"csrf_token": "x"})
    assert reply.status_code == 401


def test_static_files_need_no_session(anonymous: TestClient) -> None:
    css = anonymous.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert anonymous.get("/dashboard/static/dashboard.js").status_code == 200
    assert anonymous.get("/dashboard/static/../settings.py").status_code == 404
    assert anonymous.get("/dashboard/static/routes.py").status_code == 404


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(anonymous: TestClient) -> None:
    form = anonymous.get("/dashboard/login")
    assert "csrf_token" in form.text
    assert "HttpOnly" in form.headers["set-cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    reply = anonymous.post(
        "/dashboard/login",
        data={
            "email": LEAD[0].upper(),
            "password": LEAD[1],
            "csrf_token": token,
            "next": "/dashboard/metrics",
        },
    )
    assert (
        reply.status_code == 303 and reply.headers["location"] == "/dashboard/metrics"
    )
    cookie = next(
        c for c in reply.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert (
        "HttpOnly" in cookie
        and "SameSite=lax" in cookie
        and "Path=/dashboard" in cookie
    )
    assert "Secure" not in cookie  # local mode over http
    value = anonymous.cookies.get(SESSION_COOKIE)
    assert value and len(value) >= 40
    with get_sessionmaker()() as session:
        stored = session.scalars(select(DashboardSession.token_hash)).all()
    assert value not in stored  # only its hash is kept
    assert anonymous.get("/dashboard/metrics").status_code == 200

    csrf = re.search(
        r'name="csrf_token" value="([^"]+)"', anonymous.get("/dashboard/metrics").text
    ).group(1)  # type: ignore[union-attr]
    assert (
        anonymous.post("/dashboard/logout", data={"csrf_token": "wrong"}).status_code
        == 403
    )
    out = anonymous.post("/dashboard/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    with get_sessionmaker()() as session:
        assert session.scalars(select(DashboardSession)).all() == []
    anonymous.cookies.set(SESSION_COOKIE, value, path="/dashboard")  # replay: refused
    assert anonymous.get("/dashboard/metrics").status_code == 303


def test_sign_in_refusals(
    anonymous: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = anonymous.get("/dashboard/login")
    token = anonymous.cookies.get(LOGIN_CSRF_COOKIE)
    assert token
    # Without the form's CSRF token (a cross-site post): refused before any check.
    assert (
        anonymous.post(
            "/dashboard/login", data={"email": LEAD[0], "password": LEAD[1]}
        ).status_code
        == 403
    )
    wrong = anonymous.post(
        "/dashboard/login",
        data={"email": LEAD[0], "password": "nope-nope-nope", "csrf_token": token},
    )
    assert wrong.status_code == 401 and "wrong e-mail or password" in wrong.text
    unknown = anonymous.post(
        "/dashboard/login",
        data={
            "email": "who@x.example",
            "password": "whatever-123",
            "csrf_token": anonymous.cookies.get(LOGIN_CSRF_COOKIE),
        },
    )
    assert unknown.status_code == 401 and "wrong e-mail or password" in unknown.text
    assert form.status_code == 200


def test_next_cannot_leave_the_dashboard(anonymous: TestClient) -> None:
    anonymous.get("/dashboard/login")
    reply = anonymous.post(
        "/dashboard/login",
        data={
            "email": LEAD[0],
            "password": LEAD[1],
            "csrf_token": anonymous.cookies.get(LOGIN_CSRF_COOKIE),
            "next": "//evil.example/dashboard",
        },
    )
    assert reply.headers["location"] == "/dashboard/conversations"


def test_pages_render_with_security_headers(
    lead_client: tuple[TestClient, str], one_conversation: str
) -> None:
    client, _ = lead_client
    listing = client.get("/dashboard/conversations")
    assert listing.status_code == 200
    assert "default-src 'self'" in listing.headers["content-security-policy"]
    assert listing.headers["cache-control"] == "no-store"
    assert listing.headers["x-frame-options"] == "DENY"
    assert 'data-conversation="' in listing.text  # ingested on the way
    conv = conversation_id(client, one_conversation)
    page = client.get(f"/dashboard/conversations/{conv}")
    assert page.status_code == 200
    assert "G000024135" in page.text and "explain_charges" in page.text
    assert "charge_explanation" in page.text  # the topic
    assert "low confidence" in page.text
    assert "Delete conversation" not in page.text  # leads cannot delete
    assert client.get("/dashboard/conversations/999999").status_code == 404
    assert client.get("/dashboard/metrics").status_code == 200
    assert client.get("/dashboard").status_code == 303


def test_correction_needs_csrf_and_is_exported(
    lead_client: tuple[TestClient, str], one_conversation: str
) -> None:
    client, csrf = lead_client
    conv = conversation_id(client, one_conversation)
    event = user_event_ids(client, conv)[1]
    url = f"/dashboard/conversations/{conv}/turns/{event}/correction"
    data = {
        "intent": "explain_charges",
        "annotated_text": "why is invoice [G000024135](invoice_number) so high?",
    }
    assert client.post(url, data=data).status_code == 403  # no CSRF token
    assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 403
    saved = client.post(url, data={**data, "csrf_token": csrf})
    assert (
        saved.status_code == 303
        and "notice=correction-saved" in saved.headers["location"]
    )

    bad = client.post(
        url, data={**data, "annotated_text": "something else", "csrf_token": csrf}
    )
    assert bad.status_code == 400 and "unchanged" in bad.text
    bad = client.post(
        url, data={**data, "intent": "no_such_intent", "csrf_token": csrf}
    )
    assert bad.status_code == 400

    export = client.get("/dashboard/corrections/export.yml")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/x-yaml")
    assert "attachment" in export.headers["content-disposition"]
    parsed = yaml.safe_load(export.text)
    assert parsed == {
        "version": "3.1",
        "nlu": [
            {
                "intent": "explain_charges",
                "examples": "- why is invoice [G000024135](invoice_number) so high?\n",
            }
        ],
    }
    listing = client.get("/dashboard/corrections")
    assert LEAD[0] in listing.text and "explain_charges" in listing.text


def test_only_admins_delete_and_with_csrf(
    app: object,
    lead_client: tuple[TestClient, str],
    one_conversation: str,
    tracker: Tracker,
) -> None:
    client, csrf = lead_client
    conv = conversation_id(client, one_conversation)
    url = f"/dashboard/conversations/{conv}/delete"
    assert (
        client.post(url, data={"csrf_token": csrf, "confirm": "yes"}).status_code == 403
    )
    assert tracker.count(one_conversation) > 0

    with TestClient(app, follow_redirects=False) as admin:  # type: ignore[arg-type]
        admin_csrf = sign_in(admin, *ADMIN)
        assert (
            "Delete conversation" in admin.get(f"/dashboard/conversations/{conv}").text
        )
        assert admin.post(url, data={"confirm": "yes"}).status_code == 403
        assert admin.post(url, data={"csrf_token": admin_csrf}).status_code == 400
        done = admin.post(url, data={"csrf_token": admin_csrf, "confirm": "yes"})
        assert done.status_code == 303
        assert admin.get(f"/dashboard/conversations/{conv}").status_code == 404
    assert tracker.count(one_conversation) == 0


def test_metrics_csv(
    lead_client: tuple[TestClient, str], one_conversation: str
) -> None:
    client, _ = lead_client
    client.get("/dashboard/conversations")  # ingest
    today = NOW.date()
    reply = client.get(
        f"/dashboard/metrics.csv?date_from={today - timedelta(days=2)}&date_to={today}"
        "&granularity=day"
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith(
        "text/csv"
    )
    lines = reply.text.strip().splitlines()
    assert lines[0].startswith("period_start,conversations,resolved")
    assert len(lines) == 1 + 3 + 1  # header, three days, total
    assert lines[-1].startswith("total,1,")
    weekly = client.get(
        f"/dashboard/metrics.csv?date_from={today - timedelta(days=13)}&date_to={today}"
    ).text.strip()
    periods = [line.split(",")[0] for line in weekly.splitlines()[1:-1]]
    assert len(periods) in (2, 3)  # two weeks, by default in weeks from a Monday
    assert all(date.fromisoformat(p).weekday() == 0 for p in periods)


def test_expired_session_is_refused(lead_client: tuple[TestClient, str]) -> None:
    client, _ = lead_client
    with get_sessionmaker()() as session:
        for row in session.scalars(select(DashboardSession)):
            row.expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        session.commit()
    assert client.get("/dashboard/metrics").status_code == 303
