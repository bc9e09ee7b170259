"""Uploads (docs/api/uploads.md) over the Flask test client, on SQLite and PostgreSQL: create at
Send AI's three paths with its documented answer, what is refused (and that nothing is kept then),
read, list, the file's bytes, move, delete; and folders (§8)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.helpers import auth, count_rows

UPLOAD_SCOPES = ["upload.read", "upload.create", "upload.edit", "upload.delete", "task.read",
                 "task.edit"]


@pytest.fixture
def key(uow: UnitOfWork, seed: dict[str, Any]) -> str:
    return create_key(uow, seed["team_id"], UPLOAD_SCOPES, [seed["project_id"]]).key


def project_path(seed: dict[str, Any], rest: str = "") -> str:
    return f"/v2/{seed['team_id']}/project/{seed['project_id']}{rest}"


def upload(client: FlaskClient, seed: dict[str, Any], key: str,
           files: list[tuple[bytes, str]], path: str | None = None, **form: str) -> Any:
    data: dict[str, Any] = {"file": [(io.BytesIO(body), name) for body, name in files], **form}
    return client.post(path or project_path(seed, "/upload"), data=data,
                       content_type="multipart/form-data", headers=auth(key))


def stored_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) \
        if root.exists() else []


def rows(engine: Engine) -> dict[str, int]:
    return {table: count_rows(engine, f"SELECT count(*) FROM {table}")
            for table in ("upload", "upload_file", "task", "task_event", "job")}


# --- create -------------------------------------------------------------------------------------

def test_an_upload_answers_send_ais_documented_object_and_makes_processing_tasks(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine,
) -> None:
    pdf = documents.invoice_pdf()
    response = upload(client, seed, key, [(pdf, "invoice.pdf"), (documents.png(), "scan.png")],
                      meta=json.dumps([{"name": "customer", "value": "ACME"}]))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "name", "projectId", "status", "fileType", "fileSize",
                         "createdAt", "updatedAt", "taskIds"}
    assert body["id"].startswith("upl_") and body["name"] == "invoice.pdf"
    assert (body["projectId"], body["status"], body["fileType"]) == (
        seed["project_id"], "processing", "pdf")
    assert body["fileSize"] == len(pdf) + len(documents.png())
    assert len(body["taskIds"]) == 2
    for task_id, name in zip(body["taskIds"], ("invoice.pdf", "scan.png"), strict=True):
        task = client.get(project_path(seed, f"/task/{task_id}"), headers=auth(key)).get_json()
        payload = task["payload"]
        assert (payload["status"], payload["name"], payload["upload_id"]) == (
            "PROCESSING", name, body["id"])
        assert payload["meta"] == [{"name": "customer", "value": "ACME"}]
    assert count_rows(engine, "SELECT count(*) FROM job WHERE kind = 'extract'") == 2


@pytest.mark.parametrize("where", ["team", "v1"])
def test_the_other_two_documented_paths_create_too_with_project_id(
    client: FlaskClient, seed: dict[str, Any], key: str, where: str,
) -> None:
    path = f"/v2/{seed['team_id']}/upload" if where == "team" else "/api/v1/uploads"
    missing = upload(client, seed, key, [(documents.invoice_pdf(), "a.pdf")], path=path)
    assert missing.status_code == 400
    assert "projectId" in missing.get_json()["error"]["details"]["fields"]
    created = upload(client, seed, key, [(documents.invoice_pdf(), "a.pdf")], path=path,
                     projectId=seed["project_id"])
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["projectId"] == seed["project_id"]
    other = upload(client, seed, key, [(documents.invoice_pdf(), "a.pdf")], path=path,
                   projectId=seed["other"]["project_id"])
    assert other.status_code == 404


REFUSED: dict[str, tuple[list[tuple[bytes, str]], dict[str, str], int, str]] = {
    "no_file": ([], {}, 400, "file"),
    "text_file": ([(b"hello, not a document", "notes.pdf")], {}, 400, "file"),
    "empty_file": ([(b"", "empty.pdf")], {}, 400, "file"),
    "zip": ([(documents.zip_file(), "archive.pdf")], {}, 400, "file"),
    "second_file_bad": ([(documents.invoice_pdf(), "ok.pdf"), (b"GIF89a....", "x.gif")], {},
                        400, "file"),
    "meta_not_json": ([(documents.invoice_pdf(), "a.pdf")], {"meta": "{oops"}, 400, "meta"),
    "meta_wrong_shape": ([(documents.invoice_pdf(), "a.pdf")], {"meta": '[{"name": 1}]'}, 400,
                         "meta"),
    "meta_51_pairs": ([(documents.invoice_pdf(), "a.pdf")],
                      {"meta": json.dumps([{"name": "n", "value": "v"}] * 51)}, 400, "meta"),
    "meta_long_value": ([(documents.invoice_pdf(), "a.pdf")],
                        {"meta": json.dumps([{"name": "n", "value": "v" * 10_001}])}, 400,
                        "meta"),
    "foreign_project_id": ([(documents.invoice_pdf(), "a.pdf")], {"projectId": "proj_other"},
                           400, "projectId"),
}


@pytest.mark.parametrize("files, form, status, field", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_upload_keeps_nothing(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
    files: list[tuple[bytes, str]], form: dict[str, str], status: int, field: str,
) -> None:
    before = rows(engine)
    response = upload(client, seed, key, files, **form)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"], error
    assert rows(engine) == before
    assert stored_files(Path(config.storage_url)) == []


def test_a_file_over_40_mib_is_413_naming_it_and_nothing_is_kept(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
    tmp_path: Path,
) -> None:
    app = client.application
    app.config["SENDAI"] = config.with_overrides(max_upload_bytes=64 * 1024 * 1024)
    big = b"%PDF-1.4\n" + b"0" * (40 * 1024 * 1024)
    before = rows(engine)
    response = upload(client, seed, key, [(documents.invoice_pdf(), "ok.pdf"), (big, "big.pdf")])
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"file": "big.pdf", "limit_bytes": 41943040}
    assert rows(engine) == before
    assert stored_files(Path(config.storage_url)) == []


def test_101_files_are_refused(client: FlaskClient, seed: dict[str, Any], key: str,
                               engine: Engine) -> None:
    before = rows(engine)
    response = upload(client, seed, key, [(documents.png((2, 2)), f"{n}.png") for n in range(101)])
    assert response.status_code == 400
    assert rows(engine) == before


def test_a_request_over_the_upload_limit_is_413(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
) -> None:
    before = rows(engine)
    body = b"%PDF-1.4\n" + b"0" * config.max_upload_bytes
    response = upload(client, seed, key, [(body, "big.pdf")])
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert rows(engine) == before


def test_uploads_need_their_scopes(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = upload(client, seed, seed["keys"]["edit"], [(documents.invoice_pdf(), "a.pdf")])
    assert response.status_code == 403
    assert response.get_json()["error"]["details"] == {"required": "upload.create"}


# --- read, list, file, move, delete -------------------------------------------------------------

def test_an_upload_reads_with_its_files_by_task_at_both_paths(
    client: FlaskClient, seed: dict[str, Any], key: str,
) -> None:
    pdf, image = documents.invoice_pdf(), documents.png()
    created = upload(client, seed, key, [(pdf, "invoice.pdf"), (image, "scan.png")],
                     name="March", meta=json.dumps([{"name": "k", "value": "v"}])).get_json()
    for path in (project_path(seed, f"/upload/{created['id']}"),
                 f"/v2/{seed['team_id']}/upload/{created['id']}"):
        response = client.get(path, headers=auth(key))
        assert response.status_code == 200, path
        got = response.get_json()["payload"]
        assert (got["id"], got["name"], got["status"]) == (created["id"], "March", "PROCESSING")
        assert got["meta"] == [{"name": "k", "value": "v"}]
        assert got["folder_id"] == seed["folders"]["inbox"]
        first, second = created["taskIds"]
        assert got["files"] == {
            first: {"index": 0, "name": "invoice.pdf", "file_type": "pdf",
                    "file_size": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()},
            second: {"index": 1, "name": "scan.png", "file_type": "png",
                     "file_size": len(image), "sha256": hashlib.sha256(image).hexdigest()},
        }
    for index, body, content_type in ((0, pdf, "application/pdf"), (1, image, "image/png")):
        response = client.get(project_path(seed, f"/upload/{created['id']}/files/{index}"),
                              headers=auth(key))
        assert response.status_code == 200
        assert (response.data, response.content_type) == (body, content_type)
    for index in ("2", "-1", "100", "1636703955654990"):  # the last once a 500 on PostgreSQL
        missing = client.get(project_path(seed, f"/upload/{created['id']}/files/{index}"),
                             headers=auth(key))
        assert missing.status_code == 404 and missing.content_type == "application/json"


def test_another_teams_upload_is_not_found(
    client: FlaskClient, seed: dict[str, Any], key: str,
) -> None:
    other = seed["other_upload_id"]
    for path in (project_path(seed, f"/upload/{other}"), f"/v2/{seed['team_id']}/upload/{other}",
                 project_path(seed, f"/upload/{other}/files/0")):
        assert client.get(path, headers=auth(key)).status_code == 404, path
    moved = client.post(project_path(seed, f"/upload/{other}/move/{seed['folders']['bin']}"),
                        headers=auth(key))
    assert moved.status_code == 404
    assert client.delete(project_path(seed, f"/upload/{other}"), headers=auth(key)).status_code \
        == 404


def test_uploads_list_pages_filters_and_sorts(
    client: FlaskClient, seed: dict[str, Any], key: str,
) -> None:
    made = [upload(client, seed, key, [(documents.png((n + 1, n + 1)), f"{n}.png")]
                   ).get_json()["id"] for n in range(5)]
    walked, token = [], None
    while True:
        query = "?status=PROCESSING&limit=2&sort=created_at:asc"
        query += f"&token={token}" if token else ""
        page = client.get(project_path(seed, f"/upload{query}"), headers=auth(key)).get_json()
        assert page["count"] == 6  # and the seed's PROCESSING task's own upload
        walked += [u["id"] for u in page["payload"]]
        token = page["paginationToken"]
        if not page["more"]:
            break
    assert len(walked) == len(set(walked)) == 6
    assert [w for w in walked if w in made] == made
    in_bin = client.get(project_path(seed, f"/upload?folder_id={seed['folders']['bin']}"),
                        headers=auth(key)).get_json()
    assert in_bin["count"] == 0 and in_bin["payload"] == []
    bad = client.get(project_path(seed, "/upload?status=DONE"), headers=auth(key))
    assert bad.status_code == 400


def test_move_sets_the_folder_and_a_foreign_folder_is_404(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine,
) -> None:
    created = upload(client, seed, key, [(documents.invoice_pdf(), "a.pdf")]).get_json()
    path = project_path(seed, f"/upload/{created['id']}/move")
    moved = client.post(f"{path}/{seed['folders']['reported']}", headers=auth(key))
    assert moved.status_code == 200
    assert moved.get_json()["payload"]["folder_id"] == seed["folders"]["reported"]
    with engine.connect() as conn:
        foreign = conn.execute(text(
            "SELECT id FROM folder WHERE project_id = :p AND name = 'Bin'"),
            {"p": seed["other"]["project_id"]}).scalar_one()
    assert client.post(f"{path}/{foreign}", headers=auth(key)).status_code == 404
    assert client.post(f"{path}/folder_nope", headers=auth(key)).status_code == 404


def test_delete_takes_the_tasks_events_jobs_and_the_file_once_unreferenced(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
) -> None:
    pdf = documents.invoice_pdf()
    first = upload(client, seed, key, [(pdf, "a.pdf")]).get_json()
    second = upload(client, seed, key, [(pdf, "b.pdf")]).get_json()
    root = Path(config.storage_url)
    assert stored_files(root) == [hashlib.sha256(pdf).hexdigest()]
    before = rows(engine)
    response = client.delete(project_path(seed, f"/upload/{first['id']}"), headers=auth(key))
    assert response.status_code == 200
    assert response.get_json() == {"payload": {"id": first["id"], "deleted": True}}
    after = rows(engine)
    assert after["upload"] == before["upload"] - 1 and after["task"] == before["task"] - 1
    assert after["job"] == before["job"] - 1
    assert stored_files(root) == [hashlib.sha256(pdf).hexdigest()]  # still the second's
    client.delete(project_path(seed, f"/upload/{second['id']}"), headers=auth(key))
    assert stored_files(root) == []
    gone = client.get(project_path(seed, f"/task/{first['taskIds'][0]}"), headers=auth(key))
    assert gone.status_code == 404


def test_an_uploads_status_follows_its_tasks_and_it_settles_in_processed(
    client: FlaskClient, seed: dict[str, Any], key: str, uow: UnitOfWork,
) -> None:
    helpers = create_key(uow, seed["team_id"], ["test_helpers", *UPLOAD_SCOPES],
                         [seed["project_id"]]).key
    created = upload(client, seed, key, [(documents.invoice_pdf(), "a.pdf"),
                                         (documents.png(), "b.png")]).get_json()
    first, second = created["taskIds"]

    def state() -> tuple[str, str]:
        got = client.get(project_path(seed, f"/upload/{created['id']}"),
                         headers=auth(key)).get_json()["payload"]
        return got["status"], got["folder_id"]

    def advance(task_id: str, event: str) -> None:
        response = client.post(project_path(seed, f"/test_helpers/task/{task_id}/advance"),
                               json={"event": event}, headers=auth(helpers))
        assert response.status_code == 200, response.get_json()

    inbox, processed = seed["folders"]["inbox"], seed["folders"]["processed"]
    assert state() == ("PROCESSING", inbox)
    advance(first, "to_review")
    assert state() == ("PROCESSING", inbox)  # the second is still PROCESSING
    advance(second, "auto_complete")
    assert state() == ("IN_REVIEW", inbox)
    discarded = client.post(project_path(seed, f"/task/{first}/discard"), headers=auth(key))
    assert discarded.status_code == 200
    assert state() == ("COMPLETED", processed)


def test_a_completed_upload_someone_moved_stays_where_they_put_it(
    client: FlaskClient, seed: dict[str, Any], key: str, uow: UnitOfWork,
) -> None:
    helpers = create_key(uow, seed["team_id"], ["test_helpers", *UPLOAD_SCOPES],
                         [seed["project_id"]]).key
    created = upload(client, seed, key, [(documents.invoice_pdf(), "a.pdf")]).get_json()
    reported = seed["folders"]["reported"]
    client.post(project_path(seed, f"/upload/{created['id']}/move/{reported}"), headers=auth(key))
    response = client.post(
        project_path(seed, f"/test_helpers/task/{created['taskIds'][0]}/advance"),
        json={"event": "auto_complete"}, headers=auth(helpers))
    assert response.status_code == 200
    got = client.get(project_path(seed, f"/upload/{created['id']}"),
                     headers=auth(key)).get_json()["payload"]
    assert (got["status"], got["folder_id"]) == ("COMPLETED", reported)


def test_folders_list_the_system_ones_first_then_the_projects_own(
    client: FlaskClient, seed: dict[str, Any], key: str, uow: UnitOfWork,
) -> None:
    from sendai_server.services.projects import create_folder

    create_folder(uow, seed["project_id"], "Urgent")
    response = client.get(project_path(seed, "/folder"), headers=auth(key))
    assert response.status_code == 200
    folders = response.get_json()["payload"]
    assert [(f["name"], f["system"]) for f in folders] == [
        ("Inbox", True), ("Processed", True), ("Reported", True), ("Bin", True),
        ("Urgent", False)]
    assert {f["name"].lower(): f["id"] for f in folders if f["system"]} == seed["folders"]
