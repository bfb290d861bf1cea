"""Alembic environment: migrate the database named by the settings.

The URL comes from `get_settings().database_url` (the `DATABASE_URL` environment
variable), unless the caller passes one in `config.attributes["database_url"]` (see
`api/domain/migrate.py`). SQLite runs in batch mode so that ALTERs become table copies.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

import api.dashboard.models  # noqa: F401  (registers the dashboard tables)
from api.domain.migrate import render_item
from api.domain.models import Base
from api.settings import get_settings

config = context.config

if config.config_file_name is not None and config.attributes.get(
    "configure_logger", True
):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    """The URL to migrate: an explicit one from the caller, else the settings'."""
    explicit = config.attributes.get("database_url")
    return str(explicit) if explicit else get_settings().database_url


COMMON_OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    "render_item": render_item,
    "compare_type": True,
    "compare_server_default": True,
}


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    url = database_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
        **COMMON_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Connect and migrate, in one transaction."""
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                render_as_batch=connection.dialect.name == "sqlite",
                **COMMON_OPTIONS,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
