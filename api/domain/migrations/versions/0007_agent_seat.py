"""What the dashboard learns from conversations, and the human agent's seat.

* ``conversation_turns``: the buttons a bot turn showed (titles and a digest of each
  payload), how a user turn was made (typed, a button, a form answer), and two new
  turn kinds (a form starting or ending, a form refusing an answer).
* ``conversations``: the intent predictions among the user turns (the fallback
  rate's denominator) and a preview of the first message; the metrics index covers
  the former instead of all user turns.
* ``dashboard_users``: the new ``agent`` role, and the partner an agent answers for.
* ``handoffs``: conversations handed to a person, the agent seat's queue; and the
  Teams channel where a partner's hand-off notices are posted by the bot.

Revision ID: 0007_agent_seat
Revises: 0006_webhooks
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007_agent_seat"
down_revision: Union[str, None] = "0006_webhooks"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_KINDS = ("user", "bot", "agent", "action", "pause", "resume", "session", "restart")
NEW_KINDS = (*OLD_KINDS, "form", "rejected")
OLD_ROLES = ("lead", "admin")
NEW_ROLES = (*OLD_ROLES, "agent")
INPUT_KINDS = ("typed", "button", "form")
HANDOFF_STATUSES = ("waiting", "claimed", "returned", "closed", "ticketed")
METRICS_INDEX = "ix_conversations_metrics"
METRICS_COLUMNS = [
    "started_day",
    "outcome",
    "triage",
    "{turns}",
    "low_confidence_turns",
    "has_low_confidence",
]


def _metrics_columns(turns: str) -> list[str]:
    return [turns if c == "{turns}" else c for c in METRICS_COLUMNS]


def _replace_check(
    table: str, name: str, column: str, values: Sequence[str], *, drop: bool = True
) -> None:
    """Swap the CHECK constraint of an enum column for one with `values`
    (``ck_<table>_<name>``, as the models' naming convention names it). SQLite
    cannot alter a constraint: batch mode copies the table."""
    with op.batch_alter_table(table, recreate="auto") as batch:
        if drop:
            batch.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
        batch.create_check_constraint(name, sa.column(column).in_(values))


def upgrade() -> None:
    _replace_check("conversation_turns", "turnkind", "kind", NEW_KINDS)
    with op.batch_alter_table("conversation_turns") as batch:
        batch.add_column(
            sa.Column("buttons", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column(
                "input_kind",
                sa.String(length=40),
                nullable=False,
                server_default="typed",
            )
        )
    _replace_check(
        "conversation_turns", "inputkind", "input_kind", INPUT_KINDS, drop=False
    )
    _replace_check("dashboard_users", "dashboardrole", "role", NEW_ROLES)
    with op.batch_alter_table("dashboard_users") as batch:
        batch.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_dashboard_users_partner_id_partners"),
            "partners",
            ["partner_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("partners") as batch:
        batch.add_column(
            sa.Column("teams_channel_id", sa.String(length=200), nullable=True)
        )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("requester", sa.String(length=300), nullable=False),
        sa.Column("requester_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=True),
        sa.Column("triage", sa.String(length=20), nullable=True),
        sa.Column("last_message", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *HANDOFF_STATUSES,
                name="handoffstatus",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("agent_key", sa.String(length=100), nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("slack_channel", sa.String(length=40), nullable=True),
        sa.Column("slack_thread_ts", sa.String(length=40), nullable=True),
        sa.Column("teams_thread_id", sa.String(length=300), nullable=True),
        sa.Column("forwarded_until", sa.Float(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_handoffs_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_handoffs_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_handoffs_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(
        op.f("ix_handoffs_conversation_id"), "handoffs", ["conversation_id"]
    )
    op.create_index(op.f("ix_handoffs_partner_id"), "handoffs", ["partner_id"])
    op.create_index(
        op.f("ix_handoffs_teams_thread_id"), "handoffs", ["teams_thread_id"]
    )
    op.create_index(
        "ix_handoffs_status_requested", "handoffs", ["status", "requested_at"]
    )
    op.create_index(
        "ix_handoffs_slack_thread", "handoffs", ["slack_channel", "slack_thread_ts"]
    )

    op.drop_index(METRICS_INDEX, table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column(
                "predicted_turns", sa.Integer(), nullable=False, server_default="0"
            )
        )
        batch.add_column(
            sa.Column(
                "preview", sa.String(length=200), nullable=False, server_default=""
            )
        )
    # Until `csp-desk dashboard recompute` tells button clicks and form answers
    # apart, every user turn of an old conversation counts as a prediction, as
    # it did before.
    op.execute("UPDATE conversations SET predicted_turns = user_turns")
    op.create_index(METRICS_INDEX, "conversations", _metrics_columns("predicted_turns"))


def downgrade() -> None:
    op.drop_index(METRICS_INDEX, table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("preview")
        batch.drop_column("predicted_turns")
    op.create_index(METRICS_INDEX, "conversations", _metrics_columns("user_turns"))

    op.drop_table("handoffs")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("teams_channel_id")
    with op.batch_alter_table("dashboard_users") as batch:
        batch.drop_constraint(
            op.f("fk_dashboard_users_partner_id_partners"), type_="foreignkey"
        )
        batch.drop_column("partner_id")
    op.execute("DELETE FROM dashboard_sessions WHERE user_id IN "
               "(SELECT id FROM dashboard_users WHERE role = 'agent')")
    op.execute("DELETE FROM dashboard_users WHERE role = 'agent'")
    _replace_check("dashboard_users", "dashboardrole", "role", OLD_ROLES)
    op.execute("DELETE FROM conversation_turns WHERE kind IN ('form', 'rejected')")
    with op.batch_alter_table("conversation_turns") as batch:
        batch.drop_constraint(
            op.f("ck_conversation_turns_inputkind"), type_="check"
        )
        batch.drop_column("input_kind")
        batch.drop_column("buttons")
    _replace_check("conversation_turns", "turnkind", "kind", OLD_KINDS)
