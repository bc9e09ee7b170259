"""Several hosts on one PostgreSQL and one S3 store (issue 22): the deployment docs/hosts.md
promises, shown with real processes on hosts of their own.

Two hosts, A and B, each a network namespace (tests/support/netns.py) running `sendai-server serve`
with its pipeline worker. They reach the services only through a bridge: PostgreSQL through a
TCP proxy per host (PostgreSQL listens on 127.0.0.1, out of their reach; a proxy cut off cuts
that host alone), files in moto's S3 server, notifications to one webhook receiver. The test
talks to each host over HTTP at its own address.

The tests run in this file's order on the same two hosts; the last one crashes A.

Needs root (namespaces) and PostgreSQL (TEST_DATABASE_URL); skipped without them unless
SENDAI_REQUIRE_NETNS=1 (set by .ci/run). `make test-hosts` runs this file alone.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from sendai_server.domain.lifecycle import TaskStatus
from sendai_server.services import connectors, keys, projects
from sendai_server.services.task_creation import TaskSpec, create_tasks
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import netns
from tests.support.helpers import REPO_ROOT
from tests.support.hosts import BUCKET, LEASE_SECONDS, NOT_PASSED, ServerHost
from tests.support.processes import DEADLINE, wait_until
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

REQUIRE_NETNS = os.environ.get("SENDAI_REQUIRE_NETNS") == "1"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
SAMPLE = (REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf").read_bytes()
SCOPES = ["upload.read", "upload.create", "task.read", "task.edit"]


class Cluster:
    def __init__(self, engine: Engine, hosts: dict[str, ServerHost],
                 proxies: dict[str, TcpProxy], receiver: Receiver, s3: Any) -> None:
        self.engine = engine
        self.hosts = hosts
        self.a, self.b = hosts["a"], hosts["b"]
        self.proxies = proxies
        self.receiver = receiver
        self.s3 = s3

    def project(self, *, notify: bool = False) -> dict[str, str]:
        """A fresh team and project (pipeline auto, no delay) and a key on it; with `notify`,
        a connector sending its UPLOAD_IN_REVIEW to the receiver."""
        with UnitOfWork(self.engine) as uow:
            team_id = projects.create_team(uow, "Hosts")
            project_id, _ = projects.create_project(
                uow, team_id, "Hosts", projects.ProjectSettings(pipeline="auto", delay=0.0))
            key = keys.create_key(uow, team_id, SCOPES, [project_id], "hosts").key
            if notify:
                connectors.create_connector(uow, project_id, connectors.ConnectorSpec(
                    url=self.receiver.url, events=("upload.in_review",)))
        base = f"/v2/{team_id}/project/{project_id}"
        return {"team_id": team_id, "project_id": project_id, "key": key, "base": base}

    def tasks(self, project: dict[str, str], count: int) -> list[str]:
        with UnitOfWork(self.engine) as uow:
            return create_tasks(uow, project["project_id"],
                                [TaskSpec(name=f"Task {n}") for n in range(count)])

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def events(self, task_id: str, action: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT created_at FROM task_event WHERE task_id = :t AND action = :a"),
                {"t": task_id, "a": action}))


def upload(host: ServerHost, project: dict[str, str]) -> dict[str, Any]:
    response = host.post(project["base"] + "/upload", project["key"],
                         files={"file": ("invoice.pdf", SAMPLE, "application/pdf")})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def status_on(host: ServerHost, project: dict[str, str], task_id: str) -> str:
    response = host.get(f"{project['base']}/task/{task_id}", project["key"])
    assert response.status_code == 200, response.text
    return str(response.json()["payload"]["status"])


def _why_not() -> str | None:
    reason = netns.usable()
    if reason is None and not POSTGRES_URL:
        reason = "the hosts share a PostgreSQL: set TEST_DATABASE_URL"
    return reason


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[Cluster]:
    reason = _why_not()
    if reason is not None:
        if REQUIRE_NETNS:
            pytest.fail(f"SENDAI_REQUIRE_NETNS=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from tests.support.databases import truncate_postgres

    request.getfixturevalue("postgres_database")  # emptied and migrated once per session
    truncate_postgres(POSTGRES_URL)
    folder = tmp_path_factory.mktemp("hosts")
    database = make_url(POSTGRES_URL)
    network = netns.Network()
    started: list[Any] = [network]
    try:
        proxies = {name: TcpProxy(database.host or "127.0.0.1", database.port or 5432,
                                  listen_host=network.gateway) for name in ("a", "b")}
        started += proxies.values()
        moto = ThreadedMotoServer(ip_address=network.gateway, port=0, verbose=False)
        moto.start()
        started.append(moto)
        endpoint = "http://{}:{}".format(*moto.get_host_and_port())
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        receiver = Receiver(host=network.gateway)
        started.append(receiver)
        base_env = {name: value for name, value in os.environ.items()
                    if name not in NOT_PASSED}
        base_env.update(aws, SENDAI_ENV="test", SENDAI_LOG_LEVEL="INFO",
                        SENDAI_STORAGE_URL=f"s3://{BUCKET}/files", SENDAI_PIPELINE_DELAY="0",
                        SENDAI_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
                        SENDAI_WORKER_POLL_SECONDS="0.1",
                        SENDAI_DELIVERY_TIMEOUT_SECONDS="1")
        hosts = {}
        for name in ("a", "b"):
            env = {**base_env, "DATABASE_URL": proxies[name].url(POSTGRES_URL)}
            hosts[name] = ServerHost(name, network.add_host(name), env, folder / name)
        for host in hosts.values():
            started.insert(0, host)  # stopped before the network goes
            host.start()
        engine = make_engine(POSTGRES_URL)
        started.append(engine)
        yield Cluster(engine, hosts, proxies, receiver, s3)
    finally:
        for thing in started:
            if isinstance(thing, ServerHost):
                thing.stop()
            elif isinstance(thing, netns.Network | TcpProxy | Receiver):
                thing.close()
            elif isinstance(thing, ThreadedMotoServer):
                thing.stop()
            else:
                thing.dispose()


def test_an_upload_on_a_is_processed_and_its_bytes_served_on_b(cluster: Cluster) -> None:
    project = cluster.project()
    made = upload(cluster.a, project)
    [task_id] = made["taskIds"]

    wait_until(lambda: status_on(cluster.b, project, task_id) == "REVIEWING",
               "the task, seen on B, in REVIEWING")
    served = cluster.b.get(f"{project['base']}/upload/{made['id']}/files/0", project["key"])
    assert served.status_code == 200
    assert served.content == SAMPLE
    # The bytes are in the shared bucket, not on either host's disk.
    stored = cluster.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert f"files/{hashlib.sha256(SAMPLE).hexdigest()}" in [o["Key"] for o in stored]
    for host in cluster.hosts.values():
        assert not (host.folder / "instance").exists()


def test_a_list_token_from_a_is_accepted_on_b(cluster: Cluster) -> None:
    project = cluster.project()
    made = set(cluster.tasks(project, 5))
    seen: list[str] = []
    token = None
    for host in [cluster.a, cluster.b, cluster.a]:  # each page from the other host's token
        query = "?limit=2" + (f"&token={token}" if token else "")
        response = host.get(f"{project['base']}/task{query}", project["key"])
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [task["id"] for task in body["payload"]]
        token = body["paginationToken"]
    assert token is None
    assert sorted(seen) == sorted(made)  # every task once


def test_16_discards_over_both_hosts_have_one_winner(cluster: Cluster) -> None:
    project = cluster.project()
    [task_id] = cluster.tasks(project, 1)
    start = threading.Barrier(16)

    def discard(n: int) -> requests.Response:
        host = cluster.a if n % 2 == 0 else cluster.b
        start.wait(timeout=DEADLINE)
        return host.post(f"{project['base']}/task/{task_id}/discard", project["key"])

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(discard, range(16)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * 15, [a.text for a in answers]
    assert all(a.json()["error"]["code"] == "invalid_task_state"
               for a in answers if a.status_code == 400)
    assert len(cluster.events(task_id, "discard")) == 1
    assert status_on(cluster.b, project, task_id) == status_on(cluster.a, project, task_id) \
        == TaskStatus.DISCARDED.value


def test_60_uploads_over_both_hosts_are_each_processed_once_and_notified(
    cluster: Cluster,
) -> None:
    project = cluster.project(notify=True)

    def one(n: int) -> dict[str, Any]:
        return upload(cluster.a if n % 2 == 0 else cluster.b, project)

    with ThreadPoolExecutor(6) as pool:
        made = list(pool.map(one, range(60)))
    upload_ids = {m["id"] for m in made}
    task_ids = [m["taskIds"][0] for m in made]

    def ours(received: list[Any]) -> list[Any]:
        return [r for r in received if r.json["project_id"] == project["project_id"]]

    cluster.receiver.wait_for(lambda got: len(ours(got)) >= 60, "60 notifications", 120.0)
    for task_id in task_ids:
        assert len(cluster.events(task_id, "to_review")) == 1, task_id  # processed once
    assert cluster.scalar(
        "SELECT count(*) FROM task WHERE id = ANY(:ids) AND status = 'REVIEWING'",
        ids=task_ids) == 60
    assert cluster.scalar("SELECT count(*) FROM job WHERE task_id = ANY(:ids)", ids=task_ids) == 0
    # Notified once each: one notification per upload, delivered at its first attempt.
    wait_until(lambda: cluster.scalar(
        "SELECT count(*) FROM notification WHERE project_id = :p AND status = 'delivered'",
        p=project["project_id"]) == 60, "60 deliveries recorded")
    received = ours(cluster.receiver.received)
    assert sorted(r.json["upload"]["id"] for r in received) == sorted(upload_ids)
    assert len({r.headers["X-Sendai-Event-Id"] for r in received}) == 60
    assert cluster.scalar(
        "SELECT count(*) FROM notification_attempt a JOIN notification n "
        "ON n.seq = a.notification_seq WHERE n.project_id = :p", p=project["project_id"]) == 60


def test_b_cut_off_from_postgresql_answers_503_then_serves_again_without_a_restart(
    cluster: Cluster,
) -> None:
    project = cluster.project()
    first, second = cluster.tasks(project, 2)
    assert cluster.b.process is not None
    serving = cluster.b.process.pid
    task_path = f"{project['base']}/task"

    cluster.proxies["b"].cut()
    try:
        for _ in range(3):
            answer = cluster.b.get(f"{task_path}/{first}", project["key"])
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "unavailable"
            assert int(answer.headers["Retry-After"]) >= 1
            refused = cluster.b.post(f"{task_path}/{second}/discard", project["key"])
            assert refused.status_code == 503
            # A, on its own proxy, is not cut off.
            assert status_on(cluster.a, project, first) == "REVIEWING"
        assert requests.get(cluster.b.url + "/readyz", timeout=10).status_code == 503
        assert requests.get(cluster.b.url + "/healthz", timeout=10).status_code == 200
        assert cluster.events(second, "discard") == []  # the refused discard changed nothing
    finally:
        cluster.proxies["b"].restore()

    wait_until(lambda: requests.get(cluster.b.url + "/readyz", timeout=10).status_code == 200,
               "B ready again once its database is back")
    assert status_on(cluster.b, project, first) == "REVIEWING"
    discarded = cluster.b.post(f"{task_path}/{second}/discard", project["key"])
    assert discarded.status_code == 200, discarded.text
    assert cluster.b.process.poll() is None and cluster.b.process.pid == serving  # no restart


def test_a_crashed_while_holding_a_job_is_finished_once_by_b_after_the_lease(
    cluster: Cluster, tmp_path: Path,
) -> None:
    """A's worker holds the job at the test barrier (claimed, not finished) when every
    process of A is killed; B's worker, kept from claiming it first (SIGSTOP) and let go once
    A is dead, takes it when A's lease runs out and finishes it, once."""
    barrier = tmp_path / "barrier"
    cluster.a.stop()
    cluster.a.start(SENDAI_TEST_JOB_BARRIER=str(barrier))
    project = cluster.project(notify=True)
    b_worker = cluster.b.worker_pid()
    os.kill(b_worker, signal.SIGSTOP)
    try:
        made = upload(cluster.a, project)
        [task_id] = made["taskIds"]
        claimed = wait_until(lambda: list(barrier.glob("claimed-*")), "A's worker to claim it")
        job_id = int(claimed[0].name.removeprefix("claimed-"))
        with cluster.engine.connect() as conn:
            job = conn.execute(text("SELECT kind, task_id, leased_until FROM job WHERE id = :j"),
                               {"j": job_id}).one()
        assert (job.kind, job.task_id) == ("extract", task_id)

        cluster.a.host.kill_everything()
        assert cluster.a.host.pids() == []
        with pytest.raises(requests.ConnectionError):
            requests.get(cluster.a.url + "/healthz", timeout=5)
        assert status_on(cluster.b, project, task_id) == "PROCESSING"
    finally:
        os.kill(b_worker, signal.SIGCONT)

    wait_until(lambda: status_on(cluster.b, project, task_id) == "REVIEWING",
               "B to finish the job", LEASE_SECONDS + DEADLINE)
    [(finished_at,)] = cluster.events(task_id, "to_review")  # once
    leased_until = job.leased_until
    if leased_until.tzinfo is None:
        leased_until = leased_until.replace(tzinfo=UTC)
    if finished_at.tzinfo is None:
        finished_at = finished_at.replace(tzinfo=UTC)
    assert finished_at >= leased_until  # not before A's lease ran out
    assert cluster.scalar("SELECT count(*) FROM job WHERE task_id = :t", t=task_id) == 0
    cluster.receiver.wait_for(
        lambda got: any(r.json["upload"]["id"] == made["id"] for r in got),
        "its notification")
    assert [r.json["upload"]["id"] for r in cluster.receiver.received].count(made["id"]) == 1


def test_a_team_frozen_through_a_is_left_alone_by_b_and_advanced_once_through_a(
    cluster: Cluster,
) -> None:
    """A team's clock (docs/clock.md) holds across hosts: frozen through A, its upload is
    never taken by B's worker (A's is stopped meanwhile, so B's alone processes another team's
    upload, passing over the older frozen job: a barrier, not a sleep); an advance through A
    runs it, and its notification, once. (A is started again first: the test before crashed
    it.)"""
    if cluster.a.process is None or cluster.a.process.poll() is not None \
            or not cluster.a.host.pids():
        cluster.a.stop()
        cluster.a.start()
    project = cluster.project(notify=True)
    with UnitOfWork(cluster.engine) as uow:
        helper_key = keys.create_key(uow, project["team_id"], [*SCOPES, "test_helpers"],
                                     [project["project_id"]], "clock").key
    clock_path = f"/v2/{project['team_id']}/test_helpers/clock"
    assert cluster.a.post(clock_path, helper_key, json={}).status_code == 200
    [task_id] = upload(cluster.b, project)["taskIds"]

    a_worker = cluster.a.worker_pid()
    os.kill(a_worker, signal.SIGSTOP)
    try:
        other = cluster.project()
        for _ in range(2):  # the second after at least one more poll of B's worker
            [other_task] = upload(cluster.b, other)["taskIds"]
            wait_until(lambda t=other_task: status_on(cluster.b, other, t) == "REVIEWING",
                       "B's worker to process the other team's upload")
    finally:
        os.kill(a_worker, signal.SIGCONT)
    assert status_on(cluster.b, project, task_id) == "PROCESSING"
    assert cluster.scalar("SELECT attempts FROM job WHERE task_id = :t", t=task_id) == 0

    answer = cluster.a.post(clock_path + "/advance", helper_key, json={"seconds": 1})
    assert answer.status_code == 200, answer.text
    ran = answer.json()["payload"]["ran"]
    assert [(job["kind"], job["outcome"]) for job in ran] == [
        ("extract", "REVIEWING"), ("deliver", "delivered")]
    assert status_on(cluster.b, project, task_id) == "REVIEWING"
    assert len(cluster.events(task_id, "to_review")) == 1
    assert cluster.scalar("SELECT count(*) FROM job WHERE team_id = :t",
                          t=project["team_id"]) == 0
    ours = [r for r in cluster.receiver.received
            if r.json["project_id"] == project["project_id"]]
    assert len(ours) == 1 and ours[0].event == "UPLOAD_IN_REVIEW"
