"""Operations as /openapi.json and the URL map declare them: tests that cover "every operation"
discover them here, never from a hand-written list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Served by the app but not API operations: the spec itself and the docs page with its assets,
# and the inspector's web pages (its blueprint, docs/inspector.md).
DOC_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                 "docs_assets.swagger_ui_asset"}
PAGE_BLUEPRINTS = ("inspect.",)


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # OpenAPI template, /v2/{team_id}/...
    doc: dict[str, Any]

    @property
    def authenticated(self) -> bool:
        return bool(self.doc.get("security"))

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.doc

    @property
    def query_parameters(self) -> list[dict[str, Any]]:
        return [p for p in self.doc.get("parameters", []) if p.get("in") == "query"]

    def url(self, **values: str) -> str:
        path = self.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        return path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations(spec: dict[str, Any]) -> Iterator[Operation]:
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield Operation(method.upper(), path, item[method])


def routed_operations(app: Flask) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) for every URL rule the app serves, HEAD/OPTIONS aside."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOC_ENDPOINTS or rule.endpoint.startswith(PAGE_BLUEPRINTS):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found.add((method, path))
    return found
