"""A project's connectors (docs/notifications.md): the HTTP endpoints its notifications go to. Made
and removed by the operator (the CLI) or by keys with the `test_helpers` scope
(docs/api/test-helpers.md).

The bearer token and the secret are stored as given (they are sent, and they sign), and no
answer, listing or log line shows them again: a connector's public object says only whether
each is set (`"***"`, or null).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, insert, select

from ..domain import clock
from ..domain.errors import NotFound, ValidationError
from ..domain.ids import is_lookup_id, new_id
from ..domain.notification_events import SUBSCRIPTIONS
from ..store.models import Connector, Project
from ..store.uow import UnitOfWork
from .connector_auth import check_token_auth, masked_token_auth
from .keys import Principal

# What a connector may subscribe to (notification_events.py's table, in its order).
EVENTS = SUBSCRIPTIONS
METHODS = ("POST", "PUT", "PATCH")
# `notification`: receives the project's notifications; `api_lookup`: Send AI's api-lookup
# template, asked for the annotations of its entity ids when a task is completed.
KINDS = ("notification", "api_lookup")
MAX_ENTITY_IDS = 50
MASK = "***"
MAX_HEADERS = 50
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}")  # an HTTP header name (RFC 9110)
# Headers every attempt sets itself (pipeline/deliveries.py): a connector cannot replace them.
_RESERVED = {"content-type", "content-length", "host", "transfer-encoding", "connection",
             "authorization"}


@dataclass(frozen=True)
class ConnectorSpec:
    url: str
    name: str | None = None
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    bearer: str | None = None
    secret: str | None = None
    events: Sequence[str] = tuple(EVENTS)
    oauth2: Mapping[str, Any] | None = None
    token_exchange: Mapping[str, Any] | None = None
    kind: str = "notification"
    entity_ids: Sequence[str] = ()

    @property
    def auth(self) -> dict[str, Any] | None:
        """What is stored: {"oauth2": {...}} or {"token_exchange": {...}}, or None."""
        if self.oauth2 is not None:
            return {"oauth2": dict(self.oauth2)}
        if self.token_exchange is not None:
            return {"token_exchange": dict(self.token_exchange)}
        return None

    def check(self) -> None:
        """Refuse what could not be sent, or would be sent to something other than HTTP."""
        problems: dict[str, list[str]] = {}

        def bad(name: str, message: str) -> None:
            problems.setdefault(name, []).append(message)

        parts = urlsplit(self.url) if len(self.url) <= 2000 else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
                or _has_control(self.url):
            bad("url", "An http:// or https:// URL with a host, at most 2000 characters.")
        if self.name is not None and not 1 <= len(self.name.strip()) <= 200:
            bad("name", "1 to 200 characters.")
        if self.method not in METHODS:
            bad("method", f"One of {', '.join(METHODS)}.")
        if len(self.headers) > MAX_HEADERS:
            bad("headers", f"At most {MAX_HEADERS} headers.")
        for header, value in self.headers.items():
            if not _TOKEN.fullmatch(header) or header.lower() in _RESERVED \
                    or header.lower().startswith("x-sendai-"):
                bad("headers", f"{header[:200]!r} is not a header name a connector may set "
                               "(Content-Type, Authorization and X-Sendai-* are the server's).")
            elif not isinstance(value, str) or len(value) > 2000 or _has_control(value):
                bad("headers", f"The value of {header!r} is at most 2000 characters, with no "
                               "line breaks or control characters.")
        for name, given in (("bearer", self.bearer), ("secret", self.secret)):
            if given is not None and (not 1 <= len(given) <= 2000 or _has_control(given)):
                bad(name, "1 to 2000 characters, with no line breaks or control characters.")
        if self.kind not in KINDS:
            bad("kind", f"One of {', '.join(KINDS)}.")
        if self.kind == "api_lookup":
            if not 1 <= len(self.entity_ids) <= MAX_ENTITY_IDS or any(
                    not isinstance(e, str) or not 1 <= len(e) <= 200 for e in self.entity_ids):
                bad("entity_ids", f"1 to {MAX_ENTITY_IDS} entity ids (1 to 200 characters "
                                  "each) that the lookup answers for.")
        elif self.entity_ids:
            bad("entity_ids", "Only an api_lookup connector is bound to entity ids.")
        elif not self.events or any(e not in EVENTS for e in self.events):
            bad("events", f"One or more of {', '.join(EVENTS)}.")
        for name, said in check_token_auth(self.bearer, self.oauth2, self.token_exchange):
            bad(name, said)
        if problems:
            said = "; ".join(f"{name}: {' '.join(said)}" for name, said in problems.items())
            raise ValidationError(f"The connector is not valid ({said})", {"fields": problems})


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def public_connector(row: Mapping[str, Any]) -> dict[str, Any]:
    """What anyone may see of a connector: everything but its bearer and secret."""
    return {
        "id": row["id"], "name": row["name"], "url": row["url"], "method": row["method"],
        "headers": dict(row["headers"] or {}),
        "bearer": MASK if row["bearer"] is not None else None,
        "secret": MASK if row["secret"] is not None else None,
        "events": list(row["events"]), "created_at": row["created_at"],
        "kind": row.get("kind") or "notification", "entity_ids": list(row.get("entity_ids") or []),
        "disabled_at": row.get("disabled_at"), **masked_token_auth(row.get("auth")),
    }


def create_connector(uow: UnitOfWork, project_id: str, spec: ConnectorSpec) -> dict[str, Any]:
    """The operator's `connectors create`; also the test helper's, after its visibility check."""
    spec.check()
    with uow.write() as conn:
        _check_project(conn, project_id)
        return insert_connector(conn, project_id, spec)


def insert_connector(conn: Connection, project_id: str, spec: ConnectorSpec) -> dict[str, Any]:
    """A new connector of an existing project (`spec` already checked), inside the caller's
    write transaction; answers it as listed."""
    row = {
        "id": new_id("conn"), "project_id": project_id,
        "name": (spec.name or urlsplit(spec.url).hostname or "connector").strip()[:200],
        "url": spec.url, "method": spec.method, "headers": dict(spec.headers),
        "bearer": spec.bearer, "secret": spec.secret, "auth": spec.auth,
        "events": [e for e in EVENTS if e in spec.events] if spec.kind != "api_lookup" else [],
        "created_at": clock.now(), "kind": spec.kind,
        "entity_ids": list(dict.fromkeys(spec.entity_ids)) or None,
    }
    conn.execute(insert(Connector), row)
    return public_connector(row)


def list_connectors(uow: UnitOfWork, project_id: str) -> list[dict[str, Any]]:
    with uow.read() as conn:
        _check_project(conn, project_id)
        rows = conn.execute(
            select(Connector.__table__).where(Connector.project_id == project_id)
            .order_by(Connector.created_at, Connector.id)
        ).mappings().all()
    return [public_connector(dict(row)) for row in rows]


def delete_connector(uow: UnitOfWork, connector_id: str, project_id: str | None = None) -> None:
    """Delete the connector, its notifications and their delivery log (an attempt in flight
    finds nothing to record and stops there)."""
    query = delete(Connector).where(Connector.id == connector_id)
    if project_id is not None:
        query = query.where(Connector.project_id == project_id)
    with uow.write() as conn:
        gone = conn.execute(query).rowcount if is_lookup_id(connector_id) else 0
    if not gone:
        raise NotFound(f"Connector {connector_id[:64]!r} was not found.")


def _check_project(conn: Connection, project_id: str) -> None:
    found = is_lookup_id(project_id) and conn.scalar(
        select(Project.id).where(Project.id == project_id))
    if not found:
        raise NotFound(f"No project {project_id[:64]!r}.")


# --- for keys with the test_helpers scope (docs/api/test-helpers.md) ----------------------------

def create_for(uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
               spec: ConnectorSpec) -> dict[str, Any]:
    principal.check_visibility(team_id, project_id)
    return create_connector(uow, project_id, spec)


def list_for(uow: UnitOfWork, principal: Principal, team_id: str,
             project_id: str) -> list[dict[str, Any]]:
    principal.check_visibility(team_id, project_id)
    return list_connectors(uow, project_id)


def delete_for(uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
               connector_id: str) -> dict[str, Any]:
    principal.check_visibility(team_id, project_id)
    delete_connector(uow, connector_id, project_id)
    return {"id": connector_id, "deleted": True}
