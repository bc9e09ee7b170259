"""The figures docs/performance.md shows from bench/results.json, and how each is written: the
page's three tables are `tables(results)`, pasted; tests/app/test_docs_site.py fails when they
differ (a bench run changed results.json and the page was not updated)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Results = dict[str, Any]
Figure = Callable[[Results], Any]


def _at(*path: str) -> Figure:
    def read(results: Results) -> Any:
        value: Any = results
        for part in path:
            value = value[part]
        return value
    return read


# label, the figure for one database (from results[database]), its format
SERVER_ROWS: list[tuple[str, Callable[[str], Figure], str]] = [
    ("GET a task, requests/s", lambda db: _at(db, "load", "get", "app", "rps"), "{:,.0f}"),
    ("GET, a bare Flask app beside it", lambda db: _at(db, "load", "get", "bare", "rps"),
     "{:,.0f}"),
    ("discard a task, requests/s", lambda db: _at(db, "load", "discard", "app", "rps"),
     "{:,.0f}"),
    ("discard, a bare Flask app beside it", lambda db: _at(db, "load", "discard", "bare",
                                                                        "rps"),
     "{:,.0f}"),
    ("GET: requests/s ÷ the raw driver's, same statements", lambda db: _at(
        db, "load", "get", "ratio", "rps_vs_raw"), "{:.2f}"),
    ("discard: requests/s ÷ the raw driver's, same statements", lambda db: _at(
        db, "load", "discard", "ratio", "rps_vs_raw"), "{:.2f}"),
    ("database round trips: GET", lambda db: _at(db, "costs", "server", "get_small",
                                                 "round_trips"), "{}"),
    ("database round trips: discard", lambda db: _at(db, "costs", "server", "discard_small",
                                                     "round_trips"), "{}"),
    ("a 50-page task of 40 annotations each, served (ms)",
     lambda db: _at(db, "large_served_ms"), "{:.1f}"),
    ("40,000 tasks created (s)", lambda db: _at(db, "create_40k_seconds"), "{:.1f}"),
    ("uploads/s, 1 client", lambda db: _at(db, "pipeline", "uploads_1_client", "per_second"),
     "{:.0f}"),
    ("uploads/s, 4 clients", lambda db: _at(db, "pipeline", "uploads_4_clients", "per_second"),
     "{:.0f}"),
    ("tasks extracted/s, 1 worker", lambda db: _at(db, "pipeline", "tasks_1_worker",
                                                    "per_second"), "{:.0f}"),
    ("tasks extracted/s, 2 workers", lambda db: _at(db, "pipeline", "tasks_2_workers",
                                                     "per_second"), "{:.0f}"),
    ("notifications delivered/s, 1 worker", lambda db: _at(db, "notifications", "per_second"),
     "{:.0f}"),
    ("discard at 1,000,000 tasks ÷ at 1,000", lambda db: _at(db, "flatness", "ratio"),
     "{:.2f}×"),
]

PROXY_ROWS: list[tuple[str, str]] = [("a task", "get_task"), ("a list of 20 tasks",
                                                              "list_20_tasks")]

PLUGIN_ROWS: list[tuple[str, Figure, str]] = [
    ("a run that never uses the fixture: CPU the plugin adds (s)",
     _at("plugin_clean_venv", "plain_run_cost_cpu_s"), "{:.3f}"),
    ("the first test's set-up: the server's start (CPU s)",
     _at("plugin_clean_venv", "first_test_setup_cpu_s"), "{:.2f}"),
    ("each further test, a task made and discarded (ms)",
     _at("plugin_clean_venv", "fifty_discards_per_test_ms"), "{:.1f}"),
]


def tables(results: Results) -> list[str]:
    """The server's table, the proxy's and the plugin's, each as Markdown."""
    lines = ["| | SQLite | PostgreSQL |", "|---|---|---|"]
    for label, figure, form in SERVER_ROWS:
        lines.append(f"| {label} | {form.format(figure('sqlite')(results))} "
                     f"| {form.format(figure('postgresql')(results))} |")
    server, lines = lines, ["| request | direct, median ms | through the proxy "
                            "| the proxy's own CPU ms |", "|---|---|---|---|"]
    for label, name in PROXY_ROWS:
        row = results["proxy"][name]
        lines.append(f"| {label} | {row['direct']['p50_ms']:.2f} | {row['proxied']['p50_ms']:.2f}"
                     f" | {row['proxy_cpu_ms_per_request']:.2f} |")
    proxy, lines = lines, ["| | |", "|---|---|"]
    for label, figure, form in PLUGIN_ROWS:
        lines.append(f"| {label} | {form.format(figure(results))} |")
    return ["\n".join(table) + "\n" for table in (server, proxy, lines)]
