"""`sendai-server db`: the database's schema (Alembic)."""

from __future__ import annotations

import click

from ..store import migrate
from .database import app_engine, check_schema, command_app


@click.group(help="Database schema (Alembic).")
def db() -> None:
    pass


def _migratable_database_url() -> str:
    """The URL of a database whose schema this version knows (it cannot migrate from a newer)."""
    app = command_app()
    check_schema(app, allow_older=True)
    return str(app.config["SENDAI"].database_url)


@db.command("upgrade", help="Migrate to the newest revision (alembic upgrade head).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    migrate.upgrade(_migratable_database_url(), revision)


# ignore_unknown_options: "-1" is a revision, not an option.
@db.command("downgrade", help="Migrate down to REVISION (e.g. base or -1).",
            context_settings={"ignore_unknown_options": True})
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    migrate.downgrade(_migratable_database_url(), revision)


@db.command("current", help="Print the database's revision and whether it is the head.")
def db_current() -> None:
    mismatch = migrate.schema_mismatch(app_engine(command_app()))
    if mismatch is None:
        click.echo(f"{migrate.head_revision()} (head)")
    elif mismatch.newer:
        click.echo(f"{mismatch.current} (newer than this version's head, {mismatch.head})")
    else:
        click.echo(f"{mismatch.current or 'base'} (head is {mismatch.head})")
