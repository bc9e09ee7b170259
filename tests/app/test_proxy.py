"""Proxy mode (docs/proxy.md) in-process: the proxy's WSGI app in werkzeug's test client, its
upstream a stub (httpx.MockTransport) that answers as told and notes what it was sent. What
needs sockets, gunicorn and a real sendai-server is in test_proxy_live.py."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from werkzeug.test import Client

from sendai_server.cli import main
from sendai_server.proxy.recording import read_exchanges, summarize
from tests.support.proxy import AUTH, BASE, KEY, TASK, Stub

TASK_PATH = f"{BASE}/task/task_c"


def test_a_valid_exchange_passes_unchanged_with_no_findings(
    make_proxy: Callable[..., Client], stub: Stub
) -> None:
    body = json.dumps({"payload": TASK}).encode()
    stub.answer = lambda _r: httpx.Response(
        200, content=body, headers={"Content-Type": "application/json", "X-Request-Id": "r1"})
    response = make_proxy().get(f"{TASK_PATH}?x=1%202", headers={**AUTH, "X-Custom": "a"})
    assert response.status_code == 200
    assert response.data == body
    assert response.headers["X-Request-Id"] == "r1"
    # One finding: `x` is no query parameter of getTask (unknown_parameter); it still goes on.
    assert response.headers["X-Sendai-Violations"] == "1"
    sent = stub.seen[0]
    assert sent.method == "GET" and sent.url.raw_path == f"{TASK_PATH}?x=1%202".encode()
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["X-Custom"] == "a"
    assert sent.headers["Host"] == "upstream.test"
    # nothing of httpx's own is added: no User-Agent, Accept-Encoding the client did not send
    assert "user-agent" not in sent.headers and "accept-encoding" not in sent.headers


BROKEN_ANSWERS = [
    pytest.param(lambda: httpx.Response(200, json={"payload": {**TASK, "status": "ARCHIVED"}}),
                 "response", "/payload/status", "enum", id="unknown-status"),
    pytest.param(lambda: httpx.Response(200, json={}),
                 "response", "/payload", "required", id="missing-required-field"),
    pytest.param(lambda: httpx.Response(418, json={"error": "teapot"}),
                 "response", "status", "undocumented_status", id="undocumented-418"),
    pytest.param(lambda: httpx.Response(200, json={"payload": {**TASK, "approved": "no"}}),
                 "response", "/payload/approved", "type", id="wrong-type"),
    pytest.param(lambda: httpx.Response(200, text="<html>ok</html>",
                                        headers={"Content-Type": "text/html"}),
                 "response", "header.Content-Type", "media_type", id="html-answer"),
]


@pytest.mark.parametrize(("answer", "side", "where", "rule"), BROKEN_ANSWERS)
def test_an_answer_that_breaks_the_contract_is_flagged_and_passed_on_unchanged(
    make_proxy: Callable[..., Client], stub: Stub, answer: Callable[[], httpx.Response],
    side: str, where: str, rule: str, tmp_path: Path,
) -> None:
    upstream = answer()
    stub.answer = lambda _r: upstream
    response = make_proxy(record=True).get(TASK_PATH, headers=AUTH)
    assert response.status_code == upstream.status_code
    assert response.data == upstream.content
    assert response.headers["Content-Type"] == upstream.headers["Content-Type"]
    assert response.headers["X-Sendai-Violations"] == "1"
    [finding] = list(read_exchanges(tmp_path / "exchanges.jsonl"))[-1]["violations"]
    assert (finding["side"], finding["where"], finding["rule"]) == (side, where, rule)
    assert finding["operation"] == "GET /v2/{team_id}/project/{project_id}/task/{task_id}"
    assert finding["message"]


def test_each_finding_is_one_json_log_line_without_the_key(
    make_proxy: Callable[..., Client], stub: Stub, caplog: pytest.LogCaptureFixture,
) -> None:
    stub.answer = lambda _r: httpx.Response(418, json={"payload": {**TASK, "status": "X"}})
    caplog.set_level(logging.INFO, logger="sendai_server.proxy")
    logging.getLogger("sendai_server").propagate = True
    try:
        make_proxy().post(f"{TASK_PATH}/report", json={"issues": [{"label": ""}]},
                          headers={**AUTH, "X-Request-Id": "client-1"})
    finally:
        logging.getLogger("sendai_server").propagate = False
    lines = [r for r in caplog.records if getattr(r, "event", None) == "contract_violation"]
    assert {(r.side, r.where, r.rule) for r in lines} == {  # type: ignore[attr-defined]
        ("request", "/issues/0/label", "minLength"), ("request", "/issues/0/value", "required"),
        ("response", "status", "undocumented_status")}
    assert all(r.request_id == "client-1" for r in lines)  # type: ignore[attr-defined]
    assert KEY not in caplog.text


def test_a_malformed_report_is_a_request_finding_and_still_sent_when_not_strict(
    make_proxy: Callable[..., Client], stub: Stub,
) -> None:
    stub.answer = lambda _r: httpx.Response(400, json={
        "error": {"status": 400, "code": "validation_error", "message": "bad"},
        "request_id": "r"})
    response = make_proxy().post(f"{TASK_PATH}/report", json={"issues": "none"}, headers=AUTH)
    assert response.status_code == 400
    assert response.headers["X-Sendai-Violations"] == "1"
    assert len(stub.seen) == 1 and json.loads(stub.seen[0].content) == {"issues": "none"}


def test_strict_refuses_a_request_that_breaks_the_contract_and_never_sends_it(
    make_proxy: Callable[..., Client], stub: Stub,
) -> None:
    response = make_proxy(strict=True).post(
        f"{TASK_PATH}/report", json={"issues": "none"}, headers={**AUTH, "X-Request-Id": "q1"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Sendai-Violations"] == "1"
    body = response.get_json()
    assert body["request_id"] == "q1"
    assert body["error"]["code"] == "validation_error"
    [finding] = body["error"]["details"]["violations"]
    assert (finding["side"], finding["where"], finding["rule"]) == ("request", "/issues", "type")
    assert stub.seen == []


def test_strict_passes_a_valid_request(make_proxy: Callable[..., Client], stub: Stub) -> None:
    response = make_proxy(strict=True).post(
        f"{TASK_PATH}/report", json={"issues": [{"label": "Total", "value": "wrong"}]},
        headers=AUTH)
    assert len(stub.seen) == 1
    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path", "where", "rule"), [
    ("GET", "/v3/tasks", "path", "unknown_operation"),
    ("PUT", TASK_PATH, "path", "unknown_operation"),
    ("GET", f"{BASE}/task?limit=many", "query.limit", "type"),
])
def test_request_findings_name_where_and_rule(
    make_proxy: Callable[..., Client], stub: Stub, method: str, path: str, where: str,
    rule: str, tmp_path: Path,
) -> None:
    make_proxy(record=True).open(path, method=method, headers=AUTH)
    [finding] = [f for f in list(read_exchanges(tmp_path / "exchanges.jsonl"))[-1]["violations"]
                 if f["side"] == "request"]
    assert (finding["side"], finding["where"], finding["rule"]) == ("request", where, rule)


def test_a_request_without_a_key_is_flagged(make_proxy: Callable[..., Client]) -> None:
    response = make_proxy().get(TASK_PATH)
    assert response.headers["X-Sendai-Violations"] == "1"


@pytest.mark.parametrize(("error", "status", "code"), [
    (httpx.ConnectError("refused"), 502, "bad_gateway"),
    (httpx.ReadTimeout("slow"), 504, "gateway_timeout"),
    (httpx.ConnectTimeout("slow"), 504, "gateway_timeout"),
])
def test_an_upstream_that_fails_is_answered_in_the_error_shape(
    make_proxy: Callable[..., Client], stub: Stub, error: Exception, status: int, code: str,
) -> None:
    def fail(_request: httpx.Request) -> httpx.Response:
        raise error

    stub.answer = fail
    response = make_proxy().get(TASK_PATH, headers={**AUTH, "X-Request-Id": "q2"})
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"error": {"status": status, "code": code,
                                             "message": response.get_json()["error"]["message"]},
                                   "request_id": "q2"}


def test_the_recording_has_one_line_per_exchange_with_secrets_hidden(
    make_proxy: Callable[..., Client], stub: Stub, tmp_path: Path,
) -> None:
    stub.answer = lambda _r: httpx.Response(
        200, content=b"%PDF-1.4 bytes", headers={"Content-Type": "application/pdf",
                                                 "Set-Cookie": "session=s3cret"})
    proxy = make_proxy(record=True)
    proxy.get(TASK_PATH, headers={**AUTH, "Cookie": "a=s3cret", "X-Sendai-Signature": "s3cret"})
    stub.answer = lambda _r: httpx.Response(200, json={"payload": TASK})
    proxy.post(f"{TASK_PATH}/report", json={"issues": []}, headers=AUTH)
    text = (tmp_path / "exchanges.jsonl").read_text()
    assert KEY not in text and "s3cret" not in text
    first, second = read_exchanges(tmp_path / "exchanges.jsonl")
    assert set(first) == {"at", "duration_ms", "operation", "request", "response", "violations"}
    headers = dict(first["request"]["headers"])
    assert headers["Authorization"] == headers["Cookie"] == headers["X-Sendai-Signature"] == "***"
    assert dict(first["response"]["headers"])["Set-Cookie"] == "***"
    assert first["response"]["body"] == {"base64": "JVBERi0xLjQgYnl0ZXM=", "size": 14,
                                         "cut": False}
    assert second["request"]["body"] == {"issues": []}  # JSON kept as JSON
    assert second["response"]["body"] == {"payload": TASK}
    assert first["response"]["status"] == 200 and first["duration_ms"] > 0


def test_a_recorded_body_over_1_mib_is_cut_and_says_so(
    make_proxy: Callable[..., Client], stub: Stub, tmp_path: Path,
) -> None:
    stub.answer = lambda _r: httpx.Response(
        200, content=b"x" * (3 * 1024 * 1024), headers={"Content-Type": "application/pdf"})
    make_proxy(record=True).get(f"{BASE}/upload/upl_a/files/0", headers=AUTH)
    [line] = read_exchanges(tmp_path / "exchanges.jsonl")
    body = line["response"]["body"]
    assert (body["size"], body["cut"]) == (3 * 1024 * 1024, True)
    assert len(base64.b64decode(body["base64"])) == 1024 * 1024


def test_summary_counts_calls_statuses_and_findings_per_operation(
    make_proxy: Callable[..., Client], stub: Stub, tmp_path: Path,
) -> None:
    proxy = make_proxy(record=True)
    proxy.get(TASK_PATH, headers=AUTH)
    stub.answer = lambda _r: httpx.Response(200, json={"payload": {**TASK, "status": "X"}})
    proxy.get(TASK_PATH, headers=AUTH)
    proxy.get(TASK_PATH, headers=AUTH)
    stub.answer = lambda _r: httpx.Response(404, json={
        "error": {"status": 404, "code": "not_found", "message": "no"}, "request_id": "r"})
    proxy.get("/v3/elsewhere", headers=AUTH)
    summary = summarize(read_exchanges(tmp_path / "exchanges.jsonl"))
    assert summary == [
        {"operation": "(undocumented) GET /v3/elsewhere", "calls": 1, "statuses": {"404": 1},
         "findings": [{"side": "request", "where": "path", "rule": "unknown_operation",
                       "count": 1, "message": "No operation documents GET /v3/elsewhere."}]},
        {"operation": "GET /v2/{team_id}/project/{project_id}/task/{task_id}", "calls": 3,
         "statuses": {"200": 3},
         "findings": [{"side": "response", "where": "/payload/status", "rule": "enum",
                       "count": 2, "message": summary[1]["findings"][0]["message"]}]},
    ]
    result = CliRunner().invoke(main, ["recording", "summary",
                                       str(tmp_path / "exchanges.jsonl")])
    assert result.exit_code == 0, result.output
    assert "GET /v2/{team_id}/project/{project_id}/task/{task_id}\n  3 calls; statuses 200: 3;" \
        " 2 findings" in result.output
    assert "2 x response /payload/status [enum]" in result.output
    as_json = CliRunner().invoke(main, ["recording", "summary", "--json",
                                        str(tmp_path / "exchanges.jsonl")])
    assert json.loads(as_json.output) == {"operations": summary}


def test_summary_of_a_file_that_is_not_a_recording_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\nnot json\n")
    result = CliRunner().invoke(main, ["recording", "summary", str(bad)])
    assert result.exit_code == 1
    assert "bad.jsonl:2 is not a JSON line" in result.output


def test_proxy_refuses_an_upstream_that_is_not_an_http_url() -> None:
    result = CliRunner().invoke(main, ["proxy", "--upstream", "ftp://example.com"])
    assert result.exit_code == 2
    assert "is not an http:// or https:// URL" in result.output


def test_an_upstream_with_a_path_gets_each_request_path_after_it(
    make_proxy: Callable[..., Client], stub: Stub,
) -> None:
    make_proxy(upstream="http://upstream.test/sendai/").get(f"{TASK_PATH}?a=1", headers=AUTH)
    assert stub.seen[0].url.raw_path == f"/sendai{TASK_PATH}?a=1".encode()


class _BrokenOff(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b'{"payload": {"id": '
        raise httpx.ReadError("connection reset")


def test_an_answer_broken_off_before_it_could_be_checked_is_502_without_credentials(
    make_proxy: Callable[..., Client], stub: Stub,
) -> None:
    stub.answer = lambda _r: httpx.Response(
        200, headers={"Content-Type": "application/json"}, stream=_BrokenOff())
    response = make_proxy(upstream="http://user:s3cret@upstream.test").get(
        TASK_PATH, headers=AUTH)
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "bad_gateway"
    assert "s3cret" not in response.get_data(as_text=True)
    assert "upstream.test" in response.get_json()["error"]["message"]


def test_a_body_over_1_mib_streams_through_unread_and_only_its_media_type_is_checked(
    make_proxy: Callable[..., Client], stub: Stub,
) -> None:
    big = json.dumps({"issues": [{"label": "x" * (2 * 1024 * 1024)}]}).encode()
    proxy = make_proxy()
    passed = proxy.post(f"{TASK_PATH}/report", data=big, headers={
        **AUTH, "Content-Type": "application/json"})
    assert stub.seen[-1].content == big
    assert "X-Sendai-Violations" not in passed.headers  # its content is not checked
    flagged = proxy.post(f"{TASK_PATH}/report", data=big, headers={
        **AUTH, "Content-Type": "text/plain"})
    assert flagged.headers["X-Sendai-Violations"] == "1"
