"""Initial schema: every table of api.domain.models.

Partners, their staff and support entitlements, customers, subscriptions, invoices
with lines and payments, and tickets. Money columns are BIGINT cents
(api.domain.models.Money); enums are VARCHAR(40) with a CHECK constraint (non-native), so
the same migration runs on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mpn_id", sa.String(length=20), nullable=False),
        sa.Column(
            "billing_model",
            sa.Enum(
                "direct",
                "indirect_provider",
                "indirect_reseller",
                name="billingmodel",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("support_offer", sa.Text(), nullable=False),
        sa.Column("support_hours", sa.String(length=200), nullable=False),
        sa.Column("support_contact_method", sa.String(length=200), nullable=False),
        sa.Column("support_email", sa.String(length=200), nullable=False),
        sa.Column("support_phone", sa.String(length=40), nullable=True),
        sa.Column("support_pricing", sa.Text(), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("payment_methods", sa.JSON(), nullable=False),
        sa.Column("payment_instructions", sa.Text(), nullable=False),
        sa.Column("collections_policy", sa.Text(), nullable=False),
        sa.Column("reminder_after_days", sa.Integer(), nullable=False),
        sa.Column("suspend_after_days_overdue", sa.Integer(), nullable=False),
        sa.Column("teams_channel_webhook", sa.String(length=500), nullable=True),
        sa.Column("slack_channel_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("mpn_id", name=op.f("uq_partners_mpn_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_partners_slug")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("billing_email", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_customers_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("domain", name=op.f("uq_customers_domain")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_customers_tenant_id")),
    )
    op.create_index(op.f("ix_customers_partner_id"), "customers", ["partner_id"])
    op.create_table(
        "partner_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "global_admin",
                "user_management_admin",
                "helpdesk_agent",
                "billing_admin",
                "sales_agent",
                "admin_agent",
                name="partnerrole",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("aad_object_id", sa.String(length=36), nullable=True),
        sa.Column("slack_user_id", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_users_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_users")),
        sa.UniqueConstraint(
            "aad_object_id", name=op.f("uq_partner_users_aad_object_id")
        ),
        sa.UniqueConstraint("email", name=op.f("uq_partner_users_email")),
        sa.UniqueConstraint(
            "slack_user_id", name=op.f("uq_partner_users_slack_user_id")
        ),
    )
    op.create_index(
        op.f("ix_partner_users_partner_id"), "partner_users", ["partner_id"]
    )
    op.create_table(
        "support_entitlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column(
            "program",
            sa.Enum(
                "premier_support_for_partners",
                "advanced_support_for_partners",
                "partner_cloud_support",
                "signature_cloud_support",
                "product_support_incidents",
                name="supportprogram",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("contract_id", sa.String(length=60), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("incidents_remaining", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_support_entitlements_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_entitlements")),
        sa.UniqueConstraint(
            "partner_id",
            "program",
            "valid_from",
            name=op.f("uq_support_entitlements_partner_id_program_valid_from"),
        ),
    )
    op.create_index(
        op.f("ix_support_entitlements_partner_id"),
        "support_entitlements",
        ["partner_id"],
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
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
        sa.Column("amends_of_id", sa.Integer(), nullable=True),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("billing_period_start", sa.Date(), nullable=False),
        sa.Column("billing_period_end", sa.Date(), nullable=False),
        sa.Column("available_on", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amends_of_id"],
            ["invoices.id"],
            name=op.f("fk_invoices_amends_of_id_invoices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_invoices_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    op.create_index(op.f("ix_invoices_amends_of_id"), "invoices", ["amends_of_id"])
    op.create_index(op.f("ix_invoices_customer_id"), "invoices", ["customer_id"])
    op.create_index(op.f("ix_invoices_invoice_date"), "invoices", ["invoice_date"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=60), nullable=False),
        sa.Column(
            "product_kind",
            sa.Enum(
                "license",
                "azure_plan",
                "software_subscription",
                "perpetual_software",
                "saas",
                "on_premises",
                name="productkind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "commerce",
            sa.Enum(
                "legacy",
                "new",
                name="commerce",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("term", sa.String(length=10), nullable=False),
        sa.Column(
            "billing_frequency",
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
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "cancelled",
                "expired",
                name="subscriptionstatus",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("renewal_date", sa.Date(), nullable=True),
        sa.Column("term_end_date", sa.Date(), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("suspended_on", sa.Date(), nullable=True),
        sa.Column("suspension_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_subscriptions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        op.f("ix_subscriptions_customer_id"), "subscriptions", ["customer_id"]
    )
    op.create_index(op.f("ix_subscriptions_order_id"), "subscriptions", ["order_id"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("requester", sa.String(length=200), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "commercial",
                "technical",
                name="ticketcategory",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column(
            "severity",
            sa.Enum(
                "A",
                "B",
                "C",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "triaged",
                "escalated",
                "waiting_on_customer",
                "resolved",
                "closed",
                name="ticketstatus",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("route", sa.String(length=60), nullable=False),
        sa.Column("microsoft_case_number", sa.String(length=40), nullable=True),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("packet", sa.JSON(), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("sla_due_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["partner_users.id"],
            name=op.f("fk_tickets_assigned_to_id_partner_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_tickets_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_tickets_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_tickets_idempotency_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_tickets_public_id")),
    )
    op.create_index(op.f("ix_tickets_conversation_id"), "tickets", ["conversation_id"])
    op.create_index(op.f("ix_tickets_customer_id"), "tickets", ["customer_id"])
    op.create_index(op.f("ix_tickets_partner_id"), "tickets", ["partner_id"])
    op.create_index(op.f("ix_tickets_requester"), "tickets", ["requester"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=60), nullable=False),
        sa.Column(
            "charge_type",
            sa.Enum(
                "new",
                "renew",
                "cycle_charge",
                "add_quantity",
                "remove_quantity",
                "cancel",
                "one_time",
                "usage",
                "credit",
                name="chargetype",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("charge_start", sa.Date(), nullable=False),
        sa.Column("charge_end", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoice_lines_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    op.create_index(
        op.f("ix_invoice_lines_invoice_id"), "invoice_lines", ["invoice_id"]
    )
    op.create_index(
        op.f("ix_invoice_lines_subscription_id"), "invoice_lines", ["subscription_id"]
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payments_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_invoice_id"), "payments", ["invoice_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_invoice_lines_subscription_id"), table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_invoice_id"), table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index(op.f("ix_tickets_requester"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_partner_id"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_customer_id"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_conversation_id"), table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_subscriptions_order_id"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_customer_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index(op.f("ix_invoices_invoice_date"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_customer_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_amends_of_id"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(
        op.f("ix_support_entitlements_partner_id"), table_name="support_entitlements"
    )
    op.drop_table("support_entitlements")
    op.drop_index(op.f("ix_partner_users_partner_id"), table_name="partner_users")
    op.drop_table("partner_users")
    op.drop_index(op.f("ix_customers_partner_id"), table_name="customers")
    op.drop_table("customers")
    op.drop_table("partners")
