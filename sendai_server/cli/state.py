"""`sendai-server state export|import|reset` and `snapshots list` (docs/snapshots.md): a team's
state as a file from the command line, through the same services as the HTTP endpoints.

Groups of their own, in cli/__init__.py's COMMANDS, written like the other command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..services import snapshots
from ..store.storage import Storage
from .base import domain_errors, emit
from .database import command_app, command_uow


def _storage() -> Storage:
    storage: Storage = command_app().extensions["sendai_storage"]
    return storage


def _line(snapshot: dict[str, Any]) -> str:
    counts = snapshot["counts"]
    return (f"{snapshot['id']}  {snapshot['created_at']:%Y-%m-%d %H:%M:%S}  "
            f"{counts.get('tasks', 0)} tasks, {counts.get('uploads', 0)} uploads, "
            f"{counts.get('files', 0)} files, {snapshot['bytes']} bytes  "
            f"{snapshot['name'] or ''}").rstrip()


@click.group("state", help="A team's whole state: export it to a file, import one, reset it.")
def state() -> None:
    pass


@state.command("export", help="Write the team's state (or one of its snapshots) to a file.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (application/vnd.sendai.snapshot).")
@click.option("--snapshot", "snapshot_id", help="Export this snapshot (snap_...) rather than "
                                                "the state as it is now.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def state_export(team: str, out: Path, snapshot_id: str | None, as_json: bool) -> None:
    with command_uow() as uow:
        storage = _storage()
        taken = None
        if snapshot_id is None:  # the state now, through a snapshot made for the file only
            taken = snapshots.create_snapshot(uow, team, "export")
            snapshot_id = taken["id"]
        try:
            data = snapshots.export_bytes(uow, storage, team, snapshot_id)
        finally:
            if taken is not None:
                snapshots.delete_snapshot(uow, storage, team, taken["id"])
    out.write_bytes(data)
    emit(as_json, {"file": str(out), "bytes": len(data)}, f"wrote {out} ({len(data)} bytes)")


@state.command("import", help="Import a snapshot file into the team and restore it.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--name", help="The snapshot's name (default: the file's).")
@click.option("--restore/--no-restore", default=True, show_default=True,
              help="Make it the team's state now, or only keep it as a snapshot.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def state_import(file: Path, team: str, name: str | None, restore: bool, as_json: bool) -> None:
    with command_uow() as uow:
        storage = _storage()
        made = snapshots.import_snapshot(uow, storage, team, file.read_bytes(), name)
        if restore:
            snapshots.restore_snapshot(uow, storage, team, made["id"])
    done = "imported and restored" if restore else "imported"
    emit(as_json, {"snapshot": made, "restored": restore}, f"{done} {_line(made)}")


@state.command("reset", help="Empty the team (its keys and snapshots stay).")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def state_reset(team: str, as_json: bool) -> None:
    with command_uow() as uow:
        snapshots.reset_state(uow, _storage(), team)
    emit(as_json, {"team_id": team, "reset": True}, f"team {team} is empty")


@click.group("snapshots", help="A team's snapshots.")
def snapshots_group() -> None:
    pass


@snapshots_group.command("list", help="The team's snapshots, oldest first.")
@click.option("--team", required=True, help="Team id (team_...).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def snapshots_list(team: str, as_json: bool) -> None:
    with command_uow() as uow:
        found = snapshots.list_snapshots(uow, team)
    emit(as_json, {"snapshots": found}, "\n".join(_line(s) for s in found) or "no snapshots")
