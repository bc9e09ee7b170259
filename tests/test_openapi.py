"""/openapi.json: a valid OpenAPI 3 document that lists every route the app serves, and for
each operation every status it can answer, errors with the one error schema."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.api_spec import Operation, operations, routed_operations


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
    statuses = {"500"}
    if op.path.startswith("/v2/"):
        statuses |= {"401", "403", "404", "429"}
        if op.method != "GET":
            statuses |= {"400", "413"}
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
            response = _resolve(spec, response)
            assert response["description"], (str(op), code)
            schema = response["content"]["application/json"]["schema"]
            if not code.startswith("2"):
                assert schema == {"$ref": "#/components/schemas/Error"}, (str(op), code)


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
    assert schemas["Error"]["required"] == ["error"]
    assert set(schemas["ErrorBody"]["required"]) == {"status", "code", "message"}
    rate_limited = spec["components"]["responses"]["RateLimited"]
    assert "Retry-After" in rate_limited["headers"]
    assert "WWW-Authenticate" in spec["components"]["responses"]["Unauthenticated"]["headers"]
