"""Schemathesis against the app: every operation in /openapi.json, positive and negative
examples, with a key that holds every scope, and no failure of the four conformance checks.

Path parameters are steered, by a hash of what schemathesis generated, to the seed's team,
project and tasks most of the time, so that success and state-refusal answers are reached too,
not only 404s. The example count is bounded (SENDAI_SCHEMATHESIS_EXAMPLES, default 25 per
operation) and there is no deadline, so the run is quick and never flaky on a busy machine.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.keys import SCOPES, create_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support.helpers import LiveServer, auth

pytestmark = pytest.mark.slow  # live gunicorn, a browser or a fuzzer

MAX_EXAMPLES = int(os.environ.get("SENDAI_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def every_scope_key(uow: UnitOfWork, seed: dict[str, Any]) -> str:
    return create_key(uow, seed["team_id"], list(SCOPES), [seed["project_id"]]).key


# A snapshot file (docs/snapshots.md) is a ZIP: what schemathesis sends as one is arbitrary
# bytes, some of them a ZIP's start, and every such body must get a 4xx, never a 500.
schemathesis.openapi.media_type(
    "application/vnd.sendai.snapshot",
    st.one_of(st.binary(max_size=512), st.binary(max_size=512).map(lambda b: b"PK\x03\x04" + b)),
)


def _load_schema() -> Any:
    """The spec as the app serves it. It does not depend on the database, so it is read once
    from an app on an unused in-memory database; each test then calls its own `app`.
    (schemathesis.pytest.from_fixture would be the natural loader, but it touches a pytest
    internal that pytest 9.2 removed.)"""
    spec_app = create_app(Config(env="test", database_url="sqlite://"))
    spec = spec_app.test_client().get("/openapi.json").get_json()
    engine_of(spec_app).dispose()
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.config.generation.update(
        modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
    )
    return loaded


schema = _load_schema()


def _steer(generated: Any, choices: list[str]) -> Any:
    """Mostly one of `choices`, sometimes what schemathesis generated, chosen by its hash."""
    digest = zlib.crc32(repr(generated).encode("utf-8", "surrogatepass"))
    return generated if digest % 5 == 0 else choices[digest % len(choices)]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_spec(
    case: Any, app: Flask, seed: dict[str, Any], every_scope_key: str
) -> None:
    params = case.path_parameters
    if params:
        task_ids = [t for ids in seed["tasks"].values() for t in ids]
        for name, choices in (("team_id", [seed["team_id"]]),
                              ("project_id", [seed["project_id"]]),
                              ("task_id", task_ids)):
            if name in params:
                params[name] = _steer(params[name], choices)
    try:
        case.call_and_validate(app=app, headers=auth(every_scope_key), checks=CHECKS)
    finally:  # a rule createTestFault accepted would fault the cases after it (docs/failures.md)
        app.test_client().delete(f"/v2/{seed['team_id']}/test_helpers/faults",
                                 headers=auth(every_scope_key))
        # and a profile setTestProfile accepted would change their answers (docs/profiles.md)
        app.test_client().put(f"/v2/{seed['team_id']}/test_helpers/profile", json={},
                              headers=auth(every_scope_key))


# --- over a live gunicorn: what gunicorn answers before the app ---------------------------------

REQUEST_LINE_LIMIT, HEADER_LIMIT = 4094, 8190  # gunicorn's defaults


def test_long_generated_queries_and_headers_conform_over_live_gunicorn(
    live_server: LiveServer, seed: dict[str, Any], every_scope_key: str
) -> None:
    """Cases schemathesis generates for every operation, with a query or a header stretched
    around gunicorn's limits: gunicorn's 414 and 431, and the app's answers just under them,
    are all documented, with the error schema."""
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(), length=st.integers(2_000, 30_000),
               where=st.sampled_from(["query", "header"]))
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def conforms(case: Any, length: int, where: str) -> None:
            params = case.path_parameters
            for name, value in (("team_id", seed["team_id"]),
                                ("project_id", seed["project_id"]),
                                ("task_id", seed["tasks"]["REVIEWING"][0])):
                if params and name in params:
                    params[name] = value
            headers = auth(every_scope_key)
            if where == "query":
                case.query = {**(case.query or {}), "token": "t" * length}
            else:
                headers["X-Padding"] = "p" * length
            try:
                response = case.call(base_url=live_server.url, headers=headers, timeout=30)
            finally:  # a rule createTestFault accepted would fault the cases after it
                requests.delete(f"{live_server.url}/v2/{seed['team_id']}/test_helpers/faults",
                                headers=auth(every_scope_key), timeout=30)
            if where == "query" and length > REQUEST_LINE_LIMIT:
                assert response.status_code == 414, response.text
            if where == "header" and length > HEADER_LIMIT:
                assert response.status_code == 431, response.text
            case.validate_response(response, checks=CHECKS, headers=headers)

        conforms()
