"""Issue 21 item 5: the CLI names the database it means in every database error (a SQLite file
by its absolute path, any other database by its URL without the password); and `keys create`
without --project says, on standard error, that the key reaches no project."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.exc import OperationalError

from sendai_server.cli import main, resources
from sendai_server.cli.base import OpenedDatabase, _expected_failure
from sendai_server.store import migrate
from tests.support.helpers import REPO_ROOT
from tests.support.processes import CLI, DEADLINE


def invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={
        "DATABASE_URL": database_url, "SENDAI_ENV": None, "SENDAI_ALLOW_SCHEMA_MISMATCH": None})


def run_in(folder: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, from `folder`, as a user runs it there."""
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("SENDAI_ALLOW_SCHEMA_MISMATCH", None)
    return subprocess.run([CLI, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=DEADLINE)


@pytest.fixture
def migrated_sqlite(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "migrated.db"
    shutil.copyfile(sqlite_template, path)
    return path


# --- a relative SQLite URL is named by the file's absolute path ---------------------------------

def test_an_unmigrated_relative_sqlite_file_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    result = run_in(tmp_path, "sqlite:///instance/here.db", "seed")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: the schema of the database {tmp_path / 'instance' / 'here.db'} is at base, "
        f"this version needs {migrate.head_revision()}: run 'sendai-server db upgrade'\n")


def test_an_unreachable_sqlite_file_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "a-folder.db").mkdir()  # a folder where the file should be: cannot be opened
    result = run_in(tmp_path, "sqlite:///a-folder.db", "db", "upgrade")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: cannot connect to the database {tmp_path / 'a-folder.db'}: unable to open "
        "database file; check that the path is right and its directory writable\n")


def test_a_sqlite_folder_that_cannot_be_made_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = f"sqlite:///{tmp_path}/a-file/sendai.db"
    result = invoke(url, "db", "upgrade")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: cannot make the folder of the database {tmp_path}/a-file/sendai.db: File exists; "
        "check that the path is right and writable\n")
    assert not (tmp_path / "a-file").is_dir()


# --- a database that fails during the command ---------------------------------------------------

def test_a_read_only_database_is_one_line_naming_it(migrated_sqlite: Path) -> None:
    """SQLite opened read-only (mode=ro): the check passes, the first write fails."""
    url = f"sqlite:///file:{migrated_sqlite}?mode=ro&uri=true"
    result = invoke(url, "teams", "create", "--name", "Acme")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: the database {migrated_sqlite} failed: attempt to write a readonly database\n")
    debug = invoke(url, "--debug", "teams", "create", "--name", "Acme")
    assert isinstance(debug.exception, OperationalError)  # --debug: the traceback


def test_a_database_error_that_is_a_bug_keeps_its_traceback(
    migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SQL error is this program's fault, not the database's: no one-line message."""
    try:
        sqlite3.connect(":memory:").execute("SELEC 1")
    except sqlite3.OperationalError as exc:
        syntax_error = OperationalError("SELEC 1", {}, exc)

    def broken(*_args: Any) -> None:
        raise syntax_error

    monkeypatch.setattr(resources.keys, "revoke_key", broken)
    result = invoke(f"sqlite:///{migrated_sqlite}", "keys", "revoke", "key_x")
    assert result.exception is syntax_error


def test_a_lost_postgresql_connection_is_named_without_the_password() -> None:
    """psycopg's failure on the client's side (no SQLSTATE): the server went away mid-command."""
    lost = OperationalError(
        "SELECT 1", {},
        psycopg.OperationalError("server closed the connection unexpectedly (password s3cret)"))
    database = OpenedDatabase("postgresql://app:***@db.example/sendai", "s3cret")
    assert _expected_failure(lost, database) == (
        "the database postgresql://app:***@db.example/sendai failed: server closed the "
        "connection unexpectedly (password ***)")


def test_a_postgresql_error_that_is_a_bug_is_left_to_its_traceback() -> None:
    class UndefinedColumn(psycopg.OperationalError):  # an SQLSTATE outside the database's state
        sqlstate = "42703"

    failed = OperationalError("SELECT nope", {}, UndefinedColumn("column nope does not exist"))
    assert _expected_failure(failed, OpenedDatabase("postgresql://db.example/x", None)) is None


# --- keys create without --project --------------------------------------------------------------

WARNING = ("warning: this key reaches no project, so every request with it gets 404: create it "
           "with --project P (repeat for several projects)\n")


def test_a_key_without_a_project_comes_with_a_warning(
    database_url: str, seed: dict[str, Any]
) -> None:
    result = invoke(database_url, "keys", "create", "--team", seed["team_id"],
                    "--scope", "task.read")
    assert result.exit_code == 0, result.output
    assert result.stderr == WARNING
    assert result.stdout.startswith("key_")


def test_a_key_without_a_project_in_json_keeps_stdout_the_document(
    database_url: str, seed: dict[str, Any]
) -> None:
    result = run_in(REPO_ROOT, database_url, "keys", "create", "--team", seed["team_id"],
                    "--scope", "task.read", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # only the JSON, as before
    assert set(document) == {"id", "key", "scopes", "projects"}
    assert document["projects"] == []
    assert result.stderr == WARNING


def test_a_key_with_a_project_comes_without_a_warning(
    database_url: str, seed: dict[str, Any]
) -> None:
    result = invoke(database_url, "keys", "create", "--team", seed["team_id"],
                    "--scope", "task.read", "--project", seed["project_id"], "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["projects"] == [seed["project_id"]]
