"""`sendai-server faults add|list|clear --team T ...` (docs/failures.md): a team's faults from the
command line, through the same rule schema and the same service as the HTTP endpoints.

A group of its own, in cli/__init__.py's COMMANDS, written like the other command modules."""

from __future__ import annotations

import json
from typing import Any

import click
from marshmallow import ValidationError as SchemaError

from ..domain.errors import ValidationError
from ..services import faults as rules
from ..web.api.faults import known_operations
from .base import domain_errors, emit
from .database import command_app, command_uow


def _line(fault: dict[str, Any]) -> str:
    remaining = "until deleted" if fault["remaining"] is None else f"{fault['remaining']} left"
    return (f"{fault['id']}  hits {fault['hits']}, {remaining}  "
            f"match {json.dumps(fault['match'])}  effect {json.dumps(fault['effect'])}")


@click.group("faults", help="Faults on demand (docs/failures.md): how a team's requests and "
                            "deliveries fail.")
def faults() -> None:
    pass


_MATCH = {"operation": "operation", "method": "method", "path": "path", "project": "project_id",
          "task": "task_id", "event": "event", "connector": "connector_id"}
_EFFECT = {"status": "status", "retry_after": "retry_after", "body": "body",
           "delay_ms": "delay_ms", "duplicate": "duplicate"}


@faults.command("add", help="Add a fault: at least one match option and one effect.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--operation", help="An operationId of /openapi.json (discardTask, getTask, ...).")
@click.option("--method", type=click.Choice(rules.METHODS))
@click.option("--path", help="A glob on the path after /v2/{team_id}: * in a segment, ** across.")
@click.option("--project", help="Project id (proj_...).")
@click.option("--task", help="Task id (task_...).")
@click.option("--event", type=click.Choice(rules.DELIVERY_EVENTS), help="Deliveries of it.")
@click.option("--connector", help="Deliveries to this connector (conn_...).")
@click.option("--status", type=click.Choice([str(s) for s in rules.STATUS_CODES]),
              help="Answer this status instead.")
@click.option("--retry-after", type=int, help="Seconds, sent as Retry-After.")
@click.option("--body", type=click.Choice(rules.BODIES), help="The status's body (json).")
@click.option("--after", is_flag=True, help="The operation commits first.")
@click.option("--delay-ms", type=int, help="Answer normally, this much later.")
@click.option("--drop", is_flag=True, help="Close the connection with no answer.")
@click.option("--duplicate", type=click.Choice(["2", "3"]), help="Deliver this many times.")
@click.option("--times", type=int, default=1, show_default=True,
              help="How many matching requests.")
@click.option("--forever", is_flag=True, help="Until deleted (times null).")
@click.option("--probability", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, help="Makes --probability's choices the same on every run.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def faults_add(team: str, after: bool, drop: bool, times: int, forever: bool,
               probability: float, seed: int | None, as_json: bool, **options: Any) -> None:
    match = {name: options[option] for option, name in _MATCH.items()
             if options[option] is not None}
    effect: dict[str, Any] = {name: options[option] for option, name in _EFFECT.items()
                              if options[option] is not None}
    for name in ("status", "duplicate"):
        if name in effect:
            effect[name] = int(effect[name])
    if after:
        effect["after"] = True
    if drop:
        effect["drop"] = True
    body = {"match": match, "effect": effect, "times": None if forever else times,
            "probability": probability, "seed": seed}
    try:
        rule = rules.FaultRuleSchema().load(body)
    except SchemaError as exc:
        raise ValidationError(f"Not a valid fault: {json.dumps(exc.messages)}") from exc
    with command_uow() as uow:
        rules.check_operation(rule, known_operations(command_app()))
        made = rules.create_fault(uow, team, rule)
    emit(as_json, {"fault": made}, made["id"])


@faults.command("list", help="A team's faults, with their hits.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def faults_list(team: str, as_json: bool) -> None:
    with command_uow() as uow:
        found = rules.list_faults(uow, team)
    emit(as_json, {"faults": found}, "\n".join(_line(f) for f in found) or "no faults")


@faults.command("clear", help="Delete a team's faults (or only --fault F).")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--fault", "fault_id", help="Only this fault (flt_...).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def faults_clear(team: str, fault_id: str | None, as_json: bool) -> None:
    with command_uow() as uow:
        deleted = rules.delete_faults(uow, team, fault_id)
    emit(as_json, {"deleted": [f["id"] for f in deleted]},
              f"deleted {len(deleted)} fault(s)")
