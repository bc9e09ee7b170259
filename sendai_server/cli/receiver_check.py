"""`sendai-server check-receiver URL --secret S` (docs/receiver-check.md): forged, stale,
replayed and malformed deliveries sent to one webhook receiver, and a report. Exit status 0
only when every case is as a safe receiver answers it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import click

from ..pipeline.receiver_check import (
    ANSWER_WITHIN_SECONDS,
    Target,
    check_receiver,
    newest_notification,
    sample_notification,
)
from .base import domain_errors, emit
from .database import command_uow


def _http_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter("an http:// or https:// URL with a host")
    return value


@click.command("check-receiver",
               help="Send a webhook receiver forged, stale, replayed and malformed deliveries "
                    "(each once, to URL only) and report what it answered against what a safe "
                    "receiver answers. Exit status 0 only when every case passes.")
@click.argument("url", callback=_http_url)
@click.option("--secret", required=True,
              help="The receiver's signing secret (a whsec_ secret adds the Standard Webhooks "
                   "headers). Never printed.")
@click.option("--team", help="Team id: with --project, use the project's newest notification.")
@click.option("--project", help="Project id (proj_...); a sample notification without it.")
@click.option("--timeout", type=click.FloatRange(0.1, ANSWER_WITHIN_SECONDS),
              default=ANSWER_WITHIN_SECONDS, show_default=True,
              help="Seconds each answer is waited for.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON report.")
@domain_errors
def check_receiver_command(url: str, secret: str, team: str | None, project: str | None,
                           timeout: float, as_json: bool) -> None:
    if (team is None) != (project is None):
        raise click.UsageError("--team and --project go together")
    payload: dict[str, Any] | None = None
    source = "sample"
    if team is not None and project is not None:
        with command_uow() as uow:
            payload = newest_notification(uow, team, project)
        source = "real" if payload is not None else "sample"
        payload = payload or sample_notification(team, project)
    report = check_receiver(Target(url, secret), payload, source=source, timeout=timeout)
    emit(as_json, report.to_dict(), report.table())
    if not report.passed:
        raise click.exceptions.Exit(1)
