"""Notifications in-process (docs/notifications.md): `connect` makes a connector with the test
helpers, `log` reads the notification log, both through a `Project`'s API; `STANDARD_SECRET`, a
connector secret in the Standard Webhooks form (whsec_ and base64)."""

from __future__ import annotations

import base64
from typing import Any

from tests.support.helpers import auth
from tests.support.pipeline import Project


def connect(project: Project, url: str, **fields: Any) -> dict[str, Any]:
    response = project.post("/test_helpers/connectors", json={"url": url, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["payload"]


def log(project: Project, **query: Any) -> list[dict[str, Any]]:
    response = project.client.get(project.path("/notifications"), query_string=query,
                                  headers=auth(project.key))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["payload"]


STANDARD_SECRET = "whsec_" + base64.b64encode(b"a key of thirty-two bytes, random").decode()
