"""Documents in, tasks out, over real processes (docs/api/uploads.md, docs/pipeline.md): gunicorn
with 2 workers and `sendai-server worker` processes sharing the database and the storage folder,
driven by Send AI's own upload samples (tests/support/examples/send_ai_upload_client.py and .ts) and
by plain HTTP.

Every wait has a deadline and waits for something the processes show (a status over HTTP, a
`claimed-N` file at the worker's test barrier, a row, a log line): no sleep that hopes. Where
the test must see a task before its job runs, the worker holds the job at its barrier
(SENDAI_TEST_JOB_BARRIER) until the test releases it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select

from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project
from sendai_server.store.models import Job, Task, TaskEvent, Upload
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.examples.strip_types import strip_types
from tests.support.helpers import REPO_ROOT, LiveServer, auth, count_rows
from tests.support.pipeline import without_ids
from tests.support.processes import DEADLINE, WorkerProcess, wait_until

EXAMPLES = Path(__file__).resolve().parents[1] / "support" / "examples"
PIPELINE_DELAY = 0.2
SCOPES = ["upload.read", "upload.create", "upload.edit", "task.read", "task.edit"]
NODE = shutil.which("node")
REQUIRE_NODE = os.environ.get("SENDAI_REQUIRE_NODE") == "1"  # .ci/run: no quiet skip


# --- processes ----------------------------------------------------------------------------------

@pytest.fixture
def process_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """What gunicorn and the workers share: the database, the storage folder, the delay."""
    return {
        "DATABASE_URL": database_url, "SENDAI_ENV": "test",
        "SENDAI_STORAGE_URL": str(tmp_path / "files"),
        "SENDAI_PIPELINE_DELAY": str(PIPELINE_DELAY), "SENDAI_WORKER_POLL_SECONDS": "0.05",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def started() -> Iterator[list[Any]]:
    """Everything a test starts (servers and workers), stopped or killed at its end."""
    running: list[Any] = []
    yield running
    for thing in reversed(running):
        if isinstance(thing, LiveServer):
            thing.stop()
        elif thing.process.poll() is None:
            thing.process.kill()
            thing.process.wait()


@pytest.fixture
def server(process_env: dict[str, str], tmp_path: Path, database_url: str,
           started: list[Any]) -> LiveServer:
    live = LiveServer(database_url, workers=2, env=process_env,
                      log_path=tmp_path / "gunicorn.log")
    started.append(live)
    return live


@pytest.fixture
def start_worker(process_env: dict[str, str], tmp_path: Path,
                 started: list[Any]) -> Callable[..., WorkerProcess]:
    def start(name: str = "worker", **kwargs: Any) -> WorkerProcess:
        worker = WorkerProcess(process_env, tmp_path / f"{name}.log", **kwargs)
        started.append(worker)
        return worker

    return start


class Barrier:
    """The worker's SENDAI_TEST_JOB_BARRIER folder, seen from the test."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def claimed(self) -> list[int]:
        if not self.path.exists():
            return []
        return sorted(int(p.name.removeprefix("claimed-")) for p in self.path.glob("claimed-*"))

    def wait_claimed(self, count: int) -> list[int]:
        """The first `count` jobs claimed (waits until there are that many)."""
        return wait_until(lambda: len(ids := self.claimed()) >= count and ids[:count],
                          f"{count} job(s) to be claimed")[:count]

    def claimed_at(self, job_id: int) -> float:
        return (self.path / f"claimed-{job_id}").stat().st_mtime

    def release(self, job_id: int) -> None:
        (self.path / f"release-{job_id}").touch()

    def forget(self, job_id: int) -> None:
        """Remove a finished job's files. Needed on SQLite, whose job ids are reused (no
        AUTOINCREMENT: an empty table starts again at 1), so a later job would find its
        `release-N` already there and go through without a stop."""
        (self.path / f"claimed-{job_id}").unlink()
        (self.path / f"release-{job_id}").unlink()


# --- the API ------------------------------------------------------------------------------------

class Project:
    """A project of the seed's team with the given pipeline settings, a key for it, and its
    endpoints over HTTP."""

    def __init__(self, server: LiveServer, uow: UnitOfWork, seed: dict[str, Any],
                 name: str = "Live pipeline", **settings: Any) -> None:
        self.url = server.url
        self.team_id = seed["team_id"]
        self.project_id, self.folders = create_project(
            uow, self.team_id, name, ProjectSettings(**settings))
        self.key = create_key(uow, self.team_id, SCOPES, [self.project_id]).key
        self.http = requests.Session()
        self.http.headers.update(auth(self.key))

    def path(self, rest: str) -> str:
        return f"{self.url}/v2/{self.team_id}/project/{self.project_id}{rest}"

    def upload(self, *files: tuple[bytes, str], **fields: str) -> dict[str, Any]:
        response = self.http.post(self.path("/upload"), data=fields, timeout=DEADLINE,
                                  files=[("file", (name, body)) for body, name in files])
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, rest: str) -> Any:
        response = self.http.get(self.path(rest), timeout=DEADLINE)
        assert response.status_code == 200, response.text
        return response.json()["payload"]

    def task(self, task_id: str) -> dict[str, Any]:
        return self.get(f"/task/{task_id}")

    def events(self, task_id: str) -> list[dict[str, Any]]:
        return self.get(f"/task/{task_id}/events")

    def upload_of(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.get(f"/upload/{task['upload_id']}")

    def settled(self, task_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """The task once the pipeline has moved it out of PROCESSING (polled, with a deadline)."""
        return wait_until(
            lambda: (task := self.task(task_id))["status"] != "PROCESSING" and task,
            f"task {task_id} to leave PROCESSING", timeout)


def all_ids(pages: list[dict[str, Any]]) -> set[str]:
    return {page["id"] for page in pages} | {
        item["id"] for page in pages
        for kind in ("annotations", "checkboxes", "segments", "signatures")
        for item in page[kind]}


def to_review_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT task_id, count(*) FROM task_event WHERE action = 'to_review' "
            "GROUP BY task_id").all()
    return {task_id: count for task_id, count in rows}


def run_sample(argv: list[str], project: Project, timeout: float = DEADLINE) -> dict[str, Any]:
    """Run one of Send AI's samples as a user does: base URL and key from the environment; it
    prints the JSON answer."""
    env = {**os.environ, "SENDAI_BASE_URL": project.url, "SENDAI_API_KEY": project.key}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- Send AI's Python sample: an invoice to REVIEWING, then `complete` to COMPLETED -------------

@pytest.mark.slow
def test_the_docs_python_sample_uploads_an_invoice_that_is_extracted_then_completed(
    server: LiveServer, start_worker: Callable[..., WorkerProcess], uow: UnitOfWork,
    seed: dict[str, Any], engine: Engine, tmp_path: Path,
) -> None:
    barrier = Barrier(tmp_path / "barrier")
    start_worker(barrier=barrier.path)
    project = Project(server, uow, seed)
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(documents.invoice_pdf())
    meta = [{"name": "category", "value": "invoice"}, {"name": "department", "value": "finance"}]

    created = run_sample([sys.executable, str(EXAMPLES / "send_ai_upload_client.py"),
                          str(invoice), "Important Document", project.project_id,
                          json.dumps(meta)], project)
    assert (created["name"], created["projectId"], created["status"], created["fileType"],
            created["fileSize"]) == ("Important Document", project.project_id, "processing",
                                     "pdf", invoice.stat().st_size)
    [task_id] = created["taskIds"]

    # PROCESSING at once: the job cannot have run, the worker holds it at the barrier.
    task = project.task(task_id)
    assert (task["status"], task["name"], task["upload_id"], task["pages"]) == (
        "PROCESSING", "invoice.pdf", created["id"], [])
    upload = project.upload_of(task)
    assert (upload["status"], upload["folder_id"], upload["meta"]) == (
        "PROCESSING", project.folders["Inbox"], meta)
    [job_id] = barrier.wait_claimed(1)
    with engine.connect() as conn:
        run_at, created_at = conn.execute(
            select(Job.run_at, Upload.created_at).join(Task, Task.id == Job.task_id)
            .join(Upload, Upload.id == Task.upload_id).where(Job.id == job_id)).one()
    # The job was due the pipeline's delay after the upload, and not claimed before that
    # (file times come from a coarse clock: a few ms of slack).
    assert (run_at - created_at).total_seconds() == pytest.approx(PIPELINE_DELAY, abs=0.05)
    assert barrier.claimed_at(job_id) >= run_at.replace(tzinfo=UTC).timestamp() - 0.02
    assert project.task(task_id)["status"] == "PROCESSING"
    barrier.release(job_id)

    task = project.settled(task_id)
    barrier.forget(job_id)  # the job is done: its effect and its deletion commit together
    assert task["status"] == "REVIEWING"
    [page] = task["pages"]
    assert (page["width"], page["height"]) == (2480, 3508)
    totals = [a["content"] for a in page["annotations"] if a["entity_id"] == "total_amount"]
    assert totals == [documents.INVOICE_TOTAL]
    assert task["meta"] == meta
    assert project.upload_of(task)["status"] == "IN_REVIEW"

    # `complete`, then the pipeline's auto_complete: COMPLETED by itself, and the upload with it.
    response = project.http.post(project.path(f"/task/{task_id}/complete"), timeout=DEADLINE)
    assert response.json()["payload"]["status"] == "PROCESSING", response.text
    assert project.upload_of(task)["status"] == "PROCESSING"
    [follow_up] = barrier.wait_claimed(1)
    assert project.task(task_id)["status"] == "PROCESSING"
    barrier.release(follow_up)
    task = project.settled(task_id)
    assert task["status"] == "COMPLETED"
    upload = project.upload_of(task)
    assert (upload["status"], upload["folder_id"]) == ("COMPLETED", project.folders["Processed"])
    events = project.events(task_id)
    assert [(e["action"], e["to_status"]) for e in events] == [
        ("create", "PROCESSING"), ("to_review", "REVIEWING"), ("complete", "PROCESSING"),
        ("auto_complete", "COMPLETED")]
    assert [e["key_id"] for e in events if e["action"] in ("to_review", "auto_complete")] == [
        None, None]
    assert count_rows(engine, "SELECT count(*) FROM job") == 0


# --- what the extraction gives, through gunicorn and a worker process ---------------------------

@pytest.mark.slow
def test_same_file_twice_two_pages_and_a_damaged_pdf(
    server: LiveServer, start_worker: Callable[..., WorkerProcess], uow: UnitOfWork,
    seed: dict[str, Any], engine: Engine,
) -> None:
    start_worker()
    project = Project(server, uow, seed)
    pdf = documents.invoice_pdf()
    [first] = project.upload((pdf, "a.pdf"))["taskIds"]
    [second] = project.upload((pdf, "b.pdf"))["taskIds"]
    two, damaged = project.upload((documents.two_page_pdf(), "two.pdf"),
                                  (documents.damaged_pdf(), "broken.pdf"))["taskIds"]

    one, other = project.settled(first), project.settled(second)
    assert one["status"] == other["status"] == "REVIEWING"
    assert without_ids(one["pages"]) == without_ids(other["pages"])
    assert all_ids(one["pages"]).isdisjoint(all_ids(other["pages"]))

    two_pages = project.settled(two)
    assert two_pages["status"] == "REVIEWING"
    assert [(p["width"], p["height"]) for p in two_pages["pages"]] == [(2480, 3508)] * 2

    failed = project.settled(damaged)
    assert (failed["status"], failed["pages"]) == ("FAILED", [])
    last = project.events(damaged)[-1]
    assert (last["action"], last["key_id"]) == ("fail", None)
    with engine.connect() as conn:  # kept in the event's row as "reason", shown as `details`
        details = conn.scalar(select(TaskEvent.details).where(TaskEvent.id == last["id"]))
    assert details and details["reason"] == last["details"], details
    # The upload of the two-page PDF and the damaged one: one task REVIEWING, one FAILED.
    assert project.upload_of(failed)["status"] == "IN_REVIEW"
    assert count_rows(engine, "SELECT count(*) FROM job") == 0


@pytest.mark.slow
def test_automation_auto_process_ends_completed_and_none_ends_reviewing_without_annotations(
    server: LiveServer, start_worker: Callable[..., WorkerProcess], uow: UnitOfWork,
    seed: dict[str, Any], engine: Engine,
) -> None:
    start_worker()
    automatic = Project(server, uow, seed, "Automatic", automation="auto_process", threshold=0.0)
    by_hand = Project(server, uow, seed, "By hand", automation="none")
    failing = Project(server, uow, seed, "Damaged", automation="auto_process", threshold=0.0)
    [done] = automatic.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    [review] = by_hand.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    [broken] = failing.upload((documents.damaged_pdf(), "broken.pdf"))["taskIds"]

    task = automatic.settled(done)
    assert task["status"] == "COMPLETED" and task["pages"][0]["annotations"]
    upload = automatic.upload_of(task)
    assert (upload["status"], upload["folder_id"]) == (
        "COMPLETED", automatic.folders["Processed"])
    assert [e["action"] for e in automatic.events(done)] == ["create", "auto_complete"]

    task = by_hand.settled(review)
    assert task["status"] == "REVIEWING"
    assert [(p["width"], p["height"], p["annotations"]) for p in task["pages"]] == [
        (2480, 3508, [])]
    upload = by_hand.upload_of(task)
    assert (upload["status"], upload["folder_id"]) == ("IN_REVIEW", by_hand.folders["Inbox"])

    # An upload whose only task FAILED is done too, and FAILED (docs/api/uploads.md).
    task = failing.settled(broken)
    assert task["status"] == "FAILED"
    upload = failing.upload_of(task)
    assert (upload["status"], upload["folder_id"]) == ("FAILED", failing.folders["Processed"])
    assert count_rows(engine, "SELECT count(*) FROM job") == 0


# --- Send AI's TypeScript sample, on Node.js 20 without a TypeScript toolchain ------------------

TYPESCRIPT = """\
interface UploadRequest {
  name: string;
  meta?: {name: string, value: string}[];
}
const f = async (file: File, data: UploadRequest): Promise<any> => {
  return g(data.meta ? JSON.parse(x) : undefined, (a, b) => a + b);
};
function h(a: number, b?: string): string { return `(${a}: ${b})`; }
const k = ({a, b}: {a: number, b: number}) => a;
"""
JAVASCRIPT = """\




const f = async (file, data) => {
  return g(data.meta ? JSON.parse(x) : undefined, (a, b) => a + b);
};
function h(a, b) { return `(${a}: ${b})`; }
const k = ({a, b}) => a;
"""


def _deletes_only(stripped: str, source: str) -> bool:
    """Whether `stripped` is `source` with characters taken out, none added or changed."""
    rest = iter(source)
    return all(char in rest for char in stripped)


def test_the_type_stripper_removes_the_samples_annotations_and_only_deletes() -> None:
    assert strip_types(TYPESCRIPT) == JAVASCRIPT
    sample = (EXAMPLES / "send_ai_upload_client.ts").read_text()
    stripped = strip_types(sample)
    assert _deletes_only(stripped, sample)
    assert stripped.count("\n") == sample.count("\n")
    assert "interface" not in stripped and "Promise<any>" not in stripped
    assert "const createUpload = async (file, data) => {" in stripped
    assert "meta: meta ? JSON.parse(meta) : undefined" in stripped  # a ternary is no type


def _node() -> str:
    if NODE is None:
        if REQUIRE_NODE:
            pytest.fail("SENDAI_REQUIRE_NODE=1 but there is no node on PATH")
        pytest.skip("Node.js is not installed")
    return NODE


def test_the_stripped_typescript_sample_is_javascript_node_accepts(tmp_path: Path) -> None:
    script = tmp_path / "send_ai_upload_client.mjs"
    script.write_text(strip_types((EXAMPLES / "send_ai_upload_client.ts").read_text()))
    checked = subprocess.run([_node(), "--check", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
def test_the_docs_typescript_sample_uploads_an_invoice_on_node(
    server: LiveServer, start_worker: Callable[..., WorkerProcess], uow: UnitOfWork,
    seed: dict[str, Any], tmp_path: Path,
) -> None:
    node = _node()
    start_worker()
    project = Project(server, uow, seed)
    script = tmp_path / "send_ai_upload_client.mjs"
    script.write_text(strip_types((EXAMPLES / "send_ai_upload_client.ts").read_text()))
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(documents.invoice_pdf())
    meta = [{"name": "category", "value": "invoice"}]

    created = run_sample([node, str(script), str(invoice), "From Node", project.project_id,
                          json.dumps(meta)], project)
    assert (created["name"], created["projectId"], created["status"], created["fileSize"]) == (
        "From Node", project.project_id, "processing", invoice.stat().st_size)
    [task_id] = created["taskIds"]
    task = project.settled(task_id)
    assert (task["status"], task["name"], task["meta"]) == ("REVIEWING", "invoice.pdf", meta)
    [page] = task["pages"]
    assert documents.INVOICE_TOTAL in [a["content"] for a in page["annotations"]]


# --- memory: a 40 MiB file streams through a gunicorn worker ------------------------------------

FORTY_MIB = 40 * 1024 * 1024


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _memory_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1])
            for line in status if line.startswith(("VmRSS:", "VmHWM:"))}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_a_40_mib_upload_grows_the_gunicorn_worker_by_a_small_constant(
    database_url: str, process_env: dict[str, str], started: list[Any], uow: UnitOfWork,
    seed: dict[str, Any], tmp_path: Path, engine: Engine,
) -> None:
    live = LiveServer(database_url, workers=1, env=process_env, log_path=tmp_path / "g.log")
    started.append(live)
    [worker_pid] = _children(live.process.pid)
    project = Project(live, uow, seed, pipeline="manual")
    # A valid PDF header and then padding: accepted as a PDF by its content (its task would
    # end FAILED; no pipeline worker runs here).
    big = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"\0" * (FORTY_MIB - 15)
    assert len(big) == FORTY_MIB
    for _ in range(2):  # warm up: the upload path's imports, pools and buffers
        project.upload((documents.invoice_pdf(), "warm-up.pdf"))
    before = _memory_kib(worker_pid)

    created = project.upload((big, "big.pdf"))
    after = _memory_kib(worker_pid)
    assert created["fileSize"] == FORTY_MIB
    digest = hashlib.sha256(big).hexdigest()
    stored = [p for p in (tmp_path / "files").rglob("*") if p.is_file() and digest in p.name]
    assert [p.stat().st_size for p in stored] == [FORTY_MIB]

    growth = {k: (after[k] - before[k]) / 1024 for k in after}  # MiB
    print(f"gunicorn worker {worker_pid}: before {before}, after {after} (KiB); growth "
          f"{growth} MiB for a {FORTY_MIB // 2**20} MiB file")
    assert growth["VmHWM"] < 8, growth  # the peak: nowhere near the file's 40 MiB
    assert growth["VmRSS"] < 8, growth


# --- several workers, and a worker killed with a real job ---------------------------------------

@pytest.mark.slow
def test_two_workers_process_200_uploads_each_exactly_once(
    backend: str, request: pytest.FixtureRequest, start_worker: Callable[..., WorkerProcess],
    uow: UnitOfWork, seed: dict[str, Any], engine: Engine, tmp_path: Path,
) -> None:
    """PostgreSQL's property (FOR UPDATE SKIP LOCKED across processes). Both workers first hold
    a job each at the barrier, so both surely take part; then every job is released."""
    if backend != "postgresql":
        pytest.skip("two workers taking jobs side by side is PostgreSQL's (SQLite queues them)")
    server = request.getfixturevalue("server")
    project = Project(server, uow, seed, delay=0.0)
    pdf = documents.invoice_pdf()
    task_ids = [project.upload((pdf, f"invoice-{n}.pdf"))["taskIds"][0] for n in range(200)]
    assert count_rows(engine, "SELECT count(*) FROM job WHERE kind = 'extract'") == 200
    with engine.connect() as conn:
        job_ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM job ORDER BY id")]

    barrier = Barrier(tmp_path / "barrier")
    workers = [start_worker(name, barrier=barrier.path) for name in ("one", "two")]
    barrier.wait_claimed(2)
    assert count_rows(engine, "SELECT count(*) FROM job WHERE lease_token IS NOT NULL") == 2
    assert len(set(_lease_holders(engine))) == 2  # one job held by each worker
    for job_id in job_ids:
        barrier.release(job_id)
    wait_until(lambda: count_rows(engine, "SELECT count(*) FROM job") == 0,
               "every job to be done", timeout=120)
    assert [worker.stop() for worker in workers] == [0, 0]

    assert to_review_counts(engine) == {task_id: 1 for task_id in task_ids}
    assert count_rows(engine, "SELECT count(*) FROM task WHERE project_id = :p "
                              "AND status = 'REVIEWING'", p=project.project_id) == 200


def _lease_holders(engine: Engine) -> list[str]:
    """The worker part of each held job's lease token (`random@host:pid:thread`)."""
    with engine.connect() as conn:
        tokens = [row[0] for row in conn.exec_driver_sql(
            "SELECT lease_token FROM job WHERE lease_token IS NOT NULL")]
    return [token.split("@", 1)[1].rsplit(":", 1)[0] for token in tokens]


@pytest.mark.slow
def test_a_worker_killed_holding_a_real_extract_job_loses_nothing(
    server: LiveServer, start_worker: Callable[..., WorkerProcess], uow: UnitOfWork,
    seed: dict[str, Any], engine: Engine, tmp_path: Path,
) -> None:
    project = Project(server, uow, seed)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    barrier = Barrier(tmp_path / "barrier")
    doomed = start_worker("doomed", barrier=barrier.path, lease=2.0)
    [job_id] = barrier.wait_claimed(1)
    doomed.process.kill()  # SIGKILL at the barrier: claimed, not run, no chance to clean up
    assert doomed.process.wait(timeout=DEADLINE) == -signal.SIGKILL
    assert count_rows(engine, "SELECT count(*) FROM job WHERE id = :j AND kind = 'extract' "
                              "AND attempts = 1 AND lease_token IS NOT NULL", j=job_id) == 1
    assert project.task(task_id)["status"] == "PROCESSING"

    heir = start_worker("heir", lease=2.0)
    task = project.settled(task_id)
    assert task["status"] == "REVIEWING"
    assert documents.INVOICE_TOTAL in [a["content"] for a in task["pages"][0]["annotations"]]
    assert heir.stop() == 0
    assert to_review_counts(engine) == {task_id: 1}
    assert [e["action"] for e in project.events(task_id)] == ["create", "to_review"]
    assert count_rows(engine, "SELECT count(*) FROM job") == 0
