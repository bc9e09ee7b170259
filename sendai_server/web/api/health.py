"""Probes for load balancers and orchestrators: no key, no rate limit."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import Schema, fields
from sqlalchemy.exc import SQLAlchemyError

from ...domain.errors import SendAIError
from ...store.migrate import current_revision, head_revision
from ..context import engine_of
from .blueprint import Blueprint
from .openapi import error_ref

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


class NotReady(SendAIError):
    status = 503
    code = "not_ready"


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    revision = fields.String(metadata={"description": "The database's migration revision."})


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
def healthz() -> dict[str, Any]:
    """The process answers"""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.alt_response(503, response=error_ref(503))
def readyz() -> dict[str, Any]:
    """The database answers and its schema is at the migrations' head"""
    try:
        current = current_revision(engine_of(current_app))
    except SQLAlchemyError as exc:
        raise NotReady("The database does not answer.") from exc
    head = head_revision()
    if current != head:
        raise NotReady(
            "The database schema is not at the migrations' head; run 'sendai-server db upgrade'.",
            details={"current": current, "head": head},
        )
    return {"status": "ok", "revision": current}
