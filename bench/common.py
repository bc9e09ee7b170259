"""What the bench's parts share: its folders, its settings and targets, and the main
database (40,000 small REVIEWING tasks and a few large ones, made by the project's own bulk
creation)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.domain.lifecycle import TaskStatus
from sendai_server.services.demo import seed_demo
from sendai_server.services.task_creation import TaskSpec, create_tasks, synthetic_pages
from sendai_server.store import migrate
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / "work"

SMALL_COUNT = 40_000
LARGE_COUNT = 6  # the GET load's 4, and one to discard in-process for each of server and raw
MEASURE_TASKS = 64  # small tasks kept out of the load for the in-process measurements
WARM_UP = 12  # requests of each kind before measuring (psycopg prepares on the 6th use)
MEASURED = 4  # requests of each kind measured
WORKERS = 2
TARGETS = {
    "get_rps_ratio": 0.60, "discard_rps_ratio": 0.45, "get_statements": 8,
    "discard_statements": 12, "large_vs_json_dumps": 15.0, "create_40k_seconds": 20.0,
    "flatness_ratio": 1.3, "inspector_vs_json": 15.0, "proxy_added_p50_ms": 5.0,
}


# --- databases ------------------------------------------------------------------------------

def fresh_database(url: str) -> None:
    """An empty database at the migrations' head."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    migrate.upgrade(url)


def bench_app(url: str) -> Any:
    return create_app(Config(env="test", database_url=url, log_level="WARNING"))


def create_batch(app: Any, project_id: str, count: int, pages: int, annotations: int) -> list[str]:
    """`sendai-server tasks create`'s way: one page template per batch, one bulk insert."""
    template = synthetic_pages(pages, annotations, random.Random(count))
    specs = (
        TaskSpec(name=f"Task {n + 1}", status=TaskStatus.REVIEWING, pages=template)
        for n in range(count)
    )
    with UnitOfWork(engine_of(app)) as uow:
        return create_tasks(uow, project_id, specs)


def build_main_database(url: str) -> dict[str, Any]:
    fresh_database(url)
    app = bench_app(url)
    with UnitOfWork(engine_of(app)) as uow:
        seed = seed_demo(uow)
    started = time.perf_counter()
    small = create_batch(app, seed["project_id"], SMALL_COUNT, 1, 5)
    create_seconds = time.perf_counter() - started
    large = create_batch(app, seed["project_id"], LARGE_COUNT, 50, 40)
    engine_of(app).dispose()
    return {"seed": seed, "small": small, "large": large, "create_seconds": create_seconds}


