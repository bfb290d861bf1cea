"""Partner Center service requests filed for tickets.

* ``tickets.microsoft_service_request_id``: the service request's id.
* ``tickets.microsoft_service_request_status``: its status when last read.
* ``tickets.microsoft_service_request_checked_at``: when it was last read.
* ``tickets.microsoft_service_request_filing_at``: set while a request is being
  filed; a retry first looks for the request it may have filed.

Revision ID: 0010_service_requests
Revises: 0009_invoice_import
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010_service_requests"
down_revision: Union[str, None] = "0009_invoice_import"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("microsoft_service_request_id", sa.String(length=64), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "microsoft_service_request_status", sa.String(length=40), nullable=True
            )
        )
        batch.add_column(
            sa.Column(
                "microsoft_service_request_checked_at",
                sa.DateTime(),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column(
                "microsoft_service_request_filing_at",
                sa.DateTime(),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("microsoft_service_request_filing_at")
        batch.drop_column("microsoft_service_request_checked_at")
        batch.drop_column("microsoft_service_request_status")
        batch.drop_column("microsoft_service_request_id")
