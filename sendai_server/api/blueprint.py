"""The Blueprint every endpoint module uses: flask-smorest's, answering 400 (not webargs'
422) for a body or query that fails its schema, as API.md §2 says."""

from __future__ import annotations

from typing import Any

import flask
import flask_smorest
from marshmallow import Schema, missing
from webargs.flaskparser import FlaskParser, abort, is_json_request


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req: flask.Request, schema: Schema) -> Any:
        """A body is a JSON object, sent as JSON; say so plainly when it is not (webargs would
        pass `null` or a list on to the schema, or drop a body sent as text/plain)."""
        data = super().load_json(req, schema)
        if data is missing:
            if req.get_data(cache=True) and not is_json_request(req):
                abort(400, messages={"json": [
                    "The body must be JSON, sent with Content-Type: application/json."]})
            return data
        if not isinstance(data, dict):
            abort(400, messages={"json": ["The body must be a JSON object."]})
        return data


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()
