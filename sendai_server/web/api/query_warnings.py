"""Unknown query parameters: accepted, as Send AI may accept them, but said. A typo
(`?stauts=REVIEWING`) would otherwise list everything without a word. The answer carries one
RFC 7234 `Warning` per unknown name:

    Warning: 299 - "unknown query parameter 'stauts'"

and the request's log line lists them (`"unknown_query": ["stauts"]`). Nothing else changes:
the status and the body are what they would have been.

Which names an operation takes is read once from the served /openapi.json (the schemas that
validate the query, so the two cannot differ); a request with no query string pays one test of
an empty bytes value. Paths no operation of the document answers (the inspector, the docs) are
not checked.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request

from .openapi import served_operations

WARNING_HEADER = "Warning"
WARN_CODE = 299  # RFC 7234 §5.5.7: "Miscellaneous Persistent Warning"
MAX_WARNINGS = 10  # names past these are in the log line only: the header stays small
_KNOWN = "sendai_query_parameters"


def known_query_parameters(app: Flask, api: Any) -> dict[tuple[str, str], frozenset[str]]:
    """(endpoint, METHOD) -> the query parameters the operation documents, for every operation
    of /openapi.json; made on first use."""
    known: dict[tuple[str, str], frozenset[str]] | None = app.extensions.get(_KNOWN)
    if known is None:
        known = {
            served: frozenset(p["name"] for p in (*item.get("parameters", ()),
                                                  *operation.get("parameters", ()))
                              if p.get("in") == "query")
            for served, (_path, item, operation) in served_operations(app, api).items()
        }
        app.extensions[_KNOWN] = known
    return known


def unknown_query_parameters(app: Flask, api: Any) -> list[str]:
    """The request's query parameters its operation does not take, in the order sent."""
    if not request.query_string:
        return []
    # Out of the proxy once (werkzeug's documented way): each proxied read costs a lookup.
    current = request._get_current_object()  # type: ignore[attr-defined]
    rule = current.url_rule
    if rule is None:
        return []
    taken = known_query_parameters(app, api).get((rule.endpoint, current.method))
    if taken is None:
        return []
    return [name for name in current.args if name not in taken]


def warning_value(name: str) -> str:
    """One warn-value naming `name`, in the header's Latin-1 with `"` and `\\` escaped (a
    quoted-string of RFC 7230 §3.2.6), whatever the name holds."""
    shown = name.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'{WARN_CODE} - "unknown query parameter \'{shown}\'"'


def init_app(app: Flask, api: Any) -> None:
    @app.after_request
    def _warn_unknown_query(response: Response) -> Response:
        unknown = unknown_query_parameters(app, api)
        if unknown:
            g.sendai_unknown_query = unknown  # logs.py puts it in the request's line
            response.headers[WARNING_HEADER] = ", ".join(
                warning_value(name) for name in unknown[:MAX_WARNINGS])
        return response
