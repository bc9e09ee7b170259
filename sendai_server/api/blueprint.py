"""The Blueprint every endpoint module uses: flask-smorest's, answering 400 (not webargs'
422) for a body or query that fails its schema, as API.md §2 says."""

from __future__ import annotations

import flask_smorest
from webargs.flaskparser import FlaskParser


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()
