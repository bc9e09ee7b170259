"""The Blueprint every endpoint module uses: flask-smorest's, with the stricter JSON parser
(parser.py), and the documentation a view marked by `@auth.requires(scope)` gets by itself
(openapi.py has the rest): the bearer security requirement, its scope in the description, and
401, 403, 404, 429 and 503 (the key is looked up in the database); 400 too for any
authenticated POST/PUT/PATCH/DELETE (`invalid_task_state` or `validation_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import flask_smorest
from flask import current_app
from flask_smorest.utils import (
    resolve_schema_instance,
    set_status_and_headers_in_response,
    unpack_tuple_response,
)
from werkzeug.wrappers import Response

from .openapi import BEARER_SCHEME, CHANGING_METHODS, add_error_responses
from .parser import JSONBodyParser


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JSONBodyParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # `_prepare_doc_cbks` is flask-smorest's private list of doc callbacks (setup.cfg pins
        # flask-smorest below its next release for it). It stays because it is the only hook
        # that sees a view's `_apidoc` mark, which is where `requires(scope)` (auth.py) puts
        # the scope; everything that does not need the mark is done by `_OperationDocs`, an
        # ordinary apispec plugin.
        self._prepare_doc_cbks.append(self._prepare_scope_doc)

    def response(
        self, status_code: int, schema: Any = None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """flask-smorest's `response` for the documentation (the `_apidoc` its wrapper carries),
        and a lean wrapper of our own to answer: the view's result dumped by the schema and
        sent as JSON with `status_code`, as flask-smorest's wrapper does, without what this
        API never uses on the way (the dump kept for ETags, a response-content hook, the
        async check). A Response or a (body, status, headers) tuple is honoured as there.
        tests/app/test_openapi.py checks the served answers against the schemas."""
        documenting = super().response(status_code, schema, **kwargs)
        # A dict is an OpenAPI schema for the documentation only (a file's bytes): no dump.
        dump = getattr(resolve_schema_instance(schema), "dump", None)

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            documented = documenting(view)

            @wraps(view)
            def answer(*args: Any, **kw: Any) -> Any:
                result, status, headers = unpack_tuple_response(view(*args, **kw))
                if isinstance(result, Response):
                    set_status_and_headers_in_response(result, status, headers)
                    return result
                response = current_app.json.response(dump(result) if dump is not None else result)
                set_status_and_headers_in_response(response, status, headers)
                if status is None:
                    response.status_code = status_code
                return response

            answer._apidoc = documented._apidoc  # type: ignore[attr-defined]
            return answer

        return decorator

    @staticmethod
    def _prepare_scope_doc(
        doc: dict[str, Any], doc_info: dict[str, Any], *, method: str, **_kwargs: Any
    ) -> dict[str, Any]:
        """What a view marked by `requires(scope)` adds: the bearer requirement, its scope in
        the description, and the statuses of authentication and of the key's lookup."""
        scope = doc_info.get("sendai_scope")
        if scope is None:
            return doc
        documented = {401, 403, 404, 429, 503}
        if method in CHANGING_METHODS:
            documented.add(400)
        doc["security"] = [{BEARER_SCHEME: []}]
        docstring = doc_info.setdefault("docstring", {})
        needs = f"Needs an API key with the `{scope}` scope."
        docstring["description"] = "\n\n".join(
            part for part in (docstring.get("description"), needs) if part
        )
        add_error_responses(doc, documented)
        return doc
