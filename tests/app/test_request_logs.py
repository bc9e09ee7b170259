"""Request logs: one JSON line per request (request id, method, path template, status,
duration, key id), never a key or a body; errors with their traceback and request id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from sendai_server.services import tasks
from tests.support.helpers import LiveServer, auth, task_path
from tests.support.hostile import raw_request

TEMPLATE = "/v2/<team_id>/project/<project_id>/task/<task_id>"
SECRET_BODY = "body-secret-7f3a9c"


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _requests(text: str) -> list[dict[str, Any]]:
    return [line for line in _lines(text) if line.get("event") == "request"]


def _malformed_keys(seed: dict[str, Any]) -> list[str]:
    """Headers that fail in every way, each holding (part of) a real key."""
    key = seed["keys"]["edit"]
    return [f"Bearer {key}x!", f"Bearer {key[:-5]}", f"Bearer\t{key}", key,
            f"Bearer {key} {key}", f"Bearer {seed['keys']['revoked']}", f"Basic {key}"]


def test_one_json_line_per_request_with_template_status_duration_and_key_id(
    client: FlaskClient, seed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.get(task_path(seed, task_id),
                          headers={**auth(seed["keys"]["read"]), "X-Request-Id": "log-test-1"})
    assert response.status_code == 200
    (line,) = _requests(capsys.readouterr().err)
    assert line["request_id"] == "log-test-1"
    assert (line["method"], line["path"], line["status"]) == ("GET", TEMPLATE, 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["key_id"].startswith("key_")
    assert task_id not in json.dumps(line)  # the template, not the raw path


def test_unmatched_and_unauthenticated_requests_are_logged_too(
    client: FlaskClient, seed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/nowhere")
    client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]))
    first, second = _requests(capsys.readouterr().err)
    assert (first["path"], first["status"], first["key_id"]) == (None, 404, None)
    assert (second["path"], second["status"], second["key_id"]) == (TEMPLATE, 401, None)


def test_no_key_and_no_body_ever_reaches_the_log(
    client: FlaskClient, seed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = task_path(seed, seed["tasks"]["PROCESSING"][0], "discard")
    for header in [*_malformed_keys(seed), f"Bearer {seed['keys']['edit']}"]:
        client.post(path, headers={"Authorization": header},
                    json={"secret": SECRET_BODY, "key": seed["keys"]["edit"]})
    log = capsys.readouterr().err
    assert len(_requests(log)) == len(_malformed_keys(seed)) + 1
    for plain in seed["keys"].values():
        assert plain not in log
        assert plain[3:20] not in log  # not even a piece of one
    assert SECRET_BODY not in log


def test_errors_are_logged_with_traceback_and_request_id(
    client: FlaskClient, seed: dict[str, Any], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(tasks, "get_task", broken)
    capsys.readouterr()
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers={**auth(seed["keys"]["read"]), "X-Request-Id": "boom-1"})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "a bug" not in response.get_data(as_text=True)
    lines = _lines(capsys.readouterr().err)
    (error,) = [line for line in lines if line.get("level") == "ERROR"]
    assert error["request_id"] == "boom-1"
    assert "RuntimeError: a bug" in error["traceback"]
    (request_line,) = _requests("\n".join(json.dumps(line) for line in lines))
    assert (request_line["request_id"], request_line["status"]) == ("boom-1", 500)


@pytest.mark.slow
def test_live_gunicorn_log_never_holds_a_key(
    database_url: str, seed: dict[str, Any], tmp_path: Path
) -> None:
    log_path = tmp_path / "gunicorn.log"
    server = LiveServer(database_url, workers=2, log_path=log_path,
                        env={"SENDAI_LOG_LEVEL": "INFO"})
    key = seed["keys"]["edit"]
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    try:
        for header in [*_malformed_keys(seed), f"Bearer {key}"]:
            requests.get(server.url + path, headers={"Authorization": header}, timeout=10)
        # Lines gunicorn itself rejects: a header without a colon, control bytes in a key.
        for line in (b"Authorization Bearer " + key.encode(),
                     b"Authorization: Bearer " + key.encode() + b"\x01",
                     b"X-Key: " + key.encode() + b"\x00"):
            raw_request(server.port, b"GET " + path.encode() + b" HTTP/1.1\r\n" + line
                        + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        server.stop()
    log = log_path.read_text(errors="replace")
    served = [line for line in _requests(log) if line["path"] == TEMPLATE]
    assert len(served) == len(_malformed_keys(seed)) + 1
    assert "Invalid request" in log  # gunicorn did see and log the three broken requests
    for plain in seed["keys"].values():
        assert plain not in log
        assert plain[3:20] not in log
