"""`make bench`: how close sendai-server comes to what Flask itself can do on this machine.

For SQLite (always) and PostgreSQL (when BENCH_DATABASE_URL is set) it:

1. builds a database with the project's own bulk creation (services.task_creation): 40,000
   REVIEWING tasks of 1 page x 5 annotations (timed) and a few of 50 pages x 40 annotations;
2. measures what a GET and a discard, small and large task, cost the database, in-process
   through the Flask test client, for the server and for bench/raw_app.py: round trips as the
   database sees them (bench/counting.py: sqlite3's trace callback; on PostgreSQL a counting
   TCP proxy in front of the server), BEGIN, COMMIT, ROLLBACK and pings included; SQL
   statements (round trips less those); the server's pool checkouts; and, for reference, what
   SQLAlchemy's before_cursor_execute event sees (not the statements run on the DBAPI
   connection directly);
3. serves the database with `sendai-server serve --workers 2` and, beside it under the same
   gunicorn settings, bench/bare_app.py (a bare Flask app answering the same routes with a
   constant task of the same size) and bench/raw_app.py (the same two routes on the same
   database with the raw driver and the server's statements), and loads all three from `wrk`
   on loopback, each for a fixed time, in alternation: GET small, discard (every request a
   distinct REVIEWING task), GET large;
4. times serving a large task over HTTP against json.dumps of its payload;
5. flatness: discard p50 with 1,000,000 tasks in the table against 1,000 (`--no-flatness`
   skips it);
6. the pipeline (`--no-pipeline` skips it): uploads per second of the one-page sample invoice
   through `sendai-server serve --no-worker --workers 2` (one client, then 4 at once), and
   tasks extracted per second by one and by two `sendai-server worker` processes (uploads
   already queued, released all at once by moving their jobs' run_at); beside them, what
   pypdf's extraction of that invoice costs in-process;
7. the pytest plugin (bench/plugin.py): a plain pytest run with and without it, its first
   `sendai` test's start, 50 tests of one discard each (`--plugin-only` measures only this,
   without wrk, and writes only its section of bench/results.json).

8. proxy mode (`--no-proxy` skips it, `--proxy-only` runs it alone and updates only its part
   of bench/results.json): what `sendai-server proxy` (docs/proxy.md) adds per request, median
   and p99, against calling the same server directly: sequential requests on one kept-alive
   connection each, direct and proxied alternating; and the proxy worker's peak RSS before
   and after a 40 MiB upload through it.

It prints a table and writes bench/results.json. Ratios (the server's req/s over the bare
app's, and over the raw app's) are measured side by side in the same run; absolute numbers
depend on the machine and on whatever else runs on it. `--quick` is a 2 s smoke run.

This file is the command line; each part lives in a module of its own: bench/common.py (settings,
the main database), bench/costs.py (2, 4), bench/servers.py (gunicorn and wrk), bench/load.py
(one database: 1 to 4, the side-by-side load), bench/flatness.py (5), bench/workers.py (6),
bench/plugin.py (7), bench/proxy.py (8), bench/report.py (the tables) and bench/results.py
(bench/results.json: each part stamped with its commit and the load average while it ran; a
run replaces the parts it measured and keeps the others). bench/check.py is `make bench-check`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import clock as clock_bench  # noqa: E402
from bench import plugin as plugin_bench  # noqa: E402
from bench import results as results_file  # noqa: E402
from bench.common import TARGETS, WORK_DIR, WORKERS  # noqa: E402
from bench.load import bench_backend  # noqa: E402
from bench.proxy import proxy_overhead, proxy_table  # noqa: E402
from bench.report import table  # noqa: E402
from bench.results import taken  # noqa: E402

# Further sections of a full run: (its key in bench/results.json, what measures it). Each
# function takes the parsed arguments and returns a dict of figures; the run stamps it with its
# commit and load average (bench/results.py) and stores it under its key; `--no-<key>` skips
# it. A module that measures something new (bench/<topic>.py) adds one line here.
Section = Callable[[argparse.Namespace], dict[str, Any]]
EXTRA_SECTIONS: list[tuple[str, Section]] = [
    # A plugin test with the team's clock against today's waiting (docs/clock.md).
    ("clock", lambda _args: clock_bench.measure()),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8,
                        help="seconds of load per measurement and side (in 2 s rounds)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--no-flatness", action="store_true",
                        help="skip the 1,000 vs 1,000,000 tasks discard check")
    parser.add_argument("--flat-requests", type=int, default=550,
                        help="sequential discards per flatness database (first 50 warm up)")
    parser.add_argument("--no-pipeline", action="store_true",
                        help="skip the uploads and worker throughput measurements")
    parser.add_argument("--pipeline-tasks", type=int, default=300,
                        help="tasks per worker run (uploads: about twice as many)")
    parser.add_argument("--sqlite-only", action="store_true",
                        help="ignore BENCH_DATABASE_URL")
    parser.add_argument("--no-proxy", action="store_true",
                        help="skip what proxy mode adds per request")
    parser.add_argument("--proxy-only", action="store_true",
                        help="only what proxy mode adds per request (SQLite); updates the "
                             "'proxy' part of bench/results.json and keeps the rest")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 s of load per measurement and side, no flatness")
    parser.add_argument("--plugin-only", action="store_true",
                        help="measure only the pytest plugin's costs (bench/plugin.py)")
    parser.add_argument("--no-plugin", action="store_true",
                        help="skip the pytest plugin's costs")
    parser.add_argument("--plugin-runs", type=int, default=5,
                        help="rounds of the plugin's measurements (each figure: the median)")
    parser.add_argument("--section", metavar="NAME",
                        help="a partial run (no pipeline, notifications or flatness) whose "
                             "figures go under NAME in bench/results.json, the rest kept")
    for name, _measure in EXTRA_SECTIONS:
        parser.add_argument(f"--no-{name.replace('_', '-')}", dest=f"no_section_{name}",
                            action="store_true", help=f"skip the '{name}' section")
    args = parser.parse_args()
    if args.plugin_only:
        return plugin_bench.measure_and_record(args.plugin_runs)
    if args.quick:
        args.duration, args.no_flatness = 2, True
    if args.section:
        args.no_pipeline = args.no_flatness = True
    if args.proxy_only:
        WORK_DIR.mkdir(exist_ok=True)
        return main_proxy_only()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `apt-get install -y wrk` (or `make bench` as root).",
              file=sys.stderr)
        return 2
    WORK_DIR.mkdir(exist_ok=True)
    backends = {"sqlite": f"sqlite:///{WORK_DIR / 'bench.db'}"}
    if os.environ.get("BENCH_DATABASE_URL") and not args.sqlite_only:
        backends["postgresql"] = os.environ["BENCH_DATABASE_URL"]
    started = time.monotonic()
    results: dict[str, Any] = {
        "when": results_file.now(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "settings": {"workers": WORKERS, "wrk_connections": args.connections,
                     "wrk_seconds": args.duration},
        "targets": TARGETS,
    }
    with taken() as stamp:
        for name, url in backends.items():
            results[name] = bench_backend(name, url, args)
        if not args.section and not args.no_plugin:
            results["plugin"] = stamped(lambda: plugin_bench.measure(args.plugin_runs))
        if not args.no_proxy:
            print("[proxy] what proxy mode adds per request (SQLite)...", file=sys.stderr)
            results["proxy"] = stamped(
                lambda: proxy_overhead(f"sqlite:///{WORK_DIR / 'proxy.db'}"))
        for name, measure in EXTRA_SECTIONS:
            if not args.section and not getattr(args, f"no_section_{name}"):
                print(f"[{name}]...", file=sys.stderr)
                results[name] = stamped(lambda measure=measure: measure(args))
    results["taken"] = stamp
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["total_seconds"] = time.monotonic() - started
    if args.section:
        results_file.update({args.section: {k: v for k, v in results.items() if k != "targets"}})
    else:
        results_file.update(results)
    print()
    for name in backends:
        print(table(name, results[name]))
        print()
    if "plugin" in results:
        print("\n".join(plugin_bench.table(results["plugin"])))
        print()
    if "clock" in results:
        print("\n".join(clock_bench.table(results["clock"])))
        print()
    if "proxy" in results:
        print("\n".join(proxy_table(results["proxy"])))
        print()
    load = results["machine"]
    print(f"{load['cpus']} CPUs; load average {load['load_average_at_start'][0]:.1f} at start, "
          f"{load['load_average_at_end'][0]:.1f} at end (other processes share the machine). "
          f"Total {results['total_seconds']:.0f} s; {results_file.describe(stamp)}. "
          "Written to bench/results.json.")
    return 0


def stamped(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What `measure` returns, with where and when it was taken (bench/results.py)."""
    with taken() as stamp:
        figures = measure()
    return {**figures, "taken": stamp}


def main_proxy_only() -> int:
    """`--proxy-only`: the proxy's part of bench/results.json, the rest kept as it was."""
    load_at_start = os.getloadavg()
    started = time.monotonic()
    proxy = stamped(lambda: proxy_overhead(f"sqlite:///{WORK_DIR / 'proxy.db'}"))
    proxy.update({
        "when": results_file.now(),
        "seconds": time.monotonic() - started,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": load_at_start,
                    "load_average_at_end": os.getloadavg()},
    })
    targets = {**results_file.read().get("targets", {}),
               "proxy_added_p50_ms": TARGETS["proxy_added_p50_ms"]}
    results_file.update({"proxy": proxy, "targets": targets})
    print("\n".join(proxy_table(proxy)))
    print(f"Load average {load_at_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end. "
          "Written to bench/results.json (its 'proxy' part).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
