"""The migrations create exactly the dashboard's tables (0002, and the columns and
roles added since) and remove them again."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

import api.dashboard.models  # noqa: F401  (registers the tables)
from api.domain.migrate import (
    current_revision,
    downgrade,
    head_revision,
    render_item,
    upgrade,
)
from api.domain.models import Base

DASHBOARD_TABLES = {
    "dashboard_users",
    "dashboard_sessions",
    "conversations",
    "conversation_topics",
    "conversation_turns",
    "conversation_corrections",
    "dashboard_ingest_state",
    "privacy_deletions",
}


def test_upgrade_matches_the_models_and_downgrade_removes_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url, poolclass=pool.NullPool)
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert set(inspect(engine).get_table_names()) >= DASHBOARD_TABLES
    assert set(Base.metadata.tables) >= DASHBOARD_TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_item": render_item}
        )
        differences = [
            d
            for d in compare_metadata(context, Base.metadata)
            if any(name in str(d) for name in DASHBOARD_TABLES)
        ]
    assert differences == []
    downgrade(url, "0001")
    assert not DASHBOARD_TABLES & set(inspect(engine).get_table_names())
    upgrade(url)
    assert current_revision(url) == head_revision()


def test_constraint_names_fit_postgresql() -> None:
    for name in DASHBOARD_TABLES:
        table = Base.metadata.tables[name]
        for item in [*table.constraints, *table.indexes]:
            if item.name is not None:
                assert len(str(item.name)) <= 63, item.name
