"""Alembic, driven from the application: the same URL the app uses, the repo's migrations/."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _migrations_dir() -> Path:
    """An installed wheel carries migrations/ inside the package, as sendai_server.migrations
    (setup.cfg maps it); a checkout, and an editable install of one, has it at the top of the
    repository, beside alembic.ini."""
    packaged = resources.files("sendai_server").joinpath("migrations")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "migrations"


MIGRATIONS_DIR = _migrations_dir()


def alembic_config(database_url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat a '%' in a password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


@cache
def head_revision() -> str | None:
    return _script().get_current_head()


@cache
def revisions() -> tuple[str, ...]:
    """This version's revisions, oldest first."""
    return tuple(reversed([script.revision for script in _script().walk_revisions()]))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class SchemaMismatch(Exception):
    """The database's schema is not at this version's head: older (migrate it) or newer than
    any revision this version knows (a newer sendai-server migrated it). `database` names it
    for people (the command line's messages), when the caller knows how."""

    def __init__(self, current: str | None, head: str | None,
                 database: str | None = None) -> None:
        self.current = current
        self.head = head
        self.database = database
        self.newer = current is not None and current not in revisions()
        at = current or "base"
        schema = f"the schema of the database {database}" if database else "the database schema"
        if self.newer:
            message = (f"{schema} is at {at}, newer than this version of "
                       f"sendai-server knows (its newest is {head}): upgrade sendai-server")
        else:
            message = (f"{schema} is at {at}, this version needs {head}: "
                       "run 'sendai-server db upgrade'")
        super().__init__(message)


def schema_mismatch(engine: Engine, database: str | None = None) -> SchemaMismatch | None:
    current, head = current_revision(engine), head_revision()
    return None if current == head else SchemaMismatch(current, head, database)


def check_schema(
    engine: Engine, *, allow_older: bool = False, database: str | None = None
) -> None:
    """Raise SchemaMismatch unless the schema is at head (or, with allow_older, one this version
    can migrate from)."""
    mismatch = schema_mismatch(engine, database)
    if mismatch is not None and (mismatch.newer or not allow_older):
        raise mismatch
