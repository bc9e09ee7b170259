"""The framework's ceiling: a bare Flask app answering the bench's routes with a constant task.

Served by the same gunicorn settings as the real server (gunicorn.conf.py), it answers
GET .../task/<id> and POST .../task/<id>/discard with a task of the same size as the real
one (read from BENCH_BARE_TASK, a JSON file `bench/run.py` writes), serialized per request by
Flask's own JSON provider. No database, no auth, no validation: what is left is Flask,
Werkzeug and gunicorn.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, jsonify

app = Flask(__name__)
app.json.sort_keys = False  # type: ignore[attr-defined]

with open(os.environ["BENCH_BARE_TASK"]) as _file:
    _TASKS: dict[str, dict[str, Any]] = json.load(_file)  # {"small": task, "large": task}
_BY_ID = {task["id"]: task for task in _TASKS.values()}
_SMALL = _TASKS["small"]


def _task(task_id: str) -> dict[str, Any]:
    return _BY_ID.get(task_id, _SMALL)


@app.get("/v2/<team_id>/project/<project_id>/task/<task_id>")
def get_task(team_id: str, project_id: str, task_id: str) -> Any:
    return jsonify({"payload": _task(task_id)})


@app.post("/v2/<team_id>/project/<project_id>/task/<task_id>/discard")
def discard_task(team_id: str, project_id: str, task_id: str) -> Any:
    return jsonify({"payload": {**_task(task_id), "status": "DISCARDED"}})


@app.get("/readyz")
def readyz() -> Any:
    return jsonify({"status": "ok"})
