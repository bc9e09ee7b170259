"""`sendai-server clock freeze|advance|show|resume --team T` (docs/clock.md): the same services
as the test helpers' endpoints, from the command line; an advance plays the team's jobs out in
the command's own process, deliveries over HTTP included."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from sendai_server.cli import main
from sendai_server.config import Config
from sendai_server.testing.receiver import Receiver
from tests.support.cli import run
from tests.support.helpers import auth, count_rows

MONDAY = "2026-01-05T09:00:00Z"
SAMPLE = files("sendai_server") / "samples/invoice.pdf"


def clock_of(database_url: str, team: str) -> Any:
    shown = run(database_url, "clock", "show", "--team", team, "--json")
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)["clock"]


def test_freeze_show_advance_and_resume(database_url: str, seed: dict[str, Any]) -> None:
    team = seed["team_id"]
    assert clock_of(database_url, team) is None
    assert "runs on real time" in run(database_url, "clock", "show", "--team", team).output

    frozen = run(database_url, "clock", "freeze", "--team", team, "--at", MONDAY, "--json")
    assert frozen.exit_code == 0, frozen.output
    state = json.loads(frozen.output)["clock"]
    assert (state["team_id"], state["now"][:19], state["frozen_at"][:19],
            state["advanced_seconds"]) == (team, MONDAY[:19], MONDAY[:19], 0)

    moved = run(database_url, "clock", "advance", "--team", team, "--hours", "1", "--minutes",
                "30", "--json")
    assert moved.exit_code == 0, moved.output
    answer = json.loads(moved.output)["clock"]
    assert (answer["now"][:19], answer["advanced_seconds"], answer["ran"],
            answer["settled"]) == ("2026-01-05T10:30:00", 5400, [], True)
    assert clock_of(database_url, team)["now"] == answer["now"]
    human = run(database_url, "clock", "show", "--team", team).output
    assert human.startswith(f"team {team}: frozen at 2026-01-05T10:30:00Z")

    resumed = run(database_url, "clock", "resume", "--team", team, "--json")
    assert (resumed.exit_code, json.loads(resumed.output)) == (0, {"resumed": True})
    assert clock_of(database_url, team) is None
    again = run(database_url, "clock", "resume", "--team", team)
    assert (again.exit_code, "real time already" in again.output) == (0, True)


def test_an_advance_runs_the_pipeline_and_delivers_on_the_clock(
        database_url: str, config: Config, seed: dict[str, Any], client: FlaskClient,
        receiver: Receiver) -> None:
    team = seed["team_id"]
    project = json.loads(run(database_url, "projects", "create", "--team", team, "--pipeline",
                             "auto", "--delay", "30", "--json").output)["project_id"]
    made = run(database_url, "connectors", "create", "--project", project, "--url",
               receiver.url, "--secret", "s3cret", "--event", "upload.in_review", "--json")
    assert made.exit_code == 0, made.output
    key = json.loads(run(database_url, "keys", "create", "--team", team, "--scope",
                         "upload.create", "--project", project, "--json").output)["key"]
    run(database_url, "clock", "freeze", "--team", team, "--at", MONDAY)
    uploaded = client.post(f"/v2/{team}/project/{project}/upload", headers=auth(key),
                           data={"file": (SAMPLE.open("rb"), "invoice.pdf")})
    assert uploaded.status_code == 200, uploaded.get_json()
    [task_id] = uploaded.get_json()["taskIds"]
    [waiting] = clock_of(database_url, team)["pending"]
    assert (waiting["subject"], waiting["due_at"][:19]) == (task_id, "2026-01-05T09:00:30")

    early = run(database_url, "clock", "advance", "--team", team, "--seconds", "29", "--json")
    assert json.loads(early.output)["clock"]["ran"] == []
    assert receiver.received == []

    # The command reads the uploaded file where the server stored it.
    moved = CliRunner().invoke(main, ["clock", "advance", "--team", team, "--seconds", "1"],
                               env={"DATABASE_URL": database_url,
                                    "SENDAI_STORAGE_URL": config.storage_url},
                               catch_exceptions=False)

    assert moved.exit_code == 0, moved.output
    lines = moved.stdout.splitlines()
    assert lines[0].startswith("2026-01-05T09:00:30Z  ") and task_id in lines[0]
    assert any("→ delivered" in line for line in lines), moved.output
    [delivery] = receiver.received  # sent before the command answered
    assert delivery.headers["X-Sendai-Signature"].startswith("t=1767603630,")  # 09:00:30


def test_uploads_and_tasks_made_from_the_command_line_are_on_the_teams_clock(
        database_url: str, config: Config, seed: dict[str, Any], engine: Any) -> None:
    team = seed["team_id"]
    project = json.loads(run(database_url, "projects", "create", "--team", team, "--pipeline",
                             "auto", "--delay", "30", "--json").output)["project_id"]
    run(database_url, "clock", "freeze", "--team", team, "--at", MONDAY)
    env = {"DATABASE_URL": database_url, "SENDAI_STORAGE_URL": config.storage_url}

    uploaded = CliRunner().invoke(main, ["uploads", "create", "--project", project,
                                         str(SAMPLE), "--json"], env=env,
                                  catch_exceptions=False)
    made = run(database_url, "tasks", "create", "--project", project, "--json")

    [task_id] = json.loads(uploaded.stdout)["task_ids"]
    [waiting] = clock_of(database_url, team)["pending"]
    assert (waiting["subject"], waiting["due_at"][:19]) == (task_id, "2026-01-05T09:00:30")
    [made_id] = json.loads(made.output)["task_ids"]
    assert count_rows(engine, "SELECT count(*) FROM task WHERE id IN (:a, :b) AND "
                      "created_at = (SELECT now FROM team_clock WHERE team_id = :t)",
                      a=task_id, b=made_id, t=team) == 2
    moved = CliRunner().invoke(main, ["clock", "advance", "--team", team, "--seconds", "30",
                                      "--json"], env=env, catch_exceptions=False)
    [ran] = json.loads(moved.stdout)["clock"]["ran"]
    assert (ran["subject"], ran["outcome"]) == (task_id, "REVIEWING")


@pytest.mark.parametrize("options, named", [
    (("--seconds", "-5"), "backwards"),
    (("--days", "367"), "366 days"),
    (("--to", "next tuesday"), "--to: not a date-time"),
    (("--to", "2026-01-04T09:00:00Z"), "backwards"),
    (("--seconds", "5", "--to", "2026-01-06T09:00:00Z"), "not both"),
    ((), "--seconds"),
])
def test_a_refused_advance_is_one_line_and_changes_nothing(
        database_url: str, seed: dict[str, Any], options: tuple[str, ...], named: str) -> None:
    team = seed["team_id"]
    run(database_url, "clock", "freeze", "--team", team, "--at", MONDAY)
    before = clock_of(database_url, team)

    refused = run(database_url, "clock", "advance", "--team", team, *options)

    assert refused.exit_code == 1
    assert named in refused.output and len(refused.output.strip().splitlines()) == 1
    assert clock_of(database_url, team) == before


@pytest.mark.parametrize("command", [("freeze",), ("advance", "--seconds", "1"), ("show",),
                                     ("resume",)])
def test_an_unknown_team_is_refused(database_url: str, seed: dict[str, Any],
                                    command: tuple[str, ...]) -> None:
    refused = run(database_url, "clock", *command, "--team", "team_nope")
    assert (refused.exit_code, refused.output.strip()) == (1, "Error: No team team_nope.")


def test_advancing_a_clock_that_runs_on_real_time_is_refused(database_url: str,
                                                             seed: dict[str, Any]) -> None:
    refused = run(database_url, "clock", "advance", "--team", seed["team_id"], "--seconds", "1")
    assert refused.exit_code == 1 and "not frozen" in refused.output
    assert clock_of(database_url, seed["team_id"]) is None


def test_a_bad_freeze_time_is_refused(database_url: str, seed: dict[str, Any]) -> None:
    refused = run(database_url, "clock", "freeze", "--team", seed["team_id"], "--at", "soon")
    assert refused.exit_code == 1 and "--at: not a date-time" in refused.output
    assert clock_of(database_url, seed["team_id"]) is None
