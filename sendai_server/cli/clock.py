"""`sendai-server clock freeze|advance|show|resume --team T` (docs/clock.md): a team's clock
from the command line, through the same services as the test helpers' endpoints. An advance
plays the time out here, in this process: the pipeline's steps and the deliveries (over HTTP
to their receivers) of the team's jobs that fall due, one at a time, in due order.

A group of its own, in cli/__init__.py's COMMANDS, written like the other command modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import select

from ..domain.clock import frozen_at
from ..domain.errors import NotFound, ValidationError
from ..pipeline import clock_advance
from ..pipeline.worker import load_handlers
from ..services import team_clock
from ..store.models import Project, Team, TeamClock
from ..store.uow import UnitOfWork
from .base import domain_errors, emit
from .database import command_app, command_uow

_TEAM = click.option("--team", required=True, help="Team id (team_...).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(option: str, text: str) -> datetime:
    """ISO 8601 text as an aware datetime (naive: UTC); a clear refusal naming the option."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{option}: not a date-time: {text!r} (ISO 8601, e.g. "
                              "2026-01-05T09:00:00Z).") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_team(uow: UnitOfWork, team_id: str) -> None:
    with uow.read() as conn:
        if conn.scalar(select(Team.id).where(Team.id == team_id)) is None:
            raise NotFound(f"No team {team_id}.")


@contextmanager
def on_project_clock(uow: UnitOfWork, project_id: str) -> Iterator[None]:
    """Run a command's writes for a project at its team's frozen time, as a request of that
    team runs (docs/clock.md); on real time when the team's clock runs."""
    with uow.read() as conn:
        frozen = conn.scalar(select(TeamClock.now).join(
            Project, Project.team_id == TeamClock.team_id).where(Project.id == project_id))
    with frozen_at(frozen):
        yield


def _describe(clock: dict[str, Any]) -> str:
    lines = [f"team {clock['team_id']}: frozen at {_moment(clock['now'])} "
             f"(started {_moment(clock['frozen_at'])}, advanced "
             f"{timedelta(seconds=round(clock['advanced_seconds']))})"]
    pending = clock.get("pending") or []
    lines.append(f"{len(pending)} job(s) waiting for the clock" + (":" if pending else ""))
    lines += [f"  {_moment(job['due_at'])}  {job['kind']}  {job['subject'] or ''}".rstrip()
              for job in pending]
    return "\n".join(lines)


@click.group("clock", help="A team's clock (docs/clock.md): stop its time, move it, and "
                           "play out what falls due.")
def clock() -> None:
    pass


@clock.command("freeze", help="Stop the team's time (now, or --at); its jobs then wait for "
                              "'clock advance'.")
@_TEAM
@click.option("--at", "at", help="The clock's time, ISO 8601 (default: now).")
@_JSON
@domain_errors
def clock_freeze(team: str, at: str | None, as_json: bool) -> None:
    frozen_at = None if at is None else _time("--at", at)
    with command_uow() as uow:
        _check_team(uow, team)
        state = team_clock.freeze(uow, team, frozen_at)
    emit(as_json, {"clock": state}, _describe(state))


@clock.command("advance", help="Move the team's frozen clock forward and run, in order, "
                               "everything that falls due meanwhile.")
@_TEAM
@click.option("--seconds", type=float, help="Seconds to move the clock by.")
@click.option("--minutes", type=float, help="Minutes to move the clock by.")
@click.option("--hours", type=float, help="Hours to move the clock by.")
@click.option("--days", type=float, help="Days to move the clock by.")
@click.option("--to", "to", help="The time to move the clock to, ISO 8601.")
@_JSON
@domain_errors
def clock_advance_command(team: str, to: str | None, as_json: bool,
                          **durations: float | None) -> None:
    given = {unit: amount for unit, amount in durations.items() if amount is not None}
    if given and to is not None:
        raise ValidationError("--to: give a duration (--seconds, --minutes, --hours, --days) "
                              "or --to, not both.")
    if not given and to is None:
        raise ValidationError("--seconds: give how far to move the clock (--seconds, "
                              "--minutes, --hours, --days) or --to a time.")
    seconds = sum(amount * _UNITS[unit] for unit, amount in given.items()) if given else None
    target = None if to is None else _time("--to", to)
    app = command_app()
    config = app.config["SENDAI"]
    with command_uow() as uow:
        _check_team(uow, team)
        answer = clock_advance.advance(uow, team, load_handlers(config), config,
                                       seconds=seconds, to=target)
    ran = answer["ran"]
    human = [f"{_moment(job['due_at'])}  {job['kind']}  {job['subject'] or ''}  "
             f"→ {job['outcome']}" for job in ran]
    human.append(f"ran {len(ran)} job(s)" + ("" if answer["settled"] else
                 ", then stopped at the cap per advance: advance again to go on"))
    emit(as_json, {"clock": answer}, "\n".join([*human, _describe(answer)]))
    if not answer["settled"]:
        raise click.exceptions.Exit(3)


@clock.command("show", help="The team's clock and the jobs waiting for it.")
@_TEAM
@_JSON
@domain_errors
def clock_show(team: str, as_json: bool) -> None:
    with command_uow() as uow:
        _check_team(uow, team)
        try:
            state: dict[str, Any] | None = team_clock.read_clock(uow, team)
        except NotFound:
            state = None
    emit(as_json, {"clock": state},
         _describe(state) if state else f"team {team}: runs on real time (no frozen clock)")


@clock.command("resume", help="Put the team back on real time; what fell due meanwhile is "
                              "run by the workers.")
@_TEAM
@_JSON
@domain_errors
def clock_resume(team: str, as_json: bool) -> None:
    with command_uow() as uow:
        _check_team(uow, team)
        try:
            team_clock.resume(uow, team)
            was_frozen = True
        except NotFound:
            was_frozen = False
    emit(as_json, {"resumed": was_frozen},
         f"team {team}: back on real time" if was_frozen
         else f"team {team}: ran on real time already")
