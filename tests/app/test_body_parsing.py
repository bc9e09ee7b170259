"""The JSON body parser every `@blp.arguments` view shares (api/parser.py), on a small view
made for this test: whatever arrives, a 400 validation_error of the documented shape, never a
500 and never a silently empty body."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema, fields

from sendai_server.web.api.blueprint import Blueprint
from tests.support.hostile import assert_json_error


class NoteSchema(Schema):
    name = fields.String()
    tags = fields.List(fields.String())


@pytest.fixture
def echo(app: Flask) -> FlaskClient:
    blp = Blueprint("echo", __name__)

    @blp.route("/echo", methods=["POST"])
    @blp.arguments(NoteSchema)
    def echo_view(note: dict[str, Any]) -> dict[str, Any]:
        return {"note": note}

    app.register_blueprint(blp)
    return app.test_client()


def test_a_valid_body_is_parsed(echo: FlaskClient) -> None:
    response = echo.post("/echo", json={"name": "n", "tags": ["a"]})
    assert response.status_code == 200
    assert response.get_json() == {"note": {"name": "n", "tags": ["a"]}}


@pytest.mark.parametrize("body,content_type", [
    (b'{"name": "\xff\xfe"}', "application/json"),
    (b'{"name": "\\ud800"}', "application/json"),
    (b'{"tags": ["ok", "\\udfff"]}', "application/json"),
    (b'{"\\ud800": "key"}', "application/json"),
    (b'{"name": "a\\u0000b"}', "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"scalar"', "application/json"),
    (b"7", "application/json"),
    (b"null", "application/json"),
    (b'{"name": "a"', "application/json"),
    (b'{"name": "a"}{"name": "b"}', "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b"name=a&tags=b", "application/x-www-form-urlencoded"),
    (b'{"name": "a"}', "text/plain"),
    (b'{"name": "a"}', "multipart/form-data; boundary=x"),
], ids=["invalid_utf8", "lone_surrogate", "surrogate_in_list", "surrogate_in_key", "nul",
        "array", "string", "number", "null", "truncated", "concatenated", "deeply_nested",
        "form", "text_plain", "multipart"])
def test_hostile_bodies_are_400_validation_error(
    echo: FlaskClient, body: bytes, content_type: str
) -> None:
    response = echo.post("/echo", data=body, content_type=content_type)
    error = assert_json_error(response.status_code, response.content_type, response.data)
    assert (response.status_code, error["code"]) == (400, "validation_error")
