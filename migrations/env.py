"""Alembic environment: the URL and the metadata come from the application."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from sendai_server.config import Config
from sendai_server.store.db import make_engine
from sendai_server.store.models import Base
from sendai_server.store.uow import UnitOfWork

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    # Set by sendai_server.store.migrate when the CLI or the tests drive Alembic; otherwise the
    # application's own configuration, exactly as the server would read it.
    return config.get_main_option("sqlalchemy.url") or Config.from_env().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(), target_metadata=target_metadata, literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # One write transaction for the whole upgrade (the engine's connections are in driver
    # autocommit; the unit of work issues BEGIN): a failed migration leaves nothing half done,
    # on SQLite as on PostgreSQL (both have transactional DDL).
    engine = make_engine(database_url())
    with UnitOfWork(engine) as uow:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a table (create, copy, DROP, rename); with foreign keys
            # on, SQLite's DROP deletes its rows first and cascades the delete to every table
            # that refers to it (a connector's rebuild emptied `notification`). Off for the
            # upgrade (outside the transaction: the pragma is a no-op inside one), and the
            # references checked before it commits.
            with uow.read() as conn:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        with uow.write() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata,
                render_as_batch=sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise RuntimeError(f"the migration broke a reference: {tuple(broken)}")
        if sqlite:
            with uow.read() as conn:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
