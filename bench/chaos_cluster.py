"""The two hosts `make chaos` runs (bench/chaos.py): tests/live/test_hosts.py's setup, as a context
manager, and the chaos itself (a host killed with -9 and restarted, a host's database link cut).

Two network namespaces on a bridge, each running `sendai-server serve` (gunicorn and its
worker); PostgreSQL through a TCP proxy per host, files in moto's S3 server, notifications to
one webhook receiver, all on the bridge's gateway. Needs root (namespaces) and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from sendai_server.domain.lifecycle import TaskStatus  # noqa: E402
from sendai_server.services import connectors, keys, projects  # noqa: E402
from sendai_server.services.task_creation import TaskSpec, create_tasks  # noqa: E402
from sendai_server.store import migrate  # noqa: E402
from sendai_server.store.db import make_engine  # noqa: E402
from sendai_server.store.uow import UnitOfWork  # noqa: E402
from sendai_server.testing.receiver import Receiver  # noqa: E402
from tests.support import netns  # noqa: E402
from tests.support.hosts import BUCKET, LEASE_SECONDS, NOT_PASSED, ServerHost  # noqa: E402
from tests.support.tcp_proxy import TcpProxy  # noqa: E402

SCOPES = ["upload.read", "upload.create", "task.read", "task.edit", "test_helpers"]
RESTARTS_AT_MOST = 20
REVIEWING_AT_START = 400
SECRET = "whsec_chaos_" + "k" * 24  # the connector's: signs every notification


@dataclass
class Project:
    team_id: str
    project_id: str
    key: str

    @property
    def base(self) -> str:
        return f"/v2/{self.team_id}/project/{self.project_id}"


@dataclass
class Cluster:
    hosts: dict[str, ServerHost]
    proxies: dict[str, TcpProxy]
    receiver: Receiver
    project: Project
    reviewing: list[str]  # the tasks made in review at the start
    kills: int = 0
    cuts: int = 0
    log: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # killed, not yet serving again

    def up(self) -> list[ServerHost]:
        """The hosts serving now: clients send to these (a load balancer's health check)."""
        return [host for name, host in self.hosts.items() if name not in self.down]


@contextmanager
def cluster(database_url: str, folder: Path) -> Iterator[Cluster]:
    reason = netns.usable()
    if reason is not None:
        raise SystemExit(f"make chaos: {reason}")
    migrate.upgrade(database_url)
    database = make_url(database_url)
    with ExitStack() as stack:
        network = netns.Network()
        stack.callback(network.close)
        proxies = {name: TcpProxy(database.host or "127.0.0.1", database.port or 5432,
                                  listen_host=network.gateway) for name in ("a", "b")}
        for proxy in proxies.values():
            stack.callback(proxy.close)
        moto = ThreadedMotoServer(ip_address=network.gateway, port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        endpoint = "http://{}:{}".format(*moto.get_host_and_port())
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket=BUCKET)
        receiver = Receiver(host=network.gateway)
        stack.callback(receiver.close)
        base_env = {name: value for name, value in os.environ.items() if name not in NOT_PASSED}
        base_env.update(aws, SENDAI_ENV="test", SENDAI_LOG_LEVEL="INFO",
                        SENDAI_STORAGE_URL=f"s3://{BUCKET}/files", SENDAI_PIPELINE_DELAY="0",
                        SENDAI_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
                        SENDAI_WORKER_POLL_SECONDS="0.1", SENDAI_DELIVERY_TIMEOUT_SECONDS="2")
        hosts = {}
        for name in ("a", "b"):
            env = {**base_env, "DATABASE_URL": proxies[name].url(database_url)}
            hosts[name] = ServerHost(name, network.add_host(name), env, folder / name)
            stack.callback(hosts[name].stop)  # before the network goes (callbacks: LIFO)
            hosts[name].start()
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        with UnitOfWork(engine) as uow:
            team_id = projects.create_team(uow, "Chaos")
            project_id, _ = projects.create_project(
                uow, team_id, "Chaos", projects.ProjectSettings(pipeline="auto", delay=0.0))
            key = keys.create_key(uow, team_id, SCOPES, [project_id], "chaos").key
            connectors.create_connector(uow, project_id, connectors.ConnectorSpec(
                url=receiver.url, events=("upload.in_review",), secret=SECRET))
            # Tasks in review from the start, for the clients to discard.
            reviewing = create_tasks(uow, project_id, [
                TaskSpec(name=f"Chaos {n}", status=TaskStatus.REVIEWING)
                for n in range(REVIEWING_AT_START)])
        yield Cluster(hosts, proxies, receiver, Project(team_id, project_id, key), reviewing)


class Monkey:
    """Every `every` seconds, in turn: kill -9 host A (every process of it) and restart it,
    cut B's database link for 4-8 s, kill B, cut A; until `stop` is set."""

    def __init__(self, cluster: Cluster, stop: threading.Event, seed: int,
                 every: float = 15.0) -> None:
        self.cluster = cluster
        self.stop = stop
        self.every = every
        self.rng = random.Random(seed)
        self.thread = threading.Thread(target=self._run, name="chaos-monkey", daemon=True)
        self.restarts: list[threading.Thread] = []

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the last event, and for every host killed to serve again."""
        for thread in [self.thread, *self.restarts]:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"{thread.name} did not end in time")

    def _run(self) -> None:
        # A cut follows the other host's kill: it lands on a host that serves (a restart
        # can take longer than a turn on a busy machine).
        turns = [("kill", "a"), ("cut", "b"), ("kill", "b"), ("cut", "a")]
        n = 0
        while not self.stop.wait(self.every):
            what, name = turns[n % len(turns)]
            n += 1
            if what == "kill":
                self._kill(name)
            else:
                self._cut(name)

    def _kill(self, name: str) -> None:
        """kill -9 every process of the host, and restart it in a thread of its own (a start
        takes longer than the turn on a loaded machine); a host still restarting is skipped."""
        if name in self.cluster.down:
            self.cluster.log.append(f"{name} still restarting: not killed again")
            return
        host = self.cluster.hosts[name]
        self.cluster.down.add(name)
        host.host.kill_everything()
        if host.process is not None:
            host.process.wait()
        self.cluster.kills += 1
        self.cluster.log.append(f"killed {name}")

        def restart() -> None:
            # As a supervisor would: `serve` refuses to start while its database link is cut
            # (the next turn may cut it), so it is started again until it serves.
            for _ in range(RESTARTS_AT_MOST):
                try:
                    host.start()  # waits until it serves and its worker runs
                except (AssertionError, RuntimeError) as exc:
                    self.cluster.log.append(f"{name} did not start: {str(exc)[:120]}")
                    host.host.kill_everything()
                    time.sleep(1.0)
                    continue
                self.cluster.down.discard(name)
                self.cluster.log.append(f"restarted {name}")
                return

        thread = threading.Thread(target=restart, name=f"restart-{name}", daemon=True)
        self.restarts.append(thread)
        thread.start()

    def _cut(self, name: str) -> None:
        proxy = self.cluster.proxies[name]
        seconds = self.rng.uniform(4.0, 8.0)
        proxy.cut()
        self.cluster.cuts += 1
        self.cluster.log.append(f"cut {name} for {seconds:.1f} s")
        self.stop.wait(seconds)
        proxy.restore()


def fault_rules(seed: int) -> list[dict[str, Any]]:
    """10 % of discards answer 503 after they committed; 5 % of reads a proxy's HTML page."""
    return [
        {"match": {"operation": "discardTask"},
         "effect": {"status": 503, "retry_after": 1, "after": True},
         "times": None, "probability": 0.10, "seed": seed},
        {"match": {"method": "GET"}, "effect": {"status": 502, "body": "html"},
         "times": None, "probability": 0.05, "seed": seed + 1},
    ]
