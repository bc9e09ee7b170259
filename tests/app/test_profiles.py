"""Fidelity profiles (docs/profiles.md) in-process, on SQLite and PostgreSQL: the endpoint, the
server-wide default, and each switch under each choice. Deliveries go over real HTTP to a
receiver started by the test and are verified by the standardwebhooks and stripe packages
under every profile."""

from __future__ import annotations

import io
from typing import Any

import pytest
import standardwebhooks
import stripe
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server import create_app
from sendai_server.config import Config, ConfigError
from sendai_server.domain.extracted_data import parse_amount, parse_date
from sendai_server.domain.profiles import DEFAULT, SWITCHES, Profile, every_choice
from sendai_server.services.keys import create_key
from sendai_server.services.projects import create_project
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.emails import PDFS, email_with
from tests.support.helpers import auth, count_rows
from tests.support.notifications import STANDARD_SECRET, connect
from tests.support.pipeline import Project, drain


def profile_path(seed: dict[str, Any]) -> str:
    return f"/v2/{seed['team_id']}/test_helpers/profile"


def put_profile(client: FlaskClient, seed: dict[str, Any], settings: dict[str, str]) -> Any:
    return client.put(profile_path(seed), json=settings, headers=auth(seed["keys"]["helpers"]))


# --- the registry -------------------------------------------------------------------------------

def test_every_choice_names_each_choice_of_each_switch_at_least_once() -> None:
    profiles = every_choice()
    assert profiles[0] == DEFAULT
    seen = {(name, p[name]) for p in profiles for name in p}
    assert seen == {(s.name, c) for s in SWITCHES for c in s.choices}
    assert len({p.label() for p in profiles}) == len(profiles) == 8


# --- the endpoint -------------------------------------------------------------------------------

def test_a_team_starts_on_the_default_profile(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.get(profile_path(seed), headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 200
    assert response.get_json() == {"payload": {s.name: s.default for s in SWITCHES}}


def test_put_sets_the_named_switches_and_returns_every_switch(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = put_profile(client, seed, {"discard_refused": "ignored",
                                          "event_names": "IN_REVIEW"})
    assert response.status_code == 200
    expected = {**dict(DEFAULT), "discard_refused": "ignored", "event_names": "IN_REVIEW"}
    assert response.get_json() == {"payload": expected}
    assert client.get(profile_path(seed), headers=auth(seed["keys"]["helpers"])
                      ).get_json() == {"payload": expected}
    # A PUT states the whole profile: what it leaves out returns to the default.
    again = put_profile(client, seed, {"no_access": "forbidden"})
    assert again.get_json()["payload"] == {**dict(DEFAULT), "no_access": "forbidden"}


@pytest.mark.parametrize("body,field", [
    ({"discard_refused": "maybe"}, "discard_refused"),
    ({"colour": "blue"}, "colour"),
    ({"event_names": 3}, "event_names"),
])
def test_an_unknown_switch_or_choice_is_400_naming_it_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    assert put_profile(client, seed, {"payload_task": "summary"}).status_code == 200
    response = put_profile(client, seed, {"payload_task": "task", **body})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in str(error["details"])
    now = client.get(profile_path(seed), headers=auth(seed["keys"]["helpers"])).get_json()
    assert now["payload"]["payload_task"] == "summary"


def test_the_profile_needs_the_test_helpers_scope_and_the_keys_own_team(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = client.get(profile_path(seed), headers=auth(seed["keys"]["edit"]))
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        403, "insufficient_scope")
    other = client.put(f"/v2/{seed['other']['team_id']}/test_helpers/profile", json={},
                       headers=auth(seed["keys"]["helpers"]))
    assert other.status_code == 404


def test_without_test_helpers_the_profile_endpoint_does_not_exist(config: Config) -> None:
    app = create_app(config.with_overrides(test_helpers=False))
    try:
        response = app.test_client().get("/v2/team_x/test_helpers/profile")
        assert response.status_code == 404
    finally:
        app.extensions["sendai_engine"].dispose()


# --- the server's default -----------------------------------------------------------------------

def test_sendai_profile_is_read_by_the_config_and_checked() -> None:
    config = Config.from_env({"SENDAI_PROFILE": "discard_refused=ignored, export_when=upload"})
    assert dict(config.profile) == {"discard_refused": "ignored", "export_when": "upload"}
    with pytest.raises(ConfigError, match="discard_refused"):
        Config.from_env({"SENDAI_PROFILE": "discard_refused=never"})
    with pytest.raises(ConfigError, match="nonsense"):
        Config.from_env({"SENDAI_PROFILE": "nonsense"})


def test_a_team_without_a_profile_of_its_own_follows_the_servers_default(
    config: Config, seed: dict[str, Any]
) -> None:
    app = create_app(config.with_overrides(profile={"discard_refused": "ignored"}))
    try:
        client = app.test_client()
        got = client.get(profile_path(seed), headers=auth(seed["keys"]["helpers"])).get_json()
        assert got["payload"]["discard_refused"] == "ignored"
        task = seed["tasks"]["COMPLETED"][0]
        response = client.post(
            f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{task}/discard",
            headers=auth(seed["keys"]["edit"]))
        assert response.status_code == 200
        # The team's own setting wins over the server's.
        put_profile(client, seed, {"discard_refused": "error"})
        response = client.post(
            f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{task}/discard",
            headers=auth(seed["keys"]["edit"]))
        assert response.status_code == 400
    finally:
        app.extensions["sendai_engine"].dispose()
        create_app(config).extensions["sendai_engine"].dispose()  # the default back


# --- discard_refused ----------------------------------------------------------------------------

@pytest.mark.parametrize("choice", ["error", "ignored"])
def test_discard_refused(client: FlaskClient, seed: dict[str, Any], engine: Engine,
                         choice: str) -> None:
    put_profile(client, seed, {"discard_refused": choice})
    task = seed["tasks"]["COMPLETED"][0]
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{task}"
    before = client.get(path, headers=auth(seed["keys"]["edit"])).get_json()["payload"]
    events = count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t", t=task)
    response = client.post(f"{path}/discard", headers=auth(seed["keys"]["edit"]))
    if choice == "error":
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_task_state"
    else:
        assert response.status_code == 200
        assert response.get_json() == {"payload": before}
    assert count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t",
                      t=task) == events
    # A REVIEWING task is discarded either way.
    reviewing = seed["tasks"]["REVIEWING"][1]
    done = client.post(f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{reviewing}"
                       "/discard", headers=auth(seed["keys"]["edit"]))
    assert done.get_json()["payload"]["status"] == "DISCARDED"


# --- no_access ----------------------------------------------------------------------------------

@pytest.mark.parametrize("choice,status,code", [("not_found", 404, "not_found"),
                                                ("forbidden", 403, "forbidden")])
def test_no_access(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
                   choice: str, status: int, code: str) -> None:
    put_profile(client, seed, {"no_access": choice})
    hidden, _ = create_project(uow, seed["team_id"], "Hidden")
    project = Project(client, uow, seed)
    upload = project.upload((documents.invoice_pdf(), "invoice.pdf"))
    outsider = create_key(uow, seed["team_id"], ["task.read", "upload.read", "upload.create"],
                          [hidden]).key
    team = f"/v2/{seed['team_id']}"
    for path in (f"{team}/project/{project.project_id}/task",
                 f"{team}/project/{project.project_id}/upload/{upload['id']}",
                 f"{team}/upload/{upload['id']}"):
        response = client.get(path, headers=auth(outsider))
        assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    created = client.post(f"{team}/upload", data={"projectId": project.project_id,
                                                  "file": (io.BytesIO(documents.png()), "a.png")},
                          content_type="multipart/form-data", headers=auth(outsider))
    assert created.status_code == status
    # What the team does not have is 404 under every profile: nothing leaks.
    for path in (f"{team}/project/proj_doesnotexist000000/task",
                 f"/v2/{seed['other']['team_id']}/project/{seed['other']['project_id']}/task",
                 f"{team}/upload/upl_doesnotexist00000000"):
        response = client.get(path, headers=auth(outsider))
        assert response.status_code == 404, path


# --- notifications: event_names, payload_task, extracted_data, signatures -----------------------

def _delivered(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine,
               config: Config, receiver: Receiver, profile: Profile) -> list[Any]:
    put_profile(client, seed, dict(profile.differences()))
    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    connect(project, receiver.url, secret=STANDARD_SECRET,
            events=["upload.processed", "task.export"])
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    return receiver.wait_count(2)


@pytest.mark.parametrize("profile", every_choice(), ids=lambda p: p.label())
def test_every_profile_signs_for_standardwebhooks_and_stripe(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine,
    config: Config, receiver: Receiver, profile: Profile,
) -> None:
    for got in _delivered(client, uow, seed, engine, config, receiver, profile):
        headers = {name.lower(): value for name, value in got.headers.items()}
        assert standardwebhooks.Webhook(STANDARD_SECRET).verify(got.body, headers)["id"] \
            == got.json["id"]
        event = stripe.Webhook.construct_event(got.body.decode(), headers["x-sendai-signature"],
                                               STANDARD_SECRET)
        assert event["id"] == got.json["id"]


@pytest.mark.parametrize("choice,names", [
    ("UPLOAD_IN_REVIEW", ["TASK_EXPORT", "UPLOAD_PROCESSED"]),
    ("upload.in_review", ["task.export", "upload.processed"]),
    ("IN_REVIEW", ["EXPORT", "PROCESSED"]),
])
def test_event_names(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
                     engine: Engine, config: Config, receiver: Receiver, choice: str,
                     names: list[str]) -> None:
    got = _delivered(client, uow, seed, engine, config, receiver,
                     Profile({"event_names": choice}))
    assert [g.json["event"] for g in got] == names
    assert [g.json["event_level"] for g in got] == ["TASK", "UPLOAD"]




@pytest.mark.parametrize("choice", ["task", "summary"])
def test_payload_task_and_its_extracted_data(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine,
    config: Config, receiver: Receiver, choice: str,
) -> None:
    export, processed = _delivered(client, uow, seed, engine, config, receiver,
                                   Profile({"payload_task": choice}))
    task = export.json["task"]
    assert processed.json["task"] is None
    data = task["extracted_data"]
    assert isinstance(data["total_amount"], float)
    assert data["total_amount"] == parse_amount(documents.INVOICE_TOTAL)
    if choice == "summary":
        assert set(task) == {"id", "status", "document_type", "extracted_data"}
        assert (task["status"], task["document_type"]) == ("COMPLETED", "pdf")
    else:
        assert {"id", "name", "pages", "meta", "upload_id", "extracted_data"} <= set(task)
        entities = {a["entity_id"] for p in task["pages"] for a in p["annotations"]}
        assert set(data) == entities


def test_parsed_values() -> None:
    assert parse_amount("1,234.56 EUR") == 1234.56
    assert parse_amount("€1.234,56") == 1234.56
    assert parse_amount("99") == 99
    assert parse_amount("n/a") is None
    assert parse_date("15.01.2024") == parse_date("January 15, 2024") == "2024-01-15"
    assert parse_date("2024-13-40") is None


# --- export_when --------------------------------------------------------------------------------

@pytest.mark.parametrize("choice", ["task", "upload"])
def test_export_when(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
                     engine: Engine, config: Config, receiver: Receiver, choice: str) -> None:
    put_profile(client, seed, {"export_when": choice})
    project = Project(client, uow, seed, pipeline="manual")
    connect(project, receiver.url, events=["task.export"])
    created = project.upload((documents.invoice_pdf(), "a.pdf"), (documents.png(), "b.png"))
    drain(engine, config)
    first, second = created["taskIds"]
    project.post(f"/test_helpers/task/{first}/advance", json={"event": "auto_complete"})
    drain(engine, config)
    sent = count_rows(engine, "SELECT count(*) FROM notification WHERE upload_id = :u",
                      u=created["id"])
    assert sent == (1 if choice == "task" else 0)
    project.post(f"/test_helpers/task/{second}/advance", json={"event": "fail"})
    drain(engine, config)
    [got] = receiver.wait_count(1)
    assert got.json["task"]["id"] == first
    assert count_rows(engine, "SELECT count(*) FROM notification WHERE upload_id = :u",
                      u=created["id"]) == 1
    assert project.task(first)["exported_at"] is not None


# --- email_body ---------------------------------------------------------------------------------

@pytest.mark.parametrize("team,project_setting,tasks", [
    ("always", None, 3), ("without_attachments", None, 2),
    ("always", "without_attachments", 2), ("without_attachments", "always", 3),
])
def test_email_body_by_profile_and_the_projects_setting_wins(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], team: str,
    project_setting: str | None, tasks: int,
) -> None:
    put_profile(client, seed, {"email_body": team})
    project = Project(client, uow, seed, email_body=project_setting)
    created = project.upload((email_with(*PDFS), "mail.eml"))
    assert len(created["taskIds"]) == tasks
    names = [project.task(t)["name"] for t in created["taskIds"]]
    assert names[-2:] == ["a.pdf", "b.pdf"]


def test_an_email_without_attachments_keeps_its_body_task_under_without_attachments(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any]
) -> None:
    put_profile(client, seed, {"email_body": "without_attachments"})
    project = Project(client, uow, seed)
    assert len(project.upload((email_with(), "mail.eml"))["taskIds"]) == 1


# --- the inspector ------------------------------------------------------------------------------

def test_the_inspector_shows_a_teams_profile_only_when_it_is_not_the_default(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    from tests.support.inspector import sign_in

    sign_in(client, seed["keys"]["helpers"])
    assert "profile <code>" not in client.get("/inspect/projects").get_data(as_text=True)
    put_profile(client, seed, {"payload_task": "summary"})
    page = client.get("/inspect/projects").get_data(as_text=True)
    assert "profile <code>payload_task=summary</code>" in page
