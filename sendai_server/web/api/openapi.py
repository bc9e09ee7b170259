"""/openapi.json, built from the same schemas that validate, documenting every error an
operation can return by construction, so that the spec cannot drift from the server.

Every operation gets, with no extra lines in its view:
- an `operationId`, the view function's name in camelCase (`discard_task` -> `discardTask`),
  unless `@blp.doc(operationId=...)` names it otherwise; unique across the spec;
- 400 for a view with a body or query (`@blp.arguments`);
- 413, 414, 431 and 500 everywhere: the body-size check runs before any view, whatever the
  method, and gunicorn answers 414 and 431 (gunicorn_worker.py) before any route is known;
- 502 and 504 everywhere: a load balancer in front of the server answers them, and so do
  fault rules (docs/failures.md);
- what a view marked by `requires(scope)` adds (blueprint.py): 401, 403, 404, 429 and 503, the
  bearer security requirement and its scope in the description.
Every one of them with the one error schema.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import flask_smorest
from apispec import APISpec, BasePlugin
from apispec.exceptions import APISpecError
from flask import Flask

from ...services.objects import Timestamp
from .schemas import ErrorSchema

BEARER_SCHEME = "bearerAuth"
BODY_METHODS = {"post", "put", "patch"}
CHANGING_METHODS = BODY_METHODS | {"delete"}

# Reusable responses, one per status of docs/api/index.md's table: (component name, description,
# response headers).
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer"}}}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "Always `Bearer`.",
                                          "schema": {"type": "string"}}}
ERROR_RESPONSES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: ("BadRequest",
          "`validation_error`: the body or query is malformed (`details.fields` names each bad "
          "field); or `invalid_task_state`: the task's state does not allow the action "
          "(`details` names what stood in the way). Nothing was changed.", {}),
    401: ("Unauthenticated",
          "`unauthenticated`: the Authorization header is missing or not `Bearer <api key>`, "
          "or the key is unknown or revoked.", _WWW_AUTHENTICATE),
    403: ("InsufficientScope",
          "`insufficient_scope`: the key lacks the scope this operation needs "
          "(`details.required`). Or `forbidden`: a project or upload of the key's team that "
          "the key was not added to, under the `no_access=forbidden` profile; an upload to a "
          "project whose import via API is off.", {}),
    404: ("NotFound",
          "`not_found`: no such team, project or task, or one this key may not see "
          "(the same answer either way).", {}),
    413: ("PayloadTooLarge",
          "`payload_too_large`: the body is larger than the server accepts "
          "(SENDAI_MAX_BODY_BYTES); nothing was done with it.", {}),
    414: ("UriTooLong",
          "`uri_too_long`: the request line (method, path and query) is longer than the "
          "server accepts (gunicorn's limit, 4094 bytes).", {}),
    429: ("RateLimited",
          "`rate_limited`: this API key's team made too many requests (SENDAI_RATE_LIMIT; "
          "every key of a team draws on one budget).",
          _RETRY_AFTER),
    431: ("HeadersTooLarge",
          "`headers_too_large`: a request header, or all of them together, are larger than "
          "the server accepts (gunicorn's limits: 8190 bytes a header, 100 headers).", {}),
    500: ("InternalError",
          "`internal_error`: a bug; it was logged with the request id, nothing else is "
          "disclosed.", {}),
    502: ("BadGateway",
          "`bad_gateway`: a proxy or load balancer in front of the server got no valid answer "
          "from it (a fault rule can answer it too). The operation may or may not have run: "
          "read the state before retrying a change.", {}),
    503: ("Unavailable",
          "`unavailable` (the API) or `not_ready` (/readyz): the database cannot be reached, or "
          "its schema is not at this version's migrations' head. Not a bug: the API sends "
          "`Retry-After`, the seconds to wait before trying again.", _RETRY_AFTER),
    504: ("GatewayTimeout",
          "`gateway_timeout`: a proxy or load balancer in front of the server gave up waiting "
          "for its answer (a fault rule can answer it too). The operation may or may not have "
          "run: read the state before retrying a change.", {}),
}

PATH_PARAMETERS = {
    "team_id": "The team's ID (`team_...`).",
    "project_id": "The project's ID (`proj_...`), in that team.",
    "task_id": "The task's ID (`task_...`), in that project. A malformed ID is not found.",
    "upload_id": "The upload's ID (`upl_...`). A malformed ID is not found.",
    "folder_id": "The folder's ID (`folder_...`), one of the project's.",
    "index": "The file's 0-based position in the upload.",
    "connector_id": "The connector's ID (`conn_...`), one of the project's.",
    "fault_id": "The fault's ID (`flt_...`), one of the team's.",
    "snapshot_id": "The snapshot's ID (`snap_...`), one of the team's.",
}

API_DESCRIPTION = """\
A reference backend for Send AI's v2 task API: the same paths, objects, statuses and errors.

**Authentication**: every `/v2` operation needs `Authorization: Bearer <api key>`; click
*Authorize* and paste a key (`sendai-server seed --json` prints demo keys). The key's scopes
decide what it may do, and it sees only its own team and the projects it was added to.

**Errors** share one shape, for every status:
`{"error": {"status", "code", "message", "details"?}, "request_id"}`; `code` is stable. Checks
run in this order: routing (404 `not_found`, 405 `method_not_allowed` with `Allow`), body size
(413), authentication (401), rate limit (429 with `Retry-After`), visibility (404), scope (403),
the task (404), the body (400 `validation_error`), the task's state (400 `invalid_task_state`).

Every response carries `X-Request-Id` (yours, when you send a valid one).

A query parameter an operation does not take is ignored, as Send AI may ignore it, and named in
the answer's `Warning` header: `Warning: 299 - "unknown query parameter 'stauts'"`.
"""


def error_ref(status: int) -> str:
    return ERROR_RESPONSES[status][0]


def add_error_responses(operation: dict[str, Any], statuses: set[int]) -> None:
    # Ours replace flask-smorest's own (its 400 is a bare "BAD_REQUEST").
    responses = {str(code): value for code, value in operation.get("responses", {}).items()}
    operation["responses"] = responses
    for status in sorted(statuses):
        responses[str(status)] = error_ref(status)


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


class _OperationDocs(BasePlugin):
    """Every operation's `operationId` and the error statuses that do not depend on its key.

    The `operationId` is the view function's name in camelCase, so that generated clients
    (openapi-python-client, openapi-generator) name their methods after the operation:
    `discard_task` -> `discardTask`. A view whose name reads otherwise sets its own with
    flask-smorest's `@blp.doc(operationId=...)`. Two operations with one id fail the spec's
    build, at app start."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str]] = {}

    def operation_helper(
        self, path: str | None = None, operations: Any = None, **kwargs: Any
    ) -> None:
        rule = kwargs.get("rule")  # flask-smorest passes the werkzeug Rule of the view
        view_name = rule.endpoint.rsplit(".", 1)[-1] if rule is not None else None
        for method, operation in (operations or {}).items():
            if "operationId" not in operation and view_name:
                name = _camel_case(view_name)
                # One view serving several methods (a MethodView): the method tells them apart.
                operation["operationId"] = (
                    method + name[:1].upper() + name[1:] if len(operations) > 1 else name
                )
            operation_id = operation.get("operationId")
            if operation_id:
                where = (str(path), method)
                if self._seen.setdefault(operation_id, where) != where:
                    raise APISpecError(
                        f"operationId {operation_id!r} of {method.upper()} {path} is also "
                        f"{self._seen[operation_id][1].upper()} {self._seen[operation_id][0]}"
                    )
            documented = {413, 414, 431, 500, 502, 504}
            parameters = operation.get("parameters", [])
            if "requestBody" in operation or any(
                isinstance(p, dict) and p.get("in") == "query" for p in parameters
            ):
                documented.add(400)
            add_error_responses(operation, documented)


class _PathParameterDocs(BasePlugin):
    """Describes the path parameters every route shares, wherever they appear."""

    def path_helper(
        self, path: str | None = None, operations: Any = None, parameters: Any = None,
        **_kwargs: Any,
    ) -> None:
        for parameter in parameters or []:
            if isinstance(parameter, dict) and parameter.get("in") == "path":
                description = PATH_PARAMETERS.get(parameter.get("name", ""))
                if description:
                    parameter.setdefault("description", description)


def _timestamp_properties(_converter: Any, field: Any, **_kwargs: Any) -> dict[str, Any]:
    """apispec documents a DateTime with a custom format as `format: null` (invalid)."""
    if isinstance(field, Timestamp):
        return {"type": "string", "format": "date-time",
                "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
                "example": "2024-01-15T10:30:00Z"}
    return {}


# The documents built in this process, by what each is made of (Api.finish_document): a process
# that makes many apps (the tests, the pytest plugin's sessions) builds each one once. Building
# one is about half of create_app's time (apispec resolving every schema of ~240 operations).
_DOCUMENTS: dict[tuple[Any, ...], APISpec] = {}
_DOCUMENTS_LOCK = threading.Lock()
# The app settings flask-smorest reads while it documents a view (title, version, spec options,
# ETAG_DISABLED); the doc pages' OPENAPI_* paths are among them, harmlessly.
_DOCUMENT_SETTINGS = ("API_", "OPENAPI_", "ETAG_")

Registration = tuple[flask_smorest.Blueprint, str, Any, dict[str, Any]]
"""(blueprint, its name in the app, its url_prefix parameters, its register options)."""


class Api(flask_smorest.Api):
    """flask-smorest's Api with our error schema, our error responses and the bearer scheme,
    each declared once; and its document built once per process for the same blueprints and
    settings (`finish_document`)."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # every status is listed; no catch-all "default"
    spec: APISpec

    def __init__(self, app: Any) -> None:
        self._registrations: list[Registration] | None = []
        super().__init__(app, spec_kwargs={
            "extra_plugins": [_PathParameterDocs(), _OperationDocs()]})
        self.ma_plugin.converter.add_attribute_function(_timestamp_properties)

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """flask-smorest's (a private extension key, pinned in setup.cfg), with the document's
        part left to `finish_document`."""
        if self._registrations is None:
            raise RuntimeError("register every blueprint before Api.finish_document()")
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._registrations.append((blp, name, parameters, options))

    def finish_document(self) -> None:
        """Document the registered blueprints, as flask-smorest's `register_blueprint` would
        have one by one, or take the document this process built from the same ones.

        A document is made of the API settings and, in order, the blueprints registered (their
        names, prefix parameters and options): a blueprint's routes and docs are fixed once it
        is registered (Flask refuses a route added later), and our plugins and schemas are
        code. Two operations with one id fail here, at the first app's start."""
        registrations, self._registrations = self._registrations or [], None
        settings = sorted((key, repr(value)) for key, value in self._app.config.items()
                          if key.startswith(_DOCUMENT_SETTINGS))
        key = (tuple(settings), tuple((blp, name, repr(parameters), repr(sorted(options.items())))
                                      for blp, name, parameters, options in registrations))
        with _DOCUMENTS_LOCK:
            built = _DOCUMENTS.get(key)
            if built is None:
                for blp, name, parameters, _options in registrations:
                    blp.register_views_in_doc(self, self._app, self.spec, name=name,
                                              parameters=parameters)
                    self.spec.tag({"name": name, "description": blp.description})
                built = _DOCUMENTS[key] = self.spec
        self.spec = built

    def init_app(self, app: Any, *, spec_kwargs: Any = None) -> None:
        """flask-smorest's, then our components, through apispec's public
        `spec.components`."""
        super().init_app(app, spec_kwargs=spec_kwargs)
        request_id = {"X-Request-Id": {"description": "The request's id, as in the body.",
                                       "schema": {"type": "string"}}}
        for name, description, headers in ERROR_RESPONSES.values():
            self.spec.components.response(name, {
                "description": description,
                "headers": {**request_id, **headers},
                "content": {"application/json": {"schema": ErrorSchema}},
            })
        self.spec.components.security_scheme(BEARER_SCHEME, {
            "type": "http", "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer sk_...`.",
        })

    # A private flask-smorest method (pinned in setup.cfg): no documented setting keeps its
    # pagination header, and with it the PaginationMetadata schema, out of the spec. Should it
    # be renamed, the schema only reappears, unused.
    def _register_pagination_header(self) -> None:
        """No page-number pagination here (lists use keyset tokens, docs/api/tasks.md): leave
        flask-smorest's PaginationMetadata out of the spec."""


# A URL rule's parameter (`<task_id>`, `<int(signed=True):index>`) as /openapi.json writes it.
_RULE_PARAMETER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_SERVED = "sendai_served_operations"

ServedOperation = tuple[str, dict[str, Any], dict[str, Any]]
"""(the OpenAPI path, its path item, the operation) that serves an (endpoint, METHOD)."""


def served_operations(app: Flask, api: Any) -> dict[tuple[str, str], ServedOperation]:
    """(endpoint, METHOD) -> where /openapi.json documents it, for every route it documents
    (HEAD, OPTIONS and the pages it does not document are absent); made once per app, on
    first use, from the served document itself."""
    found: dict[tuple[str, str], ServedOperation] | None = app.extensions.get(_SERVED)
    if found is None:
        paths = api.spec.to_dict()["paths"]
        found = {}
        for rule in app.url_map.iter_rules():
            path = _RULE_PARAMETER.sub(r"{\1}", rule.rule)
            item = paths.get(path)
            for method in (rule.methods or ()) if item is not None else ():
                operation = item.get(method.lower())
                if operation is not None:
                    found[(rule.endpoint, method)] = (path, item, operation)
        app.extensions[_SERVED] = found
    return found
