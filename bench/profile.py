"""Where a request's time goes under gunicorn: py-spy samples the server's processes while wrk
loads them, as `make bench` does (the same database, workers and connections).

    .venv/bin/pip install py-spy   # not a dependency of the project; needs ptrace (root)
    .venv/bin/python bench/profile.py [--seconds 20] [--runs get discard]

For SQLite (always) and PostgreSQL (when BENCH_DATABASE_URL is set), for each run (GET a small
task, discard), it records `sendai-server serve --workers 2` and its children (py-spy
`--subprocesses`, idle threads left out) for `--seconds` of load, writes the collapsed stacks to
bench/work/profile-<database>-<run>[-gil].txt (flamegraph.pl and speedscope read them) and prints
the top functions by own samples and by samples below them (cumulative), as shares of the
samples in the gunicorn workers' request threads (the pipeline worker beside them and the
master are left out of the shares). By default a sample is a thread's stack wherever it is
(waiting on a socket, a lock or the database included); `--gil` keeps only the thread holding
the GIL: where Python's CPU goes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import WORK_DIR, build_main_database  # noqa: E402
from bench.load import RUNS, write_load_ids  # noqa: E402
from bench.servers import app_server, wrk  # noqa: E402

REQUEST_FRAME = "handle_request"  # gunicorn's worker method every request's stack goes through


def serve_pid(port: int) -> int:
    """The `sendai-server serve` process bound to `port` (the one whose parent is not)."""
    bind = f"127.0.0.1:{port}".encode()
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if bind in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                pass
    for pid in pids:
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent not in pids:
            return pid
    raise RuntimeError(f"no process serves {bind.decode()}")


def top(stacks: Path, count: int) -> dict[str, Any]:
    """Own and cumulative samples per function, among the stacks through a request."""
    own: Counter[str] = Counter()
    below: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        path, _, samples = line.rpartition(" ")
        frames = path.split(";")
        if not any(REQUEST_FRAME in frame for frame in frames):
            continue
        n = int(samples)
        total += n
        own[frames[-1]] += n
        # Cumulative by function (its file, not the line), each once per stack.
        for function in {frame.rsplit(":", 1)[0] + ")" for frame in frames}:
            if not function.startswith(("process ", "Thread.", "_worker (", "_WorkItem.")):
                below[function] += n

    def share(counts: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / max(total, 1), 1)) for f, n in counts.most_common(count)]

    return {"samples": total, "own": share(own), "cumulative": share(below)}


def profile_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{name}] building the database...", file=sys.stderr)
    db = build_main_database(url)
    seed = db["seed"]
    prefix = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
    key = seed["keys"]["edit"]
    ids = write_load_ids(db, prefix="profile-")
    out = {}
    with app_server(url) as base:
        pid = serve_pid(int(base.rsplit(":", 1)[1]))
        wrk(base, prefix, ids["get"], key, duration=2, connections=args.connections)  # warm
        for run, method, suffix in RUNS:
            if run not in args.runs:
                continue
            stacks = WORK_DIR / f"profile-{name}-{run}{'-gil' if args.gil else ''}.txt"
            print(f"[{name}] {run}: {args.seconds} s under py-spy", file=sys.stderr)
            spy = subprocess.Popen(
                [args.py_spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
                 "--rate", str(args.rate), "--duration", str(args.seconds + 2), "--nonblocking",
                 "--output", str(stacks), *(["--gil"] if args.gil else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            run_ids = ids[run]["app"] if isinstance(ids[run], dict) else ids[run]
            rate = wrk(base, prefix, run_ids, key, method=method, suffix=suffix,
                       duration=args.seconds, connections=args.connections)
            spy.wait(timeout=args.seconds + 60)
            out[run] = {"rps": rate["rps"], **top(stacks, args.top)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25, help="functions listed per table")
    parser.add_argument("--runs", nargs="+", default=["get", "discard"],
                        choices=[run for run, _, _ in RUNS])
    parser.add_argument("--gil", action="store_true",
                        help="only samples holding the GIL: Python's CPU, no waiting on I/O")
    parser.add_argument("--sqlite-only", action="store_true", help="ignore BENCH_DATABASE_URL")
    parser.add_argument("--py-spy", default=shutil.which("py-spy")
                        or str(Path(sys.executable).with_name("py-spy")))
    args = parser.parse_args()
    if not Path(args.py_spy).exists() or shutil.which("wrk") is None:
        print("needs py-spy (pip install py-spy) and wrk", file=sys.stderr)
        return 2
    WORK_DIR.mkdir(exist_ok=True)
    backends = {"sqlite": f"sqlite:///{WORK_DIR / 'profile.db'}"}
    if os.environ.get("BENCH_DATABASE_URL") and not args.sqlite_only:
        backends["postgresql"] = os.environ["BENCH_DATABASE_URL"]
    for name, url in backends.items():
        for run, figures in profile_backend(name, url, args).items():
            print(f"\n== {name} {run}: {figures['rps']:.0f} req/s under the profiler, "
                  f"{figures['samples']} samples in requests ==")
            for kind in ("own", "cumulative"):
                print(f"-- {kind} (% of request samples)")
                for frame, share in figures[kind]:
                    print(f"{share:6.1f}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
