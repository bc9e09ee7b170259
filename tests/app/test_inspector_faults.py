"""The inspector's faults page (docs/inspector.md, docs/failures.md): a team's faults and their
hits, for a key with the `test_helpers` scope, linked from the project's navigation; never faulted
itself."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.support.helpers import auth, task_path
from tests.support.inspector import sign_in


def _page(seed: dict[str, Any]) -> str:
    return f"/inspect/{seed['team_id']}/project/{seed['project_id']}/faults"


def test_the_faults_page_lists_the_teams_faults_and_their_hits(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    made = client.post(f"/v2/{seed['team_id']}/test_helpers/faults",
                       json={"match": {"path": "/**"}, "effect": {"status": 503},
                             "times": 3, "probability": 1, "seed": 4},
                       headers=auth(seed["keys"]["helpers"])).get_json()["payload"]
    for _ in range(2):
        assert client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(seed["keys"]["read"])).status_code == 503
    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    tasks = client.get(f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks")
    assert tasks.status_code == 200  # the inspector is never faulted
    assert f'href="{_page(seed)}"' in tasks.text
    page = client.get(_page(seed))
    assert page.status_code == 200
    row = re.search(rf'<tr data-fault-id="{made["id"]}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert '<td class="hits">2</td>' in row.group(1)
    assert "1 of 3" in row.group(1) and "seed 4" in row.group(1)
    assert "path <code>/**</code>" in row.group(1)


def test_the_faults_page_needs_the_test_helpers_scope(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    tasks = client.get(f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks")
    assert "/faults" not in tasks.text
    assert client.get(_page(seed)).status_code == 403


def test_no_faults_says_so(client: FlaskClient, seed: dict[str, Any]) -> None:
    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    assert "No faults" in client.get(_page(seed)).text
