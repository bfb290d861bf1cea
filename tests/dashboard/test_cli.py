"""`csp-desk dashboard`: create a lead, ingest, delete a conversation."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from api.dashboard.auth import authenticate
from api.dashboard.models import Conversation
from api.domain.db import get_sessionmaker
from api.ops.cli import main
from tests.dashboard.conftest import Tracker
from tests.dashboard.helpers import Conversation as Script


def test_create_lead(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password-1\n"))
    assert (
        main(
            ["dashboard", "create-lead", "New.Lead@Partner.example", "--password-stdin"]
        )
        == 0
    )
    assert "new.lead@partner.example can now sign in" in capsys.readouterr().out
    with get_sessionmaker()() as session:
        assert authenticate(session, "new.lead@partner.example", "a-long-password-1")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert (
        main(["dashboard", "create-lead", "x@partner.example", "--password-stdin"]) == 1
    )
    assert "12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password-1\n"))
    assert (
        main(
            ["dashboard", "create-lead", "new.lead@partner.example", "--password-stdin"]
        )
        == 1
    )


def test_ingest_and_delete(
    database_url: str, tracker: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()
    tracker.add("cli-1", Script(start=start).exchange("hi", "greet").events)
    assert main(["dashboard", "ingest"]) == 0
    assert "1 conversations updated" in capsys.readouterr().out
    with get_sessionmaker()() as session:
        assert session.scalars(select(Conversation.sender_id)).all() == ["cli-1"]
    assert (
        main(["privacy", "delete-conversation", "cli-1", "--by", "dpo@x.example"]) == 0
    )
    assert "review conversations deleted" in capsys.readouterr().out
    assert tracker.count() == 0
    assert main(["dashboard", "recompute"]) == 0
