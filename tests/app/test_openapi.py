"""/openapi.json: a valid OpenAPI 3 document that lists every route the app serves, and for
each operation every status it can answer, errors with the one error schema."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from apispec.exceptions import APISpecError
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.web.api import openapi
from sendai_server.web.api.blueprint import Blueprint
from sendai_server.web.api.openapi import ERROR_RESPONSES, Api
from sendai_server.web.context import engine_of
from tests.support.api_spec import Operation, operations, routed_operations


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        *_, kind, name = item["$ref"].split("/")
        item = spec["components"][kind][name]
    return item


def test_openapi_document_is_valid_openapi_3(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_openapi_documents_exactly_the_routes_the_app_serves(
    app: Flask, spec: dict[str, Any]
) -> None:
    documented = {(op.method, op.path) for op in operations(spec)}
    assert documented == routed_operations(app)


def test_spec_and_docs_need_no_key(client: FlaskClient) -> None:
    assert client.get("/openapi.json").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data


def test_bearer_scheme_is_declared_once(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "An API key: `Authorization: Bearer sk_...`."}
    }
    assert "security" not in spec  # per operation: the probes need no key


def _expected_statuses(op: Operation) -> set[str]:
    # 413 for any method (the size check runs before the view), 414 and 431 from gunicorn
    # (sendai_server/process/gunicorn_worker.py) before any route is known; 502 and 504 from a
    # load balancer in front, or a fault rule.
    statuses = {"413", "414", "431", "500", "502", "504"}
    if op.path.startswith("/v2/"):
        statuses |= {"401", "403", "404", "429", "503"}
        if op.method != "GET":
            statuses.add("400")
    if op.has_body or op.query_parameters:
        statuses.add("400")
    return statuses


def test_every_operation_documents_its_statuses_with_the_error_schema(
    spec: dict[str, Any]
) -> None:
    for op in operations(spec):
        responses = op.doc["responses"]
        assert "default" not in responses, op
        assert _expected_statuses(op) <= set(responses), (str(op), sorted(responses))
        assert any(code.startswith("2") for code in responses), op
        for code, response in responses.items():
            if not code.startswith("2"):  # ours, never flask-smorest's bare BAD_REQUEST & co
                name = ERROR_RESPONSES[int(code)][0]
                assert response == {"$ref": f"#/components/responses/{name}"}, (str(op), code)
            response = _resolve(spec, response)
            assert response["description"], (str(op), code)
            if code == "204":  # no content (resuming a team's clock, docs/clock.md)
                assert "content" not in response, (str(op), code)
                continue
            if code.startswith("2") and op.path.endswith("/files/{index}"):  # the file's bytes
                assert response["content"] == {  # with the content type each is served with
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in ("application/pdf", "image/png", "image/jpeg", "image/tiff",
                                  "text/plain", "message/rfc822")}  # docs/api/uploads.md
                continue
            if code.startswith("2") and op.path.endswith("/snapshots/{snapshot_id}/export"):
                assert response["content"] == {"application/vnd.sendai.snapshot": {
                    "schema": {"type": "string", "format": "binary"}}}  # docs/snapshots.md
                continue
            if code == "204":  # no content
                assert "content" not in response, str(op)
                continue
            schema = response["content"]["application/json"]["schema"]
            if not code.startswith("2"):
                assert schema == {"$ref": "#/components/schemas/Error"}, (str(op), code)


def test_every_operation_has_a_unique_readable_operation_id(spec: dict[str, Any]) -> None:
    ids = {str(op): op.doc.get("operationId") for op in operations(spec)}
    assert all(ids.values()), ids
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", i) for i in ids.values()), ids
    assert len(set(ids.values())) == len(ids), ids
    by_path = {op.method + " " + op.path.removeprefix("/v2/{team_id}/project/{project_id}"):
               op.doc["operationId"] for op in operations(spec)}
    assert by_path["POST /task/{task_id}/discard"] == "discardTask"
    assert by_path["GET /task/{task_id}"] == "getTask"
    assert by_path["GET /task"] == "listTasks"
    assert by_path["GET /task/{task_id}/events"] == "getTaskEvents"
    assert by_path["POST /task/{task_id}/complete"] == "completeTask"
    assert by_path["GET /healthz"] == "healthz"


def test_two_operations_with_one_operation_id_fail_at_app_start() -> None:
    blp = Blueprint("dupes", __name__)

    @blp.route("/a")
    @blp.response(200)
    def same() -> str:
        return ""

    @blp.route("/b")
    @blp.doc(operationId="same")
    @blp.response(200)
    def other() -> str:
        return ""

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    api.register_blueprint(blp)
    with pytest.raises(APISpecError, match="operationId 'same'"):
        api.finish_document()  # create_app's last step of the API (web/api/__init__.py)


def test_a_blueprint_registered_after_the_document_is_finished_is_refused() -> None:
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    api.finish_document()
    with pytest.raises(RuntimeError, match="before Api.finish_document"):
        api.register_blueprint(Blueprint("late", __name__))


def test_a_document_built_again_is_byte_for_byte_the_one_this_process_kept(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apps of one process share their document when made of the same blueprints and settings
    (openapi.py's _DOCUMENTS); one built from nothing serves the same bytes, with the test
    helpers on and off (a document each)."""
    for helpers in (True, False):
        each = replace(config, test_helpers=helpers)
        kept = create_app(each)
        monkeypatch.setattr(openapi, "_DOCUMENTS", {})
        fresh = create_app(each)
        monkeypatch.undo()
        assert fresh.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec is not \
            kept.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec
        served = [made.test_client().get("/openapi.json").data for made in (kept, fresh)]
        assert served[0] == served[1]
        assert (b'"/v2/{team_id}/test_helpers/faults"' in served[0]) is helpers
        for made in (kept, fresh):
            engine_of(made).dispose()


def test_unavailable_is_documented_for_the_api_and_the_probe(spec: dict[str, Any]) -> None:
    unavailable = spec["components"]["responses"]["Unavailable"]
    assert "`unavailable`" in unavailable["description"]
    assert "`not_ready`" in unavailable["description"]
    assert "Retry-After" in unavailable["headers"]
    for op in operations(spec):
        if op.path.startswith("/v2/") or op.path == "/readyz":
            assert op.doc["responses"]["503"] == {"$ref": "#/components/responses/Unavailable"}


def test_every_v2_operation_requires_the_bearer_key_and_names_its_scope(
    spec: dict[str, Any]
) -> None:
    for op in operations(spec):
        if op.path.startswith("/v2/"):
            assert op.doc["security"] == [{"bearerAuth": []}], op
            assert "scope." in op.doc["description"], op
        assert op.doc.get("summary"), op


def test_every_path_parameter_is_described(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        for parameter in item.get("parameters", []):
            assert parameter.get("description"), (path, parameter["name"])


def test_error_schema_is_the_documented_shape(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error", "request_id"]
    assert set(schemas["ErrorBody"]["required"]) == {"status", "code", "message"}
    rate_limited = spec["components"]["responses"]["RateLimited"]
    assert "Retry-After" in rate_limited["headers"]
    assert "WWW-Authenticate" in spec["components"]["responses"]["Unauthenticated"]["headers"]
