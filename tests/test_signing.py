"""The pagination token secret: configured, or made once in the database and shared."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, text

from sendai_server.db import make_engine
from sendai_server.services.signing import signing_secret
from sendai_server.uow import UnitOfWork


def test_configured_secret_wins_and_stores_nothing(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        assert signing_secret(uow, "configured") == "configured"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM server_secret")).scalar_one() == 0


def test_workers_racing_to_make_the_secret_all_get_the_one_stored(database_url: str) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    secrets: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        engine = make_engine(database_url)  # each its own engine, like separate processes
        try:
            with UnitOfWork(engine) as uow:
                barrier.wait()
                secrets.append(signing_secret(uow, None))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(secrets) == workers and len(set(secrets)) == 1
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT value FROM server_secret")).scalars().all()
    finally:
        engine.dispose()
    assert stored == secrets[:1]
