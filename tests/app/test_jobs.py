"""The job queue (jobs.py): enqueue with the change, claim once, finish once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from sendai_server.store import jobs
from sendai_server.store.jobs import LeaseLost
from sendai_server.store.models import utcnow
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import count_rows

LEASE = 60.0


def job_count(engine: Engine) -> int:
    return count_rows(engine, "SELECT count(*) FROM job")


def expire_leases(engine: Engine) -> None:
    """What time does to every lease: it runs out."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE job SET leased_until = :past WHERE leased_until IS NOT NULL"),
                     {"past": (utcnow() - timedelta(seconds=1)).replace(tzinfo=None)})


def test_a_job_enqueued_in_a_write_that_rolls_back_is_not_kept(
    uow: UnitOfWork, engine: Engine
) -> None:
    with pytest.raises(RuntimeError), uow.write() as conn:
        jobs.enqueue(conn, "extract", payload={"n": 1})
        raise RuntimeError("the change that needed the job failed")
    assert job_count(engine) == 0
    with uow.write() as conn:
        jobs.enqueue(conn, "extract", payload={"n": 2})
    assert job_count(engine) == 1


def test_claim_leases_the_job_and_finish_deletes_it(uow: UnitOfWork, engine: Engine) -> None:
    with uow.write() as conn:
        job_id = jobs.enqueue(conn, "extract", payload={"file": 0})
    job = jobs.claim(uow, "w1", LEASE)
    assert job is not None
    assert (job.id, job.kind, job.payload, job.attempts) == (job_id, "extract", {"file": 0}, 1)
    assert job.lease_token.endswith("@w1")
    assert timedelta(seconds=LEASE - 5) < job.leased_until - utcnow() <= timedelta(seconds=LEASE)
    assert jobs.claim(uow, "w2", LEASE) is None  # leased: nobody else takes it
    with uow.write() as conn:
        jobs.finish(conn, job)
    assert job_count(engine) == 0


def test_a_job_whose_lease_was_lost_is_not_finished_and_its_effect_rolls_back(
    uow: UnitOfWork, engine: Engine
) -> None:
    with uow.write() as conn:
        jobs.enqueue(conn, "extract")
    first = jobs.claim(uow, "w1", LEASE)
    expire_leases(engine)  # w1 was too slow
    second = jobs.claim(uow, "w2", LEASE)
    assert first is not None and second is not None and first.id == second.id
    assert second.attempts == 2 and second.lease_token != first.lease_token

    with pytest.raises(LeaseLost), uow.write() as conn:
        jobs.enqueue(conn, "follow_up")  # the first worker's effect ...
        jobs.finish(conn, first)
    assert count_rows(engine, "SELECT count(*) FROM job WHERE kind = 'follow_up'") == 0

    with uow.write() as conn:
        jobs.finish(conn, second)
        jobs.enqueue(conn, "follow_up")
    assert count_rows(engine, "SELECT count(*) FROM job WHERE kind = 'follow_up'") == 1
    assert count_rows(engine, "SELECT count(*) FROM job WHERE kind = 'extract'") == 0


def test_a_job_due_later_is_not_claimed_early(uow: UnitOfWork, engine: Engine) -> None:
    run_at = utcnow() + timedelta(hours=1)
    with uow.write() as conn:
        jobs.enqueue(conn, "auto_complete", run_at=run_at)
    assert jobs.claim(uow, "w1", LEASE) is None
    with uow.read() as conn:
        assert jobs.next_due(conn) == run_at
    with engine.begin() as conn:  # the hour passes
        conn.execute(text("UPDATE job SET run_at = :now"), {"now": utcnow().replace(tzinfo=None)})
    assert jobs.claim(uow, "w1", LEASE) is not None


def test_next_due_of_a_leased_job_is_the_end_of_its_lease(uow: UnitOfWork) -> None:
    with uow.read() as conn:
        assert jobs.next_due(conn) is None
    with uow.write() as conn:
        jobs.enqueue(conn, "extract")
    job = jobs.claim(uow, "w1", LEASE)
    assert job is not None
    with uow.read() as conn:
        assert jobs.next_due(conn) == job.leased_until
        assert jobs.next_due(conn, kinds=["other"]) is None


def test_claim_takes_only_the_kinds_asked_for(uow: UnitOfWork) -> None:
    with uow.write() as conn:
        jobs.enqueue(conn, "deliver")
        extract_id = jobs.enqueue(conn, "extract")
    assert jobs.claim(uow, "w1", LEASE, kinds=[]) is None
    job = jobs.claim(uow, "w1", LEASE, kinds=["extract", "auto_complete"])
    assert job is not None and job.id == extract_id
    assert jobs.claim(uow, "w1", LEASE, kinds=["extract"]) is None


def test_a_failed_job_keeps_its_error_and_is_due_again_after_a_backoff(
    uow: UnitOfWork, engine: Engine
) -> None:
    with uow.write() as conn:
        jobs.enqueue(conn, "extract")
    job = jobs.claim(uow, "w1", LEASE)
    assert job is not None
    before = utcnow()
    again = jobs.fail(uow, job, "RuntimeError: the file is gone")
    assert again is not None and again >= before + timedelta(seconds=1)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT attempts, last_error, lease_token, leased_until "
                                "FROM job")).one()
    assert (row.attempts, row.last_error, row.lease_token, row.leased_until) == (
        1, "RuntimeError: the file is gone", None, None)
    assert jobs.claim(uow, "w1", LEASE) is None  # not before the backoff
    with uow.read() as conn:
        assert jobs.next_due(conn) == again


def test_a_job_that_keeps_failing_is_left_for_a_person_after_max_attempts(
    uow: UnitOfWork, engine: Engine
) -> None:
    with uow.write() as conn:
        jobs.enqueue(conn, "extract")
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        job = jobs.claim(uow, "w1", LEASE)
        assert job is not None and job.attempts == attempt
        again = jobs.fail(uow, job, f"failure {attempt}", retry_in=0)
        assert (again is None) == (attempt == jobs.MAX_ATTEMPTS)
    assert jobs.claim(uow, "w1", LEASE) is None
    with uow.read() as conn:
        assert jobs.next_due(conn) is None
    assert count_rows(engine, "SELECT count(*) FROM job WHERE last_error = :e",
                      e=f"failure {jobs.MAX_ATTEMPTS}") == 1


def test_fail_after_the_lease_was_lost_leaves_the_new_holder_alone(
    uow: UnitOfWork, engine: Engine
) -> None:
    with uow.write() as conn:
        jobs.enqueue(conn, "extract")
    first = jobs.claim(uow, "w1", LEASE)
    expire_leases(engine)
    second = jobs.claim(uow, "w2", LEASE)
    assert first is not None and second is not None
    assert jobs.fail(uow, first, "too late") is None
    assert count_rows(engine, "SELECT count(*) FROM job WHERE lease_token = :t "
                              "AND last_error IS NULL", t=second.lease_token) == 1


@pytest.mark.parametrize("attempts, seconds", [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300),
                                               (30, 300)])
def test_backoff_doubles_up_to_a_cap(attempts: int, seconds: float) -> None:
    assert jobs.backoff_seconds(attempts) == seconds


def test_two_threads_claiming_200_jobs_take_each_exactly_once(
    uow: UnitOfWork, engine: Engine
) -> None:
    with uow.write() as conn:
        expected = {jobs.enqueue(conn, "extract", payload={"n": n}) for n in range(200)}
    start = threading.Barrier(2, timeout=30)
    taken: dict[str, list[int]] = {"a": [], "b": []}

    def claimer(name: str) -> None:
        with UnitOfWork(engine) as mine:
            start.wait()
            while (job := jobs.claim(mine, name, LEASE)) is not None:
                taken[name].append(job.id)  # kept leased, not finished: a claim alone must do

    threads = [threading.Thread(target=claimer, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    everything = taken["a"] + taken["b"]
    assert len(everything) == len(set(everything)) == 200
    assert set(everything) == expected
    assert count_rows(engine, "SELECT count(*) FROM job WHERE attempts = 1") == 200
