"""Partner Center sync: what it brings in and how it went.

* ``customers``: Partner Center's customer id, and when a sync found the customer
  gone from the partner's list (marked, never deleted).
* ``subscriptions``: whether the sync brought it in, and when a sync found it gone.
* ``partner_center_invoices`` and ``partner_center_invoice_lines``: Microsoft's
  invoices to the partner and their billing line items, each naming the customer it
  is for (the partner's invoices to its customers stay in ``invoices``).
* ``partner_center_sync_runs``: each run, its counts and what failed.
* ``partner_center_credentials``: a partner's encrypted app+user refresh token.

Revision ID: 0008_partner_center
Revises: 0007_agent_seat
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_partner_center"
down_revision: Union[str, None] = "0007_agent_seat"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "partner_center_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("encrypted_refresh_token", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_center_credentials_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_center_credentials")),
        sa.UniqueConstraint(
            "partner_id", name=op.f("uq_partner_center_credentials_partner_id")
        ),
    )
    op.create_table(
        "partner_center_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column(
            "document_type",
            sa.Enum(
                "invoice",
                "credit_note",
                name="documenttype",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("amends_of", sa.String(length=40), nullable=True),
        sa.Column("invoice_type", sa.String(length=40), nullable=True),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("billing_period_start", sa.Date(), nullable=True),
        sa.Column("billing_period_end", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_charges", sa.BigInteger(), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("lines_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_center_invoices_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_center_invoices")),
        sa.UniqueConstraint(
            "partner_id",
            "number",
            name=op.f("uq_partner_center_invoices_partner_id_number"),
        ),
    )
    with op.batch_alter_table("partner_center_invoices") as batch:
        batch.create_index(
            batch.f("ix_partner_center_invoices_invoice_date"), ["invoice_date"]
        )
        batch.create_index(
            batch.f("ix_partner_center_invoices_partner_id"), ["partner_id"]
        )
    op.create_table(
        "partner_center_sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_center_sync_runs_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_center_sync_runs")),
    )
    with op.batch_alter_table("partner_center_sync_runs") as batch:
        batch.create_index(
            "ix_pc_sync_runs_partner_started", ["partner_id", "started_at"]
        )
    op.create_table(
        "partner_center_invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("billing_provider", sa.String(length=40), nullable=False),
        sa.Column("customer_tenant_id", sa.String(length=36), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("customer_domain", sa.String(length=253), nullable=True),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("product_name", sa.String(length=300), nullable=False),
        sa.Column("sku_name", sa.String(length=300), nullable=True),
        sa.Column("charge_type", sa.String(length=60), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("unit_price", sa.BigInteger(), nullable=True),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("charge_start", sa.Date(), nullable=True),
        sa.Column("charge_end", sa.Date(), nullable=True),
        sa.Column("billing_frequency", sa.String(length=40), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_partner_center_invoice_lines_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["partner_center_invoices.id"],
            name=op.f(
                "fk_partner_center_invoice_lines_invoice_id_partner_center_invoices"
            ),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_center_invoice_lines")),
    )
    with op.batch_alter_table("partner_center_invoice_lines") as batch:
        for column in ("customer_id", "customer_tenant_id", "invoice_id"):
            batch.create_index(
                batch.f(f"ix_partner_center_invoice_lines_{column}"), [column]
            )
        batch.create_index(
            batch.f("ix_partner_center_invoice_lines_subscription_id"),
            ["subscription_id"],
        )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("partner_center_id", sa.String(length=36), nullable=True)
        )
        batch.add_column(
            sa.Column("partner_center_removed_at", sa.DateTime(), nullable=True)
        )
        batch.create_index(
            batch.f("ix_customers_partner_center_id"), ["partner_center_id"]
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column(
                "from_partner_center",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
        batch.add_column(
            sa.Column("partner_center_removed_at", sa.DateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("partner_center_removed_at")
        batch.drop_column("from_partner_center")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index(batch.f("ix_customers_partner_center_id"))
        batch.drop_column("partner_center_removed_at")
        batch.drop_column("partner_center_id")
    op.drop_table("partner_center_invoice_lines")
    op.drop_table("partner_center_sync_runs")
    op.drop_table("partner_center_invoices")
    op.drop_table("partner_center_credentials")
