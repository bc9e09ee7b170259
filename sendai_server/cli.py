"""The `sendai-server` command line (API.md §7). Also reachable as `flask --app sendai_server`.

With --json, standard output holds only the JSON; everything else goes to standard error.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import click
from flask import Flask, current_app

from . import create_app, migrate
from .config import Config, ConfigError
from .errors import SendAIError
from .lifecycle import TaskStatus, mermaid_diagram
from .services import demo, keys
from .services.task_creation import TaskSpec, create_tasks, synthetic_pages
from .uow import UnitOfWork

REPO_ROOT = migrate.MIGRATIONS_DIR.parent


def _app() -> Flask:
    try:
        return current_app._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        pass
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _uow() -> Iterator[UnitOfWork]:
    """A command's unit of work, the same object a request or a worker uses."""
    app = _app()
    with app.app_context(), UnitOfWork(app.extensions["sendai_engine"]) as uow:
        yield uow


def _domain_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refused request into a one-line message and exit status 1, not a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SendAIError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def _emit(as_json: bool, document: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(document, indent=2) if as_json else human)


@click.group(help="sendai-server: a reference backend for Send AI's v2 task API.")
def main() -> None:
    pass


# --- db -------------------------------------------------------------------------------------

@main.group(help="Database schema (Alembic).")
def db() -> None:
    pass


def _database_url() -> str:
    return str(_app().config["SENDAI"].database_url)


@db.command("upgrade", help="Migrate to the newest revision (alembic upgrade head).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    migrate.upgrade(_database_url(), revision)


@db.command("downgrade", help="Migrate down to REVISION (e.g. base or -1).")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    migrate.downgrade(_database_url(), revision)


@db.command("current", help="Print the database's revision and whether it is the head.")
def db_current() -> None:
    app = _app()
    current = migrate.current_revision(app.extensions["sendai_engine"])
    head = migrate.head_revision()
    marker = " (head)" if current == head else f" (head is {head})"
    click.echo(f"{current or 'base'}{marker}")


# --- seed and demo --------------------------------------------------------------------------

@main.command(help="Create demo data: a fresh team, keys, and tasks in every state.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def seed(as_json: bool) -> None:
    with _uow() as uow:
        document = demo.seed_demo(uow)
    human = (
        f"team {document['team_id']}, project {document['project_id']}\n"
        f"edit key: {document['keys']['edit']}\n"
        + "\n".join(f"{status}: {', '.join(ids)}" for status, ids in document["tasks"].items())
    )
    _emit(as_json, document, human)


@main.command(help="Seed an empty database, mint a demo key, print a curl that discards a task.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True)
@_domain_errors
def demo_curl(base_url: str) -> None:
    with _uow() as uow:
        if demo.is_empty(uow):
            demo.seed_demo(uow)
            click.echo("Seeded demo data.", err=True)
        document = demo.demo_curl(uow, base_url.rstrip("/"))
    click.echo(f"Demo API key (shown once): {document['key']}")
    click.echo("Discard a demo task with:")
    click.echo(f"  {document['curl']}")


# --- keys -----------------------------------------------------------------------------------

@main.group("keys", help="API keys.")
def keys_group() -> None:
    pass


@keys_group.command("create", help="Create a key; the plain key is printed once.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="Scope to grant; repeat for several (task.read, task.edit, ...).")
@click.option("--project", "projects", multiple=True, help="Project the key may reach; repeat.")
@click.option("--name", default="", help="A name for people.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def keys_create(
    team: str, scopes: tuple[str, ...], projects: tuple[str, ...], name: str, as_json: bool
) -> None:
    with _uow() as uow:
        created = keys.create_key(uow, team, list(scopes), list(projects), name)
    document = {"id": created.id, "key": created.key, "scopes": created.scopes,
                "projects": created.projects}
    _emit(as_json, document, f"{created.id} {created.key}")


@keys_group.command("revoke", help="Revoke a key; requests with it then get 401.")
@click.argument("key_id")
@_domain_errors
def keys_revoke(key_id: str) -> None:
    with _uow() as uow:
        keys.revoke_key(uow, key_id)
    click.echo(f"revoked {key_id}", err=True)


# --- tasks ----------------------------------------------------------------------------------

@main.group("tasks", help="Tasks.")
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
@_domain_errors
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
    with _uow() as uow:
        if sys.stderr.isatty():
            with click.progressbar(length=count, label="creating tasks", file=sys.stderr) as bar:
                task_ids = create_tasks(uow, project, specs, progress=bar.update)
        else:
            task_ids = create_tasks(uow, project, specs)
    _emit(as_json, {"task_ids": task_ids}, f"created {len(task_ids)} tasks")


# --- lifecycle ------------------------------------------------------------------------------

@main.command(help="Print the task lifecycle as a Mermaid stateDiagram-v2, from the one table.")
def lifecycle() -> None:
    click.echo(mermaid_diagram(), nl=False)


# --- serve ----------------------------------------------------------------------------------

@main.command(help="Serve the API under gunicorn (settings in gunicorn.conf.py).")
@click.option("--bind", help="HOST:PORT (default SENDAI_BIND or 127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Worker processes (default SENDAI_WORKERS or 2).")
def serve(bind: str | None, workers: int | None) -> None:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", str(REPO_ROOT / "gunicorn.conf.py"),
        "--chdir", str(REPO_ROOT),
        "--bind", bind or config.bind,
        "--workers", str(workers or config.workers),
        "wsgi:app",
    ]
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def register(app: Flask) -> None:
    """Make the same commands available as `flask --app sendai_server ...`."""
    for command in main.commands.values():
        app.cli.add_command(command)
