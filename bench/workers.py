"""The pipeline (uploads in, tasks out by 1 and 2 worker processes) and notifications (the
outbox to a local receiver by one worker)."""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select, text, update

from bench.common import (
    REPO_ROOT,
    WORK_DIR,
    WORKERS,
    bench_app,
    fresh_database,
)
from bench.servers import free_port, server
from sendai_server.domain.lifecycle import TaskStatus
from sendai_server.pipeline.extraction import extract
from sendai_server.services.connectors import ConnectorSpec, create_connector
from sendai_server.services.demo import seed_demo
from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project
from sendai_server.services.task_creation import TaskSpec, create_tasks
from sendai_server.services.tasks import fire_on_task
from sendai_server.store.models import Job, utcnow
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver  # noqa: E402
from sendai_server.web.context import engine_of

SAMPLE_INVOICE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"
UPLOAD_CLIENTS = 4


def pipeline(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Uploads per second through gunicorn, and tasks per second by 1 and 2 worker processes.

    The uploads go to a project whose pipeline is `auto` with a delay of an hour, so that no
    job is due while they are made; each worker run then takes a batch of those jobs, made due
    together a moment after its workers have started, and is timed from that moment until
    none of the batch is left."""
    batch = 30 if args.quick else args.pipeline_tasks
    sequential = 20 if args.quick else batch // 2
    concurrent = max(sequential, 2 * batch + 10 - sequential)  # enough jobs for both runs
    print(f"[{name}] pipeline: {sequential} + {concurrent} uploads, then {batch} tasks by 1 "
          "and by 2 workers...", file=sys.stderr)
    fresh_database(url)
    files = WORK_DIR / f"files-{name}"
    shutil.rmtree(files, ignore_errors=True)
    app = bench_app(url)
    engine = engine_of(app)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
        project_id, _folders = create_project(uow, seed["team_id"], "Pipeline bench",
                                              ProjectSettings(delay=3600))
        key = create_key(uow, seed["team_id"], ["upload.create"], [project_id]).key
    invoice = SAMPLE_INVOICE.read_bytes()
    out: dict[str, Any] = {"file_bytes": len(invoice), "upload_clients": UPLOAD_CLIENTS,
                           "extract_ms": extract_ms(invoice)}
    env = {"DATABASE_URL": url, "SENDAI_LOG_LEVEL": "WARNING", "SENDAI_STORAGE_URL": str(files)}
    port = free_port()
    argv = [str(Path(sys.executable).with_name("sendai-server")), "serve", "--no-worker",
            "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"]
    upload_url = f"http://127.0.0.1:{port}/v2/{seed['team_id']}/project/{project_id}/upload"
    with server(argv, env, port, "/readyz"):
        upload_many(upload_url, key, invoice, 10, 1)  # warm-up
        out["uploads_1_client"] = upload_many(upload_url, key, invoice, sequential, 1)
        out[f"uploads_{UPLOAD_CLIENTS}_clients"] = upload_many(
            upload_url, key, invoice, concurrent, UPLOAD_CLIENTS)
    for run, workers in enumerate((1, 2), start=1):
        result = process_jobs(engine, env, batch, workers)
        # Each task extracted once: one to_review event each, none twice.
        if result["to_review_events"] != run * batch:
            raise RuntimeError(f"{result['to_review_events']} to_review events after "
                               f"{run * batch} tasks")
        out[f"tasks_{workers}_worker{'s' if workers > 1 else ''}"] = result
    engine.dispose()
    return out


def extract_ms(document: bytes, rounds: int = 30) -> float:
    """pypdf's extraction of one file, in-process: the part of a job that is not the database."""
    digest = hashlib.sha256(document).hexdigest()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = extract(io.BytesIO(document), "pdf", digest)
        times.append(time.perf_counter() - started)
        assert result.failure is None, result.failure
    return statistics.median(times) * 1000


def upload_many(url: str, key: str, document: bytes, count: int, clients: int) -> dict[str, Any]:
    """`count` uploads of `document` from `clients` threads, each with its own connection."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    shares = [count // clients + (n < count % clients) for n in range(clients)]

    def client(share: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {key}"
            for n in range(share):
                started = time.perf_counter()
                response = session.post(url, files={"file": (f"invoice-{n}.pdf", document,
                                                             "application/pdf")}, timeout=60)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} uploads failed, e.g. {errors[0]}")
    latencies.sort()
    return {"uploads": count, "clients": clients, "seconds": seconds, "per_second": count / seconds,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


def process_jobs(engine: Any, env: dict[str, str], count: int, workers: int) -> dict[str, Any]:
    """Start `workers` worker processes, make `count` queued extract jobs due at once, and time
    them from then until none is left."""
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Job.id).where(Job.kind == "extract")
                                .order_by(Job.id).limit(count)))
    if len(ids) < count:
        raise RuntimeError(f"only {len(ids)} queued jobs for a run of {count}")
    logs, processes = [], []
    worker_env = {**os.environ, **env, "SENDAI_LOG_LEVEL": "INFO",
                  "SENDAI_WORKER_POLL_SECONDS": "0.05"}
    for n in range(workers):
        log = open(WORK_DIR / f"worker-{workers}-{n}.log", "w+")  # noqa: SIM115 - closed below
        logs.append(log)
        processes.append(subprocess.Popen(
            [str(Path(sys.executable).with_name("sendai-server")), "worker"], cwd=REPO_ROOT,
            env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        deadline = time.monotonic() + 30
        while not all("worker started" in Path(log.name).read_text() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a worker did not start; see {logs[0].name}")
            time.sleep(0.05)
        due = utcnow() + timedelta(seconds=0.5)
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.id.in_(ids)).values(run_at=due))
        deadline = time.monotonic() + 300
        while True:
            with engine.connect() as conn:
                left = conn.scalar(select(func.count()).select_from(Job)
                                   .where(Job.id.in_(ids)))
            finished = utcnow()
            if not left:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{left} of {count} jobs still queued after 300 s")
            time.sleep(0.01)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    seconds = (finished - due).total_seconds()
    with engine.connect() as conn:
        moved = conn.scalar(text("SELECT count(*) FROM task_event WHERE action = 'to_review'"))
    return {"tasks": count, "workers": workers, "seconds": seconds,
            "per_second": count / seconds, "to_review_events": moved}


# --- notifications: the outbox to a local receiver ------------------------------------------

def deliveries(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Notifications delivered per second by one worker process to a receiver on loopback that
    answers 200 at once: `count` uploads whose task goes to review, each an UPLOAD_IN_REVIEW
    notification for the project's one connector, queued first and then delivered (in order,
    one connector's at a time: the outbox's rule), timed until the last is delivered."""
    count = 30 if args.quick else 300
    print(f"[{name}] notifications: {count} to a local receiver by 1 worker...",
          file=sys.stderr)
    fresh_database(url)
    receiver = Receiver()  # answers 200 at once, keeps each delivery
    app = bench_app(url)
    engine = engine_of(app)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
        project_id, _ = create_project(uow, seed["team_id"], "Notifications bench",
                                       ProjectSettings(pipeline="manual"))
        create_connector(uow, project_id, ConnectorSpec(
            url=receiver.url, events=("upload.in_review",)))
        task_ids = create_tasks(uow, project_id, [
            TaskSpec(name=f"Notify {n}", status=TaskStatus.PROCESSING) for n in range(count)])
        for task_id in task_ids:  # each upload's status becomes IN_REVIEW: one notification
            with uow.write() as conn:
                fire_on_task(conn, project_id, task_id, "to_review", key_id=None,
                             request_id=None)
    env = {**os.environ, "DATABASE_URL": url, "SENDAI_LOG_LEVEL": "INFO",
           "SENDAI_WORKER_POLL_SECONDS": "0.05", "SENDAI_STORAGE_URL": str(WORK_DIR / "files")}
    log = open(WORK_DIR / f"deliveries-{name}.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("sendai-server")), "worker"], cwd=REPO_ROOT,
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "worker started" not in Path(log.name).read_text():  # timed from its start
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the worker did not start; see {log.name}")
            time.sleep(0.01)
        started = time.monotonic()
        deadline = started + 300
        while True:
            with engine.connect() as conn:
                delivered = conn.scalar(text(
                    "SELECT count(*) FROM notification WHERE status = 'delivered'"))
            if delivered == count:
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{delivered} of {count} delivered; see {log.name}")
            time.sleep(0.01)
        seconds = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        receiver.close()
        engine.dispose()
    return {"notifications": count, "seconds": seconds, "per_second": count / seconds,
            "received": len(receiver.received)}
