"""Transcript events delivered by the event broker (production profile,
api/dashboard/consumer.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "transcript_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("type_name", sa.String(length=255), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_events")),
        sa.UniqueConstraint("digest", name=op.f("uq_transcript_events_digest")),
    )
    op.create_index(
        op.f("ix_transcript_events_sender_id"),
        "transcript_events",
        ["sender_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transcript_events_sender_id"), "transcript_events")
    op.drop_table("transcript_events")
