"""The sendai-server command line (docs/cli.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.cli import run, run_process
from tests.support.helpers import count_rows

CLI = str(Path(sys.executable).parent / "sendai-server")


def test_seed_json_is_the_documented_document_and_nothing_else(database_url: str) -> None:
    result = run_process(database_url, "seed", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # stdout holds only the JSON
    assert set(document) == {"team_id", "project_id", "keys", "tasks", "folders", "other"}
    assert set(document["folders"]) == {"inbox", "processed", "reported", "bin"}
    assert set(document["keys"]) == {"edit", "read", "revoked", "helpers"}
    assert set(document["tasks"]) == {"PROCESSING", "REVIEWING", "COMPLETED", "FAILED",
                                      "DISCARDED", "FILTERED"}
    assert len(document["tasks"]["REVIEWING"]) >= 3
    assert all(len(ids) >= 1 for ids in document["tasks"].values())
    assert set(document["other"]) == {"team_id", "project_id", "task_id", "key"}
    assert document["team_id"].startswith("team_") and document["project_id"].startswith("proj_")


def test_seed_makes_a_fresh_team_each_run(database_url: str, engine: Engine) -> None:
    first = json.loads(run(database_url, "seed", "--json").output)
    second = json.loads(run(database_url, "seed", "--json").output)
    assert first["team_id"] != second["team_id"]
    assert count_rows(engine, "SELECT count(*) FROM team") == 4


def test_keys_create_and_revoke(database_url: str, seed: dict[str, Any]) -> None:
    created = json.loads(run(database_url, "keys", "create", "--team", seed["team_id"],
                             "--scope", "tasks.view", "--scope", "task.edit",
                             "--project", seed["project_id"], "--name", "ci", "--json").output)
    assert created["id"].startswith("key_") and created["key"].startswith("sk_")
    assert created["scopes"] == ["task.edit", "task.read"]
    assert created["projects"] == [seed["project_id"]]
    assert run(database_url, "keys", "revoke", created["id"]).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["keys", "create", "--team", "team_nope", "--scope", "task.read"], "No team"),
        (["keys", "create", "--team", "{team}", "--scope", "task.fly"], "Unknown scope"),
        (["keys", "create", "--team", "{team}", "--scope", "task.read", "--project", "proj_x"],
         "has no project"),
        (["keys", "revoke", "key_nope"], "No key"),
        (["tasks", "create", "--project", "proj_nope"], "No project"),
        (["tasks", "create", "--project", "{project}", "--count", "0"], "count"),
        (["tasks", "create", "--project", "{project}", "--status", "DONE"], "status"),
        (["db", "downgrade"], "REVISION"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_message(
    database_url: str, seed: dict[str, Any], args: list[str], message: str
) -> None:
    """In-process (the same `main`; a bug's exception would escape the runner and fail here)."""
    args = [a.format(team=seed["team_id"], project=seed["project_id"]) for a in args]
    result = run(database_url, *args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_argument_is_one_line_from_the_installed_command(database_url: str) -> None:
    result = run_process(database_url, "keys", "create", "--team", "team_nope",
                         "--scope", "task.read")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: ") and "No team" in result.stderr
    assert result.stderr.count("\n") == 1


def test_tasks_create_in_bulk(database_url: str, seed: dict[str, Any], engine: Engine) -> None:
    result = run(database_url, "tasks", "create", "--project", seed["project_id"],
                 "--status", "FAILED", "--count", "250", "--pages", "2", "--annotations", "3",
                 "--json")
    task_ids = json.loads(result.output)["task_ids"]
    assert len(task_ids) == len(set(task_ids)) == 250
    assert count_rows(engine, "SELECT count(*) FROM task WHERE status = 'FAILED' "
                              "AND project_id = :p", p=seed["project_id"]) == 251
    assert count_rows(engine, "SELECT count(*) FROM page WHERE task_id = :t",
                      t=task_ids[-1]) == 2
    assert count_rows(engine, "SELECT count(*) FROM annotation a JOIN page p ON p.id = a.page_id "
                              "WHERE p.task_id = :t", t=task_ids[0]) == 6
    assert count_rows(engine, "SELECT count(*) FROM task_event WHERE action = 'create' "
                              "AND task_id = :t", t=task_ids[0]) == 1


def test_db_current_reports_head(database_url: str) -> None:
    result = run_process(database_url, "db", "current")
    assert result.returncode == 0
    assert result.stdout.strip().endswith("(head)")


def test_demo_curl_prints_a_working_discard_command(database_url: str) -> None:
    result = run_process(database_url, "demo-curl")
    assert result.returncode == 0, result.stderr
    assert "curl -X POST 'http://127.0.0.1:8000/v2/team_" in result.stdout
    assert "/discard' -H 'Authorization: Bearer sk_" in result.stdout
    assert "curl -F 'file=@" in result.stdout and "/samples/invoice.pdf' " in result.stdout
    assert "http://127.0.0.1:8000/inspect" in result.stdout


def test_production_refuses_the_default_sqlite_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SENDAI_ENV"] = "production"
    result = subprocess.run([CLI, "db", "current"], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert not (tmp_path / "instance").exists()
