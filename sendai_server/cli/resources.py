"""The API's objects from the command line: keys, tasks, teams, projects, folders, uploads and
connectors (docs/api/index.md, docs/project-settings.md, docs/api/uploads.md,
docs/notifications.md), and the lifecycle's diagram."""

from __future__ import annotations

import dataclasses
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..config import Config
from ..domain.lifecycle import TaskStatus, mermaid_diagram
from ..services import connectors, keys, projects, uploads
from ..services.task_creation import TaskSpec, create_tasks, synthetic_pages
from ..web.context import storage_of
from .base import domain_errors, emit
from .clock import on_project_clock
from .database import command_app, command_uow

# --- keys ----------------------------------------------------------------------------------------

@click.group("keys", help="API keys.")
def keys_group() -> None:
    pass


@keys_group.command("create", help="Create a key; the plain key is printed once.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="Scope to grant; repeat for several (task.read, task.edit, ...).")
@click.option("--project", "projects", multiple=True, help="Project the key may reach; repeat.")
@click.option("--name", default="", help="A name for people.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def keys_create(
    team: str, scopes: tuple[str, ...], projects: tuple[str, ...], name: str, as_json: bool
) -> None:
    with command_uow() as uow:
        created = keys.create_key(uow, team, list(scopes), list(projects), name)
    if not created.projects:  # docs/api/index.md: a key reaches a project only once added to it
        click.echo("warning: this key reaches no project, so every request with it gets 404: "
                   "create it with --project P (repeat for several projects)", err=True)
    document = {"id": created.id, "key": created.key, "scopes": created.scopes,
                "projects": created.projects}
    emit(as_json, document, f"{created.id} {created.key}")


@keys_group.command("revoke", help="Revoke a key; requests with it then get 401.")
@click.argument("key_id")
@domain_errors
def keys_revoke(key_id: str) -> None:
    with command_uow() as uow:
        keys.revoke_key(uow, key_id)
    click.echo(f"revoked {key_id}", err=True)


# --- tasks --------------------------------------------------------------------------------------

@click.group("tasks", help="Tasks.")
def tasks_group() -> None:
    pass


@tasks_group.command("create", help="Create tasks in bulk.")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.option("--status", type=click.Choice([s.value for s in TaskStatus]), default="REVIEWING",
              show_default=True)
@click.option("--count", type=click.IntRange(1, 10_000_000), default=1, show_default=True)
@click.option("--pages", type=click.IntRange(0, 1000), default=1, show_default=True,
              help="Pages per task.")
@click.option("--annotations", type=click.IntRange(0, 10_000), default=5, show_default=True,
              help="Annotations per page.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def tasks_create(
    project: str, status: str, count: int, pages: int, annotations: int, as_json: bool
) -> None:
    rng = random.Random()
    # One page template per batch: task creation copies rows, it does not re-randomize them.
    template = synthetic_pages(pages, annotations, rng)
    specs = (
        TaskSpec(name=f"Task {n + 1}", status=TaskStatus(status), pages=template)
        for n in range(count)
    )
    with command_uow() as uow, on_project_clock(uow, project):
        if sys.stderr.isatty():
            with click.progressbar(length=count, label="creating tasks", file=sys.stderr) as bar:
                task_ids = create_tasks(uow, project, specs, progress=bar.update)
        else:
            task_ids = create_tasks(uow, project, specs)
    emit(as_json, {"task_ids": task_ids}, f"created {len(task_ids)} tasks")


# --- lifecycle ----------------------------------------------------------------------------------

@click.command(help="Print the task lifecycle as a Mermaid stateDiagram-v2, from the one table.")
def lifecycle() -> None:
    click.echo(mermaid_diagram(), nl=False)


# --- teams, projects, folders, uploads (docs/project-settings.md, docs/api/uploads.md) ----------

@click.group("teams", help="Teams.")
def teams_group() -> None:
    pass


@teams_group.command("create", help="Create a team.")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def teams_create(name: str, as_json: bool) -> None:
    with command_uow() as uow:
        team_id = projects.create_team(uow, name)
    emit(as_json, {"team_id": team_id}, team_id)


def _project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The settings of docs/project-settings.md; unset options leave a setting as it is (or its
    default)."""
    for option in reversed([
        click.option("--automation", type=click.Choice(projects.AUTOMATIONS)),
        click.option("--threshold", type=click.FloatRange(0, 1)),
        click.option("--pipeline", type=click.Choice(projects.PIPELINES)),
        click.option("--delay", type=click.FloatRange(0, projects.MAX_DELAY_SECONDS),
                     help="Seconds per pipeline step (default: SENDAI_PIPELINE_DELAY)."),
        click.option("--api-import", type=click.Choice(["on", "off"]),
                     help="Uploads through the API allowed (default on)."),
        click.option("--email-body",
                     type=click.Choice([*projects.EMAIL_BODY_CHOICES, "profile"]),
                     help="Whether an email's body becomes a task; 'profile': as the team's "
                          "profile says (the default)."),
        click.option("--email-sender", "email_senders", multiple=True,
                     help="An allowed sender of email uploads: user@x, @x or *@x; repeat for "
                          "several (replaces the list)."),
        click.option("--any-sender", is_flag=True, default=None,
                     help="Allow email uploads from any sender (clears the list)."),
        click.option("--email-prepend-body/--no-email-prepend-body", default=None,
                     help="Add an email's body text as the first page of each of its "
                          "attachments' tasks (default off)."),
    ]):
        command = option(command)
    return command


def _settings_given(**options: Any) -> dict[str, Any]:
    given = {name: value for name, value in options.items() if value is not None}
    if "api_import" in given:
        given["api_import"] = given["api_import"] == "on"
    if given.get("email_body") == "profile":
        given["email_body"] = None
    if not given.get("email_senders"):
        given.pop("email_senders", None)
    if given.pop("any_sender", None):
        given["email_senders"] = ()
    return given


@click.group("projects", help="Projects and their pipeline settings.")
def projects_group() -> None:
    pass


@projects_group.command("create", help="Create a project, with its four system folders.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--name", default="Project", show_default=True)
@_project_options
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def projects_create(team: str, name: str, as_json: bool, **options: Any) -> None:
    settings = projects.ProjectSettings(**_settings_given(**options))
    with command_uow() as uow:
        project_id, folders = projects.create_project(uow, team, name, settings)
    document = {"project_id": project_id,
                "folders": {key.lower(): value for key, value in folders.items()}}
    emit(as_json, document, project_id)


@projects_group.command("update", help="Change a project's pipeline settings.")
@click.argument("project_id")
@_project_options
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def projects_update(project_id: str, as_json: bool, **options: Any) -> None:
    with command_uow() as uow:
        settings = projects.update_project(uow, project_id, **_settings_given(**options))
    document = {"project_id": project_id, **dataclasses.asdict(settings)}
    emit(as_json, document, f"updated {project_id}")


@click.group("folders", help="Folders of a project.")
def folders_group() -> None:
    pass


@folders_group.command("create", help="Create a custom folder (2 to 15 characters).")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def folders_create(project: str, name: str, as_json: bool) -> None:
    with command_uow() as uow:
        folder_id = projects.create_folder(uow, project, name)
    emit(as_json, {"folder_id": folder_id}, folder_id)


@click.group("uploads", help="Uploads.")
def uploads_group() -> None:
    pass


@uploads_group.command("create", help="Upload files into a project; one task per file.")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@click.option("--name", help="The upload's name (default: the first file's).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def uploads_create(project: str, files: tuple[Any, ...], name: str | None, as_json: bool) -> None:
    app = command_app()
    config: Config = app.config["SENDAI"]
    incoming = [uploads.IncomingFile(Path(f.name).name, f) for f in files]
    with command_uow() as uow, on_project_clock(uow, project):
        created = uploads.create_upload_as_operator(
            uow, storage_of(app), project, incoming, name=name,
            default_delay=config.pipeline_delay,
        )
    document = {"upload_id": created["id"], "task_ids": created["taskIds"]}
    emit(as_json, document, f"{created['id']}: {', '.join(created['taskIds'])}")


@click.group("connectors", help="Where a project's notifications go (docs/notifications.md).")
def connectors_group() -> None:
    pass


def _header(value: str) -> tuple[str, str]:
    name, colon, rest = value.partition(":")
    if not colon or not name.strip():
        raise click.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
    return name.strip(), rest.strip()


@connectors_group.command("create", help="Add a connector. The bearer token and the secret are "
                                         "kept, and never printed again.")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.option("--url", required=True, help="http:// or https:// URL the notifications go to.")
@click.option("--name")
@click.option("--method", type=click.Choice(connectors.METHODS), default="POST",
              show_default=True)
@click.option("--header", "headers", multiple=True, help="'Name: value'; repeat for several.")
@click.option("--bearer", help="Sent as 'Authorization: Bearer TOKEN'.")
@click.option("--secret", help="Signs each attempt (X-Sendai-Signature).")
@click.option("--event", "events", multiple=True, type=click.Choice(list(connectors.EVENTS)),
              help="What it receives (default: every event); repeat for several.")
@click.option("--kind", type=click.Choice(connectors.KINDS), default="notification",
              show_default=True, help="api_lookup: asked for the annotations of --entity when "
                                      "a task is completed.")
@click.option("--entity", "entity_ids", multiple=True,
              help="An entity id an api_lookup connector answers for; repeat for several.")
@click.option("--oauth2-token-url", help="OAuth2 client credentials: the token endpoint.")
@click.option("--oauth2-client-id")
@click.option("--oauth2-client-secret")
@click.option("--oauth2-scope")
@click.option("--token-exchange-url", help="A custom token exchange: where the token comes from.")
@click.option("--token-exchange-method", type=click.Choice(["GET", "POST"]), default="POST",
              show_default=True)
@click.option("--token-query", "token_query", multiple=True, help="'name=value' in its query.")
@click.option("--token-form", "token_form", multiple=True, help="'name=value' in its form.")
@click.option("--token-key", help="Where the token is in the exchange's JSON answer.")
@click.option("--expiry-key", help="Where its expiry is in that answer.")
@click.option("--expiry-type", type=click.Choice(["datetime", "seconds", "milliseconds"]),
              default="seconds", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def connectors_create(project: str, url: str, name: str | None, method: str,
                      headers: tuple[str, ...], bearer: str | None, secret: str | None,
                      events: tuple[str, ...], as_json: bool, kind: str,
                      entity_ids: tuple[str, ...], **auth: Any) -> None:
    spec = connectors.ConnectorSpec(
        url=url, name=name, method=method, headers=dict(_header(h) for h in headers),
        bearer=bearer, secret=secret, events=events or tuple(connectors.EVENTS),
        kind=kind, entity_ids=entity_ids, **_token_auth(**auth),
    )
    with command_uow() as uow:
        made = connectors.create_connector(uow, project, spec)
    emit(as_json, {"connector_id": made["id"]}, made["id"])


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, equals, rest = value.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{value!r} is not 'name=value'", param_hint=option)
        pairs[name] = rest
    return pairs


def _token_auth(*, oauth2_token_url: str | None, oauth2_client_id: str | None,
                oauth2_client_secret: str | None, oauth2_scope: str | None,
                token_exchange_url: str | None, token_exchange_method: str,
                token_query: tuple[str, ...], token_form: tuple[str, ...],
                token_key: str | None, expiry_key: str | None,
                expiry_type: str) -> dict[str, Any]:
    """The --oauth2-* or --token-* options as ConnectorSpec's `oauth2` / `token_exchange`
    (checked there, as the test helper's body is)."""
    found: dict[str, Any] = {}
    if oauth2_token_url or oauth2_client_id or oauth2_client_secret:
        found["oauth2"] = {"token_url": oauth2_token_url or "", "client_id": oauth2_client_id
                           or "", "client_secret": oauth2_client_secret or "",
                           "scope": oauth2_scope}
    if token_exchange_url or token_key:
        exchange: dict[str, Any] = {
            "method": token_exchange_method, "url": token_exchange_url or "",
            "token_key": token_key or "", "expiry_key": expiry_key, "expiry_type": expiry_type}
        for name, values in (("query", token_query), ("form", token_form)):
            if values:
                exchange[name] = _pairs(values, f"--token-{name}")
        found["token_exchange"] = exchange
    return found


@connectors_group.command("list", help="A project's connectors (bearer and secret shown as ***).")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def connectors_list(project: str, as_json: bool) -> None:
    with command_uow() as uow:
        found = connectors.list_connectors(uow, project)
    # A connector a receiver's 410 disabled says so (docs/notifications.md).
    lines = [f"{c['id']}  {c['method']} {c['url']}  {','.join(c['events'])}"
             + (f"  disabled {c['disabled_at'].isoformat()}" if c.get("disabled_at") else "")
             for c in found]
    emit(as_json, {"connectors": found}, "\n".join(lines) or "no connectors")


@connectors_group.command("delete", help="Delete a connector, its notifications and their log.")
@click.argument("connector_id")
@domain_errors
def connectors_delete(connector_id: str) -> None:
    with command_uow() as uow:
        connectors.delete_connector(uow, connector_id)
    click.echo(f"deleted {connector_id}", err=True)

