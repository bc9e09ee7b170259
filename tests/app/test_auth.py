"""API keys: stored hashed, shown once, scoped, revocable; use is recorded without turning
reads into writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text, update

from sendai_server.domain.errors import NotFound, ValidationError
from sendai_server.services.keys import create_key, hash_key
from sendai_server.store.models import ApiKey
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth, task_path


def test_only_a_hash_of_the_key_is_stored(engine: Engine, seed: dict[str, Any]) -> None:
    plain = seed["keys"]["edit"]
    assert plain.startswith("sk_") and len(plain) >= 35
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM api_key")).scalars().all()
        dumped = " ".join(str(row) for row in conn.execute(text("SELECT * FROM api_key")))
    assert hash_key(plain) in stored
    assert plain not in dumped and plain[3:] not in dumped


def test_last_used_at_is_written_once_then_throttled(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    key_hash = hash_key(seed["keys"]["read"])

    def last_used() -> Any:
        with engine.connect() as conn:
            return conn.execute(text("SELECT last_used_at FROM api_key WHERE key_hash = :h"),
                                {"h": key_hash}).scalar_one()

    assert last_used() is None
    client.get(path, headers=auth(seed["keys"]["read"]))
    first = last_used()
    assert first is not None
    for _ in range(3):
        client.get(path, headers=auth(seed["keys"]["read"]))
    assert last_used() == first  # within the interval: no write

    stale = datetime.now(UTC) - timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(update(ApiKey).where(ApiKey.key_hash == key_hash).values(last_used_at=stale))
    client.get(path, headers=auth(seed["keys"]["read"]))
    assert last_used() != stale.replace(tzinfo=None)  # past the interval: written again


def test_scope_aliases_are_stored_under_canonical_names(
    uow: UnitOfWork, seed: dict[str, Any]
) -> None:
    created = create_key(uow, seed["team_id"], ["tasks.view", "tasks.edit"],
                         [seed["project_id"]])
    assert created.scopes == ["task.edit", "task.read"]


def test_unknown_scope_is_refused(uow: UnitOfWork, seed: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        create_key(uow, seed["team_id"], ["task.destroy"], [seed["project_id"]])


def test_key_cannot_be_added_to_another_teams_project(
    uow: UnitOfWork, seed: dict[str, Any]
) -> None:
    with pytest.raises(NotFound):
        create_key(uow, seed["team_id"], ["task.read"], [seed["other"]["project_id"]])


@pytest.mark.parametrize("header_form", ["Bearer {}", "bearer {}", "Bearer   {}", "Bearer {}  "])
def test_bearer_scheme_is_case_insensitive_and_tolerates_spacing(
    client: FlaskClient, seed: dict[str, Any], header_form: str
) -> None:
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers={"Authorization": header_form.format(seed["keys"]["read"])})
    assert response.status_code == 200
