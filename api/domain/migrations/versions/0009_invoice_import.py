"""The partner's invoices to its customers, imported (`csp-desk import invoices`).

* ``invoices.import_digest``: a fingerprint of an imported invoice (fields, lines,
  PDF), so that importing the same file again writes nothing.
* ``invoice_pdfs``: the partner's own PDF of an invoice, served instead of ours.
* ``partner_center_invoices.due_date``: when the partner must pay Microsoft (not in
  Partner Center's invoice resource; the demo fills it in).

Revision ID: 0009_invoice_import
Revises: 0008_partner_center
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_invoice_import"
down_revision: Union[str, None] = "0008_partner_center"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("import_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("partner_center_invoices") as batch:
        batch.add_column(sa.Column("due_date", sa.Date(), nullable=True))
    op.create_table(
        "invoice_pdfs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_pdfs_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_pdfs")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_invoice_pdfs_invoice_id")),
    )


def downgrade() -> None:
    op.drop_table("invoice_pdfs")
    with op.batch_alter_table("partner_center_invoices") as batch:
        batch.drop_column("due_date")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("import_digest")
