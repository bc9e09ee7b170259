"""Hostile input, beyond what a fuzzer guesses: each case answers a JSON 4xx of the documented
shape and changes no task and no event. The operations come from /openapi.json, so every
endpoint, including ones added later, gets every case.

Over the Flask test client (both databases) and, for what real servers treat differently (raw
bytes in the request line and headers, chunked bodies, limits), over a live gunicorn.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.services.keys import SCOPES, create_key
from sendai_server.store.uow import UnitOfWork
from tests.support.api_spec import HTTP_METHODS, Operation, operations
from tests.support.helpers import LiveServer, auth
from tests.support.hostile import (
    HOSTILE_BODIES,
    JSON,
    assert_json_error,
    chunked,
    raw_request,
    snapshot,
)

LONG = 10_000

HOSTILE_IDS = {
    "10k_characters": "t" * LONG,
    "nul": "task_\x00abc",
    "control_bytes": "task_\x01\x02\x1b[31m\x7f",
    "percent_encoded_garbage": "%00%ff%fe%c0%af",
    "encoded_lone_surrogate": "%ED%A0%80",
    "path_traversal": "../../../../etc/passwd",
    "encoded_traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
    "sql_quote": "task_' OR '1'='1",
    "sql_statement": "1; DROP TABLE task;--",
    "unicode_bidi": "task_\u202eevil",
    "emoji": "task_\U0001f4a3",
}


BAD_AUTHORIZATION: dict[str, Callable[[dict[str, str]], str]] = {
    "empty": lambda k: "",
    "scheme_only": lambda k: "Bearer",
    "scheme_and_space": lambda k: "Bearer ",
    "basic": lambda k: "Basic dXNlcjpwYXNz",
    "huge": lambda k: "Bearer " + "a" * LONG,
    "huge_key_shaped": lambda k: "Bearer sk_" + "A" * LONG,
    "tab_instead_of_space": lambda k: f"Bearer\t{k['edit']}",
    "no_space": lambda k: f"Bearer{k['edit']}",
    "no_scheme": lambda k: k["edit"],
    "two_keys": lambda k: f"Bearer {k['edit']} {k['edit']}",
    "nul_after_key": lambda k: f"Bearer {k['edit']}\x00",
    "control_bytes_in_key": lambda k: f"Bearer {k['edit'][:10]}\x01\x02\x7f{k['edit'][13:]}",
    "non_ascii": lambda k: "Bearer sk_" + "\u00ff" * 40,
    "unknown_key": lambda k: "Bearer sk_" + "B" * 43,
    "revoked_key": lambda k: f"Bearer {k['revoked']}",
}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()  # type: ignore[no-any-return]


@pytest.fixture
def every_scope_key(uow: UnitOfWork, seed: dict[str, Any]) -> str:
    return create_key(uow, seed["team_id"], list(SCOPES), [seed["project_id"]]).key


def _is_upload(op: Operation) -> bool:
    """A multipart upload or a snapshot file: its body may be as large as
    SENDAI_MAX_UPLOAD_BYTES."""
    content = op.doc.get("requestBody", {}).get("content", {})
    return "multipart/form-data" in content or "application/vnd.sendai.snapshot" in content


def _url(op: Operation, seed: dict[str, Any], task: str, override: dict[str, str] | None = None
         ) -> str:
    """The operation's URL on the seed's project and `task`; an upload's operations get the
    upload of the OTHER team's task, and the faults and clock operations without a body the
    other team's (404 whatever the body: nothing to change), unless `override` says otherwise."""
    values = {"team_id": seed["team_id"], "project_id": seed["project_id"], "task_id": task,
              "upload_id": seed["other_upload_id"], "folder_id": seed["folders"]["bin"],
              "index": "0", "connector_id": "conn_00000000000000000000",
              "fault_id": "flt_00000000000000000000",
              "snapshot_id": "snap_00000000000000000000"}
    # The other team's faults and clock: 404. (With a body, the seed team's: the body's 400.)
    if ("/test_helpers/faults" in op.path or "/test_helpers/clock" in op.path) \
            and not op.has_body:
        values["team_id"] = seed["other"]["team_id"]
    if op.path.endswith("/test_helpers/state"):  # a reset of the other team's state: 404
        values["team_id"] = seed["other"]["team_id"]
    return op.url(**{**values, **(override or {})})


def _v2(spec: dict[str, Any]) -> list[Operation]:
    return [op for op in operations(spec) if op.authenticated]


@pytest.mark.parametrize("hostile_id", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
def test_hostile_ids_are_not_found_and_change_nothing(
    client: FlaskClient, spec: dict[str, Any], seed: dict[str, Any], engine: Engine,
    every_scope_key: str, hostile_id: str,
) -> None:
    before = snapshot(engine)
    for op in _v2(spec):
        for name in ("team_id", "project_id", "task_id", "upload_id", "folder_id",
                     "connector_id"):
            if "{" + name + "}" not in op.path:
                continue
            url = _url(op, seed, seed["tasks"]["REVIEWING"][0], {name: hostile_id})
            response = client.open(url, method=op.method, headers=auth(every_scope_key))
            error = assert_json_error(response.status_code, response.content_type,
                                      response.data, (str(op), name))
            assert (response.status_code, error["code"]) == (404, "not_found"), (str(op), name)
    assert snapshot(engine) == before


@pytest.mark.parametrize("body,content_type", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_bodies_are_rejected_and_change_nothing(
    client: FlaskClient, spec: dict[str, Any], seed: dict[str, Any], engine: Engine,
    every_scope_key: str, body: bytes, content_type: str,
) -> None:
    # A PROCESSING task refuses every action, so an operation that ignores its body answers
    # invalid_task_state; one that reads its body must refuse the body first.
    before = snapshot(engine)
    for op in _v2(spec):
        if op.method == "GET":
            continue
        url = _url(op, seed, seed["tasks"]["PROCESSING"][0])
        response = client.open(url, method=op.method, data=body, content_type=content_type,
                               headers=auth(every_scope_key))
        error = assert_json_error(response.status_code, response.content_type, response.data,
                                  str(op))
        if op.has_body and "{upload_id}" not in op.path:
            expected = (400, "validation_error")
        elif "{task_id}" in op.path:
            expected = (400, "invalid_task_state")
        else:  # another team's upload or faults
            expected = (404, "not_found")
        assert (response.status_code, error["code"]) == expected, (str(op), error)
    assert snapshot(engine) == before


@pytest.mark.parametrize("transfer", ["content_length", "chunked"])
def test_bodies_over_the_limit_are_413_before_anything_else(
    client: FlaskClient, spec: dict[str, Any], seed: dict[str, Any], engine: Engine,
    every_scope_key: str, transfer: str,
) -> None:
    assert client.application.config["SENDAI"].max_upload_bytes <= 8 * 1024 * 1024
    before = snapshot(engine)
    for op in operations(spec):
        limit = client.application.config["SENDAI"].max_upload_bytes if _is_upload(op) \
            else client.application.config["MAX_CONTENT_LENGTH"]
        body = b"{" + b" " * limit + b"}"
        # A REVIEWING task: were the body ignored, discard would succeed.
        url = _url(op, seed, seed["tasks"]["REVIEWING"][0])
        headers = {**auth(every_scope_key), "Content-Type": JSON}
        if transfer == "chunked":
            response = client.open(
                url, method=op.method, input_stream=io.BytesIO(body),
                headers={**headers, "Transfer-Encoding": "chunked"},
                environ_overrides={"wsgi.input_terminated": True},
            )
        else:
            response = client.open(url, method=op.method, data=body, headers=headers)
        error = assert_json_error(response.status_code, response.content_type, response.data,
                                  str(op))
        assert (response.status_code, error["code"]) == (413, "payload_too_large"), str(op)
    assert snapshot(engine) == before


@pytest.mark.parametrize("make_header", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
def test_bad_authorization_headers_are_401_and_change_nothing(
    client: FlaskClient, spec: dict[str, Any], seed: dict[str, Any], engine: Engine,
    make_header: Callable[[dict[str, str]], str],
) -> None:
    before = snapshot(engine)
    for op in _v2(spec):
        url = _url(op, seed, seed["tasks"]["REVIEWING"][0])
        response = client.open(url, method=op.method,
                               headers={"Authorization": make_header(seed["keys"])})
        error = assert_json_error(response.status_code, response.content_type, response.data,
                                  str(op))
        assert (response.status_code, error["code"]) == (401, "unauthenticated"), str(op)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert snapshot(engine) == before


def test_methods_a_path_does_not_allow_are_405_with_allow(
    client: FlaskClient, spec: dict[str, Any], seed: dict[str, Any], engine: Engine,
    every_scope_key: str,
) -> None:
    before = snapshot(engine)
    for path, item in spec["paths"].items():
        op = Operation("GET", path, {})
        url = _url(op, seed, seed["tasks"]["REVIEWING"][0])
        allowed = {m.upper() for m in HTTP_METHODS if m in item}
        for method in {m.upper() for m in HTTP_METHODS} - allowed:
            response = client.open(url, method=method, headers=auth(every_scope_key))
            error = assert_json_error(response.status_code, response.content_type,
                                      response.data, (method, path))
            assert (response.status_code, error["code"]) == (405, "method_not_allowed")
            assert allowed <= set(response.headers["Allow"].split(", ")), (method, path)
    assert snapshot(engine) == before


def test_garbage_query_values_are_400_and_change_nothing(
    client: FlaskClient, spec: dict[str, Any], seed: dict[str, Any], engine: Engine,
    every_scope_key: str,
) -> None:
    before = snapshot(engine)
    for op in _v2(spec):
        for parameter in op.query_parameters:
            for value in ("\x00", "x" * LONG, "' OR 1=1--", "%ff%fe", "-1"):
                url = _url(op, seed, seed["tasks"]["REVIEWING"][0])
                response = client.open(url, method=op.method, headers=auth(every_scope_key),
                                       query_string={parameter["name"]: value})
                error = assert_json_error(response.status_code, response.content_type,
                                          response.data, (str(op), parameter["name"], value))
                assert error["code"] == "validation_error"
    assert snapshot(engine) == before


# --- over a live gunicorn -------------------------------------------------------------------

LIVE_LIMIT = 1024


def _live_cases(seed: dict[str, Any], key: str) -> list[tuple[str, bytes, set[int]]]:
    """(name, raw request, acceptable statuses). gunicorn itself refuses a request line or a
    header over its limits (414, 431) and malformed HTTP (400), in our JSON shape too."""
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task".encode()
    reviewing = seed["tasks"]["REVIEWING"][0].encode()
    processing = seed["tasks"]["PROCESSING"][0].encode()
    good = f"Authorization: Bearer {key}\r\n".encode()
    end = b"Host: 127.0.0.1\r\nConnection: close\r\n"

    def get(path: bytes, headers: bytes = good) -> bytes:
        return b"GET " + path + b" HTTP/1.1\r\n" + headers + end + b"\r\n"

    def post(path: bytes, body: bytes, headers: bytes = good,
             content_type: bytes = b"application/json") -> bytes:
        return (b"POST " + path + b" HTTP/1.1\r\n" + headers + end + b"Content-Type: "
                + content_type + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n" + body)

    discard_reviewing = base + b"/" + reviewing + b"/discard"
    discard_processing = base + b"/" + processing + b"/discard"
    over = b"{" + b" " * (2 * LIVE_LIMIT) + b"}"
    return [
        ("10k_id", get(base + b"/" + b"t" * LONG), {404, 414}),
        ("nul_in_path", get(base + b"/task_\x00x"), {400, 404}),
        ("control_bytes_in_path", get(base + b"/task_\x01\x1b\x7f"), {400, 404}),
        ("invalid_utf8_in_path", get(base + b"/task_\xff\xfe\xc0\xaf"), {400, 404}),
        ("percent_garbage", get(base + b"/%00%ff%fe%c0%af"), {404}),
        ("encoded_lone_surrogate", get(base + b"/%ED%A0%80"), {404}),
        ("traversal", get(base + b"/../../../../etc/passwd"), {404}),
        ("encoded_traversal", get(base + b"/..%2f..%2f..%2fetc%2fpasswd"), {404}),
        ("sql", get(base + b"/task_'%20OR%20'1'='1;--"), {404}),
        ("huge_authorization", get(base + b"/" + reviewing,
                                   b"Authorization: Bearer " + b"a" * LONG + b"\r\n"), {431}),
        ("empty_authorization", get(base + b"/" + reviewing, b"Authorization:\r\n"), {401}),
        ("spaced_authorization", get(base + b"/" + reviewing,
                                     b"Authorization:    Bearer\t\t" + key.encode() + b"\r\n"),
         {401}),
        ("control_bytes_in_authorization",
         get(base + b"/" + reviewing, b"Authorization: Bearer sk_\x01\x02" + b"A" * 40 + b"\r\n"),
         {400}),
        ("nul_in_authorization",
         get(base + b"/" + reviewing, b"Authorization: Bearer " + key.encode() + b"\x00\r\n"),
         {400}),
        ("latin1_authorization",
         get(base + b"/" + reviewing, b"Authorization: Bearer sk_" + b"\xff" * 40 + b"\r\n"),
         {401}),
        ("authorization_without_colon",
         get(base + b"/" + reviewing, b"Authorization Bearer " + key.encode() + b"\r\n"), {400}),
        ("invalid_utf8_json", post(discard_processing, b'{"a": "\xff\xfe"}'), {400}),
        ("lone_surrogate_json", post(discard_processing, b'{"a": "\\ud800"}'), {400}),
        ("form_body", post(discard_processing, b"a=1&b=2",
                           content_type=b"application/x-www-form-urlencoded"), {400}),
        ("over_limit_content_length", post(discard_reviewing, over), {413}),
        ("over_limit_chunked",
         b"POST " + discard_reviewing + b" HTTP/1.1\r\n" + good + end
         + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         + chunked(over), {413}),
        ("bad_chunk_size",
         b"POST " + discard_reviewing + b" HTTP/1.1\r\n" + good + end
         + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", {400}),
        ("negative_content_length",
         b"POST " + discard_reviewing + b" HTTP/1.1\r\n" + good + end
         + b"Content-Length: -1\r\n\r\n{}", {400}),
        ("wrong_method", b"DELETE " + base + b"/" + reviewing + b" HTTP/1.1\r\n" + good + end
         + b"\r\n", {405}),
        ("unknown_method", b"BREW " + base + b"/" + reviewing + b" HTTP/1.1\r\n" + good + end
         + b"\r\n", {405}),
        ("invalid_method", b"G(T " + base + b"/" + reviewing + b" HTTP/1.1\r\n" + good + end
         + b"\r\n", {400}),
    ]


@pytest.mark.slow
def test_hostile_input_over_live_gunicorn_answers_json_4xx_and_changes_nothing(
    database_url: str, seed: dict[str, Any], engine: Engine, every_scope_key: str,
) -> None:
    before = snapshot(engine)
    server = LiveServer(database_url, workers=2,
                        env={"SENDAI_MAX_BODY_BYTES": str(LIVE_LIMIT)})
    try:
        for name, request, statuses in _live_cases(seed, every_scope_key):
            response = raw_request(server.port, request)
            assert_json_error(response.status, response.content_type, response.body, name)
            assert response.status in statuses, (name, response.status, response.body[:200])
            assert response.headers.get("x-request-id"), name
    finally:
        server.stop()
    assert snapshot(engine) == before
