"""Probes, request ids, and configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from sendai_server import create_app
from sendai_server.config import DEFAULT_DATABASE_URL, Config, ConfigError


def test_healthz_and_readyz_answer_without_a_key(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"


def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(Config(env="test", database_url=f"sqlite:///{tmp_path}/empty.db"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"
    assert response.get_json()["error"]["details"]["current"] is None


@pytest.mark.parametrize("request_id, echoed", [
    ("abc-123", True),
    ("a" * 128, True),
    ("a" * 129, False),
    ("has space", False),
    ("", False),
    ("semi;colon", False),
])
def test_client_request_ids_are_echoed_only_when_well_formed(
    client: FlaskClient, request_id: str, echoed: bool
) -> None:
    response = client.get("/v2/x/project/y/task/z", headers={"X-Request-Id": request_id})
    assert response.get_json()["request_id"] == response.headers["X-Request-Id"]
    assert (response.headers["X-Request-Id"] == request_id) is echoed
    if not echoed:
        assert response.headers["X-Request-Id"].startswith("req_")


def test_defaults_just_work_in_development() -> None:
    config = Config.from_env({})
    assert config.database_url == DEFAULT_DATABASE_URL
    assert config.test_helpers is True and config.rate_limit is None


def test_production_turns_test_helpers_off_and_needs_a_database_url() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Config.from_env({"SENDAI_ENV": "production"})
    config = Config.from_env({"SENDAI_ENV": "production", "DATABASE_URL": "postgresql://x/y"})
    assert config.test_helpers is False


@pytest.mark.parametrize("environ", [
    {"SENDAI_ENV": "staging"},
    {"SENDAI_TEST_HELPERS": "maybe"},
    {"SENDAI_MAX_BODY_BYTES": "lots"},
    {"SENDAI_WORKERS": "0"},
])
def test_bad_environment_is_refused_with_a_clear_message(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Config.from_env(environ)
