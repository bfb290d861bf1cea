"""Alembic: head creates exactly the model's schema, and base removes it again."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, pool, select, text
from sqlalchemy.orm import Session

from api.demo.seed import seed_demo
from api.domain.migrate import (
    current_revision,
    downgrade,
    head_revision,
    render_item,
    upgrade,
)
from api.domain.models import Base, Invoice


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_item": render_item}
        )
        return list(compare_metadata(context, Base.metadata))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def check_upgrade_and_downgrade(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        assert current_revision(url) is None
        upgrade(url)
        assert current_revision(url) == head_revision() is not None
        assert table_names(engine) == set(Base.metadata.tables) | {"alembic_version"}
        assert schema_differences(engine) == []

        downgrade(url, "base")
        assert table_names(engine) == {"alembic_version"}
        assert current_revision(url) is None

        upgrade(url)  # and back up again
        assert table_names(engine) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_sqlite_upgrade_head_and_downgrade_base(tmp_path: Path) -> None:
    check_upgrade_and_downgrade(f"sqlite:///{tmp_path / 'migrations.db'}")


def test_upgrade_uses_database_url_from_settings(database_url: str) -> None:
    # `database_url` is already migrated; upgrading again is a no-op at head.
    upgrade()
    assert current_revision() == head_revision()


def test_there_is_one_head_and_it_is_the_newest_revision() -> None:
    assert head_revision() == "0010_service_requests"


def test_postgresql_upgrade_head_and_downgrade_base(postgres_url: str) -> None:
    check_upgrade_and_downgrade(postgres_url)


def test_postgresql_holds_the_demo_with_exact_money(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = create_engine(postgres_url, poolclass=pool.NullPool)
    try:
        with Session(engine) as session:
            summary = seed_demo(session, anchor=date(2026, 11, 15))
            session.commit()
        with Session(engine) as session:
            invoices = session.scalars(select(Invoice)).all()
            assert len(invoices) == summary.invoices + summary.credit_notes
            for invoice in invoices:
                assert invoice.total == sum(line.total for line in invoice.lines)
    finally:
        engine.dispose()


def test_migrating_creates_the_sqlite_folder_of_a_fresh_clone(tmp_path) -> None:
    from api.domain.migrate import current_revision, head_revision, upgrade

    url = f"sqlite:///{tmp_path / 'var' / 'app.db'}"  # var/ does not exist yet
    upgrade(url)
    assert current_revision(url) == head_revision()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_0004_fills_proration_cycles_and_currencies_from_the_old_rows(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rows written before 0004 (proration only in the description) gain columns."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    upgrade(url, "0003")
    engine = create_engine(url, poolclass=pool.NullPool)
    line = (
        "INSERT INTO invoice_lines (id, invoice_id, subscription_id, product_name, sku, "
        "charge_type, description, quantity, unit_price, subtotal, tax, total, "
        "charge_start, charge_end) VALUES (:id, 1, :sub, 'P', 'S', :charge, :text, "
        "1, 100, 100, 0, 100, '2026-07-20', '2026-08-11')"
    )
    try:
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO partners (id, slug, name, mpn_id, billing_model, country, "
                "currency, timezone, support_offer, support_hours, "
                "support_contact_method, support_email, support_pricing, "
                "payment_terms_days, payment_methods, payment_instructions, "
                "collections_policy, reminder_after_days, suspend_after_days_overdue) "
                "VALUES (1, 'p', 'P', '1', 'direct', 'GB', 'GBP', 'UTC', 'o', 'h', "
                "'c', 'e@p.example', 'pr', 30, '[]', '', 'cp', 7, 30)",
                "INSERT INTO customers (id, partner_id, name, domain, tenant_id, "
                "billing_email, country, currency) VALUES (1, 1, 'C', 'c.example', "
                "'t', 'b@c.example', 'GB', 'GBP')",
                "INSERT INTO subscriptions (id, customer_id, order_id, product_name, "
                "sku, product_kind, commerce, seats, unit_price, currency, term, "
                "billing_frequency, status, order_date, auto_renew) VALUES ('s1', 1, "
                "'o1', 'P', 'S', 'license', 'new', 1, 100, 'GBP', 'P1Y', 'annual', "
                "'active', '2026-01-06', TRUE)",
                "INSERT INTO invoices (id, number, customer_id, document_type, "
                "invoice_date, billing_period_start, billing_period_end, available_on, "
                "due_date, currency, subtotal, tax_total, total, paid_amount) VALUES "
                "(1, 'G000000001', 1, 'invoice', '2026-08-01', '2026-07-01', "
                "'2026-07-31', '2026-08-08', '2026-08-31', 'GBP', 300, 0, 300, 0)",
            ):
                connection.exec_driver_sql(statement)
            for values in (
                (
                    1,
                    "s1",
                    "add_quantity",
                    "3 seats added, prorated 231/365 days of the billing cycle",
                ),
                (2, "s1", "renew", "Renewal: 10 x 640.80 per year"),
                (3, None, "one_time", "Onboarding"),
            ):
                connection.execute(
                    text(line),
                    dict(zip(("id", "sub", "charge", "text"), values)),
                )
        upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, billing_cycle, prorated_days, cycle_days "
                    "FROM invoice_lines ORDER BY id"
                )
            ).all()
            currencies = connection.execute(
                text("SELECT accepted_currencies FROM partners")
            ).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        (1, "annual", 231, 365),
        (2, "annual", None, None),
        (3, "one_time", None, None),
    ]
    # SQLite returns the JSON text, psycopg the decoded value
    assert (json.loads(currencies) if isinstance(currencies, str) else currencies) == [
        "GBP"
    ]
