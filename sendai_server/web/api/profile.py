"""A team's fidelity profile (docs/profiles.md): `PUT`/`GET /v2/{team_id}/test_helpers/profile`.
Test helpers: registered only when SENDAI_TEST_HELPERS is on. The schemas are made from the
switches' registry (sendai_server/domain/profiles.py), so the documented choices are the served
ones."""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from marshmallow import Schema, fields, validate

from ...domain.profiles import SWITCHES
from ...services import profiles
from ..auth import requires
from ..context import current_uow
from .blueprint import Blueprint

blp = Blueprint(
    "profile", __name__, url_prefix="/v2/<team_id>/test_helpers/profile",
    description="Fidelity profiles: choose which reading of Send AI's pages the server "
                "follows for your team (off in production).",
)


def _switch(required: bool) -> dict[str, fields.Field]:
    return {
        s.name: fields.String(
            required=required, validate=validate.OneOf(s.choices),
            metadata={"description": f"{s.summary}. Default: `{s.default}`."},
        )
        for s in SWITCHES
    }


ProfileSettingsSchema = Schema.from_dict(_switch(False), name="ProfileSettings")
ProfileSchema = Schema.from_dict(_switch(True), name="Profile")


class ProfileEnvelopeSchema(Schema):
    payload = fields.Nested(ProfileSchema, required=True)


@blp.route("", methods=["GET"])
@blp.doc(operationId="getTestProfile")
@blp.response(200, ProfileEnvelopeSchema)
@requires("test_helpers")
def get_profile(team_id: str) -> dict[str, Any]:
    """Read the team's profile

    Every switch and the choice the server follows for this team.
    """
    return {"payload": dict(profiles.read_profile(current_uow(), g.principal, team_id))}


@blp.route("", methods=["PUT"])
@blp.doc(operationId="setTestProfile")
@blp.response(200, ProfileEnvelopeSchema)
@requires("test_helpers")
@blp.arguments(ProfileSettingsSchema)
def set_profile(settings: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Set the team's profile

    The switches given take the choices given; every other switch returns to the server's
    default. `{}` puts the team back on the server's default profile.
    """
    profile = profiles.set_profile(current_uow(), g.principal, team_id, settings)
    return {"payload": dict(profile)}


def init_app(app: Flask, api: Any) -> None:
    if app.config["SENDAI"].test_helpers:  # off: the paths do not exist at all (404)
        api.register_blueprint(blp)
