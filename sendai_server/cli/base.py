"""The root command group and what every command shares: the failures that are not bugs, how a
refused request is shown, and the --json output."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from alembic.util import CommandError as AlembicCommandError

from .. import migrate
from ..config import ConfigError
from ..errors import SendAIError


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


@click.group(cls=_CommandLine,
             help="sendai-server: a reference backend for Send AI's v2 task API.")
@click.option("--debug", is_flag=True,
              help="Show the traceback of a failure instead of its one-line message.")
def main(debug: bool) -> None:
    pass


def domain_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refused request into a one-line message and exit status 1, not a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SendAIError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def emit(as_json: bool, document: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(document, indent=2) if as_json else human)

