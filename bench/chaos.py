"""`make chaos`: two hosts under load while they are killed and cut off, then the books.

    .venv/bin/python bench/chaos.py [SECONDS]      (default 120; root and PostgreSQL)

Two hosts on one PostgreSQL (bench/chaos_cluster.py) take SECONDS of load from a few client
threads (uploads, reads, discards of tasks in review) while, every 15 s in turn, one host is
killed with -9 and restarted, or its database link cut for 4 to 8 s; the team's seeded faults
answer 10 % of discards 503 after they committed and 5 % of reads with a proxy's HTML page.
Then the load stops, the faults are removed, and the backlog drains. The books are read through
the API and the receiver's log; see docs/chaos.md for what each figure means. The figures go
to bench/results.json under "chaos"; the exit status is 1 when a figure that must be zero is
not (or the backlog did not drain).

CHAOS_DATABASE_URL (default TEST_DATABASE_URL, else the local sendai_chaos database) names
the PostgreSQL database; it is migrated, and the run works in a team of its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from chaos_cluster import REPO_ROOT, SECRET, Cluster, Monkey, cluster, fault_rules

from sendai_server.pipeline.deliveries import sign
from tests.support.helpers import auth

SAMPLE = (REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf").read_bytes()
RESULTS = REPO_ROOT / "bench" / "results.json"
CLIENTS = 6
SEED = 33
DRAIN_DEADLINE = 900.0
TIMEOUT = 10.0
MUST_BE_ZERO = ("lost_uploads", "tasks_not_processed_once", "processed_twice",
                "left_processing", "discards_not_once", "notifications_missing",
                "notifications_unsigned", "notifications_several_event_ids", "answers_500")


class Books:
    """What the load saw, kept by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.refused = 0  # no answer: a host killed or restarting
        self.uploads: dict[str, str] = {}  # upload id answered 200 -> its task id
        self.reviewing: list[str] = []  # tasks seen in review, the discards' candidates
        self.discarded: set[str] = set()  # a discard answered 200, or 503 by the fault (after)
        self.tried: set[str] = set()
        self.answers_500: list[str] = []

    def count(self, response: requests.Response | None, what: str) -> None:
        with self.lock:
            if response is None:
                self.refused += 1
                return
            self.statuses[response.status_code] += 1
            if response.status_code == 500:
                self.answers_500.append(f"{what}: {response.text[:300]}")

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.refused


class Client:
    def __init__(self, cluster: Cluster, books: Books) -> None:
        self.cluster = cluster
        self.books = books
        self.project = cluster.project
        self.headers = auth(cluster.project.key)

    def call(self, method: str, path: str, rng: random.Random | None = None,
             **kwargs: Any) -> requests.Response | None:
        hosts = self.cluster.up() or list(self.cluster.hosts.values())
        host = (rng or random).choice(hosts)
        try:
            response = requests.request(method, host.url + path, headers=self.headers,
                                        timeout=TIMEOUT, **kwargs)
        except requests.RequestException:
            response = None
        self.books.count(response, f"{method} {path}")
        return response

    def load(self, stop: threading.Event, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            roll = rng.random()
            if roll < 0.20:
                self.upload(rng)
            elif roll < 0.40 and self.books.reviewing:
                self.discard(rng)
            elif roll < 0.85 and self.books.uploads:
                task_id = rng.choice(list(self.books.uploads.values()))
                answer = self.call("GET", f"{self.project.base}/task/{task_id}", rng)
                if _json(answer).get("payload", {}).get("status") == "REVIEWING":
                    with self.books.lock:
                        self.books.reviewing.append(task_id)
            else:
                self.call("GET", f"{self.project.base}/task?limit=20", rng)

    def upload(self, rng: random.Random) -> None:
        # Bytes of its own per upload (a comment after the end): moto's S3 server fails
        # racing PUTs of one key, which identical files would make.
        body = SAMPLE + f"\n% chaos {rng.getrandbits(64):016x}\n".encode()
        answer = self.call("POST", f"{self.project.base}/upload", rng,
                           files={"file": ("invoice.pdf", body, "application/pdf")})
        if answer is not None and answer.status_code == 200:
            made = answer.json()
            with self.books.lock:
                self.books.uploads[made["id"]] = made["taskIds"][0]

    def discard(self, rng: random.Random) -> None:
        with self.books.lock:
            task_id = self.books.reviewing.pop(rng.randrange(len(self.books.reviewing)))
            if task_id in self.books.tried:
                return
            self.books.tried.add(task_id)
        for _ in range(3):  # a client's retries: the second meets the discarded task
            answer = self.call("POST", f"{self.project.base}/task/{task_id}/discard", rng)
            if answer is None:
                continue
            faulted = answer.status_code == 503 and "X-Sendai-Fault" in answer.headers
            if answer.status_code == 200 or faulted:
                with self.books.lock:
                    self.books.discarded.add(task_id)
            if answer.status_code not in (502, 503) or faulted:
                return

    def read(self, path: str, deadline: float = 120.0) -> requests.Response:
        """A read for the books: again until it answers 200 or 404 (hosts may restart)."""
        end = time.monotonic() + deadline
        while True:
            answer = self.call("GET", path)
            if answer is not None and answer.status_code in (200, 404):
                return answer
            if time.monotonic() > end:
                raise RuntimeError(f"GET {path}: no answer for the books in {deadline} s")
            time.sleep(0.2)

    def tasks(self, status: str | None = None) -> list[dict[str, Any]]:
        found, token = [], None
        while True:
            query = "limit=100" + (f"&status={status}" if status else "")
            query += f"&token={token}" if token else ""
            page = self.read(f"{self.project.base}/task?{query}").json()
            found += page["payload"]
            token = page.get("paginationToken")
            if not page.get("more") or not token:
                return found


def _json(answer: requests.Response | None) -> dict[str, Any]:
    if answer is None or not answer.headers.get("Content-Type", "").startswith("application/json"):
        return {}
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def set_faults(client: Client, rules: list[dict[str, Any]] | None) -> None:
    """The team's seeded faults on, or (None) all of them off."""
    path = f"/v2/{client.project.team_id}/test_helpers/faults"
    for _ in range(60):
        host = client.cluster.up()[0]
        try:
            if rules is None:
                answer = requests.delete(host.url + path, headers=client.headers, timeout=TIMEOUT)
                if answer.status_code in (200, 204):
                    return
            else:
                for rule in rules:
                    answer = requests.post(host.url + path, json=rule, headers=client.headers,
                                           timeout=TIMEOUT)
                    if answer.status_code != 201:
                        raise RuntimeError(f"fault refused: {answer.status_code} {answer.text}")
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError("the faults could not be set")


def drain(client: Client, uploads: set[str]) -> tuple[float, int]:
    """Seconds until no task is PROCESSING and every upload answered 200 was notified."""
    started = time.monotonic()
    while True:
        processing = len(client.tasks("PROCESSING"))
        notified = {r.json["upload"]["id"] for r in ours(client)}
        if processing == 0 and uploads <= notified:
            return time.monotonic() - started, 0
        if time.monotonic() - started > DRAIN_DEADLINE:
            return time.monotonic() - started, processing
        time.sleep(1.0)


def ours(client: Client) -> list[Any]:
    project_id = client.project.project_id
    return [r for r in list(client.cluster.receiver.received)
            if r.json.get("project_id") == project_id]


def _signed(received: Any) -> bool:
    header = received.headers.get("X-Sendai-Signature", "")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in parts:
        return False
    return bool(sign(SECRET, received.body, int(parts["t"])) == header)


def books(client: Client, seen: Books) -> dict[str, Any]:
    base = client.project.base
    lost = [upload_id for upload_id in seen.uploads
            if client.read(f"{base}/upload/{upload_id}").status_code
            != 200]
    tasks = client.tasks()
    made_in_review = set(client.cluster.reviewing)  # never processed: not the pipeline's

    def events(task_id: str) -> list[dict[str, Any]]:
        return list(client.read(f"{base}/task/{task_id}/events").json()["payload"])

    with ThreadPoolExecutor(4) as pool:
        trails = dict(zip([t["id"] for t in tasks],
                          pool.map(events, [t["id"] for t in tasks]), strict=True))
    processed = {task_id: sum(1 for e in trail if e.get("from_status") == "PROCESSING")
                 for task_id, trail in trails.items() if task_id not in made_in_review}
    discards = {task_id: sum(1 for e in trail if e.get("action") == "discard")
                for task_id, trail in trails.items()}
    received = ours(client)
    by_upload: dict[str, set[str]] = {}
    for r in received:
        by_upload.setdefault(r.json["upload"]["id"], set()).add(r.headers.get("X-Sendai-Event-Id"))
    return {
        "tasks": len(tasks),
        "lost_uploads": len(lost),
        "tasks_not_processed_once": sum(1 for n in processed.values() if n != 1),
        "processed_twice": sum(1 for n in processed.values() if n > 1),
        "left_processing": sum(1 for t in tasks if t["status"] == "PROCESSING"),
        "discards": sum(discards.values()),
        "discards_not_once": sum(1 for task_id in seen.tried if discards.get(task_id, 0) > 1)
        + sum(1 for task_id in seen.discarded if discards.get(task_id, 0) != 1),
        "notifications": len(received),
        "notifications_missing": sum(1 for upload_id in seen.uploads
                                     if upload_id not in by_upload),
        "notifications_unsigned": sum(1 for r in received if not _signed(r)),
        "notifications_several_event_ids": sum(1 for ids in by_upload.values() if len(ids) != 1),
    }


def record(figures: dict[str, Any]) -> None:
    """Merge the figures into bench/results.json under "chaos": other keys stay as they are."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["chaos"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def table(figures: dict[str, Any]) -> str:
    width = max(len(name) for name in figures)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in figures.items()
                     if not isinstance(value, dict | list))


def run(seconds: float, database_url: str, clients: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="sendai-chaos-"))
    # moto's server logs a line per request, and a traceback per upload a killed host cut
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    with cluster(database_url, folder) as hosts:
        seen = Books()
        seen.reviewing = list(hosts.reviewing)
        client = Client(hosts, seen)
        set_faults(client, fault_rules(SEED))
        stop = threading.Event()
        monkey = Monkey(hosts, stop, SEED)
        started = time.monotonic()
        monkey.start()
        threads = [threading.Thread(target=client.load, args=(stop, SEED + n), daemon=True)
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT * 4)
        monkey.join(120.0)
        load_seconds = time.monotonic() - started
        for name in list(hosts.down):
            hosts.hosts[name].start()
            hosts.down.discard(name)
        set_faults(client, None)
        drain_seconds, still = drain(client, set(seen.uploads))
        figures: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": seconds, "load_seconds": round(load_seconds, 1), "clients": clients,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "requests": seen.requests, "uploads": len(seen.uploads),
            "kills": hosts.kills, "cuts": hosts.cuts, "no_answer": seen.refused,
            "statuses": {str(k): v for k, v in sorted(seen.statuses.items())},
            "discards_tried": len(seen.tried), "discards_answered": len(seen.discarded),
            "drain_seconds": round(drain_seconds, 1), "drained": still == 0,
            **books(client, seen),
            "answers_500": len(seen.answers_500),
            "examples_500": seen.answers_500[:5],
            "chaos": hosts.log,
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", nargs="?", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args(argv)
    database_url = (os.environ.get("CHAOS_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                    or "postgresql://postgres@127.0.0.1:5432/sendai_chaos")
    figures = run(args.seconds, database_url, args.clients)
    record(figures)
    print(table(figures))
    print("statuses", figures["statuses"])
    for example in figures["examples_500"]:
        print("500:", example)
    bad = [name for name in MUST_BE_ZERO if figures[name]]
    if bad or not figures["drained"]:
        print("NOT ZERO:", ", ".join(bad) or "the backlog did not drain")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
