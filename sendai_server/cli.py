"""The `sendai-server` command line (API.md §7). Also reachable as `flask --app sendai_server`.

With --json, standard output holds only the JSON; everything else goes to standard error.

A failure that is not a bug (a database that cannot be reached or is not supported, an unknown
revision, a schema at the wrong revision, a refused request) is one line on standard error and
exit status 1; `sendai-server --debug ...` shows its traceback instead. A bug keeps its
traceback. The mapping lives in one place: `_CommandLine.invoke`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import click
from alembic.util import CommandError as AlembicCommandError
from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from . import create_app, migrate
from .config import Config, ConfigError
from .db import make_engine
from .errors import SendAIError
from .lifecycle import TaskStatus, mermaid_diagram
from .pipeline.worker import DELIVERY_CONCURRENCY, run_worker
from .services import connectors, demo, keys, projects, uploads
from .services.task_creation import TaskSpec, create_tasks, synthetic_pages
from .uow import UnitOfWork

log = logging.getLogger("sendai_server.cli")
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_URL_EXAMPLES = "sqlite:///path/to/file.db or postgresql://user@host/dbname"


class CommandFailure(Exception):
    """An expected failure: the message is the one line the user sees."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _expected_failure(exc: Exception) -> str | None:
    """The one line for a failure that is not a bug; None for anything else."""
    if isinstance(exc, (CommandFailure, migrate.SchemaMismatch, ConfigError, SendAIError)):
        return _one_line(str(exc))
    if isinstance(exc, AlembicCommandError):
        known = ", ".join(("base", *migrate.revisions()))
        return _one_line(f"{exc}: give one of this version's revisions ({known}), head, "
                         "or a step like -1")
    return None


class _CommandLine(click.Group):
    """The top-level group: maps the known failures of every command to one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = _expected_failure(exc)
            if message is None or ctx.params.get("debug"):
                raise
            raise click.ClickException(message) from exc


def _hide_password(raw: str) -> str:
    """A URL SQLAlchemy cannot parse, with whatever follows 'user:' up to the last '@' masked."""
    userinfo, at, rest = raw.rpartition("@")
    scheme, slashes, credentials = userinfo.rpartition("//")
    if not at or ":" not in credentials:
        return raw
    return f"{scheme}{slashes}{credentials.split(':', 1)[0]}:***@{rest}"


def _check_database_url(raw: str) -> URL:
    """Refuse, before any driver is imported, a URL this server cannot use."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise CommandFailure(
            f"DATABASE_URL is not a database URL: {_hide_password(raw)!r}; "
            f"write {_URL_EXAMPLES}"
        ) from exc
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise CommandFailure(
            f"DATABASE_URL is a {backend} URL ({shown}); sendai-server supports sqlite and "
            f"postgresql: {_URL_EXAMPLES}"
        )
    if url.drivername not in SUPPORTED_BACKENDS:  # an explicit driver: is it installed?
        try:
            url.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError) as exc:
            raise CommandFailure(
                f"DATABASE_URL asks for the driver {url.drivername} ({shown}), which is not "
                f"available ({exc}); write {backend}://... to use the one sendai-server ships with"
            ) from exc
    return url


def _check_reachable(app: Flask, url: URL) -> None:
    shown = url.render_as_string(hide_password=True)
    try:
        with app.extensions["sendai_engine"].connect():
            pass
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else repr(exc)
        if url.password:
            reason = reason.replace(str(url.password), "***")
        todo = (
            "check that the path is right and its directory writable"
            if url.get_backend_name() == "sqlite"
            else "check that the server is running and DATABASE_URL's host, port, user, "
            "password and database name"
        )
        raise CommandFailure(f"cannot connect to the database {shown}: {reason}; {todo}") from exc


def _app() -> Flask:
    """The application, on a database URL this server supports and can connect to."""
    try:
        return current_app._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        pass
    config = Config.from_env()
    url = _check_database_url(config.database_url)
    app = create_app(config)
    _check_reachable(app, url)
    return app


def _engine(app: Flask) -> Engine:
    engine: Engine = app.extensions["sendai_engine"]
    return engine


@contextmanager
def _uow() -> Iterator[UnitOfWork]:
    """A command's unit of work, the same object a request or a worker uses, on a database
    whose schema is at this version's head."""
    app = _app()
    migrate.check_schema(_engine(app))
    with app.app_context(), UnitOfWork(_engine(app)) as uow:
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


@click.group(cls=_CommandLine,
             help="sendai-server: a reference backend for Send AI's v2 task API.")
@click.option("--debug", is_flag=True,
              help="Show the traceback of a failure instead of its one-line message.")
def main(debug: bool) -> None:
    pass


# --- db -------------------------------------------------------------------------------------

@main.group(help="Database schema (Alembic).")
def db() -> None:
    pass


def _migratable_database_url() -> str:
    """The URL of a database whose schema this version knows (it cannot migrate from a newer)."""
    app = _app()
    migrate.check_schema(_engine(app), allow_older=True)
    return str(app.config["SENDAI"].database_url)


@db.command("upgrade", help="Migrate to the newest revision (alembic upgrade head).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    migrate.upgrade(_migratable_database_url(), revision)


# ignore_unknown_options: "-1" is a revision, not an option.
@db.command("downgrade", help="Migrate down to REVISION (e.g. base or -1).",
            context_settings={"ignore_unknown_options": True})
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    migrate.downgrade(_migratable_database_url(), revision)


@db.command("current", help="Print the database's revision and whether it is the head.")
def db_current() -> None:
    mismatch = migrate.schema_mismatch(_engine(_app()))
    if mismatch is None:
        click.echo(f"{migrate.head_revision()} (head)")
    elif mismatch.newer:
        click.echo(f"{mismatch.current} (newer than this version's head, {mismatch.head})")
    else:
        click.echo(f"{mismatch.current or 'base'} (head is {mismatch.head})")


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
        sample = importlib.resources.files("sendai_server") / "samples" / "invoice.pdf"
        uploading = demo.upload_demo_curl(uow, base_url.rstrip("/"), str(sample))
    click.echo(f"Demo API key (shown once): {document['key']}")
    click.echo("Discard a demo task with:")
    click.echo(f"  {document['curl']}")
    click.echo("Upload a sample invoice into a project whose pipeline runs (key shown once):")
    click.echo(f"  {uploading['curl']}")
    click.echo("then, after a second, see its task in REVIEWING with its total:")
    click.echo(f"  curl '{uploading['task_url']}' -H 'Authorization: Bearer {uploading['key']}'")
    click.echo(f"Or look at it all in a browser: {base_url.rstrip('/')}/inspect "
               "(sign in with either key above)")


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

# --- teams, projects, folders, uploads (API.md §8, §9) --------------------------------------

@main.group("teams", help="Teams.")
def teams_group() -> None:
    pass


@teams_group.command("create", help="Create a team.")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def teams_create(name: str, as_json: bool) -> None:
    with _uow() as uow:
        team_id = projects.create_team(uow, name)
    _emit(as_json, {"team_id": team_id}, team_id)


def _project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The settings of API.md §8; unset options leave a setting as it is (or its default)."""
    for option in reversed([
        click.option("--automation", type=click.Choice(projects.AUTOMATIONS)),
        click.option("--threshold", type=click.FloatRange(0, 1)),
        click.option("--pipeline", type=click.Choice(projects.PIPELINES)),
        click.option("--delay", type=click.FloatRange(0, projects.MAX_DELAY_SECONDS),
                     help="Seconds per pipeline step (default: SENDAI_PIPELINE_DELAY)."),
    ]):
        command = option(command)
    return command


def _settings_given(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}


@main.group("projects", help="Projects and their pipeline settings.")
def projects_group() -> None:
    pass


@projects_group.command("create", help="Create a project, with its four system folders.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--name", default="Project", show_default=True)
@_project_options
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def projects_create(team: str, name: str, as_json: bool, **options: Any) -> None:
    settings = projects.ProjectSettings(**_settings_given(**options))
    with _uow() as uow:
        project_id, folders = projects.create_project(uow, team, name, settings)
    document = {"project_id": project_id,
                "folders": {key.lower(): value for key, value in folders.items()}}
    _emit(as_json, document, project_id)


@projects_group.command("update", help="Change a project's pipeline settings.")
@click.argument("project_id")
@_project_options
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def projects_update(project_id: str, as_json: bool, **options: Any) -> None:
    with _uow() as uow:
        settings = projects.update_project(uow, project_id, **_settings_given(**options))
    document = {"project_id": project_id, **dataclasses.asdict(settings)}
    _emit(as_json, document, f"updated {project_id}")


@main.group("folders", help="Folders of a project.")
def folders_group() -> None:
    pass


@folders_group.command("create", help="Create a custom folder (2 to 15 characters).")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def folders_create(project: str, name: str, as_json: bool) -> None:
    with _uow() as uow:
        folder_id = projects.create_folder(uow, project, name)
    _emit(as_json, {"folder_id": folder_id}, folder_id)


@main.group("uploads", help="Uploads.")
def uploads_group() -> None:
    pass


@uploads_group.command("create", help="Upload files into a project; one task per file.")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@click.option("--name", help="The upload's name (default: the first file's).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def uploads_create(project: str, files: tuple[Any, ...], name: str | None, as_json: bool) -> None:
    app = _app()
    config: Config = app.config["SENDAI"]
    incoming = [uploads.IncomingFile(Path(f.name).name, f) for f in files]
    with _uow() as uow:
        created = uploads.create_upload_as_operator(
            uow, app.extensions["sendai_storage"], project, incoming, name=name,
            default_delay=config.pipeline_delay,
        )
    document = {"upload_id": created["id"], "task_ids": created["taskIds"]}
    _emit(as_json, document, f"{created['id']}: {', '.join(created['taskIds'])}")


@main.group("connectors", help="Where a project's notifications go (API.md §11).")
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
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def connectors_create(project: str, url: str, name: str | None, method: str,
                      headers: tuple[str, ...], bearer: str | None, secret: str | None,
                      events: tuple[str, ...], as_json: bool) -> None:
    spec = connectors.ConnectorSpec(
        url=url, name=name, method=method, headers=dict(_header(h) for h in headers),
        bearer=bearer, secret=secret, events=events or tuple(connectors.EVENTS),
    )
    with _uow() as uow:
        made = connectors.create_connector(uow, project, spec)
    _emit(as_json, {"connector_id": made["id"]}, made["id"])


@connectors_group.command("list", help="A project's connectors (bearer and secret shown as ***).")
@click.option("--project", required=True, help="Project id (proj_...).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@_domain_errors
def connectors_list(project: str, as_json: bool) -> None:
    with _uow() as uow:
        found = connectors.list_connectors(uow, project)
    for connector in found:
        connector["created_at"] = connector["created_at"].isoformat()
        if connector.get("disabled_at") is not None:
            connector["disabled_at"] = connector["disabled_at"].isoformat()
    lines = [f"{c['id']}  {c['method']} {c['url']}  {','.join(c['events'])}" for c in found]
    _emit(as_json, {"connectors": found}, "\n".join(lines) or "no connectors")


@connectors_group.command("delete", help="Delete a connector, its notifications and their log.")
@click.argument("connector_id")
@_domain_errors
def connectors_delete(connector_id: str) -> None:
    with _uow() as uow:
        connectors.delete_connector(uow, connector_id)
    click.echo(f"deleted {connector_id}", err=True)


@main.command(help="Print the task lifecycle as a Mermaid stateDiagram-v2, from the one table.")
def lifecycle() -> None:
    click.echo(mermaid_diagram(), nl=False)


# --- worker ---------------------------------------------------------------------------------

@main.command(help="Run the pipeline's jobs (API.md §10) until SIGTERM or SIGINT, which let the "
                   "current job finish. Run any number, on any host sharing the database.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Pipeline jobs run at once (threads, each with its own connection).")
@click.option("--delivery-concurrency", type=click.IntRange(0, 64),
              default=DELIVERY_CONCURRENCY, show_default=True,
              help="Notifications delivered at once, on threads of their own (0: none).")
def worker(concurrency: int, delivery_concurrency: int) -> None:
    app = _app()
    config: Config = app.config["SENDAI"]
    if not config.allow_schema_mismatch:
        migrate.check_schema(_engine(app))
    _engine(app).dispose()
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        if not stop.is_set():
            log.info("%s: stopping after the current job", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    engine = make_engine(config.database_url, pool_size=concurrency + delivery_concurrency)
    try:
        run_worker(engine, config, concurrency=concurrency,
                   delivery_concurrency=delivery_concurrency, stop=stop)
    finally:
        engine.dispose()


# --- serve ----------------------------------------------------------------------------------

# `sendai-server worker` as a child of this interpreter (whatever venv or checkout it runs from).
WORKER_ARGV = [sys.executable, "-c", "from sendai_server.cli import main; "
               "main(prog_name='sendai-server')", "worker"]


class ServeCommand(list[str]):
    """gunicorn's argv, and the argv of the pipeline worker to run beside it (None: gunicorn
    alone). A list, so what `_exec` is handed still reads as the command it starts."""

    def __init__(self, argv: list[str], worker: list[str] | None) -> None:
        super().__init__(argv)
        self.worker = worker


def _exec(argv: list[str]) -> None:
    """Start the server: replace this process with argv (gunicorn) or, when argv carries a
    worker, supervise the two (a function of its own so tests can stand in for it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    worker = argv.worker if isinstance(argv, ServeCommand) else None
    if worker is None:
        os.execv(argv[0], argv)
    sys.exit(_supervise(list(argv), worker))


def _supervise(server_argv: list[str], worker_argv: list[str]) -> int:
    """Run gunicorn and one pipeline worker. SIGTERM and SIGINT go to gunicorn as they came and
    to the worker as SIGTERM (it finishes its current job); when gunicorn exits, the worker is
    stopped the same way and this exits with gunicorn's status. A worker that exits on its own
    meanwhile is started again.

    The worker has a process group of its own, so a Ctrl-C in the terminal reaches it only as
    this SIGTERM: a worker still starting up then ends quietly, not with a KeyboardInterrupt."""
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    stopping = threading.Event()

    def _stop_worker() -> None:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)

    def _forward(signum: int, _frame: object) -> None:
        stopping.set()
        if server is not None and server.poll() is None:
            server.send_signal(signum)
        _stop_worker()

    # Before the children start, so that a signal in between does not orphan them.
    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    server = subprocess.Popen(server_argv)
    worker = subprocess.Popen(worker_argv, process_group=0)
    while True:
        try:
            status = server.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        if worker.poll() is not None and not stopping.is_set():
            log.warning("the pipeline worker exited with %s; starting another", worker.returncode)
            worker = subprocess.Popen(worker_argv, process_group=0)
    _stop_worker()
    try:
        worker.wait(timeout=Config.from_env().job_lease_seconds)
    except subprocess.TimeoutExpired:  # its job is due again once the lease runs out
        worker.kill()
        worker.wait()
    return status


@main.command(help="Serve the API under gunicorn (settings in sendai_server/gunicorn_conf.py), "
                   "with one "
                   "pipeline worker beside it unless --no-worker. Refuses a database whose "
                   "schema is not at this version's head.")
@click.option("--bind", help="HOST:PORT (default SENDAI_BIND or 127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Worker processes (default SENDAI_WORKERS or 2).")
# The flag and the variable are one setting: click reads the variable here, and the flag sets it
# for gunicorn's workers, whose Config (config.py) reads it again.
@click.option("--allow-schema-mismatch", is_flag=True, envvar="SENDAI_ALLOW_SCHEMA_MISMATCH",
              help="Serve even if the schema is not at this version's head, e.g. during a "
                   "rolling upgrade (or SENDAI_ALLOW_SCHEMA_MISMATCH=1).")
@click.option("--no-worker", is_flag=True,
              help="No pipeline worker beside gunicorn (run 'sendai-server worker' elsewhere).")
def serve(
    bind: str | None, workers: int | None, allow_schema_mismatch: bool, no_worker: bool
) -> None:
    app = _app()
    config: Config = app.config["SENDAI"]
    engine = _engine(app)
    mismatch = migrate.schema_mismatch(engine)
    engine.dispose()
    if mismatch is not None:
        if not allow_schema_mismatch:
            raise CommandFailure(
                f"{mismatch}; to serve anyway (a rolling upgrade), pass --allow-schema-mismatch "
                "or set SENDAI_ALLOW_SCHEMA_MISMATCH=1"
            ) from mismatch
        click.echo(f"warning: serving anyway (--allow-schema-mismatch): {mismatch}", err=True)
    if allow_schema_mismatch:
        os.environ["SENDAI_ALLOW_SCHEMA_MISMATCH"] = "1"
    # The package's own settings and app factory: an installed copy serves as the repository
    # does, from any working directory.
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:sendai_server.gunicorn_conf",
        "--bind", bind or config.bind,
        "--workers", str(workers or config.workers),
        "sendai_server:create_app()",
    ]
    _exec(ServeCommand(argv, worker=None if no_worker else WORKER_ARGV))


def register(app: Flask) -> None:
    """Make the same commands available as `flask --app sendai_server ...`."""
    for command in main.commands.values():
        app.cli.add_command(command)


if __name__ == "__main__":
    main()
