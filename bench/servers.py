"""The bench's servers under gunicorn (this server, bench/bare_app.py, bench/raw_app.py), wrk,
and sequential requests."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DIR,
    REPO_ROOT,
    WORK_DIR,
    WORKERS,
)

# Each served base URL's process group (its server's pid: started in a session of its own).
GROUPS: dict[str, int] = {}


def cpu_seconds(base_url: str) -> float:
    """User + system CPU seconds of the live processes serving `base_url`: its process group,
    the gunicorn master and workers (and, for `sendai-server serve`, the pipeline worker)."""
    group, total = GROUPS[base_url], 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int, ready_path: str) -> Iterator[str]:
    log = open(WORK_DIR / f"server-{port}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            try:
                if http_get(port, ready_path)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready; see {log.name}")
            time.sleep(0.1)
        GROUPS[f"http://127.0.0.1:{port}"] = process.pid
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def app_server(url: str) -> Any:
    port = free_port()
    argv = [str(Path(sys.executable).with_name("sendai-server")), "serve",
            "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"]
    env = {"DATABASE_URL": url, "SENDAI_LOG_LEVEL": "WARNING"}
    return server(argv, env, port, "/readyz")


def bare_server(tasks_file: Path) -> Any:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "bench.bare_app:app"]
    env = {"BENCH_BARE_TASK": str(tasks_file), "SENDAI_LOG_LEVEL": "WARNING"}
    return server(argv, env, port, "/readyz")


def raw_server(url: str) -> Any:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "bench.raw_app:app"]
    env = {"DATABASE_URL": url, "SENDAI_LOG_LEVEL": "WARNING"}
    return server(argv, env, port, "/readyz")


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wrk(base_url: str, prefix: str, ids_file: Path, key: str, *, method: str = "GET",
        suffix: str = "", duration: float, connections: int, offset: int = 0) -> dict[str, Any]:
    out = WORK_DIR / f"wrk-{os.getpid()}.json"  # one per bench process
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_IDS": str(ids_file), "BENCH_PATH": prefix, "BENCH_KEY": key,
           "BENCH_METHOD": method, "BENCH_SUFFIX": suffix, "BENCH_OUT": str(out),
           "BENCH_THREADS": "1", "BENCH_OFFSET": str(offset)}
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s",
         "-s", str(BENCH_DIR / "ids.lua"), base_url],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )
    result = json.loads(out.read_text())
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
    return result


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one side: total requests over total time; the median round's percentiles;
    the server's CPU per request when the rounds measured it."""
    requests = sum(r["requests"] for r in results)
    seconds = sum(r["duration_us"] for r in results) / 1e6
    out: dict[str, Any] = {"requests": requests, "seconds": seconds, "rps": requests / seconds,
                           "errors": sum(r["errors"] for r in results), "rounds": results}
    for percentile in ("p50_us", "p90_us", "p99_us"):
        out[percentile] = statistics.median(r[percentile] for r in results)
    if all("cpu_s" in r for r in results):
        out["cpu_ms_per_request"] = 1000 * sum(r["cpu_s"] for r in results) / max(requests, 1)
    return out


def write_ids(name: str, ids: list[str]) -> Path:
    path = WORK_DIR / name
    path.write_text("\n".join(ids) + "\n")
    return path


def sequential_latencies(port: int, paths: list[str], headers: dict[str, str],
                         method: str) -> list[float]:
    times = []
    for path in paths:
        started = time.perf_counter()
        status, _ = http_get(port, path, headers, method)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}")
    return times
