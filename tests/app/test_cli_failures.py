"""Issue 13: a failure that is not a bug is one line on standard error and exit status 1, never a
traceback; `sendai-server --debug ...` shows the traceback instead. A bug keeps its traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.util import CommandError
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sendai_server.cli import CommandFailure, main, resources
from sendai_server.process import supervisor
from sendai_server.store import migrate
from sendai_server.store.db import make_engine
from sendai_server.store.migrate import SchemaMismatch
from tests.support.helpers import REPO_ROOT, free_port

HEAD = migrate.head_revision()
UPGRADE = "run 'sendai-server db upgrade'"
SERVE_ANYWAY = ("to serve anyway (a rolling upgrade), pass --allow-schema-mismatch or set "
                "SENDAI_ALLOW_SCHEMA_MISMATCH=1")
FUTURE = "9999_from_the_future"


def named(database_url: str) -> str:
    """How the CLI names a database (issue 21): a SQLite file by its absolute path (these
    tests' SQLite URLs are absolute), any other by its URL without the password."""
    if database_url.startswith("sqlite:///"):
        return database_url.removeprefix("sqlite:///")
    return make_url(database_url).render_as_string(hide_password=True)


def older(database_url: str) -> str:
    return (f"the schema of the database {named(database_url)} is at {migrate.revisions()[-2]}, "
            f"this version needs {HEAD}: {UPGRADE}")


def newer(database_url: str) -> str:
    return (f"the schema of the database {named(database_url)} is at {FUTURE}, newer than this "
            f"version of sendai-server knows (its newest is {HEAD}): upgrade sendai-server")


def invoke(database_url: str, *args: str, **env: str) -> Result:
    environment: dict[str, str | None] = {
        "DATABASE_URL": database_url, "SENDAI_ALLOW_SCHEMA_MISMATCH": None, "SENDAI_ENV": None,
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environment)


def assert_one_line(database_url: str, args: list[str], line: str,
                    raised: type[Exception]) -> None:
    """The exact line and exit status 1; with --debug, the exception itself (its traceback)."""
    result = invoke(database_url, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {line}\n")
    assert "Traceback" not in result.output
    debug = invoke(database_url, "--debug", *args)
    assert debug.exit_code == 1
    assert isinstance(debug.exception, raised), debug.exception
    assert debug.exc_info is not None and debug.exc_info[2] is not None  # a real traceback


# --- databases in known states ----------------------------------------------------------------

@pytest.fixture
def empty_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/empty.db"


@pytest.fixture
def migrated_sqlite(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "migrated.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def _stamp(database_url: str, revision: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


@pytest.fixture
def older_sqlite(migrated_sqlite: str) -> str:
    migrate.downgrade(migrated_sqlite, "-1")
    return migrated_sqlite


@pytest.fixture
def newer_sqlite(migrated_sqlite: str) -> str:
    _stamp(migrated_sqlite, FUTURE)
    return migrated_sqlite


# --- the table ------------------------------------------------------------------------

def test_unreachable_postgresql_is_one_line_without_the_password() -> None:
    port = free_port()  # nothing listens there: connection refused, at once
    url = f"postgresql://postgres:s3cret@127.0.0.1:{port}/x"
    result = invoke(url, "db", "upgrade")
    assert (result.exit_code, result.stdout) == (1, "")
    # The driver's own words are the driver's; the rest is ours, word for word.
    assert re.fullmatch(
        re.escape(f"Error: cannot connect to the database postgresql://postgres:***@127.0.0.1:"
                  f"{port}/x: ")
        + r"[^\n]*Connection refused"
        + re.escape("; check that the server is running and DATABASE_URL's host, port, user, "
                    "password and database name") + "\n",
        result.stderr,
    ), result.stderr
    assert "s3cret" not in result.output
    debug = invoke(url, "--debug", "db", "upgrade")
    assert debug.exit_code == 1 and isinstance(debug.exception, CommandFailure)


def test_unsupported_database_is_one_line_before_any_driver_import() -> None:
    assert_one_line(
        "mysql://u:pw@db.example/shop", ["db", "upgrade"],
        "DATABASE_URL is a mysql URL (mysql://u:***@db.example/shop); sendai-server supports "
        "sqlite and postgresql: sqlite:///path/to/file.db or postgresql://user@host/dbname",
        CommandFailure,
    )


def test_a_driver_that_is_not_installed_is_one_line() -> None:
    assert_one_line(
        "postgresql+nodriver://u:pw@db.example/shop", ["seed"],
        "DATABASE_URL asks for the driver postgresql+nodriver "
        "(postgresql+nodriver://u:***@db.example/shop), which is not available (Can't load "
        "plugin: sqlalchemy.dialects:postgresql.nodriver); write postgresql://... to use the "
        "one sendai-server ships with",
        CommandFailure,
    )


def test_unparseable_url_is_one_line_without_the_password() -> None:
    assert_one_line(
        "postgres//u:s3cret@db.example", ["db", "current"],
        "DATABASE_URL is not a database URL: 'postgres//u:***@db.example'; write "
        "sqlite:///path/to/file.db or postgresql://user@host/dbname",
        CommandFailure,
    )


def test_unknown_revision_is_one_line(migrated_sqlite: str) -> None:
    known = ", ".join(("base", *migrate.revisions()))
    assert_one_line(
        migrated_sqlite, ["db", "downgrade", "nonsense"],
        f"Can't locate revision identified by 'nonsense': give one of this version's revisions "
        f"({known}), head, or a step like -1",
        CommandError,
    )


# --- the schema against this version's migrations ---------------------------------------------

NEEDS_HEAD = [
    ["seed"],
    ["demo-curl"],
    ["keys", "create", "--team", "team_x", "--scope", "task.read"],
    ["keys", "revoke", "key_x"],
    ["tasks", "create", "--project", "proj_x"],
    ["worker"],
]


@pytest.mark.parametrize("args", NEEDS_HEAD, ids=lambda args: " ".join(args[:2]))
def test_an_empty_database_needs_db_upgrade(empty_sqlite: str, args: list[str]) -> None:
    assert_one_line(empty_sqlite, args,
                    f"the schema of the database {named(empty_sqlite)} is at base, this "
                    f"version needs {HEAD}: {UPGRADE}",
                    SchemaMismatch)


def test_an_older_schema_needs_db_upgrade(older_sqlite: str) -> None:
    assert_one_line(older_sqlite, ["seed"], older(older_sqlite), SchemaMismatch)
    assert invoke(older_sqlite, "db", "upgrade").exit_code == 0
    assert invoke(older_sqlite, "seed").exit_code == 0


@pytest.mark.parametrize("args", [*NEEDS_HEAD, ["db", "upgrade"], ["db", "downgrade", "-1"]],
                         ids=lambda args: " ".join(args[:2]))
def test_a_newer_schema_needs_a_newer_sendai_server(newer_sqlite: str, args: list[str]) -> None:
    assert_one_line(newer_sqlite, args, newer(newer_sqlite), SchemaMismatch)


def test_a_newer_schema_on_every_backend(database_url: str) -> None:
    """PostgreSQL too, when TEST_DATABASE_URL is set (its database is shared: put head back)."""
    _stamp(database_url, FUTURE)
    try:
        assert_one_line(database_url, ["seed"], newer(database_url), SchemaMismatch)
    finally:
        _stamp(database_url, HEAD or "")


def test_db_downgrade_takes_a_relative_step(migrated_sqlite: str) -> None:
    assert invoke(migrated_sqlite, "db", "downgrade", "-1").exit_code == 0
    assert invoke(migrated_sqlite, "db", "current").stdout == (
        f"{migrate.revisions()[-2]} (head is {HEAD})\n")


def test_db_current_says_a_schema_is_newer(newer_sqlite: str) -> None:
    result = invoke(newer_sqlite, "db", "current")
    assert (result.exit_code, result.stdout) == (
        0, f"{FUTURE} (newer than this version's head, {HEAD})\n")


# --- serve ------------------------------------------------------------------------------------

@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What serve would have exec'd, instead of exec'ing it."""
    calls: list[list[str]] = []
    monkeypatch.setattr(supervisor, "start", calls.append)
    return calls


def test_serve_refuses_an_older_schema(older_sqlite: str, execs: list[list[str]]) -> None:
    assert_one_line(older_sqlite, ["serve"], f"{older(older_sqlite)}; {SERVE_ANYWAY}",
                    CommandFailure)
    assert execs == []


def test_serve_refuses_a_newer_schema(newer_sqlite: str, execs: list[list[str]]) -> None:
    assert_one_line(newer_sqlite, ["serve"], f"{newer(newer_sqlite)}; {SERVE_ANYWAY}",
                    CommandFailure)
    assert execs == []


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_with_the_override_starts_anyway(
    older_sqlite: str, execs: list[list[str]], how: str
) -> None:
    if how == "flag":
        result = invoke(older_sqlite, "serve", "--allow-schema-mismatch", "--workers", "3")
    else:
        result = invoke(older_sqlite, "serve", "--workers", "3",
                        SENDAI_ALLOW_SCHEMA_MISMATCH="1")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: serving anyway (--allow-schema-mismatch): {older(older_sqlite)}\n")
    [argv] = execs
    assert argv[:3] == [sys.executable, "-m", "gunicorn"]
    assert argv[-1] == "sendai_server:create_app()"  # the package's factory: no repository needed
    assert argv[argv.index("--workers") + 1] == "3"


def test_serve_on_a_schema_at_head_starts_quietly(
    migrated_sqlite: str, execs: list[list[str]]
) -> None:
    result = invoke(migrated_sqlite, "serve")
    assert (result.exit_code, result.stderr) == (0, "")
    assert len(execs) == 1


def test_serve_refuses_an_unreachable_database(execs: list[list[str]]) -> None:
    result = invoke(f"postgresql://postgres@127.0.0.1:{free_port()}/x", "serve")
    assert result.exit_code == 1 and result.stderr.startswith("Error: cannot connect")
    assert result.stderr.count("\n") == 1 and execs == []


# --- everything else ----------------------------------------------------------------------------

def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(resources, "mermaid_diagram", broken)
    result = invoke("sqlite://", "lifecycle")
    assert isinstance(result.exception, ZeroDivisionError)


def test_domain_errors_stay_one_line(migrated_sqlite: str) -> None:
    result = invoke(migrated_sqlite, "keys", "revoke", "key_nope")
    assert result.exit_code == 1 and result.stderr.startswith("Error: No key")
    assert result.stderr.count("\n") == 1


def _process(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("SENDAI_ALLOW_SCHEMA_MISMATCH", None)
    return subprocess.run([sys.executable, "-m", "sendai_server.cli", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow  # four Python processes, each importing the whole CLI: about 10 s
def test_as_a_new_user_sees_it_one_line_and_with_debug_the_traceback() -> None:
    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/x"
    plain = _process(url, "db", "upgrade")
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.startswith("Error: cannot connect to the database ")
    assert plain.stderr.count("\n") == 1 and "s3cret" not in plain.stderr
    debug = _process(url, "--debug", "db", "upgrade")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "OperationalError" in debug.stderr and "CommandFailure" in debug.stderr
