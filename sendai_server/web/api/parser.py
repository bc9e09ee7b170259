"""The parser of every `@blp.arguments` view's body and query (webargs'), stricter than its
own: 400 (not webargs' 422) for what fails its schema, as docs/api/index.md says; and a body that is
not a JSON object, is nested too deeply, or holds text no database stores, is refused before any
schema sees it."""

from __future__ import annotations

from typing import Any

from marshmallow import missing
from webargs.flaskparser import FlaskParser, is_json_request

from ...domain.errors import ValidationError
from ...domain.storable_text import unstorable_fields


class JSONBodyParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req: Any, schema: Any) -> Any:
        """JSON as webargs reads it, stricter: a body that is not JSON (a form, say) is a 400,
        not an empty object; so is a body that is not a JSON object (`null`, a list), JSON
        nested too deeply to decode, and a NUL or a lone surrogate (`"\\u0000"`, `"\\ud800"`):
        valid JSON, but text no database stores."""
        if req.get_data(cache=True) and not is_json_request(req):
            raise ValidationError(
                "The body must be JSON, sent with 'Content-Type: application/json'.",
                details={"fields": {"json": [
                    "The body must be JSON, sent with Content-Type: application/json."]}},
            )
        try:
            data = super().load_json(req, schema)
        except RecursionError as exc:  # json's decoder on [[[[...]]]] nested thousands deep
            raise ValidationError(
                "The JSON body is nested too deeply.",
                details={"fields": {"json": ["Nested too deeply."]}},
            ) from exc
        if data is not missing and not isinstance(data, dict):
            raise ValidationError(
                "The body must be a JSON object.",
                details={"fields": {"json": ["The body must be a JSON object."]}},
            )
        bad_text = unstorable_fields(data)
        if bad_text:
            raise ValidationError(
                "The JSON body contains a NUL character or a lone UTF-16 surrogate.",
                details={"fields": bad_text},
            )
        return data
