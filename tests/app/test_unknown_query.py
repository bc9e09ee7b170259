"""An unknown query parameter (`?stauts=REVIEWING`, a typo of `status`) is accepted, as Send AI
may accept it, but said (issue 31, item 5): a `Warning: 299 - "unknown query parameter
'stauts'"` header on the answer, `unknown_query` in the request's log line, and a finding
(`unknown_parameter`) in proxy mode. Known parameters get none of it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import Client

from sendai_server.proxy.recording import read_exchanges
from tests.support.helpers import auth
from tests.support.proxy import AUTH, BASE, Stub

WARNED = '299 - "unknown query parameter \'stauts\'"'


def tasks_path(seed: dict[str, Any]) -> str:
    return f"/v2/{seed['team_id']}/project/{seed['project_id']}/task"


def test_a_typo_in_a_query_parameter_is_answered_as_before_with_a_warning(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    headers = auth(seed["keys"]["read"])
    plain = client.get(tasks_path(seed), headers=headers)
    typo = client.get(tasks_path(seed) + "?stauts=REVIEWING", headers=headers)
    assert typo.status_code == plain.status_code == 200
    assert typo.get_json() == plain.get_json()  # accepted: every task, as before
    assert typo.headers["Warning"] == WARNED
    assert "Warning" not in plain.headers


def test_known_parameters_get_no_warning_and_several_unknown_get_one_each(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    headers = auth(seed["keys"]["read"])
    known = client.get(tasks_path(seed) + "?status=REVIEWING&status=COMPLETED&limit=5"
                       "&sort=created_at:asc&approved=false", headers=headers)
    assert known.status_code == 200 and "Warning" not in known.headers
    several = client.get(tasks_path(seed) + '?limit=5&stauts=X&pgae=2&a"b=1', headers=headers)
    assert several.status_code == 200
    assert several.headers["Warning"] == ", ".join([
        WARNED, '299 - "unknown query parameter \'pgae\'"',
        '299 - "unknown query parameter \'a\\"b\'"',  # a quote in the name, escaped
    ])


def test_an_operation_without_query_parameters_warns_of_any_and_refusals_do_too(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task = f"{tasks_path(seed)}/{seed['tasks']['REVIEWING'][0]}"
    found = client.get(task + "?verbose=1", headers=auth(seed["keys"]["read"]))
    assert found.status_code == 200
    assert found.headers["Warning"] == '299 - "unknown query parameter \'verbose\'"'
    refused = client.get(tasks_path(seed) + "?stauts=REVIEWING")  # no key: 401, still said
    assert refused.status_code == 401 and refused.headers["Warning"] == WARNED


def test_the_request_log_line_names_the_unknown_parameters(
    client: FlaskClient, seed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get(tasks_path(seed) + "?stauts=REVIEWING&limit=3", headers=auth(seed["keys"]["read"]))
    client.get(tasks_path(seed) + "?limit=3", headers=auth(seed["keys"]["read"]))
    typo, known = [line for line in map(json.loads, capsys.readouterr().err.splitlines())
                   if line.get("event") == "request"]
    assert typo["unknown_query"] == ["stauts"]
    assert "unknown_query" not in known


def test_the_proxy_reports_an_unknown_query_parameter_as_a_finding(
    make_proxy: Callable[..., Client], stub: Stub, tmp_path: Path,
) -> None:
    make_proxy(record=True).get(f"{BASE}/task?stauts=REVIEWING&limit=5", headers=AUTH)
    [exchange] = read_exchanges(tmp_path / "exchanges.jsonl")
    [finding] = [f for f in exchange["violations"] if f["side"] == "request"]
    assert (finding["where"], finding["rule"]) == ("query.stauts", "unknown_parameter")
    assert "did you mean 'status'?" in finding["message"]
    assert stub.seen[0].url.raw_path.endswith(b"?stauts=REVIEWING&limit=5")  # sent unchanged
