"""Requests and answers checked against this server's /openapi.json by well-kept validators:
openapi-core (the operation, the key, the parameters, the status, the headers, the media
type) and jsonschema-rs (a JSON body against the document's own schema for it).

They decide what breaks the contract; this module builds their inputs and turns each of their
errors into a §15 finding: `{"side", "operation",
"where", "rule", "message"}`. `where` is a JSON pointer into a body (`/payload/status`), a
parameter (`query.limit`, `header.Authorization`), `status` or `path`. `rule` is the
JSON-schema keyword that failed (`required`, `type`, `enum`, `additionalProperties`, ...) or
one of: unknown_operation, security, missing_parameter, unknown_parameter (a query parameter the
operation does not take), missing_body, malformed_body, media_type, undocumented_status.

A body the proxy streams without reading (a multipart upload, a body over the size it reads
whole) is checked for everything but its content: the operation, the parameters, the key and
the media type."""

from __future__ import annotations

import difflib
import itertools
import json
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema_rs
from jsonschema_path import SchemaPath
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.media_types.finders import MediaTypeFinder
from openapi_core.templating.paths.exceptions import OperationNotFound, PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.templating.responses.finders import ResponseFinder
from openapi_core.validation.request import V30RequestValidator
from openapi_core.validation.request.exceptions import (
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response import V30ResponseHeadersValidator
from openapi_core.validation.response.exceptions import MissingData, MissingRequiredHeader
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_schema_validator import oas30_format_checker
from werkzeug.datastructures import Headers, MultiDict

from ..web.context import engine_of

# Each exchange gets a host of its own (the document has no `servers`, so any host matches):
# _ExchangeFinder may then reuse a path found for an exchange within it, never across.
_EXCHANGES = itertools.count()


def _exchange_host() -> str:
    return f"http://exchange-{next(_EXCHANGES)}"


class _ExchangeFinder(APICallPathFinder):
    """openapi-core's path finder (given to its validators by their documented
    `path_finder_cls`), remembering its last answers: the request's check and the answer's
    each ask again for the path the exchange already found, and finding one costs about as
    much as the rest of a check."""

    _found: OrderedDict[tuple[int, str, str], Any] = OrderedDict()
    _lock = threading.Lock()

    def find(self, method: str, name: str) -> Any:
        key = (id(self.spec), method, name)
        with self._lock:
            found = self._found.get(key)
        if found is None:
            found = super().find(method, name)  # PathError: not remembered
            with self._lock:
                self._found[key] = found
                while len(self._found) > 256:
                    self._found.popitem(last=False)
        return found


@dataclass(frozen=True)
class Finding:
    side: str  # "request" | "response"
    operation: str | None  # "GET /v2/{team_id}/project/{project_id}/task/{task_id}"
    where: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckedRequest:
    """What openapi-core reads of a request (its Request protocol). Its `body` stays None:
    the body (`data`; None when it streams unread) is checked by the document's schema."""

    method: str  # lower case, as openapi-core wants it
    path: str
    parameters: RequestParameters
    content_type: str
    data: bytes | None
    body: None = None
    host_url: str = field(default_factory=_exchange_host)
    operation: str | None = None  # "GET /v2/{team_id}/..."; None: no operation documents it
    found: Any = field(default=None, repr=False)  # openapi-core's path, operation and server
    not_found: PathError | None = field(default=None, repr=False)


@dataclass
class CheckedResponse:
    """openapi-core's Response protocol; `data` None: not read (streamed on unchecked)."""

    status_code: int
    headers: Mapping[str, str]
    content_type: str
    data: bytes | None


def this_servers_document() -> dict[str, Any]:
    """/openapi.json as this version of the server serves it in production: the test helpers
    off (they are this server's, not Send AI's), built in-process on a throwaway database."""
    from .. import create_app  # late: the app is built once, at the proxy's start
    from ..config import Config

    with tempfile.TemporaryDirectory() as files:
        config = Config(env="test", database_url="sqlite://", test_helpers=False,
                        inspector=False, log_level="WARNING", storage_url=files)
        app = create_app(config)
        document: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
        engine_of(app).dispose()
    return document


class Contract:
    """openapi-core for the operation, its key, parameters, statuses and media types; the
    document's own schemas (compiled once, by jsonschema-rs) for JSON bodies, which
    openapi-core's pure-Python schema checks would take tens of milliseconds over."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        # openapi-core copies its whole format checker for each value it checks unless handed
        # the formats to check (about a tenth of a request's check): it gets those the
        # document's parameters and headers use.
        self.spec = SchemaPath.from_dict(dict(document))
        formats = _format_validators(document)
        self._paths = _ExchangeFinder(self.spec)
        self._request = V30RequestValidator(self.spec, format_validators=formats,
                                            path_finder_cls=_ExchangeFinder)
        self._response_headers = V30ResponseHeadersValidator(
            self.spec, format_validators=formats, path_finder_cls=_ExchangeFinder)
        self._components = json_schema(document.get("components", {}))
        self._body_validators: dict[tuple[str, ...], Any] = {}
        self._query_names = _query_parameters(document)

    def request(self, method: str, path: str, query: Iterable[tuple[str, str]],
                headers: Iterable[tuple[str, str]], body: bytes | None) -> CheckedRequest:
        header = Headers(list(headers))
        request = CheckedRequest(
            method=method.lower(), path=path,
            parameters=RequestParameters(query=MultiDict(list(query)), header=header),
            content_type=header.get("Content-Type", "").lower(), data=body,
        )
        try:
            request.found = self._paths.find(request.method, f"{request.host_url}{path}")
        except PathError as exc:
            request.not_found = exc
        else:
            request.operation = f"{method.upper()} {request.found.path_result.pattern}"
        return request

    def check_request(self, request: CheckedRequest) -> list[Finding]:
        if request.found is None:
            return _findings("request", request, request.not_found or PathError())
        # The key, then the parameters; a body openapi-core sees as missing is ours to judge.
        findings = [f for error in self._request.iter_errors(request)
                    if not isinstance(error, MissingRequiredRequestBody)
                    for f in _findings("request", request, error)]
        findings += self._unknown_query_findings(request)
        operation = request.found.operation
        if "requestBody" not in operation:
            return findings
        body = operation / "requestBody"
        if request.data is not None and not request.data:
            if (body / "required").read_bool(default=False):
                findings += _findings("request", request, MissingRequiredRequestBody())
            return findings
        return findings + self._body_findings("request", request, body / "content",
                                              request.content_type, request.data)

    def _unknown_query_findings(self, request: CheckedRequest) -> list[Finding]:
        """A query parameter the operation does not document: the server ignores it (and says
        so in a `Warning`), so a typo (`stauts`) filters nothing without a word."""
        sent = request.parameters.query
        if not sent:
            return []
        pattern = request.found.path_result.pattern
        known = self._query_names.get((request.method, pattern), frozenset())
        findings = []
        for name in dict.fromkeys(sent.keys()):
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            takes = ", ".join(sorted(known)) or "none"
            findings.append(Finding(
                "request", request.operation, f"query.{name}", "unknown_parameter",
                f"The operation takes no query parameter {name!r}{hint} It takes: {takes}."))
        return findings

    def check_response(self, request: CheckedRequest, response: CheckedResponse) -> list[Finding]:
        if request.found is None:  # nothing documents it: nothing to hold the answer to
            return []
        findings = [f for error in self._response_headers.iter_errors(request, response)
                    for f in _findings("response", request, error)]
        try:
            documented = ResponseFinder(request.found.operation / "responses").find(
                str(response.status_code))
        except ResponseNotFound:
            return findings  # already a finding (undocumented_status)
        if "content" not in documented:
            return findings
        if response.data is not None and not response.data:
            return findings + _findings("response", request, MissingData())
        return findings + self._body_findings(
            "response", request, documented / "content", response.content_type, response.data,
            str(response.status_code))

    def _body_findings(self, side: str, request: CheckedRequest, content: SchemaPath,
                       mimetype: str, data: bytes | None, status: str = "") -> list[Finding]:
        """The media type against the documented ones; a JSON body (None: not read) against
        its schema."""
        try:
            media = MediaTypeFinder(content).find(mimetype)
        except MediaTypeNotFound as exc:
            return _findings(side, request, exc)
        if data is None or not _is_json(media.mime_type) or "schema" not in media.media_type:
            return []
        try:
            value = json.loads(data)
        except ValueError:
            return [Finding(side, request.operation, "body", "malformed_body",
                            "The body does not parse as JSON.")]
        key = (side, request.operation or "", status, media.mime_type)
        validator = self._body_validators.get(key)
        if validator is None:
            with (media.media_type / "schema").resolve() as resolved:
                schema = {"allOf": [json_schema(resolved.contents)],
                          "components": self._components}
            validator = self._body_validators[key] = jsonschema_rs.Draft4Validator(schema)
        return [Finding(side, request.operation, _rs_pointer(error),
                        str(error.schema_path[-1]), error.message)
                for error in validator.iter_errors(value)]


def _query_parameters(document: Mapping[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """(method, path template) -> the names of the query parameters the operation documents
    (its path's and its own; a `$ref` to components/parameters followed)."""
    shared = document.get("components", {}).get("parameters", {})

    def resolved(parameter: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = parameter.get("$ref", "")
        return shared.get(ref.rsplit("/", 1)[-1], {}) if ref else parameter

    found = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method == "parameters":
                continue
            parameters = [*item.get("parameters", ()), *operation.get("parameters", ())]
            found[(method, path)] = frozenset(
                p["name"] for p in map(resolved, parameters) if p.get("in") == "query")
    return found


def _format_validators(document: Mapping[str, Any]) -> dict[str, Any]:
    """openapi-schema-validator's checks of the formats the parameters and headers use."""
    used: set[str] = set()

    def collect(node: Any, inside: bool) -> None:
        if isinstance(node, dict):
            if inside and isinstance(node.get("format"), str):
                used.add(node["format"])
            for key, value in node.items():
                collect(value, inside or key in ("parameters", "headers"))
        elif isinstance(node, list):
            for item in node:
                collect(item, inside)

    collect(document, False)
    checkers = oas30_format_checker.checkers
    return {name: checkers[name][0] for name in sorted(used) if name in checkers}


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: `nullable: true` becomes null among the types
    (and the enum's values); everything else as it is."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _rs_pointer(error: Any) -> str:
    """The JSON pointer of a jsonschema-rs error; for `required`, of the missing member."""
    parts = [str(part) for part in error.instance_path]
    missing = getattr(error.kind, "property", None)
    if str(error.schema_path[-1]) == "required" and missing is not None:
        parts.append(str(missing))
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts) or "/"


def _findings(side: str, request: CheckedRequest, error: Exception) -> list[Finding]:
    """openapi-core's error as findings (one per schema error it carries)."""
    operation = request.operation

    def finding(where: str, rule: str, message: str) -> Finding:
        return Finding(side, operation, where, rule, message)

    cause = error.__cause__
    if isinstance(error, OperationNotFound):
        return [finding("path", "unknown_operation",
                        f"{request.path} documents no {request.method.upper()} operation.")]
    if isinstance(error, PathError):
        return [finding("path", "unknown_operation",
                        f"No operation documents {request.method.upper()} {request.path}.")]
    if isinstance(error, SecurityValidationError):
        return [finding("header.Authorization", "security",
                        "The operation needs 'Authorization: Bearer <key>'; the request has none "
                        "the document accepts.")]
    if isinstance(error, MissingRequiredParameter):
        return [finding(f"{error.location}.{error.name}", "missing_parameter",
                        f"The required {error.location} parameter {error.name!r} is missing.")]
    if isinstance(error, ParameterValidationError):
        where = f"{error.location}.{error.name}"
        if isinstance(cause, InvalidSchemaValue):
            return [finding(where, str(e.validator), f"{error.name}: {e.message}")
                    for e in _schema_errors(cause)]
        return [finding(where, "type", f"{error.name}: {cause or error}")]
    if isinstance(error, MissingRequiredRequestBody | MissingData):
        return [finding("body", "missing_body", "The body is missing.")]
    if isinstance(error, ResponseNotFound):
        return [finding("status", "undocumented_status",
                        f"The operation documents no {error.http_status} answer "
                        f"(it documents {', '.join(sorted(error.availableresponses))}).")]
    if isinstance(error, MissingRequiredHeader):
        return [finding(f"header.{error.name}", "missing_parameter",
                        f"The required header {error.name!r} is missing.")]
    media = error if isinstance(error, MediaTypeNotFound) else cause
    if isinstance(media, MediaTypeNotFound):
        return [finding("header.Content-Type", "media_type",
                        f"The body is {media.mimetype or 'of no media type'}; the document "
                        f"has {', '.join(media.availableMimetypes)}.")]
    return [finding("body", type(error).__name__,
                    str(cause or error))]


def _schema_errors(cause: InvalidSchemaValue) -> list[Any]:
    """jsonschema's ValidationErrors (typed as plain exceptions by openapi-core)."""
    return list(cause.schema_errors)
