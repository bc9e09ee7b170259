"""Faults on demand at the HTTP edge (docs/failures.md): the faults endpoints (test helpers:
registered only when SENDAI_TEST_HELPERS is on), and `run_with_faults`, which `requires(scope)`
calls instead of the view for a team that has fault rules (auth.py; a team with none never
gets here, see services/keys.py).

Effects:
- `status`: §2's JSON error (or a small HTML page, or nothing) instead of the view's answer;
  with `after`, the view runs and commits first.
- `delay_ms`: the request's database connection goes back to the pool, then the thread waits
  (gunicorn's gthread worker runs each request in a thread of its own: the others go on).
- `drop`: the connection's socket (gunicorn's `gunicorn.socket`, werkzeug's `werkzeug.socket`)
  is shut down both ways, so the server's write of the answer fails and the client reads the
  end of the stream with no answer (gunicorn and werkzeug treat the failed write as a client
  that went away). With `after`, the view runs and commits first.
Every faulted answer carries `X-Sendai-Fault: flt_...`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from marshmallow import Schema, fields

from ...domain.errors import SendAIError
from ...services import faults
from ...services.keys import Principal
from ...services.objects import Timestamp
from ..auth import requires
from ..context import current_uow
from .blueprint import Blueprint
from .openapi import served_operations

log = logging.getLogger("sendai_server.services.faults")

FAULT_HEADER = "X-Sendai-Fault"
_EXTENSION = "sendai_faults"
_OPERATIONS = "sendai_fault_operations"
# Paths no fault ever matches (docs/failures.md): the test helpers, the faults endpoints among them.
_NEVER = re.compile(r"/test_helpers(/|$)")

blp = Blueprint(
    "faults", __name__, url_prefix="/v2/<team_id>/test_helpers/faults",
    description="Faults on demand: state how the server fails for your team, and see it fail "
                "exactly so (off in production).",
)


class FaultSchema(faults.FaultRuleSchema):
    id = fields.String(required=True, metadata={"description": "`flt_...`"})
    hits = fields.Integer(required=True,
                          metadata={"description": "How many answers this fault made."})
    remaining = fields.Integer(required=True, allow_none=True, metadata={
        "description": "How many more it will make; null: until deleted."})
    created_at = Timestamp(required=True)


class FaultEnvelopeSchema(Schema):
    payload = fields.Nested(FaultSchema, required=True)


class FaultListSchema(Schema):
    payload = fields.List(fields.Nested(FaultSchema), required=True)


@blp.route("", methods=["POST"])
@blp.doc(operationId="createTestFault")
@blp.response(201, FaultEnvelopeSchema)
@requires("test_helpers")
@blp.arguments(faults.FaultRuleSchema)
def create_fault(rule: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Add a fault

    From now on, the team's requests (or notifications' deliveries) that the rule matches fail
    as its effect says, `times` times. The faults endpoints, the other test helpers, /healthz,
    /readyz, /docs, /openapi.json and /inspect are never faulted.
    """
    faults.check_operation(rule, known_operations(current_app))
    return {"payload": faults.create_fault(current_uow(), team_id, rule)}


@blp.route("", methods=["GET"])
@blp.doc(operationId="listTestFaults")
@blp.response(200, FaultListSchema)
@requires("test_helpers")
def list_faults(team_id: str) -> dict[str, Any]:
    """List the team's faults, with their hits"""
    return {"payload": faults.list_faults(current_uow(), team_id)}


@blp.route("", methods=["DELETE"])
@blp.doc(operationId="clearTestFaults")
@blp.response(200, FaultListSchema)
@requires("test_helpers")
def clear_faults(team_id: str) -> dict[str, Any]:
    """Delete all of the team's faults

    The answer lists them as they were.
    """
    return {"payload": faults.delete_faults(current_uow(), team_id)}


@blp.route("/<fault_id>", methods=["DELETE"])
@blp.doc(operationId="deleteTestFault")
@blp.response(200, FaultEnvelopeSchema)
@requires("test_helpers")
def delete_fault(team_id: str, fault_id: str) -> dict[str, Any]:
    """Delete a fault

    The answer shows it as it was.
    """
    [deleted] = faults.delete_faults(current_uow(), team_id, fault_id)
    return {"payload": deleted}


# --- which operation a request is ---------------------------------------------------------------

def _operations(app: Flask) -> dict[tuple[str, str], str]:
    """(endpoint, METHOD) -> operationId of every operation a fault may match, from the
    served /openapi.json (so the names are the spec's), made on first use."""
    found: dict[tuple[str, str], str] | None = app.extensions.get(_OPERATIONS)
    if found is None:
        served = served_operations(app, app.extensions[_EXTENSION + "_api"])
        found = {key: operation["operationId"]
                 for key, (path, _item, operation) in served.items()
                 if path.startswith("/v2/") and not _NEVER.search(path)
                 and "operationId" in operation}
        app.extensions[_OPERATIONS] = found
    return found


def known_operations(app: Flask) -> set[str]:
    return set(_operations(app).values())


def _facts(team_id: str) -> faults.RequestFacts | None:
    path = request.path
    prefix = f"/v2/{team_id}"
    if not path.startswith(prefix + "/") or _NEVER.search(path):
        return None
    args = request.view_args or {}
    return faults.RequestFacts(
        operation=_operations(current_app).get((request.endpoint or "", request.method)),
        method=request.method, path=path[len(prefix):],
        project_id=args.get("project_id"), task_id=args.get("task_id"),
    )


# --- applying a fault ---------------------------------------------------------------------------

def run_with_faults(principal: Principal, view: Callable[[], Any]) -> Any:
    facts = _facts(principal.team_id)
    if facts is None:
        return view()
    taken = faults.take_request_fault(current_uow(), principal.team_id, facts)
    if taken is None:
        return view()
    g.sendai_fault = taken.id
    effect = taken.effect
    log.info("fault %s applied: %s", taken.id, effect,
             extra={"request_id": g.get("request_id"), "fault_id": taken.id})
    result = _run_after(view, effect) if effect.get("after") else None
    if "delay_ms" in effect:
        current_uow().close()  # no connection (and so no lock) held while waiting
        time.sleep(effect["delay_ms"] / 1000)
        return result if effect.get("after") else view()
    if effect.get("drop"):
        current_uow().close()
        return _drop_connection(taken.id)
    return fault_response(effect, taken.id)


def _run_after(view: Callable[[], Any], effect: dict[str, Any]) -> Any:
    """The operation, run to its end (its change committed) before the fault's answer. A
    refusal of its own (400, 404) is replaced like a success; a bug is not hidden."""
    try:
        return view()
    except SendAIError as exc:
        if "delay_ms" in effect:
            raise
        log.info("fault after an operation that answered %s", exc.code)
        return None


def fault_response(effect: dict[str, Any], fault_id: str) -> Response:
    status = effect["status"]
    body = effect.get("body", "json")
    if body == "json":
        response = jsonify({"error": {"status": status, "code": faults.STATUS_CODES[status],
                                      "message": faults.STATUS_MESSAGES[status]},
                            "request_id": g.get("request_id")})
    elif body == "html":
        reason = faults.STATUS_REASONS[status]
        response = Response(
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n", mimetype="text/html")
    else:
        response = Response(b"")
        del response.headers["Content-Type"]
    response.status_code = status
    if "retry_after" in effect:
        response.headers["Retry-After"] = str(effect["retry_after"])
    response.headers[FAULT_HEADER] = fault_id
    return response


def _drop_connection(fault_id: str) -> Response:
    """Close the client's connection with no answer. The server then fails to write the
    answer returned here and forgets the connection; under a server that gives the app no
    socket (Flask's test client) that answer is what the client gets: an empty 502 marked
    `Connection: close`."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # the client is gone already
            sock.shutdown(socket.SHUT_RDWR)
    else:
        log.warning("fault %s: no socket to drop under this server; answering 502", fault_id)
    response = Response(b"", status=502, headers={"Connection": "close", FAULT_HEADER: fault_id})
    del response.headers["Content-Type"]
    return response


def init_app(app: Flask, api: Any) -> None:
    """Faults apply, and their endpoints exist, only with the test helpers on."""
    app.extensions[_EXTENSION + "_api"] = api  # the CLI checks operations with it too
    if not app.config["SENDAI"].test_helpers:
        return
    api.register_blueprint(blp)
    app.extensions[_EXTENSION] = run_with_faults

    @app.after_request
    def _mark_faulted(response: Response) -> Response:
        fault_id = g.get("sendai_fault")
        if fault_id is not None:
            response.headers[FAULT_HEADER] = fault_id
        return response
