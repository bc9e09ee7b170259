"""The printed tables."""

from __future__ import annotations

from typing import Any

from bench.common import (
    TARGETS,
    WORKERS,
)
from bench.costs import costs_table


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(name: str, r: dict[str, Any]) -> str:
    t = TARGETS
    load, st = r["load"], r["statements"]
    rows = [f"== {name} ({WORKERS} gunicorn workers; ratios are app / bare Flask and app / raw "
            "driver, same run) =="]
    rows.append(f"{'':14}{'app req/s':>10}{'bare':>7}{'raw':>7}{'/bare':>7}{'/raw':>6}"
                 f"{'p50 ms':>8}{'(bare)':>7}{'(raw)':>7}{'p99 ms':>8}{'(bare)':>7}{'(raw)':>7}"
                 "  target (/bare)")
    for run, target in (("get", t["get_rps_ratio"]), ("discard", t["discard_rps_ratio"]),
                        ("get_large", None)):
        a, b, w = load[run]["app"], load[run]["bare"], load[run]["raw"]
        ratio, raw_ratio = load[run]["ratio"]["rps"], load[run]["ratio"]["rps_vs_raw"]
        goal = f">= {target:.2f} {verdict(ratio >= target)}" if target else "(50x40 task)"
        errors = "".join(f"  [{side['errors']} {label} errors]"
                         for label, side in (("app", a), ("raw", w)) if side["errors"])
        rows.append(
            f"{run.replace('_', ' '):14}{a['rps']:10.0f}{b['rps']:7.0f}{w['rps']:7.0f}"
            f"{ratio:7.2f}{raw_ratio:6.2f}"
            f"{a['p50_us'] / 1000:8.2f}{b['p50_us'] / 1000:7.2f}{w['p50_us'] / 1000:7.2f}"
            f"{a['p99_us'] / 1000:8.2f}{b['p99_us'] / 1000:7.2f}{w['p99_us'] / 1000:7.2f}"
            f"  {goal}{errors}"
        )
    get_ok = st["get_small"] == st["get_large"] <= t["get_statements"]
    discard_ok = st["discard_small"] == st["discard_large"] <= t["discard_statements"]
    rows.append(f"SQL statements, GET     1x5: {st['get_small']:3}   50x40: {st['get_large']:3}"
                f"   target same, <= {t['get_statements']}  {verdict(get_ok)}")
    rows.append(f"SQL statements, discard 1x5: {st['discard_small']:3}   50x40: "
                f"{st['discard_large']:3}   target same, <= {t['discard_statements']}  "
                f"{verdict(discard_ok)}")
    rows.extend(costs_table(r["costs"]))
    ratio = r["large_vs_json_dumps"]
    rows.append(f"50x40 task served over HTTP {r['large_served_ms']:.1f} ms; json.dumps "
                f"{r['large_json_dumps_ms']:.2f} ms; {ratio:.1f}x  target <= "
                f"{t['large_vs_json_dumps']:.0f}x  {verdict(ratio <= t['large_vs_json_dumps'])}")
    if "inspector_large" in r:
        i = r["inspector_large"]
        goal = t["inspector_vs_json"]
        rows.append(f"50x40 task's inspector page {i['page_ms']:.1f} ms ({i['page_bytes']:,} "
                    f"bytes); its JSON GET {i['json_ms']:.1f} ms; {i['ratio']:.1f}x  target <= "
                    f"{goal:.0f}x  {verdict(i['ratio'] <= goal)}")
    seconds = r["create_40k_seconds"]
    goal = (f"target < {t['create_40k_seconds']:.0f} s  "
            f"{verdict(seconds < t['create_40k_seconds'])}" if name == "sqlite"
            else "(the target is SQLite's)")
    rows.append(f"40,000 tasks created in {seconds:.1f} s  {goal}")
    if "pipeline" in r:
        rows.extend(pipeline_table(r["pipeline"]))
    if "notifications" in r:
        n = r["notifications"]
        rows.append(f"  notifications/s, 1 worker  {n['per_second']:6.0f}   ({n['notifications']} "
                    f"UPLOAD_IN_REVIEW to a local receiver in {n['seconds']:.1f} s)")
    if "flatness" in r:
        f = r["flatness"]
        rows.append(
            f"discard p50 at 1M tasks {f['1000000']['p50_ms']:.2f} ms vs 1k "
            f"{f['1000']['p50_ms']:.2f} ms: {f['ratio']:.2f}x  target <= "
            f"{t['flatness_ratio']}x  {verdict(f['ratio'] <= t['flatness_ratio'])}"
            f"  (1M table built in {f['1000000']['build_seconds']:.0f} s)"
        )
    return "\n".join(rows)


def pipeline_table(p: dict[str, Any]) -> list[str]:
    rows = [f"pipeline, one-page invoice ({p['file_bytes']:,} bytes; pypdf extraction "
            f"{p['extract_ms']:.1f} ms in-process):"]
    for key, label in (("uploads_1_client", "uploads/s, 1 client"),
                       (f"uploads_{p['upload_clients']}_clients",
                        f"uploads/s, {p['upload_clients']} clients")):
        u = p[key]
        rows.append(f"  {label:24}{u['per_second']:8.0f}   p50 {u['p50_ms']:6.1f} ms  p99 "
                    f"{u['p99_ms']:6.1f} ms  ({u['uploads']} uploads in {u['seconds']:.1f} s)")
    for key, label in (("tasks_1_worker", "tasks/s, 1 worker"),
                       ("tasks_2_workers", "tasks/s, 2 workers")):
        t = p[key]
        rows.append(f"  {label:24}{t['per_second']:8.0f}   {1000 / t['per_second']:6.1f} ms a "
                    f"task  ({t['tasks']} tasks in {t['seconds']:.1f} s)")
    return rows
