"""The dashboard's demo: users with the documented passwords, every outcome."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.dashboard import seed_dashboard_demo
from api.dashboard.auth import authenticate
from api.dashboard.models import Conversation, ConversationTurn, DashboardRole, Outcome
from api.demo.dashboard import (
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_CONVERSATIONS,
    DEMO_LEAD_EMAIL,
    DEMO_LEAD_PASSWORD,
)
from api.domain.db import get_sessionmaker
from api.settings import get_settings

DOCS = Path(__file__).parents[2] / "docs" / "dashboard.md"


def test_demo_seed(seeded_db: object) -> None:
    with get_sessionmaker()() as session:
        summary = seed_dashboard_demo(session)
        session.commit()
        assert summary.users_created == 3  # lead, admin, agent
        assert summary.conversations_created == DEMO_CONVERSATIONS
        assert summary.tickets_created > 0
        lead = authenticate(session, DEMO_LEAD_EMAIL, DEMO_LEAD_PASSWORD)
        admin = authenticate(session, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD)
        assert (lead.role, admin.role) == (DashboardRole.LEAD, DashboardRole.ADMIN)
        outcomes = Counter(session.scalars(select(Conversation.outcome)))
        assert set(outcomes) == set(Outcome)
        customers = session.scalar(
            select(func.count()).where(Conversation.customer_id.is_not(None))
        )
        assert customers and customers > DEMO_CONVERSATIONS / 2
        agents = session.scalar(
            select(func.count()).where(ConversationTurn.agent_name.is_not(None))
        )
        assert agents
        texts = " ".join(
            t or "" for t in session.scalars(select(ConversationTurn.text))
        )
        assert "4111 1111" not in texts and "[redacted card number]" in texts

        again = seed_dashboard_demo(session)  # a second run adds nothing
        assert (again.users_created, again.conversations_created) == (0, 0)


def test_passwords_are_in_the_docs() -> None:
    docs = DOCS.read_text()
    assert DEMO_LEAD_EMAIL in docs and DEMO_LEAD_PASSWORD in docs


def test_demo_refuses_production(
    seeded_db: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    with get_sessionmaker()() as session:
        monkeypatch.setattr(get_settings(), "app_mode", "production")
        with pytest.raises(RuntimeError, match="local mode"):
            seed_dashboard_demo(session)
