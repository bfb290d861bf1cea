"""The moments a subscription was bought and last renewed: the new-commerce
cancellation windows run from them (7 days = 168 hours, SaaS 72 hours).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("ordered_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("renewed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("renewed_at")
        batch.drop_column("ordered_at")
