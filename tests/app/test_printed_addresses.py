"""Issue 21 item 1 (docs/cli.md): every address `make run`, `demo-curl` and `serve` print is the one
the server listens on (SENDAI_BIND, serve's --bind), or SENDAI_PUBLIC_URL when set."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from sendai_server.cli import main
from sendai_server.cli.address import listening_url
from sendai_server.process import supervisor
from tests.support.helpers import REPO_ROOT, free_port
from tests.support.processes import CLI, DEADLINE, wait_until

URL = re.compile(r"https?://[^\s'\"]+")


def invoke(database_url: str, *args: str, **env: str | None) -> Result:
    environment: dict[str, str | None] = {
        "DATABASE_URL": database_url, "SENDAI_BIND": None, "SENDAI_PUBLIC_URL": None,
        "SENDAI_ENV": None, "SENDAI_INSPECTOR": None, **env,
    }
    return CliRunner().invoke(main, list(args), env=environment)


def printed_urls(output: str) -> list[str]:
    return URL.findall(output)


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What serve would have started, instead of starting it."""
    calls: list[list[str]] = []
    monkeypatch.setattr(supervisor, "start", calls.append)
    return calls


# --- demo-curl ----------------------------------------------------------------------------------

def test_demo_curl_prints_the_port_of_sendai_bind(database_url: str) -> None:
    result = invoke(database_url, "demo-curl", SENDAI_BIND="127.0.0.1:8100")
    assert result.exit_code == 0, result.output
    urls = printed_urls(result.stdout)
    # the discard, the upload, the task list, the inspector
    assert len(urls) == 4, result.stdout
    assert all(url.startswith("http://127.0.0.1:8100/") for url in urls), urls
    assert urls[-1] == "http://127.0.0.1:8100/inspect"
    assert "8000" not in result.stdout


def test_demo_curl_prints_sendai_public_url_over_the_bind(database_url: str) -> None:
    result = invoke(database_url, "demo-curl", SENDAI_BIND="0.0.0.0:8100",
                    SENDAI_PUBLIC_URL="https://sendai.example.com:9443/")
    assert result.exit_code == 0, result.output
    urls = printed_urls(result.stdout)
    assert len(urls) == 4, result.stdout
    assert all(url.startswith("https://sendai.example.com:9443/") for url in urls), urls
    assert "8100" not in result.stdout and "0.0.0.0" not in result.stdout


def test_demo_curl_on_every_interface_prints_loopback(database_url: str) -> None:
    result = invoke(database_url, "demo-curl", SENDAI_BIND="0.0.0.0:8100")
    assert result.exit_code == 0, result.output
    assert all(url.startswith("http://127.0.0.1:8100/") for url in printed_urls(result.stdout))


def test_demo_curl_base_url_option_wins(database_url: str) -> None:
    result = invoke(database_url, "demo-curl", "--base-url", "http://box:1234/",
                    SENDAI_BIND="127.0.0.1:8100", SENDAI_PUBLIC_URL="https://sendai.example.com")
    assert result.exit_code == 0, result.output
    assert all(url.startswith("http://box:1234/") for url in printed_urls(result.stdout))


def test_demo_curl_without_the_inspector_prints_no_inspector_address(database_url: str) -> None:
    result = invoke(database_url, "demo-curl", SENDAI_INSPECTOR="0")
    assert result.exit_code == 0, result.output
    assert "/inspect" not in result.stdout


def test_demo_curl_on_a_unix_socket_asks_for_sendai_public_url(database_url: str) -> None:
    result = invoke(database_url, "demo-curl", SENDAI_BIND="unix:/tmp/sendai.sock")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: the server listens on unix:/tmp/sendai.sock, which no http:// address names: "
        "set SENDAI_PUBLIC_URL (or pass --base-url) to the address clients reach it at\n")


@pytest.mark.parametrize("value", ["sendai.example.com", "ftp://sendai.example.com", "http://"])
def test_a_sendai_public_url_that_is_no_http_url_is_refused(
    database_url: str, value: str
) -> None:
    result = invoke(database_url, "demo-curl", SENDAI_PUBLIC_URL=value)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: SENDAI_PUBLIC_URL is the address clients reach the server at, like "
        f"http://127.0.0.1:8000 or https://sendai.example.com; got {value!r}\n")


# --- serve --------------------------------------------------------------------------------------

def _bind(argv: list[str]) -> str:
    return argv[argv.index("--bind") + 1]


@pytest.mark.parametrize(
    "args, env, bind, printed",
    [
        ([], {}, "127.0.0.1:8000", "http://127.0.0.1:8000"),
        ([], {"SENDAI_BIND": "127.0.0.1:8100"}, "127.0.0.1:8100", "http://127.0.0.1:8100"),
        (["--bind", "127.0.0.1:8101"], {"SENDAI_BIND": "127.0.0.1:8100"}, "127.0.0.1:8101",
         "http://127.0.0.1:8101"),
        (["--bind", "0.0.0.0:8100"], {"SENDAI_PUBLIC_URL": "https://sendai.example.com"},
         "0.0.0.0:8100", "https://sendai.example.com"),
    ],
    ids=["default", "sendai-bind", "bind-option", "public-url"],
)
def test_serve_prints_where_clients_reach_it_and_binds_where_asked(
    database_url: str, execs: list[list[str]], args: list[str], env: dict[str, str], bind: str,
    printed: str,
) -> None:
    result = invoke(database_url, "serve", *args, **env)
    assert result.exit_code == 0, result.output
    [argv] = execs
    assert _bind(argv) == bind
    assert result.stdout == (
        f"Serving {printed} (the inspector: {printed}/inspect, the API's docs: {printed}/docs)\n")


@pytest.mark.parametrize(
    "bind, url",
    [
        ("127.0.0.1:8100", "http://127.0.0.1:8100"),
        ("0.0.0.0:8100", "http://127.0.0.1:8100"),
        (":8100", "http://127.0.0.1:8100"),
        ("localhost", "http://localhost:8000"),
        ("[::]:8100", "http://[::1]:8100"),
        ("[::1]:8100", "http://[::1]:8100"),
        ("sendai.internal:80", "http://sendai.internal:80"),
        ("unix:/run/sendai.sock", None),
        ("fd://3", None),
    ],
)
def test_a_bind_is_printed_as_the_url_that_reaches_it(bind: str, url: str | None) -> None:
    assert listening_url(bind) == url


# --- as a user: SENDAI_BIND=127.0.0.1:PORT make run ---------------------------------------------

@pytest.mark.slow
def test_every_printed_command_works_as_pasted_on_another_port(
    database_url: str, tmp_path: Path
) -> None:
    """What `make run` runs (demo-curl, then serve), on a port that is not 8000; each printed
    curl run by the shell exactly as printed, with only curl's own output options added."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SENDAI_BIND": f"127.0.0.1:{port}",
           "SENDAI_ENV": "test", "SENDAI_PIPELINE_DELAY": "0"}
    env.pop("SENDAI_PUBLIC_URL", None)
    printed = subprocess.run([CLI, "demo-curl"], cwd=REPO_ROOT, env=env, capture_output=True,
                             text=True, timeout=DEADLINE)
    assert printed.returncode == 0, printed.stderr
    commands = [line.strip() for line in printed.stdout.splitlines()
                if line.strip().startswith("curl ")]
    assert len(commands) == 3, printed.stdout
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        serve = subprocess.Popen([CLI, "serve", "--workers", "1"], cwd=REPO_ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok
            except requests.RequestException:
                return serve.poll() is not None

        wait_until(ready, "serve to answer /readyz")
        assert serve.poll() is None, log_path.read_text()
        assert f"Serving http://127.0.0.1:{port} " in log_path.read_text()
        for command in commands:
            answer = subprocess.run(f"{command} -s -o /dev/null -w '%{{http_code}}'",
                                    shell=True, capture_output=True, text=True,
                                    timeout=DEADLINE)
            assert answer.stdout in {"200", "201", "202"}, (command, answer)
        [inspector] = [url for url in printed_urls(printed.stdout) if url.endswith("/inspect")]
        assert requests.get(inspector, timeout=DEADLINE).ok
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
