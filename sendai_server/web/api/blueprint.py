"""The Blueprint every endpoint module uses: flask-smorest's, with the stricter JSON parser
(parser.py), and the documentation a view marked by `@auth.requires(scope)` gets by itself
(openapi.py has the rest): the bearer security requirement, its scope in the description, and
401, 403, 404, 429 and 503 (the key is looked up in the database); 400 too for any
authenticated POST/PUT/PATCH/DELETE (`invalid_task_state` or `validation_error`).
"""

from __future__ import annotations

from typing import Any

import flask_smorest

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
