"""GET .../task/{task_id}: the public task object, exactly as Send AI's example shows it."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth, task_path

# The example response of Send AI's discard page (seed/discard-task.txt), field for field.
SEED_EXAMPLE: dict[str, Any] = {
    "id": "task_abcdef123456",
    "name": "Document Analysis Task",
    "created_at": "2024-01-15T10:30:00Z",
    "meta": [{"name": "category", "value": "invoice"}],
    "status": "DISCARDED",
    "step_type": "EXTRACT",
    "upload_id": "upl_123456789",
    "project_id": "proj_123456",
    "approved": False,
    "exported_at": None,
    "export_failed_at": None,
    "last_opened_at": "2024-01-15T12:30:00Z",
    "pages": [{
        "id": "page_1", "width": 2480, "height": 3508,
        "annotations": [{"id": "ann_1", "entity_id": "total_amount", "confidence": 0.98,
                         "content": "$1,234.56", "top": 120.5, "left_of_line": 340.0}],
        "checkboxes": [{"id": "cb_1", "confidence": 0.92, "checked": True,
                        "coordinates": [[100, 100], [120, 100], [120, 120], [100, 120]]}],
        "segments": [{"id": "seg_1", "confidence": 0.87,
                      "coordinates": [[50, 50], [400, 50], [400, 200], [50, 200]]}],
        "signatures": [{"id": "sig_1", "confidence": 0.83,
                        "coordinates": [[800, 600], [1100, 600], [1100, 750], [800, 750]]}],
    }],
}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ID_PREFIXES = {"page": "page_", "annotations": "ann_", "checkboxes": "cb_", "segments": "seg_",
               "signatures": "sig_"}


def _without_fresh_values(obj: Any) -> Any:
    """The example with the values a server must make fresh (ids, times) blanked out."""
    if isinstance(obj, dict):
        return {k: ("<fresh>" if k in {"id", "upload_id", "project_id", "created_at",
                                       "last_opened_at"} else _without_fresh_values(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_fresh_values(v) for v in obj]
    return obj


def test_seeded_example_task_round_trips_field_for_field(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    path = task_path(seed, task_id)
    client.post(f"{path}/discard", headers=auth(seed["keys"]["edit"]))
    response = client.get(path, headers=auth(seed["keys"]["read"]))
    assert response.status_code == 200
    task = response.get_json()["payload"]
    assert list(task) == list(SEED_EXAMPLE)  # same fields, in the documented order
    assert _without_fresh_values(task) == _without_fresh_values(SEED_EXAMPLE)
    assert task["id"] == task_id and task["project_id"] == seed["project_id"]
    assert TIMESTAMP.fullmatch(task["created_at"]) and TIMESTAMP.fullmatch(task["last_opened_at"])
    page = task["pages"][0]
    assert page["id"].startswith("page_")
    for kind in ("annotations", "checkboxes", "segments", "signatures"):
        assert page[kind][0]["id"].startswith(ID_PREFIXES[kind])
    # Numbers keep their JSON type: coordinates stay integers, positions stay floats.
    assert response.data.count(b"[100, 100]") + response.data.count(b"[100,100]") == 1
    assert b"340.0" in response.data


def test_get_reads_any_state_and_changes_nothing(client: FlaskClient, seed: dict[str, Any]) -> None:
    for status, ids in seed["tasks"].items():
        response = client.get(task_path(seed, ids[0]), headers=auth(seed["keys"]["read"]))
        assert response.status_code == 200
        assert response.get_json()["payload"]["status"] == status
        assert response.get_json()["payload"]["last_opened_at"] is None


def test_get_with_a_key_not_added_to_the_project_is_404(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork
) -> None:
    unattached = create_key(uow, seed["team_id"], ["task.read"], [], "no projects")
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(unattached.key))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_get_needs_task_read(client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork) -> None:
    helpers_only = create_key(uow, seed["team_id"], ["test_helpers"], [seed["project_id"]])
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(helpers_only.key))
    assert response.status_code == 403
    assert response.get_json()["error"]["details"] == {"required": "task.read"}
