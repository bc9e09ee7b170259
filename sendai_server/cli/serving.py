"""`sendai-server worker` and `serve`: the pipeline's jobs, and the API under gunicorn."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import click

from ..config import Config
from ..pipeline.worker import DELIVERY_CONCURRENCY, run_worker
from ..process import supervisor
from ..process.parent_watch import end_with_parent
from ..store.db import make_engine
from .address import public_base_url
from .base import CommandFailure
from .database import app_engine, check_schema, command_app, schema_mismatch

log = logging.getLogger("sendai_server.cli")


@click.command(help="Run the pipeline's jobs (docs/pipeline.md) until SIGTERM or SIGINT, "
                   "which let the current job finish. Run any number, on any host sharing the "
                   "database.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Pipeline jobs run at once (threads, each with its own connection).")
@click.option("--delivery-concurrency", type=click.IntRange(0, 64),
              default=DELIVERY_CONCURRENCY, show_default=True,
              help="Notifications delivered at once, on threads of their own (0: none).")
def worker(concurrency: int, delivery_concurrency: int) -> None:
    app = command_app()
    config: Config = app.config["SENDAI"]
    if not config.allow_schema_mismatch:
        check_schema(app)
    app_engine(app).dispose()
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        if not stop.is_set():
            log.info("%s: stopping after the current job", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    end_with_parent(config.supervisor_pid)  # started by serve: end with it (SIGTERM, above)
    engine = make_engine(config.database_url, pool_size=concurrency + delivery_concurrency)
    try:
        run_worker(engine, config, concurrency=concurrency,
                   delivery_concurrency=delivery_concurrency, stop=stop)
    finally:
        engine.dispose()


@click.command(help="Serve the API under gunicorn (settings in "
                   "sendai_server/process/gunicorn_conf.py), with one "
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
    app = command_app()
    config: Config = app.config["SENDAI"]
    mismatch = schema_mismatch(app)
    app_engine(app).dispose()
    if mismatch is not None:
        if not allow_schema_mismatch:
            raise CommandFailure(
                f"{mismatch}; to serve anyway (a rolling upgrade), pass --allow-schema-mismatch "
                "or set SENDAI_ALLOW_SCHEMA_MISMATCH=1"
            ) from mismatch
        click.echo(f"warning: serving anyway (--allow-schema-mismatch): {mismatch}", err=True)
    if allow_schema_mismatch:
        os.environ["SENDAI_ALLOW_SCHEMA_MISMATCH"] = "1"
    bind = bind or config.bind
    _print_addresses(config, bind)
    # The package's own settings and app factory: an installed copy serves as the repository
    # does, from any working directory.
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:sendai_server.process.gunicorn_conf",
        "--bind", bind,
        "--workers", str(workers or config.workers),
        "sendai_server:create_app()",
    ]
    supervisor.start(
        supervisor.ServeCommand(argv, worker=None if no_worker else supervisor.WORKER_ARGV)
    )


def _print_addresses(config: Config, bind: str) -> None:
    """Where clients reach what serve starts (docs/cli.md); gunicorn's own log says where it
    listens, which differs behind SENDAI_PUBLIC_URL."""
    base_url = public_base_url(config, bind)
    if base_url is None:
        return
    pages = [f"the API's docs: {base_url}/docs"]
    if config.inspector:
        pages.insert(0, f"the inspector: {base_url}/inspect")
    click.echo(f"Serving {base_url} ({', '.join(pages)})")
