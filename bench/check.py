"""`make bench-check`: the hot path's guard, a short side-by-side against the raw ceiling.

For SQLite (always) and PostgreSQL (when BENCH_DATABASE_URL is set), on the same database
`make bench` builds, this server and bench/raw_app.py (the same two routes with the raw driver)
are served under the same gunicorn settings and loaded from wrk in 1 s rounds, alternating:
GET a small task, then discard (every request a distinct REVIEWING task). Each ratio is
compared with the one `make bench` recorded in bench/results.json
(`<database>.load.<get|discard>.ratio`): `rps_vs_raw`, the server's req/s over the raw app's,
more than 10% under it fails. Beside it, shown only: `cpu_vs_raw`, the raw app's CPU per
request over the server's (the processes' own accounting: steadier on a busy machine, where
req/s swings with whatever else runs, but blind to time spent waiting, such as a sleep).
About a minute a database on a quiet machine (most of it building the 40,000 tasks).

Exit status: 0 every ratio held; 1 one fell (or a side answered errors); 2 nothing to compare
with (no recorded figure, or wrk missing). It writes nothing into bench/results.json; its
figures go to bench/work/check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import results as results_file  # noqa: E402
from bench.common import WORK_DIR, build_main_database  # noqa: E402
from bench.load import RUNS, side_by_side, write_load_ids  # noqa: E402
from bench.servers import app_server, raw_server  # noqa: E402

TOLERANCE = 0.10  # a ratio more than this much under its recorded figure fails
# The ratio that fails: req/s side by side, as `make bench` reports it. Shown beside it, not
# failing: the raw app's CPU per request over the server's (bench/load.py `ratios`), steadier
# on a busy machine but blind to time spent waiting (a sleep, a lock), and within about 10% of
# itself from run to run here, too close to the threshold to fail on.
FIGURES = ("rps_vs_raw", "cpu_vs_raw")
GATED = ("rps_vs_raw",)
CHECKED = tuple(run for run in RUNS if run[0] in ("get", "discard"))


def check_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{name}] building the database...", file=sys.stderr)
    db = build_main_database(url)
    seed = db["seed"]
    prefix = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
    print(f"[{name}] load: {args.duration} s a side and run, in 1 s rounds", file=sys.stderr)
    with app_server(url) as app_url, raw_server(url) as raw_url:
        return side_by_side((("app", app_url), ("raw", raw_url)), prefix, seed["keys"]["edit"],
                            write_load_ids(db), CHECKED, args.duration, args.connections,
                            round_seconds=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10,
                        help="seconds of load per run and side (in 1 s rounds)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="how far under the recorded ratio fails (0.10: 10%%)")
    parser.add_argument("--sqlite-only", action="store_true", help="ignore BENCH_DATABASE_URL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `apt-get install -y wrk`.", file=sys.stderr)
        return 2
    recorded = results_file.read()
    WORK_DIR.mkdir(exist_ok=True)
    backends = {"sqlite": f"sqlite:///{WORK_DIR / 'bench.db'}"}
    if os.environ.get("BENCH_DATABASE_URL") and not args.sqlite_only:
        backends["postgresql"] = os.environ["BENCH_DATABASE_URL"]
    rows: list[str] = []
    failed, measured = False, {}
    for name, url in backends.items():
        if "load" not in recorded.get(name, {}):
            print(f"bench/results.json has no {name} load figures: run `make bench` first.",
                  file=sys.stderr)
            return 2
        measured[name] = load = check_backend(name, url, args)
        for run, _method, _suffix in CHECKED:
            was, ratio = recorded[name]["load"][run], load[run]["ratio"]
            errors = load[run]["app"]["errors"] + load[run]["raw"]["errors"]
            verdicts = []
            for figure in FIGURES:
                if figure not in was["ratio"]:  # recorded before the bench measured it
                    continue
                floor = was["ratio"][figure] * (1 - args.tolerance)
                ok = ratio[figure] >= floor
                failed |= not ok and figure in GATED
                verdicts.append(f"{figure:11}{ratio[figure]:6.2f}{was['ratio'][figure]:10.2f}"
                                f"{floor:7.2f}  {'ok' if ok else 'FELL'}"
                                f"{'' if figure in GATED else ' (shown, does not fail)'}")
            failed |= bool(errors)
            rows.append(
                f"{name} {run}: {load[run]['app']['rps']:.0f} req/s, "
                f"raw {load[run]['raw']['rps']:.0f}"
                f"{f'  [{errors} errors]' if errors else ''}\n    "
                + "\n    ".join(verdicts)
                + f"\n    now: {results_file.describe(load[run]['taken'])}"
                f"\n    recorded: {results_file.describe(was.get('taken'))}")
    (WORK_DIR / "check.json").write_text(json.dumps(measured, indent=2) + "\n")
    print(f"\n== server / raw ceiling, req/s side by side; fails under recorded x "
          f"{1 - args.tolerance:.2f} ==")
    print(f"    {'ratio':11}{'now':>6}{'recorded':>10}{'floor':>7}")
    print("\n".join(rows))
    busy = max(load[run]["taken"]["load_average"]["mean"] for load in measured.values()
               for run, _, _ in CHECKED)
    if busy > (os.cpu_count() or 1):
        print(f"(load average {busy:.1f} on {os.cpu_count()} CPUs: the req/s ratios swing with "
              "what else runs; the CPU ratios hold better)")
    print("bench-check: " + ("a ratio fell more than "
                             f"{args.tolerance:.0%} under its recorded figure" if failed
                             else "every ratio held"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
