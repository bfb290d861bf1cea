"""Partner profiles (structured support hours, accepted currencies, the Partner
Center app registration, invoice numbering) and proration columns on invoice lines.

Invoice lines used to carry their proration only in words ("prorated 23/31 days of
the billing cycle" in the description), which api/domain/services/charges.py parsed
back. The upgrade fills the new `prorated_days` / `cycle_days` from those words where
they are present (the last time anything reads them), `billing_cycle` from the
line's subscription, and `accepted_currencies` from each partner's billing currency.
The downgrade drops the columns; descriptions were never changed, so the words are
still there for the old code.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The wording the demo loader wrote before this revision.
PRORATION = re.compile(r"prorated (\d+)/(\d+) days")
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "billing_cycle",
                sa.Enum(
                    "monthly",
                    "annual",
                    "triennial",
                    "one_time",
                    name="billingfrequency",
                    native_enum=False,
                    create_constraint=True,
                    length=40,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("prorated_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cycle_days", sa.Integer(), nullable=True))

    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("support_schedule", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "accepted_currencies",
                sa.JSON(),
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("partner_center_tenant_id", sa.String(length=36), nullable=True)
        )
        batch_op.add_column(
            sa.Column("partner_center_client_id", sa.String(length=36), nullable=True)
        )
        batch_op.add_column(
            sa.Column("partner_center_secret_env", sa.String(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("invoice_number_prefix", sa.String(length=20), nullable=True)
        )
        batch_op.add_column(
            sa.Column("invoice_number_pattern", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("invoice_number_example", sa.String(length=40), nullable=True)
        )

    _fill_proration()
    _fill_billing_cycles()
    _fill_accepted_currencies()


def _fill_proration() -> None:
    """`prorated_days` / `cycle_days` from the words in the description."""
    bind = op.get_bind()
    lines = sa.table(
        "invoice_lines",
        sa.column("id", sa.Integer()),
        sa.column("description", sa.String()),
        sa.column("prorated_days", sa.Integer()),
        sa.column("cycle_days", sa.Integer()),
    )
    rows = bind.execute(
        sa.select(lines.c.id, lines.c.description).where(
            lines.c.description.like("%prorated %/% days%")
        )
    ).all()
    values = []
    for row in rows:
        match = PRORATION.search(row.description or "")
        if match:
            values.append(
                {
                    "line_id": row.id,
                    "days": int(match.group(1)),
                    "cycle": int(match.group(2)),
                }
            )
    update = (
        lines.update()
        .where(lines.c.id == sa.bindparam("line_id"))
        .values(prorated_days=sa.bindparam("days"), cycle_days=sa.bindparam("cycle"))
    )
    for start in range(0, len(values), BATCH):
        bind.execute(update, values[start : start + BATCH])


def _fill_billing_cycles() -> None:
    """A line's billing cycle is its subscription's billing frequency; a one-time
    line without a subscription (a partner's own service) is billed once."""
    op.execute(
        "UPDATE invoice_lines SET billing_cycle = (SELECT subscriptions."
        "billing_frequency FROM subscriptions WHERE subscriptions.id = "
        "invoice_lines.subscription_id) WHERE subscription_id IS NOT NULL"
    )
    op.execute(
        "UPDATE invoice_lines SET billing_cycle = 'one_time' "
        "WHERE subscription_id IS NULL AND charge_type = 'one_time'"
    )


def _fill_accepted_currencies() -> None:
    """Every existing partner accepts the currency it bills in."""
    bind = op.get_bind()
    partners = sa.table(
        "partners",
        sa.column("id", sa.Integer()),
        sa.column("currency", sa.String()),
        sa.column("accepted_currencies", sa.JSON()),
    )
    for row in bind.execute(sa.select(partners.c.id, partners.c.currency)).all():
        bind.execute(
            partners.update()
            .where(partners.c.id == row.id)
            .values(accepted_currencies=[row.currency])
        )


def downgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_column("invoice_number_example")
        batch_op.drop_column("invoice_number_pattern")
        batch_op.drop_column("invoice_number_prefix")
        batch_op.drop_column("partner_center_secret_env")
        batch_op.drop_column("partner_center_client_id")
        batch_op.drop_column("partner_center_tenant_id")
        batch_op.drop_column("accepted_currencies")
        batch_op.drop_column("support_schedule")

    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        # SQLite's table copy keeps a CHECK naming a dropped column: drop it first.
        batch_op.drop_constraint(
            op.f("ck_invoice_lines_billingfrequency"), type_="check"
        )
        batch_op.drop_column("cycle_days")
        batch_op.drop_column("prorated_days")
        batch_op.drop_column("billing_cycle")
