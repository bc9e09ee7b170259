"""The `sendai-server` command line (docs/cli.md). Also reachable as `flask --app sendai_server`.

With --json, standard output holds only the JSON; everything else goes to standard error.

A failure that is not a bug (a database that cannot be reached or is not supported, an unknown
revision, a schema at the wrong revision, a refused request) is one line on standard error and
exit status 1; `sendai-server --debug ...` shows its traceback instead. A bug keeps its
traceback. The mapping lives in one place: `base._CommandLine.invoke`.

The package, by concern: `base` (the root group, its failures, the --json output), `database`
(the database a command means: URL checks, reachability, its unit of work), `supervisor`
(serve's gunicorn and pipeline worker), `address` (the address printed for clients), and the
commands: `migrations` (db), `demo` (seed, demo-curl), `resources` (keys, tasks, teams,
projects, folders, uploads, connectors, lifecycle), `serving` (worker, serve), `faults`
(docs/failures.md), `clock` (docs/clock.md).

A command or group of commands from another module is one line in COMMANDS below: define it
with `@click.command()` / `@click.group()` (not on `main`), using `base.domain_errors`,
`base.emit` and `database.command_uow` as these modules do.
"""

from __future__ import annotations

import click
from flask import Flask

from ..proxy.commands import COMMANDS as PROXY_COMMANDS
from . import clock, demo, faults, migrations, receiver_check, resources, serving, state
from .base import CommandFailure, main

__all__ = ["CommandFailure", "main", "register"]

COMMANDS: tuple[click.Command, ...] = (
    migrations.db,
    demo.seed,
    demo.demo_curl,
    resources.keys_group,
    resources.tasks_group,
    resources.teams_group,
    resources.projects_group,
    resources.folders_group,
    resources.uploads_group,
    resources.connectors_group,
    resources.lifecycle,
    serving.worker,
    serving.serve,
    faults.faults,
    receiver_check.check_receiver_command,  # docs/receiver-check.md
    clock.clock,  # a team's clock (docs/clock.md)
    state.state,  # docs/snapshots.md
    state.snapshots_group,
    *PROXY_COMMANDS,  # proxy, recording (docs/proxy.md)
)
for _command in COMMANDS:
    main.add_command(_command)


def register(app: Flask) -> None:
    """Make the same commands available as `flask --app sendai_server ...`."""
    for command in main.commands.values():
        app.cli.add_command(command)
