"""Proxy mode (docs/proxy.md) over real sockets: `sendai-server proxy` (gunicorn) in front of a
live sendai-server (gunicorn, the demo seed), of a closed port, and of a port that never
answers. The stub upstreams that break the contract are in test_proxy.py."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from sendai_server.proxy.recording import read_exchanges, summarize
from tests.support.helpers import REPO_ROOT, LiveServer, free_port
from tests.support.live import Live, live  # noqa: F401 - the module's live server fixture

pytestmark = pytest.mark.slow

SAMPLE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"
MIB = 1024 * 1024
# Headers a server sets for its own connection, not the application's answer.
_CONNECTION_HEADERS = {"date", "server", "connection", "keep-alive", "x-sendai-violations"}


class Proxy:
    """`sendai-server proxy` as a user starts it; its standard error kept in `log`."""

    def __init__(self, upstream: str, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("sendai-server")), "proxy", "--upstream",
             upstream, "--bind", f"127.0.0.1:{self.port}", *args],
            cwd=REPO_ROOT, stdout=self._log_file, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the proxy did not listen in time") from None
                time.sleep(0.05)

    def worker_peak_rss_kib(self) -> int:
        """VmHWM of the proxy's gunicorn worker: the most memory it has held at once."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        [worker] = children.read_text().split()
        for line in Path(f"/proc/{worker}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@contextmanager
def running_proxy(upstream: str, log: Path, *args: str) -> Iterator[Proxy]:
    proxy = Proxy(upstream, log, *args)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def proxied(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:  # noqa: F811
    folder = tmp_path_factory.mktemp("proxy")
    with running_proxy(live.server.url, folder / "proxy.log", "--record",
                       str(folder / "exchanges.jsonl")) as proxy:
        yield proxy


def _both(live: Live, proxy: Proxy, method: str, path: str,  # noqa: F811
          **kwargs: Any) -> tuple[requests.Response, requests.Response]:
    direct = requests.request(method, f"{live.server.url}{path}", timeout=30, **kwargs)
    through = requests.request(method, f"{proxy.url}{path}", timeout=30, **kwargs)
    return direct, through


def _wait_for_exchange(proxy: Proxy, wanted: Callable[[dict[str, Any]], bool],
                       deadline_seconds: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + deadline_seconds
    while True:
        found = [e for e in read_exchanges(proxy.log.with_name("exchanges.jsonl")) if wanted(e)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _answer_headers(response: requests.Response) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in response.raw.headers.items()
                  if k.lower() not in _CONNECTION_HEADERS)


def test_answers_through_the_proxy_are_byte_identical_to_the_servers_own(
    live: Live, proxied: Proxy,  # noqa: F811
) -> None:
    base = live.base.removeprefix(live.server.url)
    completed = live.create_task("COMPLETED")
    reviewing = live.create_task("REVIEWING")
    cases = [
        ("GET", f"{base}/task/{reviewing}", live.headers("read")),
        ("GET", f"{base}/task/{reviewing}/events", live.headers("read")),
        ("GET", f"{base}/folder", live.headers("helpers")),
        ("GET", f"{base}/task/task_nosuchtask", live.headers("read")),
        ("GET", f"{base}/task/{reviewing}", {}),
        ("POST", f"{base}/task/{completed}/discard", live.headers("edit")),
        ("DELETE", f"{base}/task/{reviewing}", live.headers("edit")),
        ("POST", f"{base}/task/{reviewing}/report", {**live.headers("edit"),
                                                    "Content-Type": "application/json"}),
        ("GET", "/healthz", {}),
    ]
    for number, (method, path, headers) in enumerate(cases):
        same_id = {**headers, "X-Request-Id": f"identical-{number}"}
        direct, through = _both(live, proxied, method, path, headers=same_id, data=b"")
        assert (through.status_code, through.content) == (direct.status_code, direct.content), \
            (method, path)
        assert _answer_headers(through) == _answer_headers(direct), (method, path)


def test_valid_traffic_has_no_findings(live: Live, proxied: Proxy) -> None:  # noqa: F811
    base = f"{proxied.url}{live.base.removeprefix(live.server.url)}"
    reviewing = live.create_task("REVIEWING")
    key = live.headers("helpers")
    http = requests.Session()
    sent: list[requests.Response] = [
        http.get(f"{base}/task/{reviewing}", headers=key),
        http.get(f"{base}/task", params={"limit": 2, "status": "REVIEWING"}, headers=key),
        http.get(f"{base}/task/{reviewing}/events", headers=key),
        http.get(f"{base}/folder", headers=key),
        http.get(f"{base}/notifications", headers=key),
        http.get(f"{base}/task/task_nosuchtask", headers=key),  # a documented 404
        http.post(f"{base}/task/{reviewing}/report",
                  json={"issues": [{"label": "Total", "value": "12.00"}]}, headers=key),
        http.post(f"{base}/task/{live.create_task('REVIEWING')}/discard", headers=key),
    ]
    with SAMPLE.open("rb") as sample:
        upload = http.post(f"{base}/upload", files={"file": ("invoice.pdf", sample)},
                           data={"name": "Through the proxy"}, headers=key)
    sent.append(upload)
    assert upload.status_code == 200, upload.text
    upload_id = upload.json()["id"]
    sent += [http.get(f"{base}/upload/{upload_id}", headers=key),
             http.get(f"{base}/upload", headers=key),
             http.get(f"{base}/upload/{upload_id}/files/0", headers=key)]
    assert sent[-1].content == SAMPLE.read_bytes()
    for response in sent:
        assert response.status_code < 500, response.text
        assert "X-Sendai-Violations" not in response.headers, (
            response.request.method, response.request.path_url, response.headers)


def test_a_clients_malformed_report_is_flagged_as_a_request_finding(
    live: Live, proxied: Proxy,  # noqa: F811
) -> None:
    reviewing = live.create_task("REVIEWING")
    path = f"{live.base.removeprefix(live.server.url)}/task/{reviewing}/report"
    malformed = json.dumps({"issues": [{"label": ""}]})
    headers = {**live.headers("edit"), "Content-Type": "application/json",
               "X-Request-Id": "malformed-report"}
    direct, through = _both(live, proxied, "POST", path, headers=headers, data=malformed)
    assert (through.status_code, through.content) == (direct.status_code, direct.content)
    assert through.status_code == 400
    assert through.headers["X-Sendai-Violations"] == "2"
    # The proxy writes an exchange's line once its answer is sent: the client may be faster.
    [line] = _wait_for_exchange(proxied, lambda e: e["request"]["path"] == path and
                                e["response"]["status"] == 400)
    assert {(f["side"], f["where"], f["rule"]) for f in line["violations"]} == {
        ("request", "/issues/0/label", "minLength"), ("request", "/issues/0/value", "required")}
    logged = [json.loads(entry) for entry in proxied.log.read_text().splitlines()
              if entry.startswith("{") and '"malformed-report"' in entry]
    assert {(e["event"], e["where"]) for e in logged} == {
        ("contract_violation", "/issues/0/label"), ("contract_violation", "/issues/0/value")}


def test_strict_refuses_a_malformed_report_with_400_and_the_upstream_never_sees_it(
    live: Live, tmp_path: Path,  # noqa: F811
) -> None:
    upstream_log = tmp_path / "upstream.log"
    upstream = LiveServer(live.database_url, workers=1, env={"SENDAI_LOG_LEVEL": "INFO"},
                          log_path=upstream_log)
    try:
        with running_proxy(upstream.url, tmp_path / "proxy.log", "--strict") as proxy:
            reviewing = live.create_task("REVIEWING")
            url = f"{proxy.url}{live.base.removeprefix(live.server.url)}/task/{reviewing}/report"
            refused = requests.post(url, json={"issues": [{"label": ""}]}, timeout=30,
                                    headers={**live.headers("edit"), "X-Request-Id": "strict-no"})
            passed = requests.post(url, json={"issues": [{"label": "Total", "value": "1"}]},
                                   timeout=30,
                                   headers={**live.headers("edit"), "X-Request-Id": "strict-ok"})
    finally:
        upstream.stop()
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"]["code"] == "validation_error" and body["request_id"] == "strict-no"
    assert {v["where"] for v in body["error"]["details"]["violations"]} == {
        "/issues/0/label", "/issues/0/value"}
    assert passed.status_code == 200, passed.text
    seen = upstream_log.read_text()
    assert '"strict-ok"' in seen  # the upstream logs every request it gets, with its id
    assert '"strict-no"' not in seen


def test_authorization_is_passed_on_and_never_logged_or_recorded(
    live: Live, proxied: Proxy,  # noqa: F811
) -> None:
    key = live.seed["keys"]["read"]
    response = requests.get(f"{proxied.url}{live.base.removeprefix(live.server.url)}/task/x",
                            headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 404  # the key reached the upstream: not 401
    requests.get(f"{proxied.url}/v3/not-documented", headers={"Authorization": f"Bearer {key}"},
                 timeout=30)  # a finding, so a log line
    assert _wait_for_exchange(proxied, lambda e: e["request"]["path"] == "/v3/not-documented")
    recording = proxied.log.with_name("exchanges.jsonl").read_text()
    assert recording and key not in recording
    assert '"Authorization","***"' in recording
    log = proxied.log.read_text()
    assert "contract_violation" in log and key not in log


def test_the_recording_summarizes_per_operation(live: Live, proxied: Proxy) -> None:  # noqa: F811
    base = f"{proxied.url}{live.base.removeprefix(live.server.url)}"
    for task_id in (live.create_task("REVIEWING"), "task_summarynotfound"):
        requests.get(f"{base}/task/{task_id}", headers=live.headers("read"), timeout=30)
    assert _wait_for_exchange(proxied, lambda e: e["request"]["path"].endswith(
        "/task/task_summarynotfound"))
    summary = {row["operation"]: row for row in
               summarize(read_exchanges(proxied.log.with_name("exchanges.jsonl")))}
    get_task = summary["GET /v2/{team_id}/project/{project_id}/task/{task_id}"]
    assert get_task["calls"] >= 2 and set(get_task["statuses"]) >= {"200", "404"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sendai-server")), "recording", "summary",
         str(proxied.log.with_name("exchanges.jsonl"))],
        capture_output=True, text=True, timeout=60, check=True)
    assert "GET /v2/{team_id}/project/{project_id}/task/{task_id}\n" in result.stdout


def test_a_40_mib_upload_and_its_download_pass_in_constant_memory(
    live: Live, proxied: Proxy,  # noqa: F811
) -> None:
    size = 40 * MIB  # Send AI's largest file
    boundary = "proxyboundary0123456789"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = b"%PDF-1.4\n" + b"0" * (MIB - 9)
    digest = hashlib.sha256(block * 40).hexdigest()

    class Body:
        """The multipart body, made as it is read: the client holds no more than a block."""

        def __init__(self) -> None:
            self.parts = iter([head, *([block] * (size // MIB)), tail])
            self.pending = b""

        def __len__(self) -> int:
            return len(head) + size + len(tail)

        def read(self, amount: int = -1) -> bytes:
            while len(self.pending) < max(amount, 1):
                part = next(self.parts, None)
                if part is None:
                    break
                self.pending += part
            out, self.pending = self.pending[:amount], self.pending[amount:]
            return out

    base = f"{proxied.url}{live.base.removeprefix(live.server.url)}"
    key = live.headers("helpers")
    requests.get(f"{base}/folder", headers=key, timeout=30)  # the worker's baseline
    before = proxied.worker_peak_rss_kib()
    upload = requests.post(
        f"{base}/upload", data=Body(), timeout=120,
        headers={**key, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["fileSize"] == size
    assert "X-Sendai-Violations" not in upload.headers
    after_upload = proxied.worker_peak_rss_kib()
    download = requests.get(f"{base}/upload/{upload.json()['id']}/files/0", headers=key,
                            stream=True, timeout=120)
    received = hashlib.sha256()
    for chunk in download.iter_content(MIB):
        received.update(chunk)
    assert received.hexdigest() == digest
    after_download = proxied.worker_peak_rss_kib()
    # 40 MiB held whole would raise the peak by at least 40 MiB; streaming by a few chunks.
    assert after_upload - before < 16 * 1024, (before, after_upload)
    assert after_download - before < 16 * 1024, (before, after_download)


def test_an_upstream_that_cannot_be_reached_is_502_bad_gateway(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with running_proxy(closed, tmp_path / "proxy.log") as proxy:
        response = requests.get(f"{proxy.url}/healthz", timeout=30,
                                headers={"X-Request-Id": "to-nowhere"})
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["status"] == 502 and body["error"]["code"] == "bad_gateway"
    assert body["request_id"] == "to-nowhere"


def test_an_upstream_that_does_not_answer_in_time_is_504_gateway_timeout(
    tmp_path: Path,
) -> None:
    # A listening socket nobody reads: the connection is made, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        upstream = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with running_proxy(upstream, tmp_path / "proxy.log", "--timeout", "0.5") as proxy:
            started = time.monotonic()
            response = requests.get(f"{proxy.url}/healthz", timeout=30)
            waited = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "gateway_timeout"
    assert 0.5 <= waited < 10
