"""The container image (docs/container.md), built by `make image` and run as a user runs it: the
printed demo commands work as pasted, the sample invoice reaches REVIEWING, nothing runs as
root, the health check passes, `docker stop` ends it with 0 within 10 s, a second container on
the same volume keeps the first one's keys, tasks and files, and `sendai-server worker` runs a
worker alone.

No base image can be pulled on the machines this runs on: the base is made from Debian's own
packages (`docker/local-base`: debootstrap, then `docker import`) once and kept under its tag.
Without a Docker daemon the test is skipped, unless SENDAI_REQUIRE_DOCKER=1 (set by .ci/run),
which makes that a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.helpers import REPO_ROOT, auth, free_port
from tests.support.processes import wait_until

REQUIRE_DOCKER = os.environ.get("SENDAI_REQUIRE_DOCKER") == "1"
BASE_IMAGE = os.environ.get("SENDAI_TEST_PYTHON_IMAGE", "sendai-python-base:bookworm")
IMAGE = "sendai-server:test"
SAMPLE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"
# Generous: a loaded 2-CPU machine starts three Python processes before gunicorn listens.
START_DEADLINE = 120.0
DISCARD = re.compile(r"curl -X POST '(?P<url>[^']+/discard)' "
                     r"-H 'Authorization: Bearer (?P<key>[^']+)'")
UPLOAD = re.compile(r"curl -F 'file=@(?P<path>[^']+)' '(?P<url>[^']+)' "
                    r"-H 'Authorization: Bearer (?P<key>[^']+)'")
LIST = re.compile(r"curl '(?P<url>[^']+/task)' -H 'Authorization: Bearer [^']+'")

pytestmark = pytest.mark.slow


def docker(*args: str, timeout: float = 60.0, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done.stdout.strip()


def _why_not_docker() -> str | None:
    for tool in ("docker", "curl", "make"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH"
    try:
        subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=True)
    except (subprocess.SubprocessError, OSError):
        return "no Docker daemon answers (start dockerd; .ci/run does)"
    return None


def _image_exists(tag: str) -> bool:
    """Docker's exit status answers: for a missing tag `docker image inspect` exits 1 and still
    prints `[]` on stdout, so its output says nothing about existence."""
    done = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, timeout=30)
    return done.returncode == 0


@pytest.fixture(scope="module")
def image() -> str:
    """`make image` on the local base (made first when missing): built on every run, so the
    image is this checkout's; Docker's layer cache keeps a rebuild to the changed layers."""
    reason = _why_not_docker()
    if reason is not None:
        if REQUIRE_DOCKER:
            pytest.fail(f"SENDAI_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    if not _image_exists(BASE_IMAGE):
        if shutil.which("debootstrap") is None and not REQUIRE_DOCKER:
            pytest.skip(f"no {BASE_IMAGE} and no debootstrap to make it")
        made = subprocess.run([str(REPO_ROOT / "docker" / "local-base"), BASE_IMAGE],
                              capture_output=True, text=True, timeout=1800)
        assert made.returncode == 0, made.stderr[-4000:]
    before = docker("image", "inspect", "-f", "{{.Id}}", IMAGE) if _image_exists(IMAGE) else ""
    built = subprocess.run(
        ["make", "-C", str(REPO_ROOT), "image", f"IMAGE={IMAGE}", f"PYTHON_IMAGE={BASE_IMAGE}"],
        capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    if before and before != docker("image", "inspect", "-f", "{{.Id}}", IMAGE):
        docker("rmi", before, check=False)  # the last run's image, untagged now: not kept
    return IMAGE


class Container:
    """`docker run -d` of the image, published on a free loopback port, SENDAI_PUBLIC_URL
    saying so (as a user who maps another port does)."""

    def __init__(self, image: str, volume: str, *command: str) -> None:
        self.name = f"sendai-test-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        docker("run", "-d", "--name", self.name, "-p", f"127.0.0.1:{self.port}:8000",
               "-e", f"SENDAI_PUBLIC_URL={self.url}", "-v", f"{volume}:/data", image, *command)

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True,
                              timeout=30)
        return done.stdout + done.stderr

    def state(self, field: str) -> str:
        return docker("inspect", "-f", "{{" + field + "}}", self.name)

    def printed(self) -> dict[str, re.Match[str]]:
        """The demo commands the entrypoint printed (once it has printed them all)."""

        def found() -> dict[str, re.Match[str]] | None:
            text = self.logs()
            if self.state(".State.Running") != "true":
                raise AssertionError(f"the container stopped:\n{text}")
            matches = {}
            for name, pattern in (("discard", DISCARD), ("upload", UPLOAD), ("list", LIST)):
                match = pattern.search(text)
                if match is None:
                    return None
                matches[name] = match
            return matches

        printed: dict[str, re.Match[str]] = wait_until(
            found, f"{self.name} to print its demo commands", START_DEADLINE)
        return printed

    def wait_serving(self) -> None:
        """Until /readyz answers 200 (the commands are printed before gunicorn listens, as
        `make run` prints them: a user pastes them a moment later)."""

        def ready() -> bool:
            try:
                return requests.get(self.url + "/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, f"{self.name} to serve", START_DEADLINE)

    def wait_healthy(self) -> None:
        wait_until(lambda: self.state(".State.Health.Status") == "healthy",
                   f"{self.name} to be healthy", START_DEADLINE)

    def stop(self) -> tuple[int, float]:
        """`docker stop` (SIGTERM; SIGKILL after Docker's 10 s): the exit status and the time."""
        started = time.monotonic()
        docker("stop", self.name, timeout=60)
        return int(self.state(".State.ExitCode")), time.monotonic() - started

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, check=False)


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"sendai-test-{uuid.uuid4().hex[:10]}"
    docker("volume", "create", name)
    yield name
    docker("volume", "rm", "-f", name, check=False)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def pasted(command: str) -> tuple[int, str]:
    """Run a printed curl as a shell runs it; its HTTP status and body."""
    done = subprocess.run(["sh", "-c", command + " -sS -w '\\n%{http_code}'"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_the_image_serves_the_printed_demo_keeps_its_volume_and_stops_cleanly(
    image: str, volume: str, containers: list[Container], tmp_path: Path
) -> None:
    first = Container(image, volume)
    containers.append(first)
    printed = first.printed()
    first.wait_serving()

    # Every printed address is SENDAI_PUBLIC_URL's.
    for match in printed.values():
        assert match["url"].startswith(first.url + "/v2/"), match.group(0)
    status, body = pasted(printed["discard"].group(0))
    assert status == 200, body
    assert '"status":"DISCARDED"' in body.replace(" ", "")

    # The upload command names the sample inside the container: copy it out with the printed
    # `docker cp` (the container's host name is its id), then paste it with the copy's path.
    copy = re.search(r"docker cp (\S+:\S+) invoice\.pdf", first.logs())
    assert copy is not None and copy[1].endswith(":" + printed["upload"]["path"]), first.logs()
    sample = tmp_path / "invoice.pdf"
    docker("cp", copy[1], str(sample))
    assert sample.read_bytes() == SAMPLE.read_bytes()
    upload_command = printed["upload"].group(0).replace(printed["upload"]["path"], str(sample))
    status, body = pasted(upload_command)
    assert status == 200, body
    upload = json.loads(body)
    [task_id] = upload["taskIds"]
    upload_key = printed["upload"]["key"]
    task_url = f"{printed['list']['url']}/{task_id}"
    wait_until(lambda: requests.get(task_url, headers=auth(upload_key), timeout=10)
               .json()["payload"]["status"] == "REVIEWING", "the invoice's task in REVIEWING")

    # Nothing in the container runs as root.
    processes = docker("top", first.name, "-eo", "pid,uid,args").splitlines()[1:]
    assert len(processes) >= 4, processes  # the entrypoint, serve, gunicorn, the worker
    assert all(line.split()[1] != "0" for line in processes), processes
    assert docker("exec", first.name, "id", "-u") != "0"

    first.wait_healthy()
    status_code, took = first.stop()
    assert status_code == 0, first.logs()[-3000:]
    assert took < 10.0, f"docker stop took {took:.1f} s"

    # A second container on the same volume: the first one's keys, tasks and files are there.
    second = Container(image, volume)
    containers.append(second)
    second.printed()
    second.wait_serving()
    discarded = requests.get(printed["discard"]["url"].removesuffix("/discard").replace(
        first.url, second.url), headers=auth(printed["discard"]["key"]), timeout=10)
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["payload"]["status"] == "DISCARDED"
    task = requests.get(task_url.replace(first.url, second.url), headers=auth(upload_key),
                        timeout=10)
    assert task.json()["payload"]["status"] == "REVIEWING", task.text
    file_url = (printed["upload"]["url"].replace(first.url, second.url)
                + f"/{upload['id']}/files/0")
    served = requests.get(file_url, headers=auth(upload_key), timeout=10)
    assert served.status_code == 200 and served.content == SAMPLE.read_bytes()
    status_code, took = second.stop()
    assert (status_code, took < 10.0) == (0, True), (status_code, took)

    # `docker run IMAGE sendai-server worker`: a worker alone, on the migrated volume.
    worker = Container(image, volume, "sendai-server", "worker")
    containers.append(worker)
    wait_until(lambda: "worker started" in worker.logs(), "the worker container to start",
               START_DEADLINE)
    assert "Listening at" not in worker.logs()  # no gunicorn
    status_code, took = worker.stop()
    assert (status_code, took < 10.0) == (0, True), (status_code, took, worker.logs()[-2000:])


def test_a_docker_stop_while_the_container_starts_ends_it_with_0(
    image: str, volume: str, containers: list[Container]
) -> None:
    """A SIGTERM that comes before `serve` has its handlers (the entrypoint is still migrating)
    is not lost: that step stops and the container exits 0, not 137 from Docker's SIGKILL 10 s
    later (which is what a Python process as PID 1 would get: the kernel drops the signal)."""
    container = Container(image, volume)
    containers.append(container)
    wait_until(lambda: container.state(".State.Running") == "true", "the container to run")
    status_code, took = container.stop()
    assert status_code == 0, container.logs()[-3000:]
    assert took < 10.0, f"docker stop took {took:.1f} s"


CONTENTS = """
import importlib.util, os, shutil, sys
found = [name for name in ("pip", "setuptools", "wheel", "pytest", "moto", "ruff", "mypy")
         if importlib.util.find_spec(name)]
found += [tool for tool in ("gcc", "cc", "make", "pip", "pip3", "curl") if shutil.which(tool)]
found += [path for path in ("/wheels", "/build", "/src", os.path.expanduser("~/.cache"))
          if os.path.exists(path)]
print(" ".join(found))
"""


def test_the_image_holds_no_compiler_pip_cache_or_test_dependency(image: str) -> None:
    assert docker("run", "--rm", image, "python3", "-c", CONTENTS) == ""


def test_the_existence_check_reads_docker_s_exit_status(image: str) -> None:
    """A tag that was never made is missing (Docker still prints `[]` for it, the output an
    earlier check took for a present base), and the image just built is present."""
    assert not _image_exists(f"sendai-no-such-image:{uuid.uuid4().hex[:12]}")
    assert _image_exists(image)
