"""`sendai-server state export|import|reset` and `snapshots list` (docs/snapshots.md): a team's
state carried as a file from the command line, through the same services as the endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine

from sendai_server.cli import main
from sendai_server.config import Config
from tests.support.snapshots import assert_same_rows, change_everything, state, state_of

__all__ = ["state"]  # the fixture


def run(config: Config, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={
        "DATABASE_URL": config.database_url, "SENDAI_STORAGE_URL": config.storage_url})


def test_export_reset_and_import_give_the_team_back(
    config: Config, engine: Engine, client: Any, seed: dict[str, Any], state: Any,
    tmp_path: Path,
) -> None:
    team = seed["team_id"]
    before = state_of(engine, team)
    out = tmp_path / "bug.sendai-snapshot"
    exported = run(config, "state", "export", "--team", team, "--out", str(out), "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["bytes"] == out.stat().st_size
    # The snapshot made for the file is not left behind.
    listed = run(config, "snapshots", "list", "--team", team)
    assert listed.output.strip() == "no snapshots"

    change_everything(client, seed)
    reset = run(config, "state", "reset", "--team", team)
    assert reset.exit_code == 0 and "is empty" in reset.output
    imported = run(config, "state", "import", str(out), "--team", team, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["restored"] is True
    assert_same_rows(before, state_of(engine, team))

    listed = run(config, "snapshots", "list", "--team", team, "--json")
    [snapshot] = json.loads(listed.output)["snapshots"]
    assert snapshot["name"] == "export"
    human = run(config, "snapshots", "list", "--team", team).output
    assert human.startswith(snapshot["id"])


def test_a_bad_file_is_one_line_and_exit_status_1(config: Config, seed: dict[str, Any],
                                                  tmp_path: Path) -> None:
    bad = tmp_path / "not.sendai-snapshot"
    bad.write_bytes(b"not a snapshot")
    result = CliRunner().invoke(main, ["state", "import", str(bad), "--team", seed["team_id"]],
                                env={"DATABASE_URL": config.database_url,
                                     "SENDAI_STORAGE_URL": config.storage_url})
    assert result.exit_code == 1
    assert "not a sendai-server snapshot" in result.output
