"""Proxy mode: what `sendai-server proxy` adds per request against calling the server
directly, and its memory over a 40 MiB upload."""

from __future__ import annotations

import http.client
import http.server
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    TARGETS,
    fresh_database,
)
from bench.report import verdict
from bench.servers import GROUPS, app_server, free_port, server
from sendai_server.services.demo import seed_demo
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork

PROXY_REQUESTS = 1000  # of each kind and side, after PROXY_WARM_UP
PROXY_WARM_UP = 100


@contextmanager
def proxy_server(upstream: str) -> Iterator[tuple[str, int]]:
    """`sendai-server proxy` in front of `upstream`: (its URL, its gunicorn master's pid)."""
    port = free_port()
    argv = [str(Path(sys.executable).with_name("sendai-server")), "proxy", "--upstream",
            upstream, "--bind", f"127.0.0.1:{port}"]
    with server(argv, {}, port, "/healthz") as url:
        yield url, GROUPS[url]


def _peak_rss_mib(master_pid: int) -> float:
    """VmHWM of the proxy's one gunicorn worker, in MiB."""
    [worker] = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _cpu_ms(master_pid: int) -> float:
    """CPU time (user + system) the proxy's worker has used, in ms."""
    [worker] = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    fields = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _timed(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return elapsed


def _upload_40_mib(port: int, path: str, key: str) -> int:
    boundary = "benchproxyboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = b"%PDF-1.4\n" + b"0" * (1024 * 1024 - 9)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=iter([head, *[block] * 40, tail]), headers={
            "Authorization": f"Bearer {key}", "Content-Length": str(len(head) + 40 * len(block)
                                                                     + len(tail)),
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def proxy_overhead(url: str) -> dict[str, Any]:
    """Sequential GETs, direct and through the proxy alternating, each side on a kept-alive
    connection of its own: a small task, and a list of 20 tasks. Medians and p99s in ms."""
    fresh_database(url)
    engine = make_engine(url)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
    engine.dispose()
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}"
    headers = {"Authorization": f"Bearer {seed['keys']['helpers']}"}
    paths = {"get_task": f"{base}/task/{seed['tasks']['REVIEWING'][0]}",
             "list_20_tasks": f"{base}/task?limit=20"}
    result: dict[str, Any] = {"requests": PROXY_REQUESTS, "warm_up": PROXY_WARM_UP}
    with app_server(url) as direct_url, proxy_server(direct_url) as (proxy_url, proxy_pid):
        direct_port = int(direct_url.rsplit(":", 1)[1])
        proxy_port = int(proxy_url.rsplit(":", 1)[1])
        for name, path in paths.items():
            sides = {"direct": http.client.HTTPConnection("127.0.0.1", direct_port, timeout=30),
                     "proxied": http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=30)}
            times: dict[str, list[float]] = {"direct": [], "proxied": []}
            cpu_at_start = 0.0
            for n in range(PROXY_WARM_UP + PROXY_REQUESTS):
                if n == PROXY_WARM_UP:
                    cpu_at_start = _cpu_ms(proxy_pid)
                for side, conn in sides.items():
                    elapsed = _timed(conn, path, headers)
                    if n >= PROXY_WARM_UP:
                        times[side].append(elapsed * 1000)
            for conn in sides.values():
                conn.close()
            row: dict[str, Any] = {}
            for side, values in times.items():
                ordered = sorted(values)
                row[side] = {"p50_ms": statistics.median(ordered),
                             "p99_ms": ordered[int(len(ordered) * 0.99) - 1]}
            # What the proxy costs whatever else the machine runs: its own CPU per request.
            row["proxy_cpu_ms_per_request"] = (_cpu_ms(proxy_pid) - cpu_at_start) / PROXY_REQUESTS
            row["added_p50_ms"] = row["proxied"]["p50_ms"] - row["direct"]["p50_ms"]
            row["added_p99_ms"] = row["proxied"]["p99_ms"] - row["direct"]["p99_ms"]
            result[name] = row
        before = _peak_rss_mib(proxy_pid)
        status = _upload_40_mib(proxy_port, f"{base}/upload", seed["keys"]["helpers"])
        if status != 200:
            raise RuntimeError(f"the 40 MiB upload through the proxy answered {status}")
        result["upload_40_mib_peak_rss_mib"] = {"before": before,
                                                "after": _peak_rss_mib(proxy_pid)}
    return result


def proxy_table(p: dict[str, Any]) -> list[str]:
    target = TARGETS["proxy_added_p50_ms"]
    rows = [f"== proxy mode: what `sendai-server proxy` adds per request ({p['requests']} "
            "sequential GETs a side, alternating) ==",
            f"{'':16}{'direct p50':>11}{'proxied':>9}{'added':>8}{'direct p99':>12}"
            f"{'proxied':>9}{'added':>8}{'proxy CPU':>10}  target (added p50)"]
    for name in ("get_task", "list_20_tasks"):
        r = p[name]
        rows.append(f"{name:16}{r['direct']['p50_ms']:11.2f}{r['proxied']['p50_ms']:9.2f}"
                    f"{r['added_p50_ms']:8.2f}{r['direct']['p99_ms']:12.2f}"
                    f"{r['proxied']['p99_ms']:9.2f}{r['added_p99_ms']:8.2f}"
                    f"{r['proxy_cpu_ms_per_request']:10.2f}  "
                    f"< {target:.0f} ms {verdict(r['added_p50_ms'] < target)}")
    rss = p["upload_40_mib_peak_rss_mib"]
    rows.append(f"  a 40 MiB upload through it: the proxy worker's peak RSS {rss['before']:.0f} "
                f"-> {rss['after']:.0f} MiB")
    return rows
