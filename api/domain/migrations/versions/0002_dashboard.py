"""Review dashboard: leads and sessions, conversation summaries, turns, topics,
corrections, ingest positions and privacy deletions (api/dashboard/models.py).

The conversation list pages on (started_at, id); each equality filter has an index
that starts with its column and ends with that keyset, so that a page is an index
range scan however deep it is (docs/benchmarks/dashboard.md). Enums are VARCHAR(40)
with a CHECK constraint, as in 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(
        *values, name=name, native_enum=False, create_constraint=True, length=40
    )


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", _enum("dashboardrole", "lead", "admin"), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_users")),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_users_email")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_sessions_user_id_dashboard_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint(
            "token_hash", name=op.f("uq_dashboard_sessions_token_hash")
        ),
    )
    op.create_index(
        op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions", ["expires_at"]
    )
    op.create_index(
        op.f("ix_dashboard_sessions_user_id"), "dashboard_sessions", ["user_id"]
    )

    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("requester_kind", sa.String(length=20), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("started_day", sa.Date(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(), nullable=False),
        sa.Column("user_turns", sa.Integer(), nullable=False),
        sa.Column("bot_turns", sa.Integer(), nullable=False),
        sa.Column("agent_turns", sa.Integer(), nullable=False),
        sa.Column("low_confidence_turns", sa.Integer(), nullable=False),
        sa.Column("fallback_turns", sa.Integer(), nullable=False),
        sa.Column("has_low_confidence", sa.Boolean(), nullable=False),
        sa.Column("primary_topic", sa.String(length=40), nullable=True),
        sa.Column(
            "triage",
            _enum("triage", "commercial", "technical", "mixed", "none"),
            nullable=False,
        ),
        sa.Column("tickets_filed", sa.Integer(), nullable=False),
        sa.Column("ticket_ids", sa.JSON(), nullable=False),
        sa.Column("handoffs", sa.Integer(), nullable=False),
        sa.Column("handoff_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            _enum("outcome", "resolved", "escalated", "handed_off", "abandoned"),
            nullable=False,
        ),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_conversations_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_conversations_partner_id_partners"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("sender_id", name=op.f("uq_conversations_sender_id")),
    )
    # The keyset, alone and behind each equality filter.
    for name, columns in (
        ("ix_conversations_started", ["started_at", "id"]),
        ("ix_conversations_channel_started", ["channel", "started_at", "id"]),
        ("ix_conversations_outcome_started", ["outcome", "started_at", "id"]),
        ("ix_conversations_triage_started", ["triage", "started_at", "id"]),
        ("ix_conversations_partner_started", ["partner_id", "started_at", "id"]),
        ("ix_conversations_customer_started", ["customer_id", "started_at", "id"]),
        (
            "ix_conversations_low_confidence_started",
            ["has_low_confidence", "started_at", "id"],
        ),
        # Covers the metrics query (one row per day), in day order.
        (
            "ix_conversations_metrics",
            [
                "started_day",
                "outcome",
                "triage",
                "user_turns",
                "low_confidence_turns",
                "has_low_confidence",
            ],
        ),
    ):
        op.create_index(name, "conversations", columns)

    op.create_table(
        "conversation_topics",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("triage", sa.String(length=20), nullable=False),
        sa.Column("started_day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_topics_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "topic", name=op.f("pk_conversation_topics")
        ),
    )
    op.create_index(
        "ix_conversation_topics_topic",
        "conversation_topics",
        ["topic", "conversation_id"],
    )
    op.create_index(
        "ix_conversation_topics_day", "conversation_topics", ["started_day", "topic"]
    )

    op.create_table(
        "conversation_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "turnkind",
                "user",
                "bot",
                "agent",
                "action",
                "pause",
                "resume",
                "session",
                "restart",
            ),
            nullable=False,
        ),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("intent", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("action_name", sa.String(length=100), nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("is_fallback", sa.Boolean(), nullable=False),
        sa.Column("is_low_confidence", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_turns_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_turns")),
        sa.UniqueConstraint(
            "conversation_id",
            "event_id",
            name=op.f("uq_conversation_turns_conversation_id_event_id"),
        ),
    )

    op.create_table(
        "conversation_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=100), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("predicted_intent", sa.String(length=100), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_email", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["dashboard_users.id"],
            name=op.f("fk_conversation_corrections_author_id_dashboard_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_corrections_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["conversation_corrections.id"],
            name=op.f("fk_conversation_corrections_supersedes_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_corrections")),
    )
    op.create_index(
        "ix_conversation_corrections_turn",
        "conversation_corrections",
        ["conversation_id", "event_id", "id"],
    )

    op.create_table(
        "dashboard_ingest_state",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("tickets_seen_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_dashboard_ingest_state")),
    )
    op.create_table(
        "privacy_deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_hash", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_by", sa.String(length=200), nullable=False),
        sa.Column("tracker_events_deleted", sa.Integer(), nullable=False),
        sa.Column("tickets_scrubbed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_deletions")),
    )
    op.create_index(
        op.f("ix_privacy_deletions_sender_hash"), "privacy_deletions", ["sender_hash"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_privacy_deletions_sender_hash"), "privacy_deletions")
    op.drop_table("privacy_deletions")
    op.drop_table("dashboard_ingest_state")
    op.drop_index("ix_conversation_corrections_turn", "conversation_corrections")
    op.drop_table("conversation_corrections")
    op.drop_table("conversation_turns")
    op.drop_index("ix_conversation_topics_day", "conversation_topics")
    op.drop_index("ix_conversation_topics_topic", "conversation_topics")
    op.drop_table("conversation_topics")
    for name in (
        "ix_conversations_metrics",
        "ix_conversations_low_confidence_started",
        "ix_conversations_customer_started",
        "ix_conversations_partner_started",
        "ix_conversations_triage_started",
        "ix_conversations_outcome_started",
        "ix_conversations_channel_started",
        "ix_conversations_started",
    ):
        op.drop_index(name, "conversations")
    op.drop_table("conversations")
    op.drop_index(op.f("ix_dashboard_sessions_user_id"), "dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_table("dashboard_users")
