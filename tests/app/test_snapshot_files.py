"""A snapshot as one file (docs/snapshots.md): exported, imported into a newer schema (the file
written at an older revision is upgraded by the migrations), and every bad file refused with a
400 that says which, nothing written. Both databases."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, MetaData, create_engine, insert, text

from sendai_server.config import Config
from sendai_server.services import snapshot_file
from sendai_server.services.keys import create_key
from sendai_server.services.team_state import as_dicts, read_rows
from sendai_server.store import migrate
from sendai_server.store.models import Base
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth
from tests.support.snapshots import HELPERS, assert_same_rows, call, state, state_of, team_path

__all__ = ["state"]  # the fixture
pytestmark = pytest.mark.usefixtures("state")


def export(client: FlaskClient, seed: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201,
                json={"name": "to carry"})["payload"]
    response = client.get(team_path(seed, f"/snapshots/{snap['id']}/export"),
                          headers=auth(seed["keys"][HELPERS]))
    assert response.status_code == 200
    assert response.content_type == snapshot_file.MEDIA_TYPE
    return snap, response.data


def import_file(client: FlaskClient, seed: dict[str, Any], data: bytes, status: int,
                headers: dict[str, str] | None = None, team_id: str | None = None) -> Any:
    response = client.post(f"/v2/{team_id or seed['team_id']}/test_helpers/snapshots/import",
                           data=data, content_type=snapshot_file.MEDIA_TYPE,
                           headers=headers or auth(seed["keys"][HELPERS]))
    assert response.status_code == status, response.get_json()
    return response.get_json()


def at_revision(data: bytes, revision: str, scratch: Path) -> bytes:
    """The exported file as an older sendai-server would have written it: its rows loaded into
    a database at head, which the migrations then take down to `revision`."""
    parsed = snapshot_file.read(data)
    url = f"sqlite:///{scratch / 'older.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        for name, (columns, rows) in parsed.rows.items():
            table = Base.metadata.tables[name]
            if rows and name != "api_key_project":
                conn.execute(insert(table), as_dicts(table, columns, rows))
    engine.dispose()
    migrate.downgrade(url, revision)
    engine = create_engine(url)
    older = MetaData()
    older.reflect(engine)
    with engine.connect() as conn:
        rows = {name: read_rows(conn, older.tables[name]) for name in parsed.rows
                if name in older.tables and name != "api_key_project"}
    engine.dispose()
    out = io.BytesIO()
    snapshot_file.write(out, snapshot_file.SnapshotFile(
        schema_revision=revision, name=parsed.name, counts=parsed.counts, rows=rows,
        files=parsed.files, source=parsed.source))
    return out.getvalue()


def test_an_exported_snapshot_imports_and_restores_the_same_rows(
    client: FlaskClient, engine: Engine, seed: dict[str, Any],
) -> None:
    before = state_of(engine, seed["team_id"])
    snap, data = export(client, seed)
    call(client, seed, "DELETE", team_path(seed, "/state"), 204)
    imported = import_file(client, seed, data, 201)["payload"]
    assert imported["id"] != snap["id"] and imported["name"] == "to carry"
    assert imported["counts"] == snap["counts"]
    call(client, seed, "POST", team_path(seed, f"/snapshots/{imported['id']}/restore"), 200)
    assert_same_rows(before, state_of(engine, seed["team_id"]))


@pytest.mark.parametrize("back", [1, 3], ids=["previous_revision", "three_back"])
def test_a_file_of_an_older_revision_is_upgraded_on_import(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], tmp_path: Path, back: int,
) -> None:
    revision = migrate.revisions()[-1 - back]
    before = state_of(engine, seed["team_id"])
    _snap, data = export(client, seed)
    older = at_revision(data, revision, tmp_path)
    assert json.loads(zipfile.ZipFile(io.BytesIO(older)).read("manifest.json"))[
        "schema_revision"] == revision
    call(client, seed, "DELETE", team_path(seed, "/state"), 204)
    imported = import_file(client, seed, older, 201)["payload"]
    assert imported["schema_revision"] == migrate.head_revision()
    call(client, seed, "POST", team_path(seed, f"/snapshots/{imported['id']}/restore"), 200)
    after = state_of(engine, seed["team_id"])
    # The keys' projects are not in an older file: compare them apart. Nor are the tables
    # made after its revision (an older server had none): they come back empty.
    before.pop("api_key_project")
    after.pop("api_key_project")
    for table in set(before) - set(snapshot_file.read(older).rows):
        before.pop(table)
        assert after.pop(table)[1] == [], table
    assert_same_rows(before, after)


def _rewrite(data: bytes, change: Any) -> bytes:
    """The file with its members changed by `change(members, manifest)`."""
    source = zipfile.ZipFile(io.BytesIO(data))
    members = {name: source.read(name) for name in source.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    change(members, manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", members.pop("mimetype"))
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _change_a_row(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    table = json.loads(members["tables/task.json"])
    table["rows"][0][table["columns"].index("name")] = "changed"
    members["tables/task.json"] = json.dumps(table).encode()


def _change_a_file(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    [name] = [n for n in members if n.startswith("files/")]
    members[name] = members[name] + b"%%"
    manifest["members"][name] = hashlib.sha256(members[name]).hexdigest()


def _newer(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    manifest["schema_revision"] = "9999_from_the_future"


def _no_mimetype(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    members["mimetype"] = b"application/zip"


BAD_FILES = {
    "not_a_snapshot_text": (lambda data: b"hello, not a snapshot", "not_a_snapshot"),
    "not_a_snapshot_json": (lambda data: b'{"payload": []}', "not_a_snapshot"),
    "not_a_snapshot_zip": (lambda data: _rewrite(data, _no_mimetype), "not_a_snapshot"),
    "truncated": (lambda data: data[: len(data) // 2], "truncated"),
    "altered_row": (lambda data: _rewrite(data, _change_a_row), "altered"),
    "altered_file": (lambda data: _rewrite(data, _change_a_file), "altered"),
    "newer_version": (lambda data: _rewrite(data, _newer), "newer_version"),
}


@pytest.mark.parametrize("case", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_saying_why_and_nothing_is_written(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], config: Config, case: Any,
) -> None:
    make, reason = case
    _snap, data = export(client, seed)
    before = state_of(engine, seed["team_id"])
    listed = call(client, seed, "GET", team_path(seed, "/snapshots"), 200)["payload"]
    stored = sorted(p.name for p in Path(config.storage_url).iterdir())
    error = import_file(client, seed, make(data), 400)["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["reason"] == reason, error
    assert "file" in error["details"]["fields"]
    assert call(client, seed, "GET", team_path(seed, "/snapshots"), 200)["payload"] == listed
    assert sorted(p.name for p in Path(config.storage_url).iterdir()) == stored
    assert_same_rows(before, state_of(engine, seed["team_id"]))


def test_an_empty_body_is_refused(client: FlaskClient, seed: dict[str, Any]) -> None:
    error = import_file(client, seed, b"", 400)["error"]
    assert "file" in error["details"]["fields"]


def test_a_file_whose_ids_another_team_holds_is_a_conflict(
    client: FlaskClient, engine: Engine, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    _snap, data = export(client, seed)
    other = seed["other"]["team_id"]
    helper = create_key(uow, other, ["test_helpers"], [], "other helper").key
    other_before = state_of(engine, other)
    error = import_file(client, seed, data, 409, headers=auth(helper), team_id=other)["error"]
    assert error["code"] == "conflict"
    assert "task" in error["details"]["ids"]
    listed = client.get(f"/v2/{other}/test_helpers/snapshots", headers=auth(helper))
    assert listed.get_json()["payload"] == []
    assert_same_rows(other_before, state_of(engine, other))


def test_a_restore_whose_ids_another_team_took_since_is_a_conflict(
    client: FlaskClient, engine: Engine, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    """A file imported into two teams of one server: the second restore finds the first's
    ids, answers 409, and changes nothing."""
    _snap, data = export(client, seed)
    call(client, seed, "DELETE", team_path(seed, "/state"), 204)
    other = seed["other"]["team_id"]
    helper = create_key(uow, other, ["test_helpers"], [], "other helper").key
    mine = import_file(client, seed, data, 201)["payload"]
    theirs = import_file(client, seed, data, 201, headers=auth(helper), team_id=other)["payload"]
    call(client, seed, "POST", team_path(seed, f"/snapshots/{mine['id']}/restore"), 200)
    other_before = state_of(engine, other)
    response = client.post(f"/v2/{other}/test_helpers/snapshots/{theirs['id']}/restore",
                           headers=auth(helper))
    assert response.status_code == 409, response.get_json()
    assert_same_rows(other_before, state_of(engine, other))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM project WHERE team_id = :t"),
                           {"t": seed["team_id"]}) == 1
