"""Requests and answers checked against this server's /openapi.json by openapi-core.

openapi-core decides what breaks the contract; this module only builds its request and
response objects and turns each of its errors into a §15 finding: `{"side", "operation",
"where", "rule", "message"}`. `where` is a JSON pointer into a body (`/payload/status`), a
parameter (`query.limit`, `header.Authorization`), `status` or `path`. `rule` is the
JSON-schema keyword that failed (`required`, `type`, `enum`, `additionalProperties`, ...) or
one of: unknown_operation, security, missing_parameter, missing_body, malformed_body,
media_type, undocumented_status.

A body the proxy streams without reading (a multipart upload, a body over the size it reads
whole) is checked for everything but its content: the operation, the parameters, the key and
the media type."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from jsonschema_path import SchemaPath
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.media_types.finders import MediaTypeFinder
from openapi_core.templating.paths.exceptions import OperationNotFound, PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request import (
    V30RequestParametersValidator,
    V30RequestSecurityValidator,
    V30RequestValidator,
)
from openapi_core.validation.request.exceptions import (
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response import V30ResponseHeadersValidator, V30ResponseValidator
from openapi_core.validation.response.exceptions import MissingData, MissingRequiredHeader
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, MultiDict

# Any host: the document has no `servers`, and the proxy checks paths, not where they went.
_HOST_URL = "http://upstream"


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
    """What openapi-core reads of a request (its Request protocol); `body` None: not read."""

    method: str  # lower case, as openapi-core wants it
    path: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None
    host_url: str = _HOST_URL
    operation: str | None = field(default=None)


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
        app.extensions["sendai_engine"].dispose()
    return document


class Contract:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.spec = SchemaPath.from_dict(dict(document))
        self._paths = APICallPathFinder(self.spec)
        self._request = V30RequestValidator(self.spec)
        self._parameters = V30RequestParametersValidator(self.spec)
        self._security = V30RequestSecurityValidator(self.spec)
        self._response = V30ResponseValidator(self.spec)
        self._response_headers = V30ResponseHeadersValidator(self.spec)

    def request(self, method: str, path: str, query: Iterable[tuple[str, str]],
                headers: Iterable[tuple[str, str]], body: bytes | None) -> CheckedRequest:
        header = Headers(list(headers))
        request = CheckedRequest(
            method=method.lower(), path=path,
            parameters=RequestParameters(query=MultiDict(list(query)), header=header),
            content_type=header.get("Content-Type", "").lower(), body=body,
        )
        try:
            found = self._paths.find(request.method, f"{_HOST_URL}{path}")
        except PathError:
            pass
        else:
            request.operation = f"{method.upper()} {found.path_result.pattern}"
        return request

    def check_request(self, request: CheckedRequest) -> list[Finding]:
        if request.body is not None:
            errors: Iterator[Exception] = self._request.iter_errors(request)
        else:  # streamed: everything but the content
            errors = _chain(self._security.iter_errors(request),
                            self._parameters.iter_errors(request),
                            self._streamed_media_type(request))
        return [finding for error in errors
                for finding in _findings("request", request, error)]

    def check_response(self, request: CheckedRequest, response: CheckedResponse) -> list[Finding]:
        if request.operation is None:  # nothing documents it: nothing to hold the answer to
            return []
        if response.data is not None:
            errors: Iterator[Exception] = self._response.iter_errors(request, response)
        else:
            errors = _chain(self._response_headers.iter_errors(request, response),
                            self._streamed_media_type(request, response))
        return [finding for error in errors
                for finding in _findings("response", request, error)]

    def _streamed_media_type(self, request: CheckedRequest,
                             response: CheckedResponse | None = None) -> Iterator[Exception]:
        """The media type of a body not read: documented for the operation (or its answer)?"""
        try:
            found = self._paths.find(request.method, f"{_HOST_URL}{request.path}")
        except PathError:
            return
        if response is None:
            if "requestBody" not in found.operation or not request.content_type:
                return
            content = found.operation / "requestBody" / "content"
            mimetype = request.content_type
        else:
            responses = found.operation / "responses"
            key = str(response.status_code)
            if key not in responses or "content" not in responses / key:
                return
            content = responses / key / "content"
            mimetype = response.content_type
        try:
            MediaTypeFinder(content).find(mimetype)
        except MediaTypeNotFound as exc:
            yield exc


def _chain(*iterators: Iterator[Exception]) -> Iterator[Exception]:
    for iterator in iterators:
        yield from iterator


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
    if isinstance(cause, InvalidSchemaValue):
        return [finding(_pointer(e), str(e.validator), e.message) for e in _schema_errors(cause)]
    if cause is not None and type(cause).__name__ == "MediaTypeDeserializeError":
        return [finding("body", "malformed_body", "The body does not parse as its media type.")]
    return [finding("body", type(error).__name__,
                    str(cause or error))]


def _schema_errors(cause: InvalidSchemaValue) -> list[Any]:
    """jsonschema's ValidationErrors (typed as plain exceptions by openapi-core)."""
    return list(cause.schema_errors)


def _pointer(error: Any) -> str:
    """The JSON pointer of a schema error; for `required`, of the missing member itself."""
    parts = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value
                   if name not in error.instance and repr(name) in error.message]
        parts += missing[:1]
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts) or "/"
