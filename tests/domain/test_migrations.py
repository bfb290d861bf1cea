"""Alembic: head creates exactly the model's schema, and base removes it again."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, pool, select
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
    assert head_revision() == "0005"


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
