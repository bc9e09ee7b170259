"""`sendai-server faults add|list|clear` (docs/failures.md): the same rules, checks and service as
the HTTP endpoints, from the command line; a fault added here fails the team's next request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.cli import run
from tests.support.helpers import auth, count_rows, task_path


def test_add_list_and_clear(database_url: str, seed: dict[str, Any], client: FlaskClient
                            ) -> None:
    team = seed["team_id"]
    added = run(database_url, "faults", "add", "--team", team, "--operation", "discardTask",
                "--status", "503", "--retry-after", "2", "--times", "2", "--json")
    assert added.exit_code == 0, added.output
    fault = json.loads(added.output)["fault"]
    assert (fault["match"], fault["effect"], fault["times"]) == (
        {"operation": "discardTask"}, {"status": 503, "retry_after": 2}, 2)

    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))
    assert (response.status_code, response.headers["X-Sendai-Fault"]) == (503, fault["id"])

    listed = run(database_url, "faults", "list", "--team", team, "--json")
    [seen] = json.loads(listed.output)["faults"]
    assert (seen["id"], seen["hits"], seen["remaining"]) == (fault["id"], 1, 1)
    human = run(database_url, "faults", "list", "--team", team)
    assert human.output.startswith(f"{fault['id']}  hits 1, 1 left")

    cleared = run(database_url, "faults", "clear", "--team", team, "--json")
    assert json.loads(cleared.output) == {"deleted": [fault["id"]]}
    assert run(database_url, "faults", "list", "--team", team).output.strip() == "no faults"


def test_drop_forever_and_clear_one(database_url: str, seed: dict[str, Any]) -> None:
    team = seed["team_id"]
    ids = [json.loads(run(database_url, "faults", "add", "--team", team, *options,
                          "--json").output)["fault"]["id"]
           for options in (("--path", "/project/**", "--drop", "--after", "--forever"),
                           ("--event", "upload.in_review", "--duplicate", "3"))]
    listed = json.loads(run(database_url, "faults", "list", "--team", team, "--json").output)
    assert [(f["effect"], f["times"]) for f in listed["faults"]] == [
        ({"drop": True, "after": True}, None), ({"duplicate": 3}, 1)]
    cleared = run(database_url, "faults", "clear", "--team", team, "--fault", ids[0], "--json")
    assert json.loads(cleared.output) == {"deleted": [ids[0]]}
    missing = run(database_url, "faults", "clear", "--team", team, "--fault", ids[0])
    assert missing.exit_code == 1 and f"No fault {ids[0]}" in missing.output


@pytest.mark.parametrize("options, named", [
    (("--status", "503"), '"match"'),
    (("--operation", "discardTask"), '"effect"'),
    (("--operation", "discardTask", "--status", "503", "--drop"), '"effect"'),
    (("--operation", "discardTask", "--status", "503", "--times", "0"), '"times"'),
    (("--operation", "discardTask", "--status", "503", "--probability", "2"), '"probability"'),
    (("--operation", "discard", "--status", "503"), "Unknown operation 'discard'"),
])
def test_a_bad_rule_is_refused_and_stores_nothing(
    database_url: str, seed: dict[str, Any], engine: Engine, options: tuple[str, ...],
    named: str,
) -> None:
    result = run(database_url, "faults", "add", "--team", seed["team_id"], *options)
    assert result.exit_code == 1
    assert named in result.output
    assert "Traceback" not in result.output
    assert count_rows(engine, "SELECT count(*) FROM fault") == 0


def test_an_unknown_team_is_refused(database_url: str, seed: dict[str, Any]) -> None:
    result = run(database_url, "faults", "add", "--team", "team_nope", "--method", "GET",
                 "--status", "500")
    assert result.exit_code == 1 and "No team team_nope" in result.output
