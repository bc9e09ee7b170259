"""The pagination token secret: configured, or the one the database's migration made, read and
never written by the server."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from sendai_server.domain.errors import Unavailable
from sendai_server.services.signing import signing_secret
from sendai_server.store import migrate
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork


def _stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT name, value FROM server_secret"))]


def test_a_migrated_database_has_its_secret(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        [(name, value)] = _stored(engine)
    finally:
        engine.dispose()
    assert name == "pagination_token" and len(value) >= 48


def test_configured_secret_wins_and_stores_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        before = _stored(engine)
        with UnitOfWork(engine) as uow:
            assert signing_secret(uow, "configured") == "configured"
        assert _stored(engine) == before
    finally:
        engine.dispose()


def test_workers_reading_the_secret_at_once_all_get_the_one_stored(database_url: str) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    secrets: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        engine = make_engine(database_url)  # each its own engine, like separate processes
        try:
            with UnitOfWork(engine) as uow:
                barrier.wait(timeout=30)
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
    engine = make_engine(database_url)
    try:
        stored = [value for _, value in _stored(engine)]
    finally:
        engine.dispose()
    assert len(secrets) == workers and set(secrets) == set(stored) and len(stored) == 1


def test_reading_a_missing_secret_is_unavailable_and_writes_nothing(database_url: str) -> None:
    """A database that lost its secret (or was never migrated to 0005): 503, as any missing
    table is; the server does not make one on a read."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM server_secret"))
        with UnitOfWork(engine) as uow, pytest.raises(Unavailable):
            signing_secret(uow, None)
        assert _stored(engine) == []
        migrate.downgrade(database_url, "0004_notifications")
        migrate.upgrade(database_url)  # the migration makes it again
        assert len(_stored(engine)) == 1
    finally:
        engine.dispose()
